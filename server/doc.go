// Package server is Tether's core: the registry of commands, the event bus,
// the tether.v1.IPC gRPC service and the one interceptor chain every call
// passes.
//
// A command is registered once and reached every way: as a typed gRPC
// method, by name through Invoke (JSON, proto or raw-byte arguments), from
// the gateway, and in process. Register them on a Server:
//
//	srv := server.New()
//	demov1.RegisterDemoServer(srv, impl) // unary methods are commands, server streams are channels
//	server.Handle(srv, "add", func(ctx context.Context, a AddArgs) (int, error) { … })
//	server.HandleChannel(srv, "ticks", func(ctx context.Context, a TickArgs, send func(int) error) error { … })
//
// Proto methods are named in snake_case (Greet → greet) unless the method
// sets option (tether.v1.command). JSON arguments match in lowerCamelCase or
// snake_case; a missing, unknown or mistyped argument is invalid_argument
// naming it, and protovalidate rules are checked before the handler.
//
// Events: Emit and EmitTo publish (EmitTo only to listeners of one client
// label), Listen runs a backend listener off the emitter's goroutine, and
// DeclareEvent (or option (tether.v1.event)) types an event's payload. Each
// listener has a bounded queue; one that falls behind gets a lag notice, and
// one that reconnects with its last event id resumes while the window holds
// it.
//
// Serving: ListenAndServe or Serve on a listener from Listen (host:port or
// unix:///path, created mode 0600), ListenTrusted for endpoints whose peers
// are trusted Go services, DialInProcess for an in-process connection (the
// gateway's in tether serve). Shutdown stops gracefully: health reports
// NOT_SERVING, new calls get unavailable, listen streams end with
// unavailable so clients reconnect and resume, and calls in flight finish
// within the context's deadline. The gRPC health service and reflection are
// registered.
//
// Most programs do not build a Server by hand: package app assembles one from
// a configuration with the interceptors (isolation, capabilities, limits,
// logging, metrics, tracing, idempotency) and the gateway, and
// (*app.App).Server returns it for registering commands.
package server
