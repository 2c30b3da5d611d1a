package isolation

import (
	"errors"
	"strings"

	"github.com/tether-ipc/tether"
)

// Reason says, in a machine-readable word, why the isolation layer refused a
// call. It suits a metrics label: the set is closed and small.
type Reason string

// The reasons. Each refusal's *tether.Error message starts with
// "isolation <reason>: ", and ReasonOf recovers the reason from it, also on the
// far side of a gRPC connection.
const (
	// ReasonUnsealed: an IPC request without a sealed body (permission_denied).
	ReasonUnsealed Reason = "unsealed"
	// ReasonMethod: a method that isolation mode does not carry (permission_denied).
	ReasonMethod Reason = "method_not_allowed"
	// ReasonEmpty: a sealed field with an empty ciphertext (unauthenticated).
	ReasonEmpty Reason = "empty"
	// ReasonMalformed: a bad nonce length, session, seq or plaintext (unauthenticated).
	ReasonMalformed Reason = "malformed"
	// ReasonVerify: the AEAD did not verify — wrong key, tampered or truncated
	// bytes, or a body moved to another kind, name, client label, session or
	// seq (unauthenticated). AES-GCM cannot tell these apart, by design.
	ReasonVerify Reason = "verify_failed"
	// ReasonMismatch: the opened request names another command or event than
	// the routing field in clear (unauthenticated).
	ReasonMismatch Reason = "mismatch"
	// ReasonReplay: a seq already accepted for this session (unauthenticated).
	ReasonReplay Reason = "replay"
	// ReasonStale: a seq older than the replay window (unauthenticated).
	ReasonStale Reason = "stale"
	// ReasonSessions: the opener already tracks its maximum number of
	// sessions (resource_exhausted).
	ReasonSessions Reason = "too_many_sessions"
	// ReasonBlocked: a hook blocked the call (permission_denied).
	ReasonBlocked Reason = "blocked"
)

var reasons = []Reason{
	ReasonUnsealed, ReasonMethod, ReasonEmpty, ReasonMalformed, ReasonVerify,
	ReasonMismatch, ReasonReplay, ReasonStale, ReasonSessions, ReasonBlocked,
}

// Code returns the code used for refusals with this reason.
func (r Reason) Code() tether.Code {
	switch r {
	case ReasonUnsealed, ReasonMethod, ReasonBlocked:
		return tether.CodePermissionDenied
	case ReasonSessions:
		return tether.CodeResourceExhausted
	default:
		return tether.CodeUnauthenticated
	}
}

type reasonError struct {
	reason Reason
	limit  bool // a hook exceeded a sandbox limit (see Exceeded)
}

func (e *reasonError) Error() string { return string(e.reason) }

// refuse builds the *tether.Error for a reason. detail must never hold key
// bytes or plaintext.
func refuse(r Reason, detail string) *tether.Error {
	return tether.Errorf(r.Code(), "isolation %w: %s", &reasonError{reason: r}, detail)
}

// Exceeded returns an error that blocks a call because a hook went past a
// limit of its sandbox (time, memory, call depth, a regular expression's
// budget, the size of a payload); a Refusal reports it as Limit.
func Exceeded(reason string) error {
	return tether.Errorf(ReasonBlocked.Code(), "isolation %w: %s", &reasonError{reason: ReasonBlocked, limit: true}, reason)
}

// ReasonOf returns the reason for which the isolation layer refused err, or
// "" if err is not such a refusal. It works on the error returned in-process
// and on the status received by a gRPC client.
func ReasonOf(err error) Reason {
	if err == nil {
		return ""
	}
	var re *reasonError
	if errors.As(err, &re) {
		return re.reason
	}
	msg := tether.FromError(err).Message()
	rest, ok := strings.CutPrefix(msg, "isolation ")
	if !ok {
		return ""
	}
	word, _, ok := strings.Cut(rest, ":")
	if !ok {
		return ""
	}
	for _, r := range reasons {
		if string(r) == word {
			return r
		}
	}
	return ""
}
