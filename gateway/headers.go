package gateway

import (
	"fmt"
	"net/http"
	"strings"
)

// DemoCSP is the Content-Security-Policy of the embedded demo page, before
// its frame-ancestors (see WithFrameAncestors): its own scripts, styles and
// requests only; no inline code, no plugins, no forms.
const DemoCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'none'"

// WithFrameAncestors lets pages of the given origins frame the gateway's
// pages: the sources of CSP's frame-ancestors ("'self'",
// "https://portal.example"). By default no page may (frame-ancestors
// 'none' and X-Frame-Options: DENY on every response), so that no other
// site can lay the app under an invisible frame and relay clicks to it.
func WithFrameAncestors(sources ...string) Option {
	return func(c *config) { c.frameAncestors = append(c.frameAncestors, sources...) }
}

// WithContentSecurityPolicy sets the Content-Security-Policy of the HTML
// pages of the frontend (WithFrontend), e.g. "default-src 'self'"; its
// frame-ancestors, if it has none, are the gateway's (see
// WithFrameAncestors). Without it those pages get only frame-ancestors.
// The demo page has its own strict policy (DemoCSP).
func WithContentSecurityPolicy(policy string) Option {
	return func(c *config) { c.csp = policy }
}

// checkHeaders validates the frame-ancestors sources and the policy, and
// precomputes the headers.
func (c *config) checkHeaders() error {
	for _, s := range c.frameAncestors {
		if s == "" || strings.ContainsAny(s, " ;,\t\r\n\"") {
			return fmt.Errorf("gateway: frame ancestor %q is not one CSP source", s)
		}
		if s == "'none'" && len(c.frameAncestors) > 1 {
			return fmt.Errorf("gateway: frame ancestor 'none' cannot go with others")
		}
	}
	if strings.ContainsAny(c.csp, "\r\n") {
		return fmt.Errorf("gateway: the Content-Security-Policy must be one line")
	}
	return nil
}

// frameAncestors is the frame-ancestors directive.
func (c *config) frameAncestorsDirective() string {
	if len(c.frameAncestors) == 0 {
		return "frame-ancestors 'none'"
	}
	return "frame-ancestors " + strings.Join(c.frameAncestors, " ")
}

// frameOptions is X-Frame-Options for browsers without CSP's
// frame-ancestors: DENY, SAMEORIGIN for just 'self', else none (a list of
// origins has no X-Frame-Options form).
func (c *config) frameOptions() string {
	switch {
	case len(c.frameAncestors) == 0 || len(c.frameAncestors) == 1 && c.frameAncestors[0] == "'none'":
		return "DENY"
	case len(c.frameAncestors) == 1 && c.frameAncestors[0] == "'self'":
		return "SAMEORIGIN"
	}
	return ""
}

// pagePolicy is the Content-Security-Policy of an HTML page of the
// frontend (demo: the embedded demo page's).
func (c *config) pagePolicy(demo bool) string {
	if demo {
		return DemoCSP + "; " + c.frameAncestorsDirective()
	}
	if c.csp == "" {
		return c.frameAncestorsDirective()
	}
	if strings.Contains(strings.ToLower(c.csp), "frame-ancestors") {
		return c.csp
	}
	return strings.TrimRight(strings.TrimSpace(c.csp), ";") + "; " + c.frameAncestorsDirective()
}

// securityHeaders sets the headers every response carries: no MIME
// sniffing, no Referer, no framing (unless configured), and no use of the
// gateway's responses by other sites' pages (Cross-Origin-Resource-Policy;
// the two public scripts excepted, which cross-origin pages of allowed
// origins load). HTML pages replace the CSP with their own (pagePolicy,
// DemoCSP). The values are made once (respHeaders): each slice has no room
// to grow, so an Add to one of these headers copies it, never changes it.
func (g *Gateway) securityHeaders(h http.Header, path string) {
	v := &g.headers
	h["X-Content-Type-Options"] = v.nosniff
	h["Referrer-Policy"] = v.referrer
	h["Content-Security-Policy"] = v.csp
	if v.xfo != nil {
		h["X-Frame-Options"] = v.xfo
	}
	if path == "/ipc/client.js" || path == "/ipc/tauri-shim.js" {
		h["Cross-Origin-Resource-Policy"] = v.corpCross
	} else {
		h["Cross-Origin-Resource-Policy"] = v.corpSame
	}
}

// respHeaders are the values securityHeaders sets.
type respHeaders struct {
	nosniff, referrer, csp, xfo, corpSame, corpCross []string
}

func (c *config) respHeaders() respHeaders {
	one := func(s string) []string { return []string{s}[:1:1] }
	r := respHeaders{nosniff: one("nosniff"), referrer: one("no-referrer"), csp: one(c.frameAncestorsDirective()),
		corpSame: one("same-origin"), corpCross: one("cross-origin")}
	if xfo := c.frameOptions(); xfo != "" {
		r.xfo = one(xfo)
	}
	return r
}
