package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	"github.com/tether-ipc/tether/examples/demo"
	"github.com/tether-ipc/tether/gateway"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	"github.com/tether-ipc/tether/server"
)

// serveCmd: tether serve — the core with the demo app.
func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	grpcAddr := fs.String("grpc", defaultGRPC, "gRPC address: host:port or unix:///path")
	dataDir := fs.String("data", ".", "folder the demo's read_file may read")
	grace := fs.Duration("shutdown-timeout", 10*time.Second, "how long in-flight calls may finish on shutdown")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	httpAddr := fs.String("http", defaultHTTP, "HTTP gateway address (host:port; empty turns the gateway off)")
	frontend := fs.String("frontend", "", "folder of static files to serve at / (default: the demo page)")
	token := fs.String("token", "", "require Authorization: Bearer TOKEN on the gateway's API routes")
	origins := map[string][]string{}
	fs.Func("allow-origin", "allow browser pages from ORIGIN, or ORIGIN=label1,label2 with their client labels (first is the default); repeatable", func(v string) error {
		o, labels, _ := strings.Cut(v, "=")
		var ls []string
		for l := range strings.SplitSeq(labels, ",") {
			if l = strings.TrimSpace(l); l != "" {
				ls = append(ls, l)
			}
		}
		origins[o] = append(origins[o], ls...)
		return nil
	})
	if err := parse(fs, args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %v", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if fi, err := os.Stat(*dataDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("--data %s: not a folder", *dataDir)
	}

	srv := server.New(server.WithLogger(log))
	app := demo.New(*dataDir)
	app.Register(srv)

	lis, err := server.Listen(*grpcAddr)
	if err != nil {
		return fmt.Errorf("--grpc: %v", err)
	}
	addr := lis.Addr().String()
	if lis.Addr().Network() == "unix" {
		addr = "unix://" + addr
	}
	log.Info("tether: gRPC listening", "addr", addr)
	fmt.Fprintf(stdout, "tether: gRPC on %s\n", addr)

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(lis) }()

	var web *http.Server
	var conn *grpc.ClientConn
	if *httpAddr != "" {
		if conn, err = srv.DialInProcess(); err != nil {
			srv.Stop()
			return err
		}
		if web, err = startGateway(conn, *httpAddr, *frontend, *token, origins, log, stdout, errc); err != nil {
			conn.Close()
			srv.Stop()
			return err
		}
	}
	select {
	case err := <-errc:
		if web != nil {
			web.Close()
			conn.Close()
		}
		srv.Stop()
		return err
	case <-ctx.Done():
	}
	log.Info("tether: shutting down", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	// HTTP first (its SSE streams end), then the gateway's connection, then
	// the core.
	if web != nil {
		if err := web.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		conn.Close()
		<-errc // the HTTP server's Serve
	}
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return <-errc
}

// startGateway serves the HTTP gateway for the demo app on addr.
func startGateway(conn *grpc.ClientConn, addr, frontend, token string, origins map[string][]string, log *slog.Logger, stdout io.Writer, errc chan<- error) (*http.Server, error) {
	opts := []gateway.Option{
		gateway.WithLogger(log),
		gateway.WithServices(func(ctx context.Context, mux *runtime.ServeMux, cc grpc.ClientConnInterface) error {
			return demov1.RegisterDemoHandlerClient(ctx, mux, demov1.NewDemoClient(cc))
		}),
	}
	if frontend != "" {
		opts = append(opts, gateway.WithFrontend(frontend))
	}
	if token != "" {
		opts = append(opts, gateway.WithToken(token))
	}
	if len(origins) > 0 {
		opts = append(opts, gateway.WithOrigins(origins))
	}
	gw, err := gateway.New(conn, opts...)
	if err != nil {
		return nil, fmt.Errorf("gateway: %v", err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		gw.Close()
		return nil, fmt.Errorf("--http: %v", err)
	}
	web := gw.Server(addr)
	url := "http://" + l.Addr().String()
	log.Info("tether: HTTP listening", "addr", url)
	fmt.Fprintf(stdout, "tether: HTTP on %s\n", url)
	go func() {
		err := web.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	return web, nil
}
