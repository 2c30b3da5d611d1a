package tracing_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tether-ipc/tether/interceptors/tracing"
	"github.com/tether-ipc/tether/server"
)

func Example() {
	rec := tracetest.NewSpanRecorder() // in production: an exporter's span processor
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())

	srv := server.New(
		server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		server.WithGRPCOptions(tracing.ServerOption()),
		server.WithInterceptors(tracing.UnaryServerInterceptor(tracing.WithTracerProvider(tp))),
		server.WithStreamInterceptors(tracing.StreamServerInterceptor(tracing.WithTracerProvider(tp))),
	)
	defer srv.Stop()
	server.Handle(srv, "greet", func(_ context.Context, name string) (string, error) { return "Hello, " + name, nil })

	_ = srv.Invoke(context.Background(), "greet", "World", nil)
	for _, s := range rec.Ended() {
		fmt.Println(s.Name())
		for _, kv := range s.Attributes() {
			fmt.Printf("  %s=%s\n", kv.Key, kv.Value.Emit())
		}
	}
	// Output:
	// tether.invoke greet
	//   tether.kind=invoke
	//   tether.command=greet
}
