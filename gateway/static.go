package gateway

import (
	"embed"
	"fmt"
	"io"
	"io/fs"
	"mime"
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
	serveFile(w, r, sub, name, consoleCSP, nil)
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
// folder, 404 (never a listing) when there is none. Dotfiles (.env, .git/…)
// are never served, under any name that leads to them: no path segment of
// the request, nor of where its symlinks lead, may start with a dot.
func (g *Gateway) serveFrontend(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	name := strings.TrimPrefix(p, "/")
	if name == "" || strings.HasSuffix(name, "/") {
		name += "index.html"
	}
	if !fs.ValidPath(name) || strings.Contains(name, "\\") || strings.ContainsRune(name, 0) || dotted(name) {
		writeError(w, http.StatusNotFound, tether.Errorf(tether.CodeNotFound, "no file %q", clip(p)))
		return
	}
	if g.files.root != nil {
		real, ok := resolveIn(g.files.root, name)
		if !ok {
			writeError(w, http.StatusNotFound, tether.Errorf(tether.CodeNotFound, "no file %q", clip(p)))
			return
		}
		name = real
	}
	serveFile(w, r, g.files.front, name, g.cfg.pagePolicy(g.files.root == nil), g.files.root)
}

// dotted reports whether a segment of the slash-separated name starts
// with a dot.
func dotted(name string) bool {
	for seg := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return false
}

// maxLinks bounds the symlinks followed for one name, as the kernel does.
const maxLinks = 40

// resolveIn follows the symlinks of name inside root and returns the name
// it leads to, or false if it leads to a dotfile, out of root (an absolute
// link, or ".." above it) or nowhere (a loop). A missing file resolves to
// itself (and is then not found). os.Root still keeps the open inside root
// if the folder changes meanwhile.
func resolveIn(root *os.Root, name string) (string, bool) {
	todo := strings.Split(name, "/")
	var done []string
	for links := 0; len(todo) > 0; {
		seg := todo[0]
		todo = todo[1:]
		switch seg {
		case "", ".":
			continue
		case "..":
			if len(done) == 0 {
				return "", false
			}
			done = done[:len(done)-1]
			continue
		}
		if strings.HasPrefix(seg, ".") {
			return "", false
		}
		cur := path.Join(append(done, seg)...)
		fi, err := root.Lstat(cur)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			done = append(done, seg)
			continue
		}
		if links++; links > maxLinks {
			return "", false
		}
		target, err := root.Readlink(cur)
		if err != nil || target == "" || path.IsAbs(target) || strings.Contains(target, "\\") {
			return "", false
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	if len(done) == 0 {
		return "", false
	}
	return path.Join(done...), true
}

// serveScript serves one of the embedded scripts.
func (g *Gateway) serveScript(name string) func(http.ResponseWriter, *http.Request, map[string]string) {
	return func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
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
		serveFile(w, r, g.files.embed, name, "", nil)
	}
}

// serveFile serves one file of fsys, with the Content-Type of its
// extension (application/octet-stream for an unknown one: never a guess
// from the content, which could make a text file a page), and, for an
// HTML page, the policy as its Content-Security-Policy. Within root (if
// not nil) a folder's index.html is resolved like the name was.
func serveFile(w http.ResponseWriter, r *http.Request, fsys fs.FS, name, policy string, root *os.Root) {
	f, err := fsys.Open(name)
	if err == nil {
		var fi fs.FileInfo
		if fi, err = f.Stat(); err == nil && fi.IsDir() {
			f.Close()
			f, err = nil, fs.ErrNotExist
			if policy != "" {
				index := path.Join(name, "index.html")
				if root != nil {
					var ok bool
					if index, ok = resolveIn(root, index); !ok {
						index = ""
					}
				}
				if index != "" {
					if f, err = fsys.Open(index); err == nil {
						name = index
					}
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
	ct := contentType(name)
	h := w.Header()
	h.Set("Content-Type", ct)
	if policy != "" && strings.HasPrefix(ct, "text/html") {
		h.Set("Content-Security-Policy", policy)
	}
	if rs, ok := f.(io.ReadSeeker); ok {
		http.ServeContent(w, r, name, fi.ModTime(), rs)
		return
	}
	w.WriteHeader(http.StatusOK)
	io.Copy(w, f) //nolint:errcheck // the client may be gone
}

// contentType is the media type of a file by its extension.
func contentType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".html", ".htm":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".json", ".map":
		return "application/json"
	case ".wasm":
		return "application/wasm"
	case ".svg":
		return "image/svg+xml"
	case ".txt":
		return "text/plain; charset=utf-8"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}
