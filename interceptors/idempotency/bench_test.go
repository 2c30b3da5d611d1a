package idempotency_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/interceptors/idempotency"
)

// BenchmarkUnary measures the interceptor on a trivial handler: calls
// without a key (the common case), replays of a kept result, and first
// calls with a new key each time (bounded by the default 10000 entries).
func BenchmarkUnary(b *testing.B) {
	info := &grpc.UnaryServerInfo{FullMethod: "/tether.func/greet"}
	handler := func(context.Context, any) (any, error) { return "ok", nil }
	call := func(key string) context.Context {
		return tether.WithCall(context.Background(), &tether.Call{Kind: tether.KindInvoke, Name: "greet", ClientLabel: "main", IdempotencyKey: key})
	}
	i := idempotency.UnaryServerInterceptor()
	b.Run("baseline", func(b *testing.B) {
		ctx := call("")
		b.ReportAllocs()
		for b.Loop() {
			_, _ = handler(ctx, "World")
		}
	})
	b.Run("no_key", func(b *testing.B) {
		ctx := call("")
		b.ReportAllocs()
		for b.Loop() {
			_, _ = i(ctx, "World", info, handler)
		}
	})
	b.Run("replay", func(b *testing.B) {
		ctx := call("k")
		b.ReportAllocs()
		for b.Loop() {
			_, _ = i(ctx, "World", info, handler)
		}
	})
	b.Run("new_key", func(b *testing.B) {
		ctxs := make([]context.Context, 1<<14)
		for n := range ctxs {
			ctxs[n] = call(fmt.Sprint("key-", n))
		}
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			_, _ = i(ctxs[n%len(ctxs)], "World", info, handler)
			n++
		}
	})
}
