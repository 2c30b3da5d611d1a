// Package idempotency makes a retried command return its first result
// instead of running again.
//
// A unary command call that carries an idempotency key (the key field of an
// Invoke request, client.WithIdempotencyKey, or the tether-idempotency-key
// header of a typed gRPC call) is run once per key: a later call with the
// same key, from the same client label, to the same command, gets the first
// call's response — the same message or the same error — without running
// the handler. Calls that arrive while the first is still running wait for
// it (as golang.org/x/sync/singleflight does), so the handler never runs
// twice at once for one key. A call with the key but different arguments
// fails with invalid_argument.
//
// Only a digest (SHA-256) of the request is kept, never the request. Results
// are kept for a window (WithTTL, default 10 minutes) counted from the end
// of the first call, at most WithMaxEntries of them (default 10000) and at
// most WithMaxBytes in all (default 32 MiB; the oldest go first). A result
// larger than WithMaxResponseBytes (default 256 KiB: the encoded response,
// or the error's message and details) reaches its caller but is not kept: a
// retry with the key gets failed_precondition with details
// {"idempotency":"result_not_kept"} — the command ran once and is not run
// again; a caller that needs the result must fetch it another way (a
// command that returns large results can return a reference to them
// instead). Results that say the call may not have done
// its work — canceled, deadline_exceeded, unavailable, resource_exhausted,
// aborted — are not kept, so a retry runs the command again. Response
// headers and trailers the handler set are not replayed; a replayed call
// carries the response header tether-idempotent-replay: 1.
//
// Put it late in the command chain, after authentication, capabilities and
// rate limits, so that refused calls are not remembered:
//
//	srv := server.New(server.WithInterceptors(
//		logging.UnaryServerInterceptor(nil), ratelimiter.UnaryServerInterceptor(),
//		idempotency.UnaryServerInterceptor(),
//	))
//
// Three stores:
//
//   - New: in memory; it dies with the process — a call that ran just
//     before a crash and is retried after the restart runs again.
//   - Open: an fsync'd log in a folder (tether serve --idempotency-dir),
//     bounded in records and bytes and read back a line at a time, so a
//     command runs at most once per key across restarts of one process; a
//     call that was running when the process died is "in doubt" and its
//     retries are refused with failed_precondition (details
//     {"idempotency":"in_doubt"}) rather than run a second time.
//   - OpenKV: a NATS JetStream key-value bucket shared by the replicas of
//     an app, so a call retried on another replica runs once too; a call
//     whose replica died while running it is in doubt the same way.
//
// Channel commands and emits are not covered.
package idempotency
