package metrics_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"

	"github.com/tether-ipc/tether/interceptors/metrics"
	"github.com/tether-ipc/tether/server"
)

func Example() {
	m := metrics.New()
	srv := server.New(
		server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		server.WithInterceptors(m.UnaryServerInterceptor()),
		server.WithStreamInterceptors(m.StreamServerInterceptor()),
	)
	defer srv.Stop()
	server.Handle(srv, "greet", func(_ context.Context, name string) (string, error) { return "Hello, " + name, nil })

	for _, name := range []string{"a", "b"} {
		_ = srv.Invoke(context.Background(), "greet", name, nil)
	}
	_ = srv.Invoke(context.Background(), "nope", nil, nil) // unknown: no label

	// Serve m.Handler() at /metrics; here, read it once.
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "tether_invokes_total") {
			fmt.Println(line)
		}
	}
	// Output:
	// tether_invokes_total{code="ok",command="greet"} 2
}
