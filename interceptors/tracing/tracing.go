package tracing

import (
	"context"
	"sync"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/tether-ipc/tether"
)

// Attribute keys set on spans.
const (
	AttrKind        = attribute.Key("tether.kind")
	AttrCommand     = attribute.Key("tether.command")
	AttrEvent       = attribute.Key("tether.event")
	AttrClientLabel = attribute.Key("tether.client_label")
)

// ScopeName is the instrumentation scope of the spans the interceptors start.
const ScopeName = "github.com/tether-ipc/tether/interceptors/tracing"

// ServerOption returns the option that installs otelgrpc's server stats
// handler, for server.WithGRPCOptions or grpc.NewServer.
func ServerOption(opts ...otelgrpc.Option) grpc.ServerOption {
	return grpc.StatsHandler(otelgrpc.NewServerHandler(opts...))
}

// DialOption returns the option that installs otelgrpc's client stats
// handler, for client.WithDialOptions or grpc.NewClient.
func DialOption(opts ...otelgrpc.Option) grpc.DialOption {
	return grpc.WithStatsHandler(otelgrpc.NewClientHandler(opts...))
}

// Option configures the interceptors.
type Option func(*config)

type config struct {
	tracer trace.Tracer
	calls  specCache[callKey]
	rpcs   specCache[string]
}

// spec is what a span of one kind of call is started with: its name, its
// attributes and the options that carry them, made once (see specCache).
type spec struct {
	name  string
	attrs []attribute.KeyValue
	opts  []trace.SpanStartOption
}

// callKey is what a call's span depends on.
type callKey struct {
	kind        tether.Kind
	name, label string
}

// maxSpecs bounds each cache of specs; calls beyond it build theirs each
// time. Command names, methods and client labels are the app's own, so a
// bound is only reached by an app with that many of them.
const maxSpecs = 4096

// specCache holds specs by key, safe for concurrent use; looking one up
// allocates nothing.
type specCache[K comparable] struct {
	mu sync.RWMutex
	m  map[K]*spec
}

func (c *specCache[K]) get(k K, make func() *spec) *spec {
	c.mu.RLock()
	sp, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return sp
	}
	sp = make()
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[k]; ok {
		return old
	}
	if c.m == nil {
		c.m = map[K]*spec{}
	}
	if len(c.m) < maxSpecs {
		c.m[k] = sp
	}
	return sp
}

// WithTracerProvider makes the interceptors start a child span for every
// call, from tp, besides annotating the current span.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) {
		if tp != nil {
			c.tracer = tp.Tracer(ScopeName)
		}
	}
}

func newConfig(opts []Option) *config {
	c := &config{}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Attributes returns the span attributes of a call.
func Attributes(call *tether.Call) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 3)
	attrs = append(attrs, AttrKind.String(call.Kind.String()))
	switch call.Kind {
	case tether.KindEmit, tether.KindListen:
		attrs = append(attrs, AttrEvent.String(call.Name))
	default:
		attrs = append(attrs, AttrCommand.String(call.Name))
	}
	if call.ClientLabel != "" {
		attrs = append(attrs, AttrClientLabel.String(call.ClientLabel))
	}
	return attrs
}

// begin annotates the current span and, when configured, starts a child.
func (c *config) begin(ctx context.Context) (context.Context, trace.Span) {
	call, ok := tether.CallFromContext(ctx)
	if !ok {
		return ctx, nil
	}
	sp := c.calls.get(callKey{call.Kind, call.Name, call.ClientLabel}, func() *spec {
		attrs := Attributes(call)
		return &spec{name: "tether." + call.Kind.String() + " " + call.Name, attrs: attrs,
			opts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...)}}
	})
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(sp.attrs...)
		if call.Kind == tether.KindListen {
			// No code of the app's runs under a listen: its server
			// span, annotated, is the whole of it, and a child span
			// alive as long as the stream would only hold memory.
			return ctx, nil
		}
	}
	if c.tracer == nil {
		return ctx, nil
	}
	return c.tracer.Start(ctx, sp.name, sp.opts...)
}

func end(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.SetStatus(codes.Error, tether.CodeOf(err).String())
	}
	span.End()
}

// UnaryServerInterceptor annotates unary commands and emits.
func UnaryServerInterceptor(opts ...Option) grpc.UnaryServerInterceptor {
	c := newConfig(opts)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, span := c.begin(ctx)
		resp, err := handler(ctx, req)
		end(span, err)
		return resp, err
	}
}

// StreamServerInterceptor annotates channel commands and listen streams.
func StreamServerInterceptor(opts ...Option) grpc.StreamServerInterceptor {
	c := newConfig(opts)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, span := c.begin(ss.Context())
		if span != nil {
			ss = &stream{ServerStream: ss, ctx: ctx}
		}
		err := handler(srv, ss)
		end(span, err)
		return err
	}
}

type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *stream) Context() context.Context { return s.ctx }
