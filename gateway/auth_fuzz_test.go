package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// FuzzSessionCookie: a cookie value verifies only if the gateway made it
// under this secret's key; anything else — cut, changed, or made under
// another key — is refused, and nothing panics.
func FuzzSessionCookie(f *testing.F) {
	a := newAuth("s3cret-token")
	other := newAuth("another-secret")
	good := a.newSession()
	for _, s := range []string{good, other.newSession(), "", "v1.", "v1..", "v1.x.y", good + "A", good[:len(good)-1], strings.Replace(good, "v1.", "v2.", 1),
		"v1.AAAAAAAAAAAAAAAAAAAAAA.AAAA", "s3cret-token", strings.Repeat("v1.", 60),
		good[:10] + "\n" + good[10:], good[:len(good)-5] + "\r" + good[len(good)-5:]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		sid, ok := parseSession(a.key, v)
		if !ok {
			if sid != "" {
				t.Fatalf("refused %q with a session id %q", v, sid)
			}
			return
		}
		// Accepted: it is exactly what newSession would make for sid.
		if want := "v1." + sid + "." + encodeMAC(a.key, sid); v != want {
			t.Fatalf("accepted %q, which is not the value of session %q (%q)", v, sid, want)
		}
		if _, ok := parseSession(other.key, v); ok {
			t.Fatalf("a cookie of one secret verifies under another: %q", v)
		}
	})
}

// FuzzAuthenticate sends arbitrary Authorization, Cookie and ?token=
// values: only the secret itself, or a session cookie made under it, is
// accepted; nothing panics.
func FuzzAuthenticate(f *testing.F) {
	const secret = "s3cret-token"
	a := newAuth(secret)
	good := a.cookie + "=" + a.newSession()
	for _, s := range [][3]string{
		{"Bearer " + secret, "", ""}, {"Bearer " + secret + " ", "", ""}, {"bearer " + secret, "", ""}, {"Bearer", "", ""},
		{"", good, ""}, {"", good + "; other=1", ""}, {"", a.cookie + "=" + secret, ""}, {"", "tether-00000000=v1.x.y", ""},
		{"Basic czNjcmV0LXRva2Vu", good, ""}, {"", "", secret}, {"", "", "s3cret-tokem"}, {"Bearer \x00", "\xff", "%"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, authz, cookie, token string) {
		r := httptest.NewRequest("GET", "/ipc/commands", nil)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		caller, err := a.authenticate(r)
		switch {
		case err != nil:
			if caller != "" {
				t.Fatalf("refused with a caller %q", caller)
			}
		case authz != "":
			if authz != "Bearer "+secret || !strings.HasPrefix(caller, "bearer:") {
				t.Fatalf("accepted Authorization %q as %q", authz, caller)
			}
		default:
			sid, found := strings.CutPrefix(caller, "session:")
			if !found || !strings.Contains(cookie, encodeMAC(a.key, sid)) {
				t.Fatalf("accepted Cookie %q as %q", cookie, caller)
			}
		}
		// The address with the token: only the secret opens a session.
		w := httptest.NewRecorder()
		a.openWithToken(w, httptest.NewRequest("GET", "/", nil), token)
		if (w.Code == http.StatusSeeOther) != (token == secret) {
			t.Fatalf("?token=%q answered %d", token, w.Code)
		}
	})
}

// FuzzFrontendPath asks for arbitrary paths of a frontend folder that holds
// dotfiles, a dot folder, symlinks to them and a symlink out of the folder:
// none of their contents is ever served, and nothing panics.
func FuzzFrontendPath(f *testing.F) {
	dir := f.TempDir()
	out := f.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<p>page</p>"), 0o600)
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("public"), 0o600)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("SECRET-env"), 0o600)
	os.Mkdir(filepath.Join(dir, ".git"), 0o700)
	os.WriteFile(filepath.Join(dir, ".git", "config"), []byte("SECRET-git"), 0o600)
	os.WriteFile(filepath.Join(out, "x"), []byte("SECRET-outside"), 0o600)
	os.Mkdir(filepath.Join(dir, "sub"), 0o700)
	for name, target := range map[string]string{"env": ".env", "repo": ".git", "sub/up": "../.env", "loop": "loop", "out": out, "sub/deep": "../repo/config"} {
		os.Symlink(target, filepath.Join(dir, name))
	}
	g, err := New(nopConn{}, WithFrontend(dir), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { g.Close() })
	for _, p := range []string{"/", "/a.txt", "/.env", "/env", "/repo/config", "/sub/up", "/sub/deep", "/loop", "/out/x", "/%2eenv", "/sub/../.env", "/./.git/config", "//.env", "/sub/", "/a.txt/", "/\x00"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		r, err := http.NewRequest("GET", "http://localhost"+p, nil)
		if err != nil {
			return
		}
		r.Host = "localhost"
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		if body := w.Body.String(); strings.Contains(body, "SECRET") {
			t.Fatalf("GET %q served %q", p, body)
		}
	})
}

// encodeMAC is the mac part of a session cookie for sid.
func encodeMAC(key []byte, sid string) string {
	v := (&auth{key: key}).sessionFor(sid)
	return v[strings.LastIndexByte(v, '.')+1:]
}

// nopConn is a connection to no core: the frontend's files need none.
type nopConn struct{}

func (nopConn) Invoke(context.Context, string, any, any, ...grpc.CallOption) error {
	return status.Error(codes.Unavailable, "no core")
}

func (nopConn) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, status.Error(codes.Unavailable, "no core")
}
