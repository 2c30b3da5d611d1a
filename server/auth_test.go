package server_test

import (
	"context"
	"path/filepath"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/server"
)

// With a token, a caller over TCP must send it — for commands, typed
// calls, events and streams alike; a Unix-socket caller (this user only)
// and the health service need none.
func TestTokenOverTCP(t *testing.T) {
	e := start(t, nil, server.WithToken("s3cret"))
	ctx := context.Background()
	var s string
	if err := e.cli.Invoke(ctx, "greet", map[string]string{"name": "x"}, &s); tether.CodeOf(err) != tether.CodeUnauthenticated {
		t.Fatalf("invoke without the token: %v", err)
	}
	if _, err := e.cli.Emit(ctx, "x", 1); tether.CodeOf(err) != tether.CodeUnauthenticated {
		t.Fatalf("emit without the token: %v", err)
	}
	if err := listen(ctx, e.conn); tether.CodeOf(tether.FromError(err)) != tether.CodeUnauthenticated {
		t.Fatalf("listen without the token: %v", err)
	}
	if _, err := healthpb.NewHealthClient(e.conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health without the token: %v", err)
	}
	for tok, want := range map[string]tether.Code{"wrong": tether.CodeUnauthenticated, "s3cret": tether.CodeOK} {
		c, err := client.Dial(e.conn.Target()[len("passthrough:///"):], client.WithToken(tok))
		if err != nil {
			t.Fatal(err)
		}
		err = c.Invoke(ctx, "greet", map[string]string{"name": "x"}, &s)
		c.Close()
		if tether.CodeOf(err) != want {
			t.Fatalf("token %q: %v, want %v", tok, err, want)
		}
	}
	// A Unix socket of the same server needs none.
	sock := "unix://" + filepath.Join(t.TempDir(), "core.sock")
	l, err := server.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.Serve(l) //nolint:errcheck // ends with the server
	u, err := client.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if err := u.Invoke(ctx, "greet", map[string]string{"name": "x"}, &s); err != nil || s != "Hello, x!" {
		t.Fatalf("over the Unix socket: %q %v", s, err)
	}
}
