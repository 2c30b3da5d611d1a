package bus

import "github.com/tether-ipc/tether"

// MaxNameLen is the longest event name the bus accepts, in bytes.
const MaxNameLen = 256

// Wildcard, as the only name or one of the names of a Filter, subscribes to
// every event. It is not a valid event name to publish.
const Wildcard = "*"

// ValidName reports whether name is a valid event name, following Tauri's
// rule: non-empty, at most MaxNameLen bytes, and every character an ASCII
// letter or digit or one of '-', '/', ':' and '_'. The error is a
// *tether.Error with code invalid_argument that quotes the bad name
// (shortened if very long).
func ValidName(name string) error {
	if name == "" {
		return tether.NewError(tether.CodeInvalidArgument, "bus: event name is empty")
	}
	if len(name) > MaxNameLen {
		return tether.Errorf(tether.CodeInvalidArgument, "bus: event name %q… is longer than %d bytes", name[:32], MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if !nameChar[name[i]] {
			return tether.Errorf(tether.CodeInvalidArgument,
				"bus: invalid event name %q: byte %d is not a letter, digit, '-', '/', ':' or '_'", name, i)
		}
	}
	return nil
}

// nameChar marks the bytes allowed in an event name.
var nameChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-/:_" {
		t[c] = true
	}
	return t
}()
