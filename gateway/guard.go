package gateway

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tether-ipc/tether"
)

// LabelHeader is the request header through which a page asks for one of
// the client labels its origin may use (also ?label=).
const LabelHeader = "Tether-Client-Label"

// policy is the checked form of the boundary options. It is read-only after
// New, so safe for concurrent use.
type policy struct {
	origins   map[string][]string // normalized origin → allowed labels
	same      []string            // labels of same-origin and Origin-less callers
	hosts     map[string]bool     // host names served on the gateway's port
	hostPorts map[string]bool     // "host:port" served exactly
}

// identity is who the gateway decided a request comes from.
type identity struct {
	label  string
	origin string // the Origin header as normalized, or "" if none was sent
	cross  bool   // an allowed cross-origin page: CORS headers are needed
	caller string // who is calling, for the core's per-caller bounds (tether.Call.Caller)
	// The HTTP connection, for the core's per-connection bounds of streams
	// (named by conn only when a stream needs it): Server's number for it,
	// else its remote address.
	connNum uint64
	remote  string
}

// conn names the caller's HTTP connection.
func (id identity) conn() string {
	if id.connNum != 0 {
		return "http#" + strconv.FormatUint(id.connNum, 10)
	}
	return "http:" + id.remote
}

func identityFrom(ctx context.Context) identity {
	if rs, ok := ctx.Value(requestStateKey{}).(*requestState); ok {
		return rs.id
	}
	return identity{}
}

// checkHost refuses Host headers the gateway does not serve (DNS rebinding:
// a page on evil.example resolving to 127.0.0.1 sends Host: evil.example).
// localPort is the port the request arrived on, or "" when unknown.
func (p *policy) checkHost(host, localPort string) *tether.Error {
	name, port, ok := splitHost(host)
	if !ok {
		return tether.Errorf(tether.CodePermissionDenied, "host %q is not served here", clip(host))
	}
	if port != "" && p.hostPorts[name+":"+port] {
		return nil
	}
	if !p.hosts[name] {
		return tether.Errorf(tether.CodePermissionDenied, "host %q is not served here", clip(host))
	}
	if localPort != "" && port != localPort && !(port == "" && (localPort == "80" || localPort == "443")) {
		return tether.Errorf(tether.CodePermissionDenied, "host %q names another port", clip(host))
	}
	return nil
}

// resolve decides the identity of a request from its Origin header, the
// gateway's own origin (scheme://Host, already checked) and the label the
// caller asks for ("" for the default).
func (p *policy) resolve(origin, self, asked string) (identity, *tether.Error) {
	var labels []string
	id := identity{}
	if origin == "" {
		labels = p.same
	} else {
		n, ok := normalizeOrigin(origin)
		if !ok {
			return id, tether.Errorf(tether.CodePermissionDenied, "origin %q is not allowed", clip(origin))
		}
		id.origin = n
		if s, ok := normalizeOrigin(self); ok && s == n && n != "null" {
			labels = p.same
		} else if ls, ok := p.origins[n]; ok {
			labels, id.cross = ls, true
		} else {
			return id, tether.Errorf(tether.CodePermissionDenied, "origin %q is not allowed", clip(origin))
		}
	}
	if asked == "" {
		id.label = labels[0]
		return id, nil
	}
	if !slices.Contains(labels, asked) {
		return id, tether.Errorf(tether.CodePermissionDenied, "label %q is not allowed for this origin", clip(asked))
	}
	id.label = asked
	return id, nil
}

// normalizeOrigin returns the serialized origin in lower case without a
// default port, or false if s is not "null" or scheme://host[:port].
func normalizeOrigin(s string) (string, bool) {
	if s == "null" {
		return s, true
	}
	if len(s) > 512 {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" ||
		(u.Path != "" && u.Path != "/") || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	name, port, ok := splitHost(u.Host)
	if !ok {
		return "", false
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(name, ":") {
		name = "[" + name + "]"
	}
	if port != "" {
		return scheme + "://" + name + ":" + port, true
	}
	return scheme + "://" + name, true
}

// splitHost splits "name[:port]" or "[v6][:port]" into a lower-case name
// (without brackets) and a port ("" if none).
func splitHost(h string) (name, port string, ok bool) {
	if h == "" || len(h) > 300 {
		return "", "", false
	}
	name = h
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", "", false
		}
		name, port = h[1:end], h[end+1:]
		if port != "" {
			if port[0] != ':' {
				return "", "", false
			}
			port = port[1:]
		}
		if net.ParseIP(name) == nil {
			return "", "", false
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		name, port = h[:i], h[i+1:]
		if strings.Contains(name, ":") {
			return "", "", false
		}
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 || port[0] == '0' || port[0] == '+' {
			return "", "", false
		}
	} else if strings.HasSuffix(h, ":") {
		return "", "", false
	}
	if name == "" {
		return "", "", false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':' || c == '_') {
			return "", "", false
		}
	}
	return strings.ToLower(name), port, true
}

// validName applies Tauri's rule for command, event and label names:
// letters, digits, '-', '/', ':' and '_', at most 256 bytes.
func validName(what, s string) *tether.Error {
	if s == "" {
		return tether.Errorf(tether.CodeInvalidArgument, "empty %s name", what)
	}
	if len(s) > 256 {
		return tether.Errorf(tether.CodeInvalidArgument, "%s name longer than 256 bytes", what)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '/' || c == ':' || c == '_') {
			return tether.Errorf(tether.CodeInvalidArgument, "invalid %s name %q: only letters, digits, '-', '/', ':' and '_' are allowed", what, clip(s))
		}
	}
	return nil
}

// preflightOK reports whether a CORS preflight (of an allowed origin) asks
// only for what the gateway serves: GET, POST or HEAD, and header names
// (an invoke's headers reach its command, so any well-formed name).
func (c *config) preflightOK(method, headers string) bool {
	if method != http.MethodGet && method != http.MethodPost && method != http.MethodHead {
		return false
	}
	for h := range strings.SplitSeq(headers, ",") {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" || strings.HasPrefix(h, c.forwardPrefix) || headerToken(h) {
			continue
		}
		return false
	}
	return true
}

// headerToken reports whether h is a header name (an RFC 9110 token).
func headerToken(h string) bool {
	if h == "" || len(h) > 128 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// headerSize estimates the bytes of the request line and headers.
func headerSize(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Host) + 16
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// clip shortens what goes back into error messages.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
