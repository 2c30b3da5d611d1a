package capability

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/tether-ipc/tether"
)

// PathScope enforces path scopes such as {"path": "docs/*.txt"} or
// {"path": "$DATA/**"} for a handler that takes a file path from the caller
// (Tauri's fs scopes, which every command must enforce itself).
//
// A scope pattern is a glob in slash form: '*' and '?' stay inside one path
// segment, and a whole segment "**" matches any number of segments. A
// relative pattern is anchored at the base folder passed to Resolve; a
// pattern may start with a variable ($DATA) that NewPathScope expands to an
// absolute folder. An allow pattern matches the paths it names; a deny
// pattern matches the paths it names and everything beneath them ("secret"
// denies "secret/key.pem"). Deny wins. No allow pattern means nothing is
// allowed. Relative patterns never match the base folder itself.
//
// A PathScope is immutable and safe for concurrent use.
type PathScope struct {
	allow, deny []*pathGlob
	absAllow    bool // some allow pattern is absolute
}

type pathGlob struct {
	g    *glob
	abs  bool
	root string // absolute patterns: the folder before the first wildcard
}

// NewPathScope builds a PathScope from the "path" values of scopes (usually
// call.Scopes, as set by the capability interceptor). vars expands a leading
// $NAME in a pattern; its values must be absolute folders. Every scope
// object must hold a string "path" and nothing else; other shapes, unknown
// variables and bad patterns are errors. A nil scopes gives a PathScope that
// allows nothing.
func NewPathScope(scopes *tether.Scopes, vars map[string]string) (*PathScope, error) {
	ps := &PathScope{}
	if scopes == nil {
		return ps, nil
	}
	for i, sc := range scopes.Allow {
		g, err := compilePathScope(sc, vars)
		if err != nil {
			return nil, fmt.Errorf("capability: allow scope %d: %w", i, err)
		}
		ps.allow = append(ps.allow, g)
		ps.absAllow = ps.absAllow || g.abs
	}
	for i, sc := range scopes.Deny {
		g, err := compilePathScope(sc, vars)
		if err != nil {
			return nil, fmt.Errorf("capability: deny scope %d: %w", i, err)
		}
		ps.deny = append(ps.deny, g)
	}
	return ps, nil
}

func compilePathScope(sc map[string]any, vars map[string]string) (*pathGlob, error) {
	p, ok := sc["path"].(string)
	if !ok || len(sc) != 1 {
		return nil, errors.New(`a path scope is {"path": "<glob>"}`)
	}
	if p == "" || strings.IndexByte(p, 0) >= 0 {
		return nil, fmt.Errorf("invalid path pattern %q", p)
	}
	orig := p
	if strings.HasPrefix(p, "$") {
		name, rest, _ := strings.Cut(p[1:], "/")
		dir, ok := vars[name]
		if !ok {
			return nil, fmt.Errorf("%q: unknown variable $%s", orig, name)
		}
		if !filepath.IsAbs(dir) || strings.ContainsAny(dir, "*?[]{}") {
			return nil, fmt.Errorf("%q: $%s must be an absolute folder without wildcards, not %q", orig, name, dir)
		}
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			dir = real
		}
		p = filepath.ToSlash(filepath.Clean(dir)) + "/" + rest
	} else if strings.Contains(p, "$") {
		return nil, fmt.Errorf("%q: a variable may only start a pattern", orig)
	}
	p = path.Clean(p)
	abs := path.IsAbs(p) || filepath.IsAbs(filepath.FromSlash(p))
	if !abs && (p == ".." || strings.HasPrefix(p, "../")) {
		return nil, fmt.Errorf("%q: pattern leaves the base folder", orig)
	}
	g, err := compileGlob(p, '/')
	if err != nil {
		return nil, fmt.Errorf("%q: %w", orig, err)
	}
	pg := &pathGlob{g: g, abs: abs}
	if abs {
		segs := strings.Split(p, "/")
		n := len(segs) - 1 // a literal pattern names a file: root is its folder
		for i, s := range segs {
			if strings.ContainsAny(s, "*?") {
				n = i
				break
			}
		}
		pg.root = filepath.FromSlash(strings.Join(segs[:n], "/"))
		if pg.root == "" {
			pg.root = string(filepath.Separator)
		}
	}
	return pg, nil
}

// Resolve returns the real path (symlinks resolved) that userPath names,
// or an error if the scope does not allow it. base is the folder that
// relative paths and relative patterns are anchored at; it must exist.
//
// Resolve rejects: an empty path or one holding NUL; an absolute userPath
// unless some allow pattern is absolute; a relative userPath that leaves
// base, lexically ("../x", "a/../../x") or through a symlink on its existing
// part; dangling or looping symlinks; a path that a deny pattern matches,
// before or after resolving symlinks; a path no allow pattern matches after
// resolving symlinks; and a regular file with more than one name (hard
// links, which no path rule can see). Parts of the path that do not exist
// yet are taken as written, so a file about to be created can be checked.
// Errors quote at most the first 128 bytes of userPath.
//
// Between Resolve and opening, the file system may change. Open closes that
// gap with os.Root; prefer it when the goal is to open the file.
func (ps *PathScope) Resolve(base, userPath string) (string, error) {
	real, _, err := ps.resolve(base, userPath)
	return real, err
}

