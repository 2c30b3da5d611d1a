package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/tether-ipc/tether/examples/demo"
	"github.com/tether-ipc/tether/server"
)

// serveCmd: tether serve — the core with the demo app.
func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	grpcAddr := fs.String("grpc", defaultGRPC, "gRPC address: host:port or unix:///path")
	dataDir := fs.String("data", ".", "folder the demo's read_file may read")
	grace := fs.Duration("shutdown-timeout", 10*time.Second, "how long in-flight calls may finish on shutdown")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
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

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("tether: shutting down", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return <-errc
}
