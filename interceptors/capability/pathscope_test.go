package capability_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/interceptors/capability"
)

// tree builds:
//
//	root/base/docs/{a.txt, b.md, sub/c.txt, secret/k.txt}
//	root/base/top.txt
//	root/outside/o.txt
//	root/base/docs/link-out.txt -> ../../outside/o.txt  (leaves base)
//	root/base/docs/link-in.txt  -> ../top.txt           (stays in base)
//	root/base/docs/link-sub.txt -> sub/c.txt
//	root/base/docs/secret-link  -> secret
//	root/base/linkdir           -> ../outside
//	root/base/docs/dangling.txt -> missing
//	root/base/docs/loop.txt     -> loop.txt
//	root/alias                  -> base
func tree(t testing.TB) (root string) {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"base/docs/a.txt": "A", "base/docs/b.md": "B", "base/docs/sub/c.txt": "C",
		"base/docs/secret/k.txt": "K", "base/top.txt": "T", "outside/o.txt": "O",
	} {
		writeFile(t, filepath.Join(root, name), data)
	}
	for name, target := range map[string]string{
		"base/docs/link-out.txt": "../../outside/o.txt",
		"base/docs/link-in.txt":  "../top.txt",
		"base/docs/link-sub.txt": "sub/c.txt",
		"base/docs/secret-link":  "secret",
		"base/linkdir":           "../outside",
		"base/docs/dangling.txt": "missing",
		"base/docs/loop.txt":     "loop.txt",
		"alias":                  "base",
	} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Skipf("symlinks not available: %v", err)
		}
	}
	return root
}

