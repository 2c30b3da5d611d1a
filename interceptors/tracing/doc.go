// Package tracing traces Tether calls with OpenTelemetry.
//
// ServerOption and DialOption install otelgrpc's stats handlers on the
// core's gRPC server and on clients: one span per gRPC call, with the trace
// context carried in metadata. The chain interceptors then name the Tether
// call on the current span — which for Invoke by name is the generic
// "tether.v1.IPC/Invoke" span — with the attributes:
//
//	tether.kind          invoke, channel, emit or listen
//	tether.command       the command name (invoke and channel)
//	tether.event         the event name (emit and listen)
//	tether.client_label  the caller's client label, when known
//
// With WithTracerProvider the interceptors also start a child span per call,
// named "tether.invoke greet" and so on, which in-process calls
// (server.Invoke), having no gRPC span, need to be traced at all.
//
//	srv := server.New(
//		server.WithGRPCOptions(tracing.ServerOption()),
//		server.WithInterceptors(tracing.UnaryServerInterceptor()),
//		server.WithStreamInterceptors(tracing.StreamServerInterceptor()),
//	)
//	c, err := client.Dial(addr, client.WithDialOptions(tracing.DialOption()))
//
// No payload, argument or header value is put on a span.
package tracing
