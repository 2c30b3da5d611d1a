package client_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/examples/demo"
	"github.com/tether-ipc/tether/server"
)

// WithTokenFile reads the secret at each call: the same client, never
// redialled, is refused while the file is missing or wrong and passes once
// the file holds the core's secret.
func TestWithTokenFile(t *testing.T) {
	srv := server.New(quiet(), server.WithToken("s3cret"))
	demo.New(t.TempDir()).Register(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); srv.Serve(lis) }()
	defer func() { srv.Stop(); wg.Wait() }()

	file := filepath.Join(t.TempDir(), "token")
	c, err := client.Dial(lis.Addr().String(), client.WithTokenFile(file))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	greet := func() error {
		var out string
		return c.Invoke(context.Background(), "greet", map[string]string{"name": "x"}, &out)
	}
	if err := greet(); tether.CodeOf(err) != tether.CodeUnauthenticated {
		t.Fatalf("no token file: %v, want unauthenticated", err)
	}
	for _, tc := range []struct{ content, want string }{{"wrong\n", "unauthenticated"}, {"s3cret\n", ""}} {
		if err := os.WriteFile(file, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		err := greet()
		if tc.want == "" && err != nil || tc.want != "" && tether.CodeOf(err).String() != tc.want {
			t.Fatalf("token file %q: %v, want %q", tc.content, err, tc.want)
		}
	}
	if _, err := client.ReadTokenFile(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("ReadTokenFile of a missing file: no error")
	}
}
