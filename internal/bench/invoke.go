package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/examples/demo"
	"github.com/tether-ipc/tether/gateway"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	"github.com/tether-ipc/tether/server"
)

var quiet = slog.New(slog.DiscardHandler)

// core is a Tether core serving the demo app on addr.
type core struct {
	srv  *server.Server
	addr string
	dir  string
	done chan struct{}
}

func startCore(addr string, opts ...server.Option) (*core, error) {
	dir, err := os.MkdirTemp("", "tether-bench-")
	if err != nil {
		return nil, err
	}
	srv := server.New(append([]server.Option{server.WithLogger(quiet)}, opts...)...)
	demo.New(dir).Register(srv)
	if addr == "unix" {
		addr = "unix://" + dir + "/core.sock"
	}
	lis, err := server.Listen(addr)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c := &core{srv: srv, dir: dir, done: make(chan struct{})}
	c.addr = lis.Addr().String()
	if lis.Addr().Network() == "unix" {
		c.addr = "unix://" + c.addr
	}
	go func() { defer close(c.done); srv.Serve(lis) }() //nolint:errcheck
	return c, nil
}

func (c *core) stop() {
	c.srv.Stop()
	<-c.done
	os.RemoveAll(c.dir)
}

// connectGreet serves the demo's Greet through connect-go's unary handler
// over HTTP/1.1 on loopback, and returns a JSON connect client for it.
type connectSide struct {
	hs     *http.Server
	client *connect.Client[demov1.GreetRequest, wrapperspb.StringValue]
	done   chan struct{}
}

func newHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute, DisableCompression: true,
	}}
}

func startConnect(hc *http.Client) (*connectSide, error) {
	app := demo.New(os.TempDir())
	const path = "/demo.v1.Demo/Greet"
	// Compression off for these small messages, as connect-go recommends
	// (WithCompressMinBytes): its default gzips every response.
	h := connect.NewUnaryHandler(path,
		func(ctx context.Context, req *connect.Request[demov1.GreetRequest]) (*connect.Response[wrapperspb.StringValue], error) {
			res, err := app.Greet(ctx, req.Msg)
			if err != nil {
				return nil, err
			}
			return connect.NewResponse(res), nil
		}, connect.WithCompressMinBytes(1024))
	mux := http.NewServeMux()
	mux.Handle(path, h)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &connectSide{hs: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, done: make(chan struct{})}
	go func() { defer close(c.done); c.hs.Serve(lis) }() //nolint:errcheck
	c.client = connect.NewClient[demov1.GreetRequest, wrapperspb.StringValue](hc, "http://"+lis.Addr().String()+path, connect.WithProtoJSON())
	return c, nil
}

func (c *connectSide) greet(ctx context.Context) error {
	res, err := c.client.CallUnary(ctx, connect.NewRequest(&demov1.GreetRequest{Name: "World"}))
	if err != nil {
		return err
	}
	if res.Msg.GetValue() != "Hello, World!" {
		return fmt.Errorf("connect greet: %q", res.Msg.GetValue())
	}
	return nil
}

func (c *connectSide) stop() {
	c.hs.Close()
	<-c.done
}

func runInvokeVsTyped(ctx context.Context, cfg *Config, r *Result) error {
	r.A, r.B, r.Unit = "invoke_proto", "typed_grpc", "ns/op"
	c, err := startCore("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer c.stop()
	cli, err := client.Dial(c.addr)
	if err != nil {
		return err
	}
	defer cli.Close()
	typed := demov1.NewDemoClient(cli.Conn())
	req := &demov1.GreetRequest{Name: "World"}
	a := latency(cfg.Side, 200, func() error {
		var res wrapperspb.StringValue
		if err := cli.Invoke(ctx, "greet", req, &res); err != nil {
			return err
		}
		return check(res.GetValue())
	})
	b := latency(cfg.Side, 200, func() error {
		res, err := typed.Greet(ctx, req)
		if err != nil {
			return err
		}
		return check(res.GetValue())
	})
	return interleave(ctx, cfg, r, a, b, div)
}

func check(v string) error {
	if v != "Hello, World!" {
		return fmt.Errorf("greet returned %q", v)
	}
	return nil
}

const concurrency = 64

var greetJSON = []byte(`{"name":"World"}`)

func runJSONInvokeVsConnect(ctx context.Context, cfg *Config, r *Result) error {
	r.A, r.B, r.Unit = "json_invoke", "connect_json", "calls/s"
	c, err := startCore("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer c.stop()
	cli, err := client.Dial(c.addr)
	if err != nil {
		return err
	}
	defer cli.Close()
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	cs, err := startConnect(hc)
	if err != nil {
		return err
	}
	defer cs.stop()
	a := throughput(cfg.Side, concurrency, func() error {
		var out string
		if err := cli.Invoke(ctx, "greet", json.RawMessage(greetJSON), &out); err != nil {
			return err
		}
		return check(out)
	})
	b := throughput(cfg.Side, concurrency, func() error { return cs.greet(ctx) })
	return interleave(ctx, cfg, r, a, b, div)
}

// frontSide is the gateway as `tether serve` assembles it: over an
// in-process connection to the core, on a loopback HTTP server.
type frontSide struct {
	gw   *gateway.Gateway
	hs   *http.Server
	url  string
	done chan struct{}
	stop func()
}

func startFront(c *core, opts ...gateway.Option) (*frontSide, error) {
	conn, err := c.srv.DialInProcess()
	if err != nil {
		return nil, err
	}
	gw, err := gateway.New(conn, append([]gateway.Option{gateway.WithLogger(quiet)}, opts...)...)
	if err != nil {
		conn.Close()
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gw.Close()
		conn.Close()
		return nil, err
	}
	f := &frontSide{gw: gw, hs: gw.Server(""), url: "http://" + lis.Addr().String(), done: make(chan struct{})}
	go func() { defer close(f.done); f.hs.Serve(lis) }() //nolint:errcheck
	f.stop = func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		f.hs.Shutdown(sctx) //nolint:errcheck
		f.hs.Close()
		<-f.done
		conn.Close()
	}
	return f, nil
}

func postGreet(hc *http.Client, url string) error {
	res, err := hc.Post(url, "application/json", bytes.NewReader(greetJSON))
	if err != nil {
		return err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return err
	}
	if res.StatusCode != 200 || string(body) != `"Hello, World!"` {
		return errors.New("gateway greet: " + res.Status + " " + string(body))
	}
	return nil
}

func runGatewayVsConnect(ctx context.Context, cfg *Config, r *Result) error {
	r.A, r.B, r.Unit = "gateway_json", "connect_json_http1", "calls/s"
	c, err := startCore("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer c.stop()
	f, err := startFront(c)
	if err != nil {
		return err
	}
	defer f.stop()
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	cs, err := startConnect(hc)
	if err != nil {
		return err
	}
	defer cs.stop()
	url := f.url + "/ipc/invoke/greet"
	a := throughput(cfg.Side, concurrency, func() error { return postGreet(hc, url) })
	b := throughput(cfg.Side, concurrency, func() error { return cs.greet(ctx) })
	return interleave(ctx, cfg, r, a, b, div)
}
