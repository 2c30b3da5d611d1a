// Package logging writes one log/slog record for every call that passes
// through a Tether chain: a unary command, an emit, a channel command or a
// listen stream. The record is written when the call ends and holds:
//
//	request_id   a per-call id (also in the context, see RequestID, and sent
//	             back to the caller as the response header tether-request-id)
//	kind         invoke, channel, emit or listen
//	name         the command or event name
//	method       the full gRPC method
//	client_label the caller's label, as the core established it
//	peer         the caller's network address
//	code         the result's snake_case code ("ok", "not_found", …)
//	duration     how long the call took
//
// It never logs arguments, results, payloads or headers; WithArgSizes adds
// the size in bytes of a call's decoded arguments when they are a proto
// message or raw bytes. Records are written at info for ok and canceled,
// warn for errors a caller causes (invalid_argument, not_found,
// permission_denied, resource_exhausted…, and unavailable and
// deadline_exceeded), and error for unknown, internal, data_loss and
// unimplemented; WithLevels changes that. Records carry no source location
// (a handler's AddSource would name this package, not the command).
//
// Put it first (outermost) in the command chain so it sees the final code:
//
//	srv := server.New(
//		server.WithInterceptors(logging.UnaryServerInterceptor(logger)),
//		server.WithStreamInterceptors(logging.StreamServerInterceptor(logger)),
//	)
//
// Calls that arrive with a well-formed tether-request-id header (1 to 64
// letters, digits, '-', '_' or '.'), as a gateway in front of the core may
// send, keep that id, so that the gateway's and the core's records match.
package logging