func pathScope(t *testing.T, allow, deny []string, vars map[string]string) *capability.PathScope {
	t.Helper()
	sc := &tether.Scopes{}
	for _, p := range allow {
		sc.Allow = append(sc.Allow, map[string]any{"path": p})
	}
	for _, p := range deny {
		sc.Deny = append(sc.Deny, map[string]any{"path": p})
	}
	ps, err := capability.NewPathScope(sc, vars)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestPathScopeResolve(t *testing.T) {
	root := tree(t)
	base := filepath.Join(root, "base")
	outside := filepath.Join(root, "outside")
	vars := map[string]string{"DATA": outside, "BASE": base}

	type want struct {
		path string // a path relative to root, or "" for an error
		err  string // a substring of the error
	}
	tests := []struct {
		name        string
		allow, deny []string
		base        string // default base
		user        string
		want        want
	}{
		{"match", []string{"docs/*.txt"}, nil, "", "docs/a.txt", want{path: "base/docs/a.txt"}},
		{"dot segments", []string{"docs/*.txt"}, nil, "", "./docs/sub/../a.txt", want{path: "base/docs/a.txt"}},
		{"star stays in a segment", []string{"docs/*.txt"}, nil, "", "docs/sub/c.txt", want{err: "not allowed by scope"}},
		{"double star crosses segments", []string{"docs/**/*.txt"}, nil, "", "docs/sub/c.txt", want{path: "base/docs/sub/c.txt"}},
		{"double star matches zero segments", []string{"docs/**/*.txt"}, nil, "", "docs/a.txt", want{path: "base/docs/a.txt"}},
		{"other extension", []string{"docs/*.txt"}, nil, "", "docs/b.md", want{err: "not allowed by scope"}},
		{"not yet existing file", []string{"docs/*.txt"}, nil, "", "docs/new.txt", want{path: "base/docs/new.txt"}},
		{"dot-dot escape", []string{"**"}, nil, "", "../outside/o.txt", want{err: "leaves the base folder"}},
		{"hidden dot-dot escape", []string{"**"}, nil, "", "docs/../../outside/o.txt", want{err: "leaves the base folder"}},
		{"absolute without absolute scope", []string{"**"}, nil, "", filepath.Join(base, "top.txt"), want{err: "is absolute"}},
		{"empty", []string{"**"}, nil, "", "", want{err: "invalid path"}},
		{"NUL", []string{"**"}, nil, "", "top.txt\x00.png", want{err: "invalid path"}},
		{"symlink file escape", []string{"**"}, nil, "", "docs/link-out.txt", want{err: "leaves the base folder through a symlink"}},
		{"symlink dir escape", []string{"**"}, nil, "", "linkdir/o.txt", want{err: "leaves the base folder through a symlink"}},
		{"symlink dir escape to new file", []string{"**"}, nil, "", "linkdir/new.txt", want{err: "leaves the base folder through a symlink"}},
		{"symlink to unallowed file in base", []string{"docs/*.txt"}, nil, "", "docs/link-in.txt", want{err: "not allowed by scope"}},
		{"symlink within scope", []string{"docs/**"}, nil, "", "docs/link-sub.txt", want{path: "base/docs/sub/c.txt"}},
		{"dangling symlink", []string{"**"}, nil, "", "docs/dangling.txt", want{err: "cannot be resolved"}},
		{"symlink loop", []string{"**"}, nil, "", "docs/loop.txt", want{err: "cannot be resolved"}},
		{"through a file", []string{"**"}, nil, "", "top.txt/x", want{err: "cannot be resolved"}},
		{"deny wins", []string{"**"}, []string{"docs/secret"}, "", "docs/secret/k.txt", want{err: "denied by scope"}},
		{"deny covers the folder itself", []string{"**"}, []string{"docs/secret"}, "", "docs/secret", want{err: "denied by scope"}},
		{"deny through a symlink", []string{"**"}, []string{"docs/secret"}, "", "docs/secret-link/k.txt", want{err: "denied by scope"}},
		{"deny by symlink name", []string{"**"}, []string{"docs/link-sub.txt"}, "", "docs/link-sub.txt", want{err: "denied by scope"}},
		{"deny glob", []string{"**"}, []string{"**/*.md"}, "", "docs/b.md", want{err: "denied by scope"}},
		{"deny leaves the rest", []string{"**"}, []string{"docs/secret"}, "", "docs/a.txt", want{path: "base/docs/a.txt"}},
		{"variable, relative user path", []string{"$BASE/docs/**"}, nil, "", "docs/a.txt", want{path: "base/docs/a.txt"}},
		{"variable, absolute user path", []string{"$DATA/**"}, nil, "", filepath.Join(outside, "o.txt"), want{path: "outside/o.txt"}},
		{"absolute path outside the absolute scope", []string{"$DATA/**"}, nil, "", filepath.Join(base, "top.txt"), want{err: "not allowed by scope"}},
		{"absolute path with dot-dot", []string{"$DATA/**"}, nil, "", filepath.Join(outside, "..", "base", "top.txt"), want{err: "not allowed by scope"}},
		{"relative path may not leave base for an absolute scope", []string{"$DATA/**"}, nil, "", "linkdir/o.txt", want{err: "through a symlink"}},
		{"absolute deny", []string{"**"}, []string{"$BASE/docs"}, "", "docs/a.txt", want{err: "denied by scope"}},
		{"symlinked base", []string{"docs/*.txt"}, nil, "alias", "docs/a.txt", want{path: "base/docs/a.txt"}},
		{"no allow", nil, nil, "", "docs/a.txt", want{err: "not allowed by scope"}},
		{"the base itself", []string{"*"}, nil, "", ".", want{err: "not allowed by scope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := pathScope(t, tt.allow, tt.deny, vars)
			b := base
			if tt.base != "" {
				b = filepath.Join(root, tt.base)
			}
			got, err := ps.Resolve(b, tt.user)
			if tt.want.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want.err) {
					t.Fatalf("Resolve(%q) = %q, %v; want error %q", tt.user, got, err, tt.want.err)
				}
				if c := tether.CodeOf(err); c != tether.CodePermissionDenied && c != tether.CodeInvalidArgument {
					t.Errorf("code %v", c)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tt.user, err)
			}
			if want := filepath.Join(root, tt.want.path); got != want {
				t.Fatalf("Resolve(%q) = %q, want %q", tt.user, got, want)
			}
		})
	}
}

