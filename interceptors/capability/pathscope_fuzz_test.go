package capability_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/interceptors/capability"
)

// FuzzPathScope resolves caller paths against a real tree with symlinks
// that lead out: an allowed path never leaves the base folder and never
// reaches a denied one, whatever the bytes.
func FuzzPathScope(f *testing.F) {
	root := tree(f)
	base := filepath.Join(root, "base")
	ps, err := capability.NewPathScope(&tether.Scopes{
		Allow: []map[string]any{{"path": "**"}},
		Deny:  []map[string]any{{"path": "docs/secret"}},
	}, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"docs/a.txt", "../outside/o.txt", "docs/link-out.txt", "docs/secret-link/k.txt",
		"linkdir/o.txt", "docs/./secret/k.txt", "docs/sub/../secret", "/etc/passwd", "docs\\..\\..\\x", "docs/loop.txt", "a\x00b"} {
		f.Add(s)
	}
	secret := filepath.Join(base, "docs", "secret")
	f.Fuzz(func(t *testing.T, p string) {
		real, err := ps.Resolve(base, p)
		if err != nil {
			return
		}
		if real != base && !strings.HasPrefix(real, base+string(filepath.Separator)) {
			t.Fatalf("%q resolved to %q, outside %q", p, real, base)
		}
		if real == secret || strings.HasPrefix(real, secret+string(filepath.Separator)) {
			t.Fatalf("%q resolved to %q, which is denied", p, real)
		}
	})
}
