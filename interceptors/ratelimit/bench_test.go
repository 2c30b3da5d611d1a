package ratelimit_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/interceptors/ratelimit"
)

// BenchmarkUnary measures the interceptor's overhead on a trivial handler
// for calls within the limit; "baseline" calls the handler directly.
func BenchmarkUnary(b *testing.B) {
	info := &grpc.UnaryServerInfo{FullMethod: "/tether.func/greet"}
	handler := func(context.Context, any) (any, error) { return "ok", nil }
	ctx := tether.WithCall(context.Background(), &tether.Call{Kind: tether.KindInvoke, Name: "greet", ClientLabel: "main"})
	l, err := ratelimit.New(ratelimit.Limits{Rate: 1e9, Burst: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	i := l.UnaryServerInterceptor()
	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = handler(ctx, "World")
		}
	})
	b.Run("one_client", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = i(ctx, "World", info, handler)
		}
	})
	b.Run("1000_clients", func(b *testing.B) {
		ctxs := make([]context.Context, 1000)
		for n := range ctxs {
			ctxs[n] = tether.WithCall(context.Background(), &tether.Call{Kind: tether.KindInvoke, Name: "greet", ClientLabel: fmt.Sprint("c", n)})
		}
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			_, _ = i(ctxs[n%len(ctxs)], "World", info, handler)
			n++
		}
	})
}