func TestPathScopeOpen(t *testing.T) {
	root := tree(t)
	base := filepath.Join(root, "base")
	outside := filepath.Join(root, "outside")
	ps := pathScope(t, []string{"docs/**", "$DATA/*.txt"}, []string{"docs/secret"}, map[string]string{"DATA": outside})
	read := func(p string) (string, error) {
		f, err := ps.Open(base, p)
		if err != nil {
			return "", err
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		return string(b), err
	}
	for p, want := range map[string]string{
		"docs/a.txt":                    "A",
		"docs/link-sub.txt":             "C",
		filepath.Join(outside, "o.txt"): "O",
	} {
		if got, err := read(p); err != nil || got != want {
			t.Errorf("Open(%q) = %q, %v; want %q", p, got, err, want)
		}
	}
	for _, p := range []string{"top.txt", "docs/link-out.txt", "docs/secret/k.txt", "../outside/o.txt", "docs/missing.txt"} {
		if _, err := read(p); err == nil {
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func TestNewPathScopeErrors(t *testing.T) {
	vars := map[string]string{"DATA": "/data", "REL": "data", "STAR": "/da*ta"}
	tests := []struct {
		scope map[string]any
		want  string
	}{
		{map[string]any{"event": "x"}, `a path scope is {"path": "<glob>"}`},
		{map[string]any{"path": "x", "extra": 1}, `a path scope is {"path": "<glob>"}`},
		{map[string]any{"path": 5}, `a path scope is {"path": "<glob>"}`},
		{map[string]any{"path": ""}, "invalid path pattern"},
		{map[string]any{"path": "$HOME/**"}, "unknown variable $HOME"},
		{map[string]any{"path": "$REL/**"}, "must be an absolute folder"},
		{map[string]any{"path": "$STAR/**"}, "must be an absolute folder"},
		{map[string]any{"path": "docs/$DATA"}, "a variable may only start a pattern"},
		{map[string]any{"path": "../x/**"}, "pattern leaves the base folder"},
		{map[string]any{"path": "docs/a**"}, `"**" must be a whole path segment`},
		{map[string]any{"path": "docs/[ab].txt"}, "character classes"},
	}
	for _, tt := range tests {
		_, err := capability.NewPathScope(&tether.Scopes{Allow: []map[string]any{tt.scope}}, vars)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewPathScope(%v) = %v, want %q", tt.scope, err, tt.want)
		}
	}
	ps, err := capability.NewPathScope(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Resolve(t.TempDir(), "x"); err == nil {
		t.Fatal("nil scopes allowed a path")
	}
	var nilPS *capability.PathScope
	if _, err := nilPS.Resolve(t.TempDir(), "x"); err == nil {
		t.Fatal("nil PathScope allowed a path")
	}
}

// A hard link is a second name for a file that no path rule sees: a link
// inside an allowed folder to a denied file, or to a file outside the base
// folder, is refused by Resolve and by Open, and so is the denied file
// itself once it has two names. A file with one name still opens.
func TestPathScopeHardLinks(t *testing.T) {
	root := tree(t)
	base := filepath.Join(root, "base")
	ps := pathScope(t, []string{"docs/**"}, []string{"docs/secret"}, nil)
	for name, target := range map[string]string{
		"base/docs/hard-secret.txt":  "base/docs/secret/k.txt",
		"base/docs/hard-outside.txt": "outside/o.txt",
	} {
		if err := os.Link(filepath.Join(root, target), filepath.Join(root, name)); err != nil {
			t.Skipf("hard links not available: %v", err)
		}
	}
	for _, p := range []string{"docs/hard-secret.txt", "docs/hard-outside.txt"} {
		if _, err := ps.Resolve(base, p); err == nil || !strings.Contains(err.Error(), "hard links") {
			t.Errorf("Resolve(%q) = %v, want a refusal naming hard links", p, err)
		}
		if f, err := ps.Open(base, p); err == nil {
			b, _ := io.ReadAll(f)
			f.Close()
			t.Errorf("Open(%q) read %q", p, b)
		} else if tether.CodeOf(err) != tether.CodePermissionDenied {
			t.Errorf("Open(%q): %v, want permission_denied", p, err)
		}
	}
	if f, err := ps.Open(base, "docs/a.txt"); err != nil {
		t.Errorf("a file with one name: %v", err)
	} else {
		f.Close()
	}
}

// Errors quote a long path only in part.
func TestPathScopeClipsLongPaths(t *testing.T) {
	root := tree(t)
	ps := pathScope(t, []string{"docs/**"}, nil, nil)
	long := "docs/" + strings.Repeat("a", 100<<10)
	_, err := ps.Resolve(filepath.Join(root, "base"), "../"+long)
	if err == nil {
		t.Fatal("no error")
	}
	if n := len(err.Error()); n > 512 {
		t.Fatalf("error of %d bytes quotes the whole path", n)
	}
}
