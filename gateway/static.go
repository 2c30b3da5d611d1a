package gateway

import (
	"embed"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"

	"github.com/tether-ipc/tether"
)

// assets holds the demo page and, once they are added, the JS client and
// the @tauri-apps/api shim.
//
//go:embed assets
var assets embed.FS

// consoleFiles is the developer console (WithConsole).
//
//go:embed console
var consoleFiles embed.FS

// consoleCSP keeps the console's page to its own scripts and styles and to
// calls on this origin, and out of frames.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// serveConsole serves the console's files below ConsolePath; the path
// without its slash redirects to it.
func (g *Gateway) serveConsole(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path+"/" == ConsolePath {
		http.Redirect(w, r, ConsolePath, http.StatusMovedPermanently)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, ConsolePath)
	if name == "" {
		name = "index.html"
	}
	if !fs.ValidPath(name) {
		writeError(w, http.StatusNotFound, tether.Errorf(tether.CodeNotFound, "no file %q", clip(r.URL.Path)))
		return
	}
	sub, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		writeError(w, 0, tether.Errorf(tether.CodeInternal, "console: %v", err))
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	serveFile(w, r, sub, name, false)
}

// files serves the frontend and the embedded scripts.
type files struct {
	front fs.FS    // the frontend: a folder through os.Root, or the demo page
	root  *os.Root // the open folder, nil for the demo page
	embed fs.FS    // the assets folder
}

func newFiles(dir string) (*files, error) {
	emb, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	f := &files{embed: emb}
	if dir == "" {
		f.front, err = fs.Sub(assets, "assets/demo")
		return f, err
	}
	// os.Root keeps every open inside dir: no "..", no absolute paths, no
	// symlinks leading out.
	if f.root, err = os.OpenRoot(dir); err != nil {
		return nil, fmt.Errorf("gateway: frontend: %w", err)
	}
	f.front = f.root.FS()
	return f, nil
}

func (f *files) close() {
	if f != nil && f.root != nil {
		f.root.Close()
	}
}

// serveFrontend serves GET / and below from the frontend: index.html for a
// folder, 404 (never a listing) when there is none.
func (g *Gateway) serveFrontend(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	name := strings.TrimPrefix(p, "/")
	if name == "" || strings.HasSuffix(name, "/") {
		name += "index.html"
	}
	if !fs.ValidPath(name) || strings.Contains(name, "\\") || strings.ContainsRune(name, 0) {
		writeError(w, http.StatusNotFound, tether.Errorf(tether.CodeNotFound, "no file %q", clip(p)))
		return
	}
	serveFile(w, r, g.files.front, name, true)
}

// serveScript serves one of the embedded scripts.
func (g *Gateway) serveScript(name string) func(http.ResponseWriter, *http.Request, map[string]string) {
	return func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		if name == "tauri-shim.js" && g.cfg.globalTauri {
			b, err := fs.ReadFile(g.files.embed, name)
			if err != nil {
				writeError(w, 0, tether.NewError(tether.CodeNotFound, "no shim embedded"))
				return
			}
			w.Header().Set("X-Content-Type-Options", "nosniff")
			io.WriteString(w, "globalThis.__TETHER_GLOBAL_TAURI__ = true;\n") //nolint:errcheck
			w.Write(b)                                                        //nolint:errcheck
			return
		}
		serveFile(w, r, g.files.embed, name, false)
	}
}

func serveFile(w http.ResponseWriter, r *http.Request, fsys fs.FS, name string, dirIndex bool) {
	f, err := fsys.Open(name)
	if err == nil {
		var fi fs.FileInfo
		if fi, err = f.Stat(); err == nil && fi.IsDir() {
			f.Close()
			f, err = nil, fs.ErrNotExist
			if dirIndex {
				if f, err = fsys.Open(path.Join(name, "index.html")); err == nil {
					name = path.Join(name, "index.html")
				}
			}
		}
	}
	if err != nil {
		w.Header().Del("Content-Type")
		// Missing, outside the folder, or unreadable: all the same to the
		// caller, so nothing about the disk leaks.
		writeError(w, 0, tether.Errorf(tether.CodeNotFound, "no file /%s", clip(name)))
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.IsDir() {
		writeError(w, 0, tether.Errorf(tether.CodeNotFound, "no file /%s", clip(name)))
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if rs, ok := f.(io.ReadSeeker); ok {
		http.ServeContent(w, r, name, fi.ModTime(), rs)
		return
	}
	w.WriteHeader(http.StatusOK)
	io.Copy(w, f) //nolint:errcheck // the client may be gone
}
