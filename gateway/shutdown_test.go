package gateway_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/tether-ipc/tether/gateway"
	"github.com/tether-ipc/tether/server"
)

// A connection that never sends a request (a browser's preconnect) must not
// hold up Shutdown: net/http alone waits up to 5 s for it.
func TestShutdownClosesConnectionsWithoutRequest(t *testing.T) {
	srv := server.New(server.WithLogger(quiet))
	defer srv.Stop()
	conn, err := srv.DialInProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gw, err := gateway.New(conn, gateway.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := gw.Server(l.Addr().String())
	served := make(chan error, 1)
	go func() { served <- hs.Serve(l) }()

	// One connection that has served a request (idle now), one that never sent one.
	res, err := http.Get("http://" + l.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body) //nolint:errcheck
	res.Body.Close()
	defer http.DefaultClient.CloseIdleConnections()
	silent, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	time.Sleep(50 * time.Millisecond) // let the server accept it

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := hs.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Shutdown took %v with a connection that sent no request; want well under net/http's 5 s", d)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	silent.SetReadDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck
	if _, err := silent.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("the silent connection should be closed by the server, read gave %v", err)
	}
}
