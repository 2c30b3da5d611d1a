// Package tracing traces Tether calls with OpenTelemetry.
//
// WireServerInterceptors join each call to its caller's trace (the W3C
// trace context in its metadata) and start its server span, named by the
// method ("tether.v1.IPC/Invoke"); UnaryClientInterceptor and
// StreamClientInterceptor carry the trace context on the way out. The chain
// interceptors then name the Tether call on the current span with the
// attributes:
//
//	tether.kind          invoke, channel, emit or listen
//	tether.command       the command name (invoke and channel)
//	tether.event         the event name (emit and listen)
//	tether.client_label  the caller's client label, when known
//
// With WithTracerProvider the interceptors also start a child span per
// command or emit, named "tether.invoke greet" and so on, under which the
// handler runs; in-process calls (server.Invoke), having no server span, are
// traced by it alone. A listen has no child span where it has a server
// span: no code of the app's runs under it.
//
//	ctp := tracing.WithTracerProvider(tp)
//	wireUnary, wireStream := tracing.WireServerInterceptors(ctp)
//	srv := server.New(
//		server.WithWireInterceptors(wireUnary, wireStream),
//		server.WithInterceptors(tracing.UnaryServerInterceptor(ctp)),
//		server.WithStreamInterceptors(tracing.StreamServerInterceptor(ctp)),
//	)
//	c, err := client.Dial(addr, client.WithDialOptions(
//		grpc.WithChainUnaryInterceptor(tracing.UnaryClientInterceptor()),
//		grpc.WithChainStreamInterceptor(tracing.StreamClientInterceptor())))
//
// Package app assembles all of this from the standard OTEL_* variables.
// ServerOption and DialOption (otelgrpc's stats handlers) remain for
// servers and clients that want otelgrpc's own spans; as grpc.ServerOptions
// they keep in-process calls off their direct path.
//
// No payload, argument or header value is put on a span.
package tracing
