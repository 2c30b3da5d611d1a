package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/examples/demo"
	"github.com/tether-ipc/tether/server"
)

// Invoking commands from a Go service over a real socket; command errors
// arrive with their code and details.
func Example() {
	srv := server.New()
	demo.New(".").Register(srv)
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(lis)
	defer srv.Stop()

	c, err := client.Dial(lis.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()

	var greeting string
	if err := c.Invoke(context.Background(), "greet", map[string]string{"name": "World"}, &greeting); err != nil {
		panic(err)
	}
	fmt.Println(greeting)

	err = c.Invoke(context.Background(), "fail", map[string]string{"reason": "out of coffee"}, nil)
	var te *tether.Error
	if errors.As(err, &te) {
		fmt.Println(te.Code(), string(te.Details()))
	}
	// Output:
	// Hello, World!
	// failed_precondition {"reason":"out of coffee","retryable":false}
}
