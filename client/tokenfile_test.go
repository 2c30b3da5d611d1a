package client_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/server"
)

// WithTokenFile reads the secret at each call: the same client, never
// redialled, is refused while the file is missing or wrong and passes once
// the file holds the core's secret.
func TestWithTokenFile(t *testing.T) {
	// Over TCP: a Unix socket's peers need no token.
	core := startCoreAt(t, "127.0.0.1:0", server.WithToken("s3cret"))
	defer core.stop()

	file := filepath.Join(t.TempDir(), "token")
	c, err := client.Dial(core.addr, client.WithTokenFile(file))
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
