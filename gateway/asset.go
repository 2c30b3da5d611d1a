package gateway

import (
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/interceptors/capability"
)

// WithAssetProtocol serves local files at GET /ipc/asset/<path> (what the
// shim's convertFileSrc(path) makes), Tauri's asset protocol: only files
// that a glob of allow matches and none of deny does, deny winning; a
// denied folder denies all it holds. Globs start with a variable of vars
// ("$APPDATA/db/**") or are absolute; '*' and '?' stay within a path
// segment, "**" spans any number. Files are opened through an os.Root at
// the glob's literal folder, so a symlink cannot lead outside. Anything
// else — outside the scope, a dotfile, a folder, a request from another
// site — is 403 permission_denied; a missing file inside the scope 404.
// Without this option the route answers 404.
func WithAssetProtocol(allow, deny []string, vars map[string]string) Option {
	return func(c *config) {
		c.assets = &assetConfig{allow: allow, deny: deny, vars: vars}
	}
}

type assetConfig struct {
	allow, deny []string
	vars        map[string]string
	scope       *capability.PathScope
}

func (a *assetConfig) build() error {
	sc := &tether.Scopes{}
	for _, g := range a.allow {
		sc.Allow = append(sc.Allow, map[string]any{"path": g})
	}
	for _, g := range a.deny {
		sc.Deny = append(sc.Deny, map[string]any{"path": g})
	}
	ps, err := capability.NewPathScope(sc, a.vars)
	if err != nil {
		return err
	}
	a.scope = ps
	return nil
}

var errAssetDenied = tether.NewError(tether.CodePermissionDenied, "the asset protocol does not serve this file")

func (g *Gateway) serveAsset(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	a := g.cfg.assets
	if a == nil {
		writeError(w, 0, tether.NewError(tether.CodeNotFound, "the asset protocol is off (app.security.assetProtocol.enable)"))
		return
	}
	// A page of another site may not embed local files.
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" {
		writeError(w, 0, errAssetDenied)
		return
	}
	p, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/ipc/asset/"))
	if err != nil || !filepath.IsAbs(p) {
		writeError(w, 0, errAssetDenied)
		return
	}
	if dotted(filepath.ToSlash(p)) {
		writeError(w, 0, errAssetDenied) // dotfiles, and ".." however spelt
		return
	}
	// Where a symlink leads counts as where the path is: no dotfile, and no
	// file in a dot folder, through a link either.
	if real, err := a.scope.Resolve(string(filepath.Separator), p); err == nil && dotted(filepath.ToSlash(real)) {
		writeError(w, 0, errAssetDenied)
		return
	}
	f, err := a.scope.Open(string(filepath.Separator), p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			writeError(w, 0, tether.NewError(tether.CodeNotFound, "no such file"))
			return
		}
		writeError(w, 0, errAssetDenied)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		writeError(w, 0, errAssetDenied)
		return
	}
	h := w.Header()
	if ct := mime.TypeByExtension(filepath.Ext(p)); ct != "" {
		h.Set("Content-Type", ct)
	} else {
		h.Set("Content-Type", "application/octet-stream")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-cache")
	if scriptable(h.Get("Content-Type")) {
		// Tauri serves assets from an origin of their own; here they share
		// the app's, so an HTML or SVG file opened directly would run with
		// the page's session. A second policy (both are enforced) puts such
		// a document in a sandbox: an opaque origin, no scripts.
		h.Add("Content-Security-Policy", "sandbox")
	}
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

// scriptable reports whether a document of type ct can run script when
// opened on its own. (Images, media and PDFs are not given the sandbox:
// browsers' PDF viewers do not show a sandboxed document.)
func scriptable(ct string) bool {
	t, _, _ := mime.ParseMediaType(ct)
	switch t {
	case "text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml", "text/xsl", "application/xslt+xml":
		return true
	}
	return false
}
