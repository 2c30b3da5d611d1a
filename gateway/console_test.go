package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/gateway"
)

// The console is served at /_tether/ only with WithConsole, with a CSP that
// keeps it to its own origin and out of frames; like every page of the
// gateway it needs the token (a browser has it as the session cookie), and
// so does what it calls.
func TestConsole(t *testing.T) {
	off := newHarness(t)
	status, _, body := off.do(t, "GET", gateway.ConsolePath, nil, nil)
	wantError(t, status, body, http.StatusNotFound, tether.CodeNotFound)

	on := newHarness(t, gateway.WithConsole(), gateway.WithToken("s3cret"))
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	status, _, body = on.do(t, "GET", gateway.ConsolePath, nil, nil)
	wantError(t, status, body, http.StatusUnauthorized, tether.CodeUnauthenticated)
	for _, tc := range []struct{ path, typ, has string }{
		{"/_tether/", "text/html", "Tether console"},
		{"/_tether/index.html", "text/html", `src="console.js"`},
		{"/_tether/console.js", "text/javascript", "/ipc/commands"},
		{"/_tether/console.css", "text/css", "--accent"},
		{"/_tether/favicon.svg", "image/svg+xml", "<svg"},
	} {
		status, hdr, body := on.do(t, "GET", tc.path, nil, auth)
		if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), tc.typ) || !strings.Contains(string(body), tc.has) {
			t.Errorf("%s: %d %s, want 200 %s containing %q", tc.path, status, hdr.Get("Content-Type"), tc.typ, tc.has)
		}
		if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("%s: CSP %q", tc.path, csp)
		}
		if hdr.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: X-Frame-Options %q", tc.path, hdr.Get("X-Frame-Options"))
		}
	}
	noFollow := *on.hs.Client()
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := noFollow.Do(on.request(t, "GET", "/_tether", nil, auth))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != gateway.ConsolePath {
		t.Errorf("/_tether: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	for _, p := range []string{"/_tether/nope.js", "/_tether/../_tether/console.js", "/_tether/.hidden"} {
		status, _, body := on.do(t, "GET", p, nil, auth)
		wantError(t, status, body, http.StatusNotFound, tether.CodeNotFound)
	}
	// what the console calls still needs the token
	status, _, body = on.do(t, "GET", "/ipc/commands", nil, nil)
	wantError(t, status, body, http.StatusUnauthorized, tether.CodeUnauthenticated)
	// other methods are not served
	status, _, body = on.do(t, "POST", "/_tether/", nil, nil)
	if status < 400 {
		t.Errorf("POST /_tether/: %d %s", status, body)
	}
}
