package server_test

import (
	"context"
	"fmt"

	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/examples/demo"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	"github.com/tether-ipc/tether/server"
)

// Registering a generated proto service makes each of its methods a command
// invokable by name; the typed client works on the same connection.
func ExampleServer_RegisterService() {
	srv := server.New()
	demov1.RegisterDemoServer(srv, demo.New("."))

	conn, _ := srv.DialInProcess()
	defer srv.Stop()
	defer conn.Close()
	c := client.New(conn)

	var byName string
	_ = c.Invoke(context.Background(), "greet", map[string]string{"name": "World"}, &byName)
	typed, _ := demov1.NewDemoClient(conn).Greet(context.Background(), &demov1.GreetRequest{Name: "World"})
	fmt.Println(byName)
	fmt.Println(typed.GetValue())
	// Output:
	// Hello, World!
	// Hello, World!
}

// A plain Go function is a command too; its JSON arguments match by
// lowerCamelCase or snake_case, as Tauri's do.
func ExampleHandle() {
	type args struct {
		FirstNumber  int `json:"first_number"`
		SecondNumber int `json:"second_number"`
	}
	srv := server.New()
	server.Handle(srv, "add", func(_ context.Context, a args) (int, error) {
		return a.FirstNumber + a.SecondNumber, nil
	})
	var sum int
	err := srv.Invoke(context.Background(), "add", map[string]int{"firstNumber": 2, "second_number": 40}, &sum)
	fmt.Println(sum, err)
	// Output: 42 <nil>
}
