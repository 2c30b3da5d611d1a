package tracing_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/interceptors/internal/coretest"
	"github.com/tether-ipc/tether/interceptors/tracing"
	"github.com/tether-ipc/tether/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixture struct {
	*coretest.Core
	rec *tracetest.SpanRecorder
	cli *client.Client // dialled with the client stats handler
}

func start(t *testing.T, opts ...tracing.Option) *fixture {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	otel := []otelgrpc.Option{otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(propagation.TraceContext{})}
	if len(opts) > 0 {
		opts = []tracing.Option{tracing.WithTracerProvider(tp)}
	}
	c := coretest.Start(t, nil,
		server.WithGRPCOptions(tracing.ServerOption(otel...)),
		server.WithInterceptors(tracing.UnaryServerInterceptor(opts...)),
		server.WithStreamInterceptors(tracing.StreamServerInterceptor(opts...)))
	conn, err := c.Srv.DialInProcess(tracing.DialOption(otel...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &fixture{Core: c, rec: rec, cli: client.New(conn)}
}

// ended waits until a span named name has ended, and returns it.
func (f *fixture) ended(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	return f.endedWhere(t, fmt.Sprintf("span %q", name), func(s sdktrace.ReadOnlySpan) bool { return s.Name() == name })
}

// endedServer waits until a server span named name has ended (the
// client's span of a call has the same name), and returns it.
func (f *fixture) endedServer(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	return f.endedWhere(t, fmt.Sprintf("server span %q", name), func(s sdktrace.ReadOnlySpan) bool {
		return s.Name() == name && s.SpanKind() == trace.SpanKindServer
	})
}

// endedWhere waits until an ended span matches, and returns the last one
// that does (the latest call's); what names it in the failure, with the
// spans that did end.
func (f *fixture) endedWhere(t *testing.T, what string, match func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var last sdktrace.ReadOnlySpan
		for _, s := range f.rec.Ended() {
			if match(s) {
				last = s
			}
		}
		if last != nil {
			return last
		}
	}
	var names []string
	for _, s := range f.rec.Ended() {
		names = append(names, s.Name())
	}
	t.Fatalf("no ended %s among %v", what, names)
	return nil
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]string {
	m := map[attribute.Key]string{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value.Emit()
	}
	return m
}

func TestServerSpanAttributes(t *testing.T) {
	tests := []struct {
		name string
		run  func(ctx context.Context, c *client.Client) error
		span string
		want map[attribute.Key]string
	}{
		{"invoke", func(ctx context.Context, c *client.Client) error {
			return c.Invoke(ctx, "echo", coretest.EchoArgs{Text: "x"}, nil)
		}, "tether.v1.IPC/Invoke", map[attribute.Key]string{tracing.AttrCommand: "echo", tracing.AttrKind: "invoke", tracing.AttrClientLabel: "main"}},
		{"emit", func(ctx context.Context, c *client.Client) error {
			_, err := c.Emit(ctx, "evt", 1)
			return err
		}, "tether.v1.IPC/Emit", map[attribute.Key]string{tracing.AttrEvent: "evt", tracing.AttrKind: "emit", tracing.AttrClientLabel: "main"}},
		{"channel", func(ctx context.Context, c *client.Client) error {
			return c.Channel(ctx, "count", coretest.CountArgs{N: 2}, func(client.ChannelMessage) error { return nil })
		}, "tether.v1.IPC/Channel", map[attribute.Key]string{tracing.AttrCommand: "count", tracing.AttrKind: "channel", tracing.AttrClientLabel: "main"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t)
			if err := tt.run(coretest.Labelled("main"), f.cli); err != nil {
				t.Fatal(err)
			}
			server := f.endedServer(t, tt.span)
			got := attrs(server)
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
			// The client's span is the parent: one trace across the call. (A
			// channel's may end after the server's.)
			clientSpan := f.endedWhere(t, fmt.Sprintf("client span %q", tt.span), func(s sdktrace.ReadOnlySpan) bool {
				return s.Name() == tt.span && s.SpanKind() == trace.SpanKindClient
			})
			if server.Parent().SpanID() != clientSpan.SpanContext().SpanID() ||
				server.SpanContext().TraceID() != clientSpan.SpanContext().TraceID() {
				t.Errorf("server span is not the client span's child")
			}
		})
	}
}

func TestChildSpans(t *testing.T) {
	f := start(t, tracing.WithTracerProvider(nil)) // start swaps in its provider
	// In-process calls have no gRPC span; the child span traces them.
	if err := f.Srv.Invoke(context.Background(), "echo", coretest.EchoArgs{Text: "x"}, nil); err != nil {
		t.Fatal(err)
	}
	s := f.ended(t, "tether.invoke echo")
	if got := attrs(s); got[tracing.AttrCommand] != "echo" || got[tracing.AttrKind] != "invoke" {
		t.Errorf("attributes %v", got)
	}
	// A failing call marks its span.
	_ = f.Srv.Invoke(context.Background(), "fail", coretest.FailArgs{Code: "internal"}, nil)
	if s := f.ended(t, "tether.invoke fail"); s.Status().Description != "internal" {
		t.Errorf("status %+v", s.Status())
	}
	// Over gRPC, the child hangs under the server span.
	if err := f.cli.Invoke(context.Background(), "echo", coretest.EchoArgs{Text: "x"}, nil); err != nil {
		t.Fatal(err)
	}
	// The client's span has the same name and may end first: take the server's.
	srv := f.endedServer(t, "tether.v1.IPC/Invoke")
	child := f.endedWhere(t, `child span "tether.invoke echo"`, func(s sdktrace.ReadOnlySpan) bool {
		return s.Name() == "tether.invoke echo" && s.Parent().IsValid()
	})
	if child.Parent().SpanID() != srv.SpanContext().SpanID() {
		t.Fatalf("no child span under the server span")
	}
	// A listen over gRPC is its annotated server span alone.
	sub, err := f.cli.Listen(context.Background(), []string{"evt"}, func(client.Event) {})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.cli.Emit(context.Background(), "evt", 1); err != nil {
		t.Fatal(err)
	}
	sub.Unlisten()
	listen := f.endedServer(t, "tether.v1.IPC/Listen")
	if got := attrs(listen); got[tracing.AttrKind] != "listen" || got[tracing.AttrEvent] != "evt" {
		t.Errorf("listen's server span attributes %v", got)
	}
	for _, s := range f.rec.Ended() {
		if strings.HasPrefix(s.Name(), "tether.listen") {
			t.Errorf("a listen with a server span has a child span %q", s.Name())
		}
	}
}
