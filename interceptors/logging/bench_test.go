package logging_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"google.golang.org/grpc"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/interceptors/logging"
)

// BenchmarkUnary measures the interceptor's overhead on a trivial handler,
// with a JSON handler writing to io.Discard: "baseline" calls the handler
// directly.
func BenchmarkUnary(b *testing.B) {
	ctx := tether.WithCall(context.Background(), &tether.Call{Kind: tether.KindInvoke, Name: "greet", Method: "/tether.func/greet", ClientLabel: "main"})
	info := &grpc.UnaryServerInfo{FullMethod: "/tether.func/greet"}
	handler := func(context.Context, any) (any, error) { return "ok", nil }
	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = handler(ctx, "World")
		}
	})
	for _, bc := range []struct {
		name  string
		level slog.Level
	}{{"logged", slog.LevelInfo}, {"disabled", slog.LevelError}} {
		l := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: bc.level}))
		i := logging.UnaryServerInterceptor(l)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = i(ctx, "World", info, handler)
			}
		})
	}
}
