package ratelimit_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/interceptors/ratelimit"
	"github.com/tether-ipc/tether/server"
)

func Example() {
	// Two calls at once, then one every 10 seconds, per client.
	l, err := ratelimit.New(ratelimit.Limits{Rate: 0.1, Burst: 2, MaxListeners: 8})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := server.New(
		server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		server.WithInterceptors(l.UnaryServerInterceptor()),
		server.WithStreamInterceptors(l.StreamServerInterceptor()),
	)
	defer srv.Stop()
	server.Handle(srv, "ping", func(context.Context, struct{}) (string, error) { return "pong", nil })

	for range 3 {
		err := srv.Invoke(context.Background(), "ping", nil, nil)
		fmt.Println(tether.CodeOf(err))
	}
	// Output:
	// ok
	// ok
	// resource_exhausted
}
