package gateway_test

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/gateway"
)

func TestAssetProtocol(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	for name, body := range map[string]string{
		"data/img/a.png":         "PNG",
		"data/img/page.html":     "<script>fetch('/ipc/invoke/x')</script>",
		"data/img/pic.svg":       "<svg xmlns='http://www.w3.org/2000/svg'><script>1</script></svg>",
		"data/img/deep/b.txt":    "deep",
		"data/img/key.secret":    "no",
		"data/private/x.txt":     "no",
		"data/img/.hidden":       "no",
		"outside/passwd":         "no",
		"data/img/sub/.git/HEAD": "no",
	} {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "outside", "passwd"), filepath.Join(data, "img", "link.png")); err != nil {
		t.Fatal(err)
	}
	// Links inside the scope that lead to a dotfile or into a dot folder.
	if err := os.Symlink(".hidden", filepath.Join(data, "img", "hidden.png")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("sub", ".git", "HEAD"), filepath.Join(data, "img", "head.txt")); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, gateway.WithAssetProtocol([]string{"$APPDATA/img/**"}, []string{"$APPDATA/img/*.secret"}, map[string]string{"APPDATA": data}))
	asset := func(p string) string { return "/ipc/asset/" + url.PathEscape(p) }
	status, hdr, body := h.do(t, "GET", asset(filepath.Join(data, "img", "a.png")), nil, nil)
	if status != 200 || string(body) != "PNG" || hdr.Get("Content-Type") != "image/png" || hdr.Get("Cross-Origin-Resource-Policy") != "same-origin" {
		t.Fatalf("a.png: %d %q %v", status, body, hdr)
	}
	if slices.Contains(hdr.Values("Content-Security-Policy"), "sandbox") {
		t.Errorf("a.png is sandboxed: %v", hdr.Values("Content-Security-Policy"))
	}
	// Documents that can run script are sandboxed, on top of the gateway's policy.
	for _, name := range []string{"page.html", "pic.svg"} {
		status, hdr, _ := h.do(t, "GET", asset(filepath.Join(data, "img", name)), nil, nil)
		if csp := hdr.Values("Content-Security-Policy"); status != 200 || !slices.Contains(csp, "sandbox") || len(csp) < 2 {
			t.Errorf("%s: %d, Content-Security-Policy %q: want the gateway's policy and sandbox", name, status, csp)
		}
	}
	if status, _, body := h.do(t, "GET", asset(filepath.Join(data, "img", "deep", "b.txt")), nil, nil); status != 200 || string(body) != "deep" {
		t.Fatalf("deep/b.txt: %d %q", status, body)
	}
	for _, p := range []string{
		filepath.Join(data, "img", "key.secret"),          // deny wins
		filepath.Join(data, "private", "x.txt"),           // not allowed
		filepath.Join(root, "outside", "passwd"),          // outside
		filepath.Join(data, "img", "link.png"),            // a symlink out of the scope
		filepath.Join(data, "img", "hidden.png"),          // a symlink to a dotfile
		filepath.Join(data, "img", "head.txt"),            // a symlink into a dot folder
		filepath.Join(data, "img", ".hidden"),             // a dotfile
		filepath.Join(data, "img", "sub", ".git", "HEAD"), // in a dot folder
		filepath.Join(data, "img", "..", "private", "x.txt"),
		filepath.Join(data, "img", "missing-outside", "..", "..", "..", "outside", "passwd"),
		"relative/a.png",
		filepath.Join(data, "img"), // a folder
	} {
		status, _, body := h.do(t, "GET", "/ipc/asset/"+strings.ReplaceAll(url.PathEscape(p), "%2E%2E", ".."), nil, nil)
		wantError(t, status, body, 403, tether.CodePermissionDenied)
	}
	status, _, body = h.do(t, "GET", asset(filepath.Join(data, "img", "nope.png")), nil, nil)
	wantError(t, status, body, 404, tether.CodeNotFound)
	status, _, body = h.do(t, "GET", asset(filepath.Join(data, "img", "a.png")), nil, map[string]string{"Sec-Fetch-Site": "cross-site"})
	wantError(t, status, body, 403, tether.CodePermissionDenied)

	off := newHarness(t)
	status, _, body = off.do(t, "GET", asset(filepath.Join(data, "img", "a.png")), nil, nil)
	wantError(t, status, body, 404, tether.CodeNotFound)
}

func TestGlobalTauriShim(t *testing.T) {
	on := newHarness(t, gateway.WithGlobalTauri())
	_, hdr, body := on.do(t, "GET", "/ipc/tauri-shim.js", nil, nil)
	if ct := hdr.Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
		t.Fatalf("the shim with withGlobalTauri is served as %q: a browser refuses to run it", ct)
	}
	if !strings.HasPrefix(string(body), "globalThis.__TETHER_GLOBAL_TAURI__ = true;\n") || !strings.Contains(string(body), "__TAURI_INTERNALS__") {
		t.Fatalf("shim with withGlobalTauri starts %q", body[:min(len(body), 80)])
	}
	off := newHarness(t)
	if _, _, body := off.do(t, "GET", "/ipc/tauri-shim.js", nil, nil); strings.Contains(string(body), "__TETHER_GLOBAL_TAURI__ = true") {
		t.Fatal("the shim defines __TAURI__ without the option")
	}
}
