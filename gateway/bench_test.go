package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tether-ipc/tether/examples/demo"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	"github.com/tether-ipc/tether/server"
)

// BenchmarkGatewayInvoke compares one greet call, the same demo handler
// each time:
//
//	gateway        POST /ipc/invoke/greet over HTTP/1.1 loopback, then
//	               gRPC in-process to the core (Invoke by name)
//	gateway-typed  POST /v1/demo/greet (generated grpc-gateway route)
//	connect        connect-go's unary handler, JSON codec, HTTP/1.1 loopback
//	grpc-typed     the generated gRPC client over TCP loopback to the core
func BenchmarkGatewayInvoke(b *testing.B) {
	args := []byte(`{"name":"World"}`)
	want := `"Hello, World!"`
	post := func(b *testing.B, c *http.Client, url string) {
		b.Helper()
		b.ReportAllocs()
		for b.Loop() {
			res, err := c.Post(url, "application/json", bytes.NewReader(args))
			if err != nil {
				b.Fatal(err)
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil || res.StatusCode != 200 || string(body) != want {
				b.Fatalf("%d %s %v", res.StatusCode, body, err)
			}
		}
	}

	b.Run("gateway", func(b *testing.B) {
		h := newHarness(b)
		post(b, h.hs.Client(), h.hs.URL+"/ipc/invoke/greet")
	})
	b.Run("gateway-typed", func(b *testing.B) {
		h := newHarness(b)
		post(b, h.hs.Client(), h.hs.URL+"/v1/demo/greet")
	})
	b.Run("connect", func(b *testing.B) {
		app := demo.New(b.TempDir())
		path, handler := "/demo.v1.Demo/Greet", connect.NewUnaryHandler("/demo.v1.Demo/Greet",
			func(ctx context.Context, req *connect.Request[demov1.GreetRequest]) (*connect.Response[wrapperspb.StringValue], error) {
				res, err := app.Greet(ctx, req.Msg)
				if err != nil {
					return nil, err
				}
				return connect.NewResponse(res), nil
			})
		mux := http.NewServeMux()
		mux.Handle(path, handler)
		hs := httptest.NewServer(mux)
		defer hs.Close()
		post(b, hs.Client(), hs.URL+path)
	})
	b.Run("grpc-typed", func(b *testing.B) {
		srv := server.New(server.WithLogger(quiet))
		demo.New(b.TempDir()).Register(srv)
		lis, err := server.Listen("127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go srv.Serve(lis)
		defer srv.Stop()
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		c := demov1.NewDemoClient(conn)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			res, err := c.Greet(ctx, &demov1.GreetRequest{Name: "World"})
			if err != nil || res.GetValue() != "Hello, World!" {
				b.Fatal(res, err)
			}
		}
	})
}
