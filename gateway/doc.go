// Package gateway is Tether's HTTP face for web frontends: a JSON gateway
// built on grpc-gateway's runtime.ServeMux, Server-Sent Events for channel
// commands and event streams, the origin, Host and token boundaries, and the
// scripts and pages a frontend loads.
//
// Every call goes to the core over the grpc.ClientConnInterface given to New
// (in `tether serve`, server.DialInProcess), so the core's interceptor chain
// — and any client interceptors on that connection, such as an isolation
// stage — sees every request. The gateway never calls a handler directly.
//
// # Routes
//
//	POST /ipc/invoke/{command}   args as JSON (or raw bytes with
//	                             Content-Type: application/octet-stream) → result;
//	                             with Accept: text/event-stream on a channel
//	                             command, SSE frames {"index":N,"message":…}
//	                             then {"index":N,"end":true}
//	POST /ipc/emit/{event}       JSON payload, ?target=LABEL → {"id":N}
//	GET  /ipc/listen?event=A     SSE: event: NAME, id: N, data: payload;
//	                             event: lagged; event: error; ": ping" comments
//	GET  /ipc/stream             the page stream: one SSE connection that carries
//	                             all of a page's subscriptions and channels
//	POST /ipc/stream/{id}/listen   {"id": SUB, "events": [...], "after": "N"}
//	POST /ipc/stream/{id}/unlisten {"id": SUB}
//	GET  /ipc/asset/{path}       a local file in the asset protocol's scope
//	                             (WithAssetProtocol), for convertFileSrc
//	GET  /ipc/commands           [{name, kind, method, description, args, result}]
//	GET  /openapi.json           OpenAPI 3.1 built from the command list
//	GET  /healthz                gRPC health check → 200 or 503
//	GET  /ipc/client.js          the JS client (ES module), when embedded
//	GET  /ipc/tauri-shim.js      the @tauri-apps/api shim, when embedded
//	GET  /…                      the frontend folder (WithFrontend) or the demo page
//
// plus the typed REST routes of any service given with WithServices.
//
// # Errors
//
// Every error, including grpc-gateway's own (typed routes, unknown paths,
// wrong methods), is written as tether.Error's body
// {"code","message","details"} with the status of tether.Code.HTTPStatus,
// except for these gateway-level cases, whose code is kept but whose status
// is the more precise HTTP one:
//
//	405 unimplemented        wrong method for a known path
//	413 resource_exhausted   body larger than the limit (default 4 MiB)
//	415 invalid_argument     a Content-Type other than JSON or octet-stream
//	                         (application/x-www-form-urlencoded, curl -d's
//	                         default, is read as JSON when no Origin is sent)
//	431 resource_exhausted   request headers larger than the limit
//
// A stream that fails after it started ends with an "event: error" frame
// holding the same body.
//
// # Boundaries and identity
//
// Before any route runs, the gateway checks, in order: header size; the Host
// header (only the names it serves: localhost, 127.0.0.1 and [::1] on the
// port it listens on, plus WithHosts — against DNS rebinding); the Origin
// header (same-origin, or one of WithOrigins; CORS preflights are answered
// for allowed origins only, always with Vary: Origin); the bearer token of
// WithToken (off by default) on every API route; the client label. The
// label is decided by the gateway, never by the page: each origin has a
// list of labels it may use, the first being its default; a page may ask for
// another of its own with the Tether-Client-Label header or ?label=.
// Requests without an Origin header (non-browser callers, same-origin GETs)
// get the same-origin labels. The label and origin reach the core as the
// tether-client-label and tether-origin metadata, which the core believes
// only from trusted peers (see server.TrustedFrontIdentity).
//
// An invoke's request headers reach its command (InvokeRequest.headers, in
// tether.Call.Header and server.Request, as Tauri's invoke headers do),
// except hop-by-hop headers, Content-Length, Cookie (the gateway's origin's
// cookies, its session secret among them), the gateway's own protocol
// headers (Tether-*, Idempotency-Key, Last-Event-ID), grpc-* and, when the
// gateway has a token (WithToken), Authorization, which then carries the
// gateway's secret. On typed REST routes only X-Tether-* headers are
// forwarded, as metadata.
//
// # The page stream
//
// A browser allows six HTTP/1.1 connections per origin, so a page's
// listeners and channels share one: GET /ipc/stream. Its id is in the
// response's Tether-Stream header. Subscriptions are made and dropped with
// POST /ipc/stream/{id}/listen and /unlisten, each a Listen of the core's
// (its interceptor chain decides, and its bounds hold, per subscription);
// "after" resumes from an event id, as Last-Event-ID does on
// /ipc/listen. An invoke with Tether-Stream: {id} and Tether-Channels: 1,2
// runs through the core's Channel method: its channels' messages go to the
// stream as "event: tether.channel" frames, its result is the response
// (Tether-Channel-Frames counts the frames before it, so that the client
// resolves after them), and the call goes on after the response until its
// channels close. Event frames are encoded once per event and shared by
// every stream. A stream is bound to its client label (and, cross-origin,
// origin); it ends when its client goes or stops reading for 30 s, and
// with it its subscriptions and calls. Bounds: WithMaxPageStreams streams per caller, 256
// subscriptions and 256 calls with channels per stream, 64 channels per
// call.
//
// # Listeners
//
// GET /ipc/listen answers only once the core holds the subscription. With
// a connection from server.DialInProcess (as `tether serve` has) and
// HTTP/1.x, the stream is pushed: the core's Listen handler, after its
// interceptor chain, writes each frame itself, on the connection the
// gateway takes over from net/http; the response is not chunked and ends
// with the connection ("Transfer-Encoding: identity", as the SSE
// specification suggests). An idle listener then costs about 11 KB (one
// goroutine, its subscription and the socket; `make bench`), and one
// goroutine per gateway watches the connections for clients that leave.
// Over other connections (the split-mode gateway, HTTP/2) the core's gRPC
// stream is relayed. Either way, a client that stops reading for 30 s is
// dropped and its stream ends.
package gateway
