package gateway_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/gateway"
	"github.com/tether-ipc/tether/server"
)

const secret = "s3cret-token"

// get sends a GET with hc and returns the status, headers and body.
func get(t *testing.T, hc *http.Client, u string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, readAll(t, res)
}

// With a token, nothing but the health checks and the two scripts answers
// without it: not the page, not a static file, not a call, not a listen.
func TestTokenGuardsEveryRoute(t *testing.T) {
	h := newHarness(t, gateway.WithToken(secret))
	need := []struct{ method, path, body string }{
		{"GET", "/", ""}, {"GET", "/index.html", ""}, {"GET", "/demo.js", ""}, {"GET", "/missing.txt", ""},
		{"POST", "/ipc/invoke/greet", `{"name":"x"}`}, {"POST", "/ipc/emit/x", `{}`},
		{"GET", "/ipc/listen?event=x", ""}, {"GET", "/ipc/commands", ""}, {"GET", "/openapi.json", ""},
		{"POST", "/v1/demo/greet", `{"name":"x"}`}, {"POST", "/ipc/invoke/count", `{"to":1}`},
	}
	for _, r := range need {
		var body []byte
		if r.body != "" {
			body = []byte(r.body)
		}
		status, hdr, b := h.do(t, r.method, r.path, body, nil)
		wantError(t, status, b, 401, tether.CodeUnauthenticated)
		if hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: no WWW-Authenticate", r.method, r.path)
		}
		// With the token it passes (headers only: a listen stream goes on).
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req := h.request(t, r.method, r.path, body, map[string]string{"Authorization": "Bearer " + secret}).WithContext(ctx)
		res, err := h.hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		cancel()
		if res.StatusCode == 401 {
			t.Errorf("%s %s with the token: 401", r.method, r.path)
		}
	}
	for _, p := range []string{"/healthz", "/readyz", "/livez", "/ipc/client.js", "/ipc/tauri-shim.js"} {
		if status, _, b := h.do(t, "GET", p, nil, nil); status != 200 {
			t.Errorf("GET %s without the token: %d %s", p, status, b)
		}
	}
}

