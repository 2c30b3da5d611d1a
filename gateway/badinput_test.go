package gateway_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/bus"
	"github.com/tether-ipc/tether/gateway"
)

// TestBadInputs sends bad HTTP requests to a real gateway in front of a
// real core and checks each answer's status and error body.
func TestBadInputs(t *testing.T) {
	front := t.TempDir()
	os.WriteFile(filepath.Join(front, "index.html"), []byte("<p>front</p>"), 0o600)
	os.Mkdir(filepath.Join(front, "sub"), 0o700)
	os.WriteFile(filepath.Join(front, "sub", "a.txt"), []byte("a"), 0o600)
	outside := filepath.Join(t.TempDir(), "secret.txt")
	os.WriteFile(outside, []byte("secret"), 0o600)
	if err := os.Symlink(outside, filepath.Join(front, "link.txt")); err != nil {
		t.Fatal(err)
	}
	// Dotfiles, and names that lead to them.
	os.WriteFile(filepath.Join(front, ".env"), []byte("API_KEY=secret"), 0o600)
	os.Mkdir(filepath.Join(front, ".git"), 0o700)
	os.WriteFile(filepath.Join(front, ".git", "config"), []byte("secret remote"), 0o600)
	os.Symlink(".env", filepath.Join(front, "env.txt"))
	os.Symlink(".git", filepath.Join(front, "repo"))

	open := newHarness(t, testOrigins(), gateway.WithFrontend(front))
	locked := newHarness(t, gateway.WithToken("s3cret-token"))
	port := open.hs.URL[strings.LastIndexByte(open.hs.URL, ':')+1:]

	huge := bytes.Repeat([]byte("a"), 5<<20)
	hugeJSON := append(append([]byte(`{"name":"`), huge...), '"', '}')
	manyHeaders := map[string]string{}
	for i := range 70 {
		manyHeaders["X-H"+strings.Repeat("x", i)] = "v"
	}
	dev := "http://localhost:5173"
	// escape names the real secret file relative to the frontend folder.
	escape := "/../" + filepath.Base(filepath.Dir(outside)) + "/secret.txt"
	if b, err := os.ReadFile(filepath.Join(front, escape)); err != nil || string(b) != "secret" {
		t.Fatalf("escape path does not reach the secret: %v", err)
	}

	cases := []struct {
		name    string
		locked  bool
		method  string
		path    string
		body    []byte
		hdr     map[string]string
		chunked bool // send the body without a Content-Length
		status  int
		code    tether.Code
		// reaches: the call gets into the core's chain and is refused
		// there, before its handler publishes or runs anything.
		reaches bool
	}{
		{name: "bad JSON", method: "POST", path: "/ipc/invoke/greet", body: []byte(`{"name":`), status: 400, code: tether.CodeInvalidArgument},
		{name: "args not an object", method: "POST", path: "/ipc/invoke/greet", body: []byte(`[1,2]`), status: 400, code: tether.CodeInvalidArgument},
		{name: "wrong argument type", method: "POST", path: "/ipc/invoke/greet", body: []byte(`{"name":5}`), status: 400, code: tether.CodeInvalidArgument},
		{name: "argument given twice", method: "POST", path: "/ipc/invoke/greet", body: []byte(`{"name":"x","name":"y"}`), status: 400, code: tether.CodeInvalidArgument},
		{name: "form content type from a page", method: "POST", path: "/ipc/invoke/greet", body: []byte(`{}`), hdr: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": dev}, status: 415, code: tether.CodeInvalidArgument},
		{name: "form body from curl", method: "POST", path: "/ipc/invoke/greet", body: []byte(`name=x`), hdr: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, status: 400, code: tether.CodeInvalidArgument},
		{name: "multipart", method: "POST", path: "/ipc/invoke/greet", body: []byte(`x`), hdr: map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, status: 415, code: tether.CodeInvalidArgument},
		{name: "text/plain", method: "POST", path: "/ipc/invoke/greet", body: []byte(`{}`), hdr: map[string]string{"Content-Type": "text/plain"}, status: 415, code: tether.CodeInvalidArgument},
		{name: "huge body with length", method: "POST", path: "/ipc/invoke/greet", body: hugeJSON, status: 413, code: tether.CodeResourceExhausted},
		{name: "huge body chunked", method: "POST", path: "/ipc/invoke/greet", body: hugeJSON, chunked: true, status: 413, code: tether.CodeResourceExhausted},
		{name: "huge body typed route", method: "POST", path: "/v1/demo/greet", body: hugeJSON, chunked: true, status: 413, code: tether.CodeResourceExhausted},
		{name: "bad JSON typed route", method: "POST", path: "/v1/demo/greet", body: []byte(`{"name":`), status: 400, code: tether.CodeInvalidArgument},
		{name: "text/plain typed route", method: "POST", path: "/v1/demo/greet", body: []byte(`{"name":"x"}`), hdr: map[string]string{"Content-Type": "text/plain"}, status: 415, code: tether.CodeInvalidArgument},
		{name: "form typed route from a page", method: "POST", path: "/v1/demo/greet", body: []byte(`{"name":"x"}`), hdr: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": dev}, status: 415, code: tether.CodeInvalidArgument},
		{name: "unknown command", method: "POST", path: "/ipc/invoke/no_such_command", body: []byte(`{}`), status: 404, code: tether.CodeNotFound},
		{name: "bad command name", method: "POST", path: "/ipc/invoke/bad%20name", body: []byte(`{}`), status: 400, code: tether.CodeInvalidArgument},
		{name: "command name with a dot", method: "POST", path: "/ipc/invoke/a.b", body: []byte(`{}`), status: 400, code: tether.CodeInvalidArgument},
		{name: "empty command name", method: "POST", path: "/ipc/invoke/", body: []byte(`{}`), status: 400, code: tether.CodeInvalidArgument},
		// The gateway checks event names itself, so this holds before and after Emit lands.
		{name: "bad event name", method: "POST", path: "/ipc/emit/bad%20event", body: []byte(`{}`), status: 400, code: tether.CodeInvalidArgument},
		{name: "bad emit target", method: "POST", path: "/ipc/emit/ok-event?target=a%20b", body: []byte(`{}`), status: 400, code: tether.CodeInvalidArgument},
		{name: "emit bad JSON", method: "POST", path: "/ipc/emit/ok-event", body: []byte(`{`), status: 400, code: tether.CodeInvalidArgument},
		{name: "emit raw bytes", method: "POST", path: "/ipc/emit/ok-event", body: []byte{1}, hdr: map[string]string{"Content-Type": "application/octet-stream"}, status: 415, code: tether.CodeInvalidArgument},
		{name: "emit payload not of the declared event type", method: "POST", path: "/ipc/emit/frontend-event", body: []byte(`{"message":5}`), status: 400, code: tether.CodeInvalidArgument, reaches: true},
		{name: "listen without events", method: "GET", path: "/ipc/listen", status: 400, code: tether.CodeInvalidArgument},
		{name: "listen bad event name", method: "GET", path: "/ipc/listen?event=a%0Ab", status: 400, code: tether.CodeInvalidArgument},
		{name: "listen bad Last-Event-ID", method: "GET", path: "/ipc/listen?event=a", hdr: map[string]string{"Last-Event-ID": "12abc"}, status: 400, code: tether.CodeInvalidArgument},
		{name: "listen Last-Event-ID overflow", method: "GET", path: "/ipc/listen?event=a&lastEventId=18446744073709551616", status: 400, code: tether.CodeInvalidArgument},
		{name: "disallowed Origin", method: "POST", path: "/ipc/invoke/greet", body: []byte(`{}`), hdr: map[string]string{"Origin": "http://evil.example"}, status: 403, code: tether.CodePermissionDenied},
		{name: "Origin on another port", method: "POST", path: "/ipc/invoke/greet", body: []byte(`{}`), hdr: map[string]string{"Origin": "http://localhost:5174"}, status: 403, code: tether.CodePermissionDenied},
		{name: "null Origin", method: "POST", path: "/ipc/invoke/greet", body: []byte(`{}`), hdr: map[string]string{"Origin": "null"}, status: 403, code: tether.CodePermissionDenied},
		{name: "disallowed Origin on a GET", method: "GET", path: "/", hdr: map[string]string{"Origin": "http://evil.example"}, status: 403, code: tether.CodePermissionDenied},
		{name: "foreign Host", method: "GET", path: "/ipc/commands", hdr: map[string]string{"Host": "evil.example:" + port}, status: 403, code: tether.CodePermissionDenied},
		{name: "Host on another port", method: "GET", path: "/ipc/commands", hdr: map[string]string{"Host": "127.0.0.1:1"}, status: 403, code: tether.CodePermissionDenied},
		{name: "Host with a trailing dot", method: "GET", path: "/ipc/commands", hdr: map[string]string{"Host": "localhost.:" + port}, status: 403, code: tether.CodePermissionDenied},
		{name: "wrong method on invoke", method: "GET", path: "/ipc/invoke/greet", status: 405, code: tether.CodeUnimplemented},
		{name: "wrong method on listen", method: "POST", path: "/ipc/listen?event=a", body: []byte(`{}`), status: 405, code: tether.CodeUnimplemented},
		{name: "wrong method on typed route", method: "DELETE", path: "/v1/demo/greet", status: 405, code: tether.CodeUnimplemented},
		{name: "unknown API path", method: "GET", path: "/ipc/nothing", status: 404, code: tether.CodeNotFound},
		{name: "missing bearer token", locked: true, method: "POST", path: "/ipc/invoke/greet", body: []byte(`{}`), status: 401, code: tether.CodeUnauthenticated},
		{name: "wrong bearer token", locked: true, method: "POST", path: "/ipc/invoke/greet", body: []byte(`{}`), hdr: map[string]string{"Authorization": "Bearer s3cret-tokem"}, status: 401, code: tether.CodeUnauthenticated},
		{name: "static file without the token", locked: true, method: "GET", path: "/index.html", status: 401, code: tether.CodeUnauthenticated},
		{name: "listen without the token", locked: true, method: "GET", path: "/ipc/listen?event=a", status: 401, code: tether.CodeUnauthenticated},
		{name: "wrong token in the address", locked: true, method: "GET", path: "/?token=s3cret-tokem", status: 401, code: tether.CodeUnauthenticated},
		{name: "forged session cookie", locked: true, method: "GET", path: "/ipc/commands", hdr: map[string]string{"Cookie": "tether-00000000=v1.AAAAAAAAAAAAAAAAAAAAAA.AAAA"}, status: 401, code: tether.CodeUnauthenticated},
		{name: "token not bearer", locked: true, method: "GET", path: "/ipc/commands", hdr: map[string]string{"Authorization": "Basic czNjcmV0LXRva2Vu"}, status: 401, code: tether.CodeUnauthenticated},
		{name: "header too large", method: "GET", path: "/ipc/commands", hdr: map[string]string{"X-Big": strings.Repeat("b", 66000)}, status: 431, code: tether.CodeResourceExhausted},
		{name: "too many forwarded headers", method: "POST", path: "/ipc/invoke/greet", body: []byte(`{}`), hdr: manyHeaders, status: 400, code: tether.CodeInvalidArgument},
		{name: "idempotency key too long", method: "POST", path: "/ipc/invoke/greet", body: []byte(`{}`), hdr: map[string]string{"Idempotency-Key": strings.Repeat("k", 300)}, status: 400, code: tether.CodeInvalidArgument},
		{name: "preflight from a disallowed origin", method: "OPTIONS", path: "/ipc/invoke/greet", hdr: map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}, status: 403, code: tether.CodePermissionDenied},
		{name: "preflight asking for a malformed header", method: "OPTIONS", path: "/ipc/invoke/greet", hdr: map[string]string{"Origin": dev, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-admin, bad header(1)"}, status: 403, code: tether.CodePermissionDenied},
		{name: "preflight asking for PUT", method: "OPTIONS", path: "/ipc/invoke/greet", hdr: map[string]string{"Origin": dev, "Access-Control-Request-Method": "PUT"}, status: 403, code: tether.CodePermissionDenied},
		{name: "label not allowed for origin", method: "POST", path: "/ipc/invoke/greet", body: []byte(`{}`), hdr: map[string]string{"Origin": dev, "Tether-Client-Label": "tool"}, status: 403, code: tether.CodePermissionDenied},
		{name: "label by query not allowed", method: "POST", path: "/ipc/invoke/greet?label=admin", body: []byte(`{}`), status: 403, code: tether.CodePermissionDenied},
		{name: "path traversal", method: "GET", path: escape, status: 404, code: tether.CodeNotFound},
		{name: "encoded path traversal", method: "GET", path: strings.ReplaceAll(escape, "..", "%2e%2e"), status: 404, code: tether.CodeNotFound},
		{name: "encoded slash traversal", method: "GET", path: "/" + strings.ReplaceAll(escape[1:], "/", "%2f"), status: 404, code: tether.CodeNotFound},
		{name: "symlink out of the frontend", method: "GET", path: "/link.txt", status: 404, code: tether.CodeNotFound},
		{name: "dotfile", method: "GET", path: "/.env", status: 404, code: tether.CodeNotFound},
		{name: "file in a dot folder", method: "GET", path: "/.git/config", status: 404, code: tether.CodeNotFound},
		{name: "encoded dotfile", method: "GET", path: "/%2eenv", status: 404, code: tether.CodeNotFound},
		{name: "symlink to a dotfile", method: "GET", path: "/env.txt", status: 404, code: tether.CodeNotFound},
		{name: "symlinked folder to a dot folder", method: "GET", path: "/repo/config", status: 404, code: tether.CodeNotFound},
		{name: "directory listing", method: "GET", path: "/sub/", status: 404, code: tether.CodeNotFound},
		{name: "missing file", method: "GET", path: "/nope.js", status: 404, code: tether.CodeNotFound},
		{name: "POST to a static path", method: "POST", path: "/index.html", body: []byte(`{}`), status: 404, code: tether.CodeNotFound},
	}
	// Each case is distinct: by name, and by what goes on the wire.
	names, wires := map[string]bool{}, map[string]string{}
	for _, tc := range cases {
		wire := fmt.Sprint(tc.locked, tc.method, tc.path, string(tc.body), tc.hdr, tc.chunked)
		if names[tc.name] || wires[wire] != "" {
			t.Fatalf("case %q repeats %q", tc.name, wires[wire])
		}
		names[tc.name], wires[wire] = true, tc.name
	}
	var reachedCore int
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := open
			if tc.locked {
				h = locked
			}
			// Nothing may run: no command reaches the chain (unless the
			// case says it is refused there), no event is published.
			h.seen.mu.Lock()
			calls := len(h.seen.calls)
			h.seen.mu.Unlock()
			lastID := h.srv.Bus().(*bus.Memory).LastID()
			defer func() {
				h.seen.mu.Lock()
				n := len(h.seen.calls) - calls
				h.seen.mu.Unlock()
				if n > 0 {
					reachedCore++
				}
				if n > 0 && !tc.reaches {
					t.Errorf("%d calls reached the core's chain", n)
				}
				if id := h.srv.Bus().(*bus.Memory).LastID(); id != lastID {
					t.Errorf("an event was published (id %d)", id)
				}
			}()
			req := h.request(t, tc.method, tc.path, tc.body, tc.hdr)
			if tc.path == escape {
				req.URL.Opaque = "//" + req.URL.Host + escape // keep the dots on the wire
			}
			if tc.chunked {
				req.ContentLength = -1
				req.Body = io.NopCloser(bytes.NewReader(tc.body))
			}
			res, err := h.hs.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			wantError(t, res.StatusCode, body, tc.status, tc.code)
			if tc.status == 403 && res.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("refused request carries Access-Control-Allow-Origin")
			}
			if strings.Contains(string(body), "secret") && !strings.Contains(tc.path, "secret") {
				t.Errorf("body leaks: %s", body)
			}
		})
	}
	// And the good requests of the same servers pass.
	if status, _, body := open.do(t, "POST", "/ipc/emit/frontend-event", []byte(`{"message":"hi"}`), nil); status != 200 || !strings.HasPrefix(string(body), `{"id":`) {
		t.Fatalf("emit: %d %s", status, body)
	}
	if status, _, body := locked.do(t, "POST", "/ipc/invoke/greet", []byte(`{"name":"T"}`), map[string]string{"Authorization": "Bearer s3cret-token"}); status != 200 || string(body) != `"Hello, T!"` {
		t.Fatalf("with the token: %d %s", status, body)
	}
	if status, _, _ := locked.do(t, "GET", "/", nil, nil); status != 401 {
		t.Fatalf("static files need the token too: %d", status)
	}
	// curl -d '{"name":"World"}' (form content type, no Origin) works.
	if status, _, body := open.do(t, "POST", "/ipc/invoke/greet", []byte(`{"name":"World"}`), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); status != 200 || string(body) != `"Hello, World!"` {
		t.Fatalf("curl default: %d %s", status, body)
	}
	if status, _, body := open.do(t, "GET", "/sub/a.txt", nil, nil); status != 200 || string(body) != "a" {
		t.Fatalf("frontend file: %d %s", status, body)
	}
	if status, hdr, body := open.do(t, "GET", "/", nil, nil); status != 200 || string(body) != "<p>front</p>" || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("frontend index: %d %s", status, body)
	}
	if n := len(cases); n < 15 {
		t.Fatalf("only %d cases", n)
	}
	t.Logf("%d distinct bad HTTP inputs, each refused with its status and code; none ran a handler or published an event (%d refused inside the core's chain)", len(cases), reachedCore)
}
