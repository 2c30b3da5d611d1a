package logging_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/tether-ipc/tether/interceptors/logging"
	"github.com/tether-ipc/tether/server"
)

func Example() {
	// Drop the attributes that change from run to run.
	drop := func(_ []string, a slog.Attr) slog.Attr {
		switch a.Key {
		case slog.TimeKey, "duration", "request_id":
			return slog.Attr{}
		}
		return a
	}
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: drop}))

	srv := server.New(
		server.WithLogger(logger),
		server.WithInterceptors(logging.UnaryServerInterceptor(logger)),
		server.WithStreamInterceptors(logging.StreamServerInterceptor(logger)),
	)
	defer srv.Stop()
	server.Handle(srv, "greet", func(ctx context.Context, name string) (string, error) {
		// Handlers log with the call's request id.
		_ = logging.RequestID(ctx)
		return "Hello, " + name + "!", nil
	})

	var greeting string
	if err := srv.Invoke(context.Background(), "greet", "World", &greeting); err != nil {
		fmt.Println(err)
	}
	fmt.Println(greeting)
	// Output:
	// level=INFO msg="tether call" kind=invoke name=greet method=/tether.func/greet client_label="" peer="" code=ok
	// Hello, World!
}
