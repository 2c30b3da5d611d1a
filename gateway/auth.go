package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/tether-ipc/tether"
)

// TokenParam is the query parameter of the address a browser opens once
// (http://host:port/?token=SECRET): the gateway answers with its session
// cookie and sends the browser on to the same address without the token.
const TokenParam = "token"

// auth is the checked form of WithToken: the secret, the key that signs
// session cookies, and the cookie's name.
type auth struct {
	secret []byte
	key    []byte // HMAC key of session cookies, derived from the secret
	cookie string // the session cookie's name: tether-<8 hex digits of the key>
}

func newAuth(secret string) *auth {
	if secret == "" {
		return nil
	}
	a := &auth{secret: []byte(secret)}
	a.key = mac([]byte(secret), "tether session key v1")
	a.cookie = "tether-" + hex.EncodeToString(mac(a.key, "tether cookie name")[:4])
	return a
}

func mac(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// sessionIDLen is the random part of a session cookie, in bytes.
const sessionIDLen = 16

// newSession returns the value of a new session cookie:
// "v1.<id>.<mac>", the id random and the mac an HMAC of it under a.key,
// both in unpadded base64url. Sessions are not stored: any value that
// verifies is one, until the secret changes.
func (a *auth) newSession() string {
	id := make([]byte, sessionIDLen)
	rand.Read(id) //nolint:errcheck // crypto/rand.Read does not fail
	return a.sessionFor(base64.RawURLEncoding.EncodeToString(id))
}

// sessionFor is the cookie value of the session sid.
func (a *auth) sessionFor(sid string) string {
	return "v1." + sid + "." + base64.RawURLEncoding.EncodeToString(mac(a.key, "session "+sid))
}

// parseSession checks a session cookie value made under the HMAC key and
// returns its session id, or false if the value is not one.
func parseSession(key []byte, v string) (string, bool) {
	if len(v) > 128 {
		return "", false
	}
	rest, ok := strings.CutPrefix(v, "v1.")
	if !ok {
		return "", false
	}
	sid, sum, ok := strings.Cut(rest, ".")
	if !ok {
		return "", false
	}
	// Only the one spelling the gateway makes is accepted: the decoder
	// alone would also take a last character whose unused bits are set,
	// and it skips '\r' and '\n' anywhere, even in strict mode.
	id, err := base64.RawURLEncoding.DecodeString(sid)
	if err != nil || len(id) != sessionIDLen || base64.RawURLEncoding.EncodeToString(id) != sid {
		return "", false
	}
	want := base64.RawURLEncoding.EncodeToString(mac(key, "session "+sid))
	if subtle.ConstantTimeCompare([]byte(sum), []byte(want)) != 1 {
		return "", false
	}
	return sid, true
}

// sessionCookie is the cookie that lets a page the gateway serves make its
// calls: HttpOnly (scripts cannot read it), SameSite=Strict (other sites
// cannot send it), for the whole gateway, for the browser's session.
func (a *auth) sessionCookie(r *http.Request) *http.Cookie {
	return &http.Cookie{Name: a.cookie, Value: a.newSession(), Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil}
}

// authenticate decides whether r carries the secret: as a bearer token, or
// as a session cookie. It returns who the caller is, for per-caller
// bounds ("session:<id>" for a page, "bearer:<host>" for other callers).
func (a *auth) authenticate(r *http.Request) (caller string, err *tether.Error) {
	if h := r.Header.Get("Authorization"); h != "" {
		if err := checkToken(a.secret, h); err != nil {
			return "", err
		}
		return "bearer:" + remoteHost(r), nil
	}
	for _, c := range r.Cookies() {
		if c.Name != a.cookie {
			continue
		}
		if sid, ok := parseSession(a.key, c.Value); ok {
			return "session:" + sid, nil
		}
	}
	return "", errNoSecret
}

var errNoSecret = tether.NewError(tether.CodeUnauthenticated,
	"missing bearer token: send the header Authorization: Bearer TOKEN (tether token prints it), or open the address the app printed at start, …/?token=…, for a session cookie")

// checkToken compares the bearer token in constant time.
func checkToken(want []byte, header string) *tether.Error {
	got, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || got == "" {
		return tether.NewError(tether.CodeUnauthenticated, "malformed Authorization header: want Bearer TOKEN")
	}
	if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
		return tether.NewError(tether.CodeUnauthenticated, "wrong bearer token")
	}
	return nil
}

// openWithToken answers a navigation to an address that carries
// ?token=SECRET: with the right secret, a session cookie and a redirect
// to the same address without the token (so that it stays out of the
// history, bookmarks and Referer); else 401.
func (a *auth) openWithToken(w http.ResponseWriter, r *http.Request, token string) {
	if subtle.ConstantTimeCompare([]byte(token), a.secret) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tether"`)
		writeError(w, 0, tether.NewError(tether.CodeUnauthenticated, "wrong token in the address"))
		return
	}
	http.SetCookie(w, a.sessionCookie(r))
	q := r.URL.Query()
	q.Del(TokenParam)
	u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	if u.Path == "" {
		u.Path = "/"
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
}

// public reports the routes that need no secret: the health checks and
// the two scripts (the same for every app; they hold nothing of it).
func public(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	switch r.URL.Path {
	case "/healthz", "/readyz", "/livez", "/ipc/client.js", "/ipc/tauri-shim.js":
		return true
	}
	return false
}

func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	if r.RemoteAddr == "" || r.RemoteAddr == "@" {
		return "local"
	}
	return r.RemoteAddr
}

// connKey holds the id Server gives each HTTP connection.
type connKey struct{}

var connSerial atomic.Uint64

func withConnID(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, connSerial.Add(1))
}

// connNum is the number Server gave r's connection, or 0.
func connNum(r *http.Request) uint64 {
	n, _ := r.Context().Value(connKey{}).(uint64)
	return n
}
