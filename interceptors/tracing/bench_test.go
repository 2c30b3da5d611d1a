package tracing_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/interceptors/tracing"
)

// BenchmarkUnary measures the interceptor on a trivial handler: annotating
// a recording span (what it does behind the gRPC stats handler), and
// starting a child span too.
func BenchmarkUnary(b *testing.B) {
	info := &grpc.UnaryServerInfo{FullMethod: "/tether.func/greet"}
	handler := func(context.Context, any) (any, error) { return "ok", nil }
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()))
	defer tp.Shutdown(context.Background())
	base := tether.WithCall(context.Background(), &tether.Call{Kind: tether.KindInvoke, Name: "greet", ClientLabel: "main"})
	ctx, span := tp.Tracer("bench").Start(base, "rpc")
	defer span.End()
	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = handler(ctx, "World")
		}
	})
	b.Run("annotate", func(b *testing.B) {
		// A fresh span per call would measure the SDK; reuse one.
		i := tracing.UnaryServerInterceptor()
		b.ReportAllocs()
		for b.Loop() {
			_, _ = i(ctx, "World", info, handler)
		}
	})
	b.Run("child_span", func(b *testing.B) {
		// No recorder on this provider: measures the span, not its storage.
		tp := sdktrace.NewTracerProvider()
		defer tp.Shutdown(context.Background())
		i := tracing.UnaryServerInterceptor(tracing.WithTracerProvider(tp))
		b.ReportAllocs()
		for b.Loop() {
			_, _ = i(ctx, "World", info, handler)
		}
	})
}