// A browser opens the address with ?token= once: it gets an HttpOnly,
// SameSite=Strict session cookie and goes on to the address without the
// token; then the page and every call it makes work with the cookie alone.
// Cookies the gateway did not make, or made for another secret, do not.
func TestTokenCookieForPages(t *testing.T) {
	h := newHarness(t, gateway.WithToken(secret))
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	status, hdr, _ := get(t, noFollow, h.hs.URL+"/?token="+secret+"&x=1", nil)
	if status != http.StatusSeeOther || hdr.Get("Location") != "/?x=1" {
		t.Fatalf("open with the token: %d, Location %q", status, hdr.Get("Location"))
	}
	cookies := (&http.Response{Header: hdr}).Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	c := cookies[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || strings.Contains(c.Value, secret) {
		t.Fatalf("session cookie %+v", c)
	}
	// A browser: a cookie jar, redirects followed.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	if status, _, body := get(t, browser, h.hs.URL+"/?token="+secret, nil); status != 200 || !strings.Contains(body, "Tether demo") {
		t.Fatalf("the demo page: %d", status)
	}
	u, _ := url.Parse(h.hs.URL)
	req, _ := http.NewRequest("POST", h.hs.URL+"/ipc/invoke/greet", strings.NewReader(`{"name":"Page"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", h.hs.URL)
	res, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, res); res.StatusCode != 200 || b != `"Hello, Page!"` {
		t.Fatalf("the page's invoke: %d %s", res.StatusCode, b)
	}
	if got := h.seen.last(t).Caller; !strings.HasPrefix(got, "session:") {
		t.Fatalf("the core saw caller %q for the page", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	lreq, _ := http.NewRequestWithContext(ctx, "GET", h.hs.URL+"/ipc/listen?event=x", nil)
	lreq.Header.Set("Origin", h.hs.URL)
	lres, err := browser.Do(lreq)
	if err != nil {
		t.Fatal(err)
	}
	lres.Body.Close()
	if lres.StatusCode != 200 {
		t.Fatalf("the page's listen: %d", lres.StatusCode)
	}
	// A cookie of the right name with a value the gateway did not sign, and
	// a cookie made under another secret, are refused.
	good := jar.Cookies(u)[0]
	for _, bad := range []string{good.Value[:len(good.Value)-2] + "AA", "v1.x.y", secret} {
		status, _, b := h.do(t, "GET", "/ipc/commands", nil, map[string]string{"Cookie": good.Name + "=" + bad})
		wantError(t, status, b, 401, tether.CodeUnauthenticated)
	}
	other := newHarness(t, gateway.WithToken("another-secret"))
	status, _, b := other.do(t, "GET", "/ipc/commands", nil, map[string]string{"Cookie": good.Name + "=" + good.Value})
	wantError(t, status, b, 401, tether.CodeUnauthenticated)
	// Bearer callers are callers of their own.
	h.do(t, "POST", "/ipc/invoke/greet", []byte(`{"name":"x"}`), map[string]string{"Authorization": "Bearer " + secret})
	if got := h.seen.last(t).Caller; got != "bearer:127.0.0.1" {
		t.Fatalf("the core saw caller %q for a bearer caller", got)
	}
}

// Every response — page, script, call, error, event stream — forbids
// framing and sniffing and sends no Referer; the demo page has a strict CSP.
func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t)
	check := func(what string, hdr http.Header) {
		t.Helper()
		if hdr.Get("X-Frame-Options") != "DENY" || !strings.Contains(hdr.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
			hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", what, hdr)
		}
	}
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/", ""}, {"GET", "/demo.js", ""}, {"GET", "/ipc/client.js", ""}, {"GET", "/ipc/commands", ""},
		{"GET", "/openapi.json", ""}, {"GET", "/healthz", ""}, {"POST", "/ipc/invoke/greet", `{"name":"x"}`},
		{"POST", "/ipc/invoke/nope", `{}`}, {"GET", "/missing", ""}, {"POST", "/ipc/emit/x", `{}`},
	} {
		var body []byte
		if r.body != "" {
			body = []byte(r.body)
		}
		_, hdr, _ := h.do(t, r.method, r.path, body, nil)
		check(r.method+" "+r.path, hdr)
	}
	res, err := h.hs.Client().Get(h.hs.URL + "/ipc/listen?event=x")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	check("listen", res.Header)
	_, hdr, _ := h.do(t, "GET", "/", nil, nil)
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("demo page CSP %q", csp)
	}

	// Apps that embed allow their framing origins.
	self := newHarness(t, gateway.WithFrameAncestors("'self'"))
	_, hdr, _ = self.do(t, "GET", "/ipc/commands", nil, nil)
	if hdr.Get("X-Frame-Options") != "SAMEORIGIN" || hdr.Get("Content-Security-Policy") != "frame-ancestors 'self'" {
		t.Errorf("frame ancestors 'self': %v", hdr)
	}
	portal := newHarness(t, gateway.WithFrameAncestors("https://portal.example"))
	_, hdr, _ = portal.do(t, "GET", "/", nil, nil)
	if hdr.Get("X-Frame-Options") != "" || !strings.HasSuffix(hdr.Get("Content-Security-Policy"), "frame-ancestors https://portal.example") {
		t.Errorf("frame ancestors of a portal: %v", hdr)
	}
	conn, err := h.srv.DialInProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, bad := range [][]string{{"a b"}, {"'none'", "'self'"}, {""}} {
		if g, err := gateway.New(conn, gateway.WithFrameAncestors(bad...)); err == nil {
			g.Close()
			t.Errorf("frame ancestors %q accepted", bad)
		}
	}
}

// Frontend files: a file without a known extension is never served as a
// page (no sniffing), HTML pages get the configured CSP.
func TestFrontendContentTypes(t *testing.T) {
	front := t.TempDir()
	os.WriteFile(filepath.Join(front, "index.html"), []byte("<p>front</p>"), 0o600)
	os.WriteFile(filepath.Join(front, "notes"), []byte("<html><script>alert(1)</script></html>"), 0o600)
	os.WriteFile(filepath.Join(front, "app.js"), []byte("1"), 0o600)
	h := newHarness(t, gateway.WithFrontend(front), gateway.WithContentSecurityPolicy("default-src 'self'"))
	for p, want := range map[string]string{"/notes": "application/octet-stream", "/app.js": "text/javascript; charset=utf-8", "/": "text/html; charset=utf-8"} {
		status, hdr, _ := h.do(t, "GET", p, nil, nil)
		if status != 200 || hdr.Get("Content-Type") != want {
			t.Errorf("GET %s: %d %q, want %q", p, status, hdr.Get("Content-Type"), want)
		}
	}
	_, hdr, _ := h.do(t, "GET", "/", nil, nil)
	if csp := hdr.Get("Content-Security-Policy"); csp != "default-src 'self'; frame-ancestors 'none'" {
		t.Errorf("page CSP %q", csp)
	}
	_, hdr, _ = h.do(t, "GET", "/app.js", nil, nil)
	if csp := hdr.Get("Content-Security-Policy"); csp != "frame-ancestors 'none'" {
		t.Errorf("script CSP %q", csp)
	}
}

// A caller that opens every listen stream it may does not lock the page out:
// the core bounds each caller (here a bearer client, as a local process
// would be) on its own, though the page and it share the label "main" and
// the gateway's one connection to the core.
func TestPageNotLockedOutByAnotherCaller(t *testing.T) {
	h := newHarnessWith(t, []server.Option{server.WithLimits(server.Limits{MaxStreamsPerCaller: 4})}, gateway.WithToken(secret))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	listen := func(hdr map[string]string) int {
		req := h.request(t, "GET", "/ipc/listen?event=x", nil, hdr).WithContext(ctx)
		res, err := h.hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 200 {
			res.Body.Close()
		}
		return res.StatusCode // 200 streams stay open until ctx ends
	}
	bearer := map[string]string{"Authorization": "Bearer " + secret}
	for i := range 4 {
		if status := listen(bearer); status != 200 {
			t.Fatalf("listen %d: %d", i, status)
		}
	}
	if status := listen(bearer); status != 429 {
		t.Fatalf("the fifth listen of one caller: %d, want 429", status)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	if status, _, _ := get(t, browser, h.hs.URL+"/?token="+secret, nil); status != 200 {
		t.Fatalf("opening the page: %d", status)
	}
	u, _ := url.Parse(h.hs.URL)
	cookie := jar.Cookies(u)[0]
	if status := listen(map[string]string{"Cookie": cookie.Name + "=" + cookie.Value, "Origin": h.hs.URL}); status != 200 {
		t.Fatalf("the page's listen: %d, want 200", status)
	}
}