// Open resolves userPath like Resolve and opens it for reading through an
// os.Root anchored at base (or, for an allowed absolute path outside base,
// at the literal folder of the allow pattern that matched), so that a
// symlink swapped in after the check cannot lead outside.
func (ps *PathScope) Open(base, userPath string) (*os.File, error) {
	real, root, err := ps.resolve(base, userPath)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(root, real)
	if err != nil {
		return nil, fmt.Errorf("capability: %w", err)
	}
	f, err := os.OpenInRoot(root, rel)
	if err != nil {
		return nil, err
	}
	// The file opened is the one checked, whatever changed since: a hard
	// link made meanwhile is caught here.
	fi, err := f.Stat()
	if err == nil {
		err = checkLinks(userPath, fi)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkLinks refuses a regular file with more than one name. A hard link
// is a second name for the same file, which no path rule can see: a link
// inside an allowed folder to a denied file (or one outside the base
// folder) would otherwise pass every check.
func checkLinks(userPath string, fi fs.FileInfo) error {
	if n := linkCount(fi); fi.Mode().IsRegular() && n > 1 {
		return scopeErr(userPath, "is a file with %d names (hard links), which path scopes cannot check", n)
	}
	return nil
}

func scopeErr(userPath, format string, args ...any) error {
	return tether.Errorf(tether.CodePermissionDenied, "path %q %s", clip(userPath), fmt.Sprintf(format, args...))
}

// maxEcho bounds what of a caller's input goes back in an error message.
const maxEcho = 128

// clip shortens caller input for an error message (at a rune boundary).
func clip(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	n := maxEcho
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func (ps *PathScope) resolve(base, userPath string) (real, root string, err error) {
	if ps == nil {
		return "", "", scopeErr(userPath, "is not allowed: no path scope")
	}
	if userPath == "" || strings.IndexByte(userPath, 0) >= 0 {
		return "", "", tether.Errorf(tether.CodeInvalidArgument, "invalid path %q", clip(userPath))
	}
	absBase, err := filepath.Abs(base)
	if err != nil {
		return "", "", fmt.Errorf("capability: base folder: %w", err)
	}
	realBase, err := filepath.EvalSymlinks(absBase)
	if err != nil {
		return "", "", fmt.Errorf("capability: base folder: %w", err)
	}

	var lexical string
	relative := !filepath.IsAbs(userPath)
	if relative {
		if !filepath.IsLocal(userPath) {
			return "", "", scopeErr(userPath, "leaves the base folder")
		}
		lexical = filepath.Join(realBase, userPath)
	} else {
		if !ps.absAllow {
			return "", "", scopeErr(userPath, "is absolute; only paths relative to the base folder are allowed")
		}
		lexical = filepath.Clean(userPath)
	}

	real, err = resolveExisting(lexical)
	if err != nil {
		return "", "", scopeErr(userPath, "cannot be resolved: %v", err)
	}
	inBase := within(realBase, real)
	if relative && !inBase {
		return "", "", scopeErr(userPath, "leaves the base folder through a symlink")
	}
	if ps.denied(realBase, lexical) || ps.denied(realBase, real) {
		return "", "", scopeErr(userPath, "is denied by scope")
	}
	g := ps.allowed(realBase, real)
	if g == nil {
		return "", "", scopeErr(userPath, "is not allowed by scope")
	}
	if fi, err := os.Lstat(real); err == nil {
		if err := checkLinks(userPath, fi); err != nil {
			return "", "", err
		}
	}
	switch {
	case inBase:
		root = realBase
	case g.abs && within(g.root, real):
		root = g.root
	default:
		return "", "", scopeErr(userPath, "is not allowed by scope")
	}
	return real, root, nil
}

// resolveExisting resolves the symlinks of the longest existing prefix of p
// and appends the rest.
func resolveExisting(p string) (string, error) {
	cur := p
	var rest []string
	for {
		_, err := os.Lstat(cur)
		if err == nil {
			r, err := filepath.EvalSymlinks(cur)
			if err != nil {
				return "", cause(err)
			}
			for i := len(rest) - 1; i >= 0; i-- {
				r = filepath.Join(r, rest[i])
			}
			return r, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", cause(err)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p, nil
		}
		rest = append(rest, filepath.Base(cur))
		cur = parent
	}
}

func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && (rel == "." || filepath.IsLocal(rel))
}

func (pg *pathGlob) matchPath(base, p string) bool {
	if pg.abs {
		return pg.g.match(filepath.ToSlash(p))
	}
	rel, err := filepath.Rel(base, p)
	if err != nil || rel == "." || !filepath.IsLocal(rel) { // the base itself, too, is out of reach
		return false
	}
	return pg.g.match(filepath.ToSlash(rel))
}

// denied reports whether a deny pattern matches p or one of its parents.
func (ps *PathScope) denied(base, p string) bool {
	for q := p; ; {
		for _, g := range ps.deny {
			if g.matchPath(base, q) {
				return true
			}
		}
		parent := filepath.Dir(q)
		if parent == q {
			return false
		}
		q = parent
	}
}

func (ps *PathScope) allowed(base, p string) *pathGlob {
	for _, g := range ps.allow {
		if g.matchPath(base, p) {
			return g
		}
	}
	return nil
}

// cause strips the path from a *fs.PathError, which the caller reports with
// the user's own path.
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
