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
// Results are kept for a window (WithTTL, default 10 minutes) counted from
// the end of the first call, and at most WithMaxEntries of them (default
// 10000; the oldest go first). Results that say the call may not have done
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
// A Cache from New lives in memory and dies with the process: a call that
// ran just before a crash and is retried after the restart runs again. A
// Cache from Open keeps its keys in an fsync'd, bounded log in a folder
// (tether serve --idempotency-dir), so a command runs at most once per key
// across restarts; a call that was running when the process died is "in
// doubt" and its retries are refused with failed_precondition rather than
// run a second time. See Open.
//
// Channel commands and emits are not covered.
package idempotency
