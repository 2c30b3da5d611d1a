package metrics_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/interceptors/metrics"
)

// BenchmarkUnary measures the interceptor's overhead on a trivial handler;
// "baseline" calls the handler directly.
func BenchmarkUnary(b *testing.B) {
	info := &grpc.UnaryServerInfo{FullMethod: "/tether.func/greet"}
	handler := func(context.Context, any) (any, error) { return "ok", nil }
	invoke := tether.WithCall(context.Background(), &tether.Call{Kind: tether.KindInvoke, Name: "greet", Method: info.FullMethod})
	emit := tether.WithCall(context.Background(), &tether.Call{Kind: tether.KindEmit, Name: "evt", Method: "/tether.v1.IPC/Emit"})
	i := metrics.New().UnaryServerInterceptor()
	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = handler(invoke, "World")
		}
	})
	b.Run("invoke", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = i(invoke, "World", info, handler)
		}
	})
	b.Run("emit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = i(emit, "World", info, handler)
		}
	})
}
