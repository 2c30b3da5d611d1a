package jshook

import (
	"encoding/json"
	"time"

	"github.com/tether-ipc/tether/interceptors/isolation"
)

// ApplyForTest is how a Runner turns the driver's results into a payload;
// out is the results as JSON: [{ok, reason, same, name, args, headers,
// target}], args and headers as JSON values.
func ApplyForTest(p *isolation.Payload, out string) (*isolation.Payload, error) {
	var raw []struct {
		OK      bool            `json:"ok"`
		Reason  string          `json:"reason"`
		Same    bool            `json:"same"`
		Name    *string         `json:"name"`
		Args    json.RawMessage `json:"args"`
		Headers json.RawMessage `json:"headers"`
		Target  *string         `json:"target"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		return nil, isolation.Block("results do not decode")
	}
	rs := make([]result, len(raw))
	for i, x := range raw {
		rs[i] = result{OK: x.OK, Reason: x.Reason, Same: x.Same, Name: x.Name, Args: x.Args, Headers: x.Headers, Target: x.Target}
	}
	return (&Runner{}).apply(p, rs)
}

// SameJSONForTest compares two JSON values as JavaScript does.
func SameJSONForTest(a, b []byte) bool { return sameJSON(a, b) }

// SlowSandboxesForTest makes every runtime made from now on take d longer
// to make, until the returned function undoes it.
func SlowSandboxesForTest(d time.Duration) func() {
	slowMaking.Store(int64(d))
	return func() { slowMaking.Store(0) }
}
