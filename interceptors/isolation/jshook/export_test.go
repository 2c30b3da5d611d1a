package jshook

import "github.com/tether-ipc/tether/interceptors/isolation"

// ApplyForTest is how a Runner turns the driver's results into a payload.
func ApplyForTest(p *isolation.Payload, out string) (*isolation.Payload, error) {
	return (&Runner{}).apply(p, out)
}

// InputForTest is the call as the driver reads it.
func InputForTest(p *isolation.Payload) (string, error) { return inputOf(p) }

// SameJSONForTest compares two JSON values as JavaScript does.
func SameJSONForTest(a, b []byte) bool { return sameJSON(a, b) }
