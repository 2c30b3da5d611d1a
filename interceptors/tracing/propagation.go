package tracing

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// incomingCarrier reads one key of the incoming metadata without copying it.
type incomingCarrier struct{ ctx context.Context }

func (c incomingCarrier) Get(key string) string {
	if v := metadata.ValueFromIncomingContext(c.ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}
func (incomingCarrier) Set(string, string) {}
func (incomingCarrier) Keys() []string     { return nil }

// WireServerInterceptors return the interceptors that join a call to its
// caller's trace: they read the W3C trace context from the incoming
// metadata (with otel's global propagator) and, with WithTracerProvider,
// start the call's server span, named by its method
// ("tether.v1.IPC/Invoke"). Install them first among the wire interceptors
// (server.WithWireInterceptors), so that they see every call as it arrives,
// refused ones too; the command chain's span (UnaryServerInterceptor) is
// then its child.
//
// They take the place of otelgrpc's stats handler (ServerOption), which as
// a grpc.ServerOption keeps in-process calls off their direct path.
func WireServerInterceptors(opts ...Option) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	c := newConfig(opts)
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, span := c.serverSpan(ctx, info.FullMethod)
		resp, err := handler(ctx, req)
		end(span, err)
		return resp, err
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, span := c.serverSpan(ss.Context(), info.FullMethod)
		if ctx != ss.Context() {
			ss = &stream{ServerStream: ss, ctx: ctx}
		}
		err := handler(srv, ss)
		end(span, err)
		return err
	}
	return unary, stream
}

func (c *config) serverSpan(ctx context.Context, method string) (context.Context, trace.Span) {
	ctx = otel.GetTextMapPropagator().Extract(ctx, incomingCarrier{ctx})
	if c.tracer == nil {
		return ctx, nil
	}
	sp := c.rpcs.get(method, func() *spec {
		name := strings.TrimPrefix(method, "/")
		return &spec{name: name, opts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.RPCSystemGRPC, rpcService(name), rpcMethod(name))}}
	})
	return c.tracer.Start(ctx, sp.name, sp.opts...)
}

func rpcService(name string) attribute.KeyValue {
	svc, _, _ := strings.Cut(name, "/")
	return semconv.RPCService(svc)
}

func rpcMethod(name string) attribute.KeyValue {
	_, m, _ := strings.Cut(name, "/")
	return semconv.RPCMethod(m)
}

// UnaryClientInterceptor and StreamClientInterceptor write the caller's
// trace context into the outgoing metadata (with otel's global
// propagator), so that the core's spans join the caller's trace. They do
// nothing for a context without a valid span.
func UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(inject(ctx), method, req, reply, cc, opts...)
	}
}

// StreamClientInterceptor: see UnaryClientInterceptor.
func StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return streamer(inject(ctx), desc, cc, method, opts...)
	}
}

func inject(ctx context.Context) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	var c pairsCarrier
	otel.GetTextMapPropagator().Inject(ctx, &c)
	if len(c.kv) == 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, c.kv...)
}

// pairsCarrier collects what a propagator injects as metadata pairs, each
// key lower-cased and set once (a later Set of a key replaces its value).
type pairsCarrier struct {
	kv  []string
	buf [6]string // room for traceparent, tracestate and baggage
}

func (c *pairsCarrier) Get(key string) string {
	for i := 0; i < len(c.kv); i += 2 {
		if c.kv[i] == key {
			return c.kv[i+1]
		}
	}
	return ""
}

func (c *pairsCarrier) Set(key, value string) {
	key = strings.ToLower(key)
	for i := 0; i < len(c.kv); i += 2 {
		if c.kv[i] == key {
			c.kv[i+1] = value
			return
		}
	}
	if c.kv == nil {
		c.kv = c.buf[:0]
	}
	c.kv = append(c.kv, key, value)
}

func (c *pairsCarrier) Keys() []string {
	keys := make([]string, 0, len(c.kv)/2)
	for i := 0; i < len(c.kv); i += 2 {
		keys = append(keys, c.kv[i])
	}
	return keys
}

// HTTPCarrier is the carrier of W3C trace context in HTTP headers, for
// gateways that start the first span of a browser's call.
type HTTPCarrier = propagation.HeaderCarrier
