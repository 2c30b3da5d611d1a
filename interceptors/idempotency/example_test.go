package idempotency_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/interceptors/idempotency"
	"github.com/tether-ipc/tether/server"
)

func Example() {
	srv := server.New(
		server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		server.WithInterceptors(idempotency.UnaryServerInterceptor(idempotency.WithTTL(idempotency.DefaultTTL))),
	)
	defer srv.Stop()
	balance := 100
	server.Handle(srv, "pay", func(_ context.Context, amount int) (int, error) {
		balance -= amount
		return balance, nil
	})
	conn, err := srv.DialInProcess()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	c := client.New(conn)

	// The client retries after a lost response: the payment runs once.
	for range 2 {
		var left int
		if err := c.Invoke(context.Background(), "pay", 30, &left, client.WithIdempotencyKey("order-17")); err != nil {
			fmt.Println(err)
		}
		fmt.Println("left:", left)
	}
	// Output:
	// left: 70
	// left: 70
}
