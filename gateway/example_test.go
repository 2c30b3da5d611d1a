package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	"github.com/tether-ipc/tether/examples/demo"
	"github.com/tether-ipc/tether/gateway"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	"github.com/tether-ipc/tether/server"
)

// The gateway in front of a core in the same process, as `tether serve`
// runs it.
func Example() {
	srv := server.New()
	demo.New(".").Register(srv)
	conn, _ := srv.DialInProcess()
	gw, err := gateway.New(conn, gateway.WithServices(
		func(ctx context.Context, mux *runtime.ServeMux, cc grpc.ClientConnInterface) error {
			return demov1.RegisterDemoHandlerClient(ctx, mux, demov1.NewDemoClient(cc))
		}))
	if err != nil {
		panic(err)
	}
	hs := httptest.NewUnstartedServer(gw)
	hs.Config = gw.Server("")
	hs.Start()
	defer func() { gw.Close(); hs.Close(); conn.Close(); srv.Stop() }()

	for _, path := range []string{"/ipc/invoke/greet", "/v1/demo/greet", "/ipc/invoke/nope"} {
		res, _ := hs.Client().Post(hs.URL+path, "application/json", strings.NewReader(`{"name":"World"}`))
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Println(res.StatusCode, strings.TrimSpace(string(body)))
	}
	// Output:
	// 200 "Hello, World!"
	// 200 "Hello, World!"
	// 404 {"code":"not_found","message":"unknown command \"nope\""}
}
