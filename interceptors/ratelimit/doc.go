// Package ratelimit bounds what each client may ask of a Tether core: a
// token bucket of calls per client, a number of concurrent listen streams
// per client, and a maximum lifetime for every stream.
//
// Nothing is limited by default: New needs at least one limit, and fails on
// limits that make no sense. Clients are told apart by their client label
// (tether.Call.ClientLabel); calls without a label are grouped by the host
// of their peer address, then all together. Limits.Key changes that.
//
// A call over its client's rate fails with resource_exhausted, a message
// saying when to retry, and details {"retry_after_ms": N}. A listen stream
// beyond MaxListeners fails the same way. A stream that reaches
// MaxStreamLifetime ends with unavailable ("stream lifetime exceeded,
// reconnect"), which Tether clients treat as a reason to reconnect and
// resume.
//
// Memory is bounded: at most MaxClients token buckets are kept (least
// recently used first out), and a bucket idle for IdleTimeout is dropped.
// A dropped bucket starts full again, which only favours its client.
//
//	l, err := ratelimit.New(ratelimit.Limits{Rate: 50, Burst: 100, MaxListeners: 16})
//	srv := server.New(
//		server.WithInterceptors(l.UnaryServerInterceptor()),
//		server.WithStreamInterceptors(l.StreamServerInterceptor()),
//	)
package ratelimit
