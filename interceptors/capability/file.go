package capability

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// FieldError is a problem in a capability or permission-set file: the file,
// the path of the field inside it ("permissions[2]", "remote.urls[0]"), and
// what is wrong. Parse, Load and Validate return every problem they find,
// joined with errors.Join; use errors.As to reach the first FieldError.
type FieldError struct {
	File  string // the file's name as given to Parse, or its path under Load's dir
	Field string // the field path; empty for the file as a whole
	Err   error
}

// Error returns "file: field: message".
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.File + ": " + e.Err.Error()
	}
	return e.File + ": " + e.Field + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// maxFileSize bounds a single capability file; real ones are a few KB.
const maxFileSize = 1 << 20

// Load reads the capability files dir/*.json and the permission-set files
// dir/permissions/*.json (if that folder exists) and parses them with Parse.
// Error messages name each file by its path, e.g. "capabilities/main.json".
//
// Load fails if dir holds no capability file: pointing the server at an
// empty or wrong folder must not silently mean "no access control". To run
// without capabilities, use a nil *Set.
func Load(dir string) (*Set, error) {
	files, err := ReadFiles(dir)
	if err != nil {
		return nil, err
	}
	return Parse(files)
}

// ReadFiles reads, without parsing, what Load reads: the capability files
// dir/*.json and the permission-set files dir/permissions/*.json, by name,
// for Parse. It fails if dir holds no capability file.
func ReadFiles(dir string) (map[string][]byte, error) {
	files := make(map[string][]byte)
	n, err := readJSONFiles(dir, files)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("capability: no capability files (*.json) in %s", dir)
	}
	if _, err := readJSONFiles(filepath.Join(dir, "permissions"), files); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return files, nil
}

// Enable keeps, of files (as Parse takes them), the capability files whose
// identifier is one of ids, and every permission-set file — Tauri v2's rule
// when app.security.capabilities lists identifiers. An identifier that no
// file has is an error.
func Enable(files map[string][]byte, ids []string) (map[string][]byte, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	kept := make(map[string][]byte, len(files))
	found := map[string]bool{}
	for name, data := range files {
		if isSetFile(name) {
			kept[name] = data
			continue
		}
		var head struct {
			Identifier string `json:"identifier"`
		}
		json.Unmarshal(data, &head) //nolint:errcheck // a bad file is reported by Parse if kept
		if want[head.Identifier] {
			kept[name] = data
			found[head.Identifier] = true
		}
	}
	var missing []string
	for _, id := range ids {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("capability: no capability file has the identifier %s", strings.Join(quoteAll(missing), ", "))
	}
	return kept, nil
}

func quoteAll(ss []string) []string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return q
}

func readJSONFiles(dir string, into map[string][]byte) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("capability: %w", err)
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		name := filepath.Join(dir, e.Name())
		f, err := os.Open(name)
		if err != nil {
			return n, fmt.Errorf("capability: %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
		f.Close()
		if err != nil {
			return n, fmt.Errorf("capability: %s: %w", name, err)
		}
		into[filepath.ToSlash(name)] = b
		n++
	}
	return n, nil
}

// ParseFile parses one capability file; name is used in error messages and,
// as in Parse, decides whether the file is a permission set.
func ParseFile(name string, data []byte) (*Set, error) {
	return Parse(map[string][]byte{name: data})
}

// Parse parses capability and permission-set files, given by name. A file
// whose parent folder is named "permissions" ("permissions/default.json",
// "capabilities/permissions/x.json") is a permission-set file; every other
// file is a capability file. The JSON is read strictly: unknown or
// duplicate fields, wrong types and trailing data are errors naming the
// file and the field. Parse reports every problem it finds, not just the
// first.
//
// Whether allow-<command> and deny-<command> name real commands is checked
// by Validate, which needs the command list.
func Parse(files map[string][]byte) (*Set, error) {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)

	p := &parser{}
	var caps []*rawCapability
	var sets []*rawSet
	for _, name := range names {
		data := files[name]
		if len(data) > maxFileSize {
			p.errf(name, "", "file larger than %d bytes", maxFileSize)
			continue
		}
		if isSetFile(name) {
			if s := p.parseSet(name, data); s != nil {
				sets = append(sets, s)
			}
		} else if c := p.parseCapability(name, data); c != nil {
			caps = append(caps, c)
		}
	}
	s := compile(p, caps, sets)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return s, nil
}

func isSetFile(name string) bool {
	return path.Base(path.Dir(filepath.ToSlash(name))) == "permissions"
}

// rawCapability is a capability file as written.
type rawCapability struct {
	file        string
	identifier  string
	windows     []string
	webviews    []string
	local       bool
	remote      []string
	permissions []rawPerm
}

// rawSet is a permission-set file as written.
type rawSet struct {
	file        string
	identifier  string
	permissions []rawPerm
}

// rawPerm is one entry of a permissions list.
type rawPerm struct {
	file, field string
	id          string
	object      bool // written as {identifier, allow, deny}
	allow, deny []map[string]any
}

type parser struct {
	errs []error
	seen map[string]bool // error messages already reported
}

func (p *parser) errf(file, field, format string, args ...any) {
	e := &FieldError{File: file, Field: field, Err: fmt.Errorf(format, args...)}
	if p.seen == nil {
		p.seen = make(map[string]bool)
	}
	if msg := e.Error(); !p.seen[msg] {
		p.seen[msg] = true
		p.errs = append(p.errs, e)
	}
}

type jsonField struct {
	key string
	val json.RawMessage
}

// decodeObject splits a JSON object into its fields, rejecting duplicates
// and (at top level) trailing data.
func decodeObject(data []byte, topLevel bool) ([]jsonField, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonErr(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("expected a JSON object")
	}
	var fields []jsonField
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonErr(err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return nil, fmt.Errorf("duplicate field %q", key)
		}
		seen[key] = true
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, jsonErr(err)
		}
		fields = append(fields, jsonField{key, val})
	}
	if _, err := dec.Token(); err != nil {
		return nil, jsonErr(err)
	}
	if topLevel {
		if _, err := dec.Token(); err != io.EOF {
			return nil, errors.New("invalid JSON: data after the top-level object")
		}
	}
	return fields, nil
}

func jsonErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errors.New("invalid JSON: unexpected end of input")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, se)
	}
	return fmt.Errorf("invalid JSON: %v", err)
}

var (
	capabilityFields = []string{"$schema", "identifier", "description", "windows", "webviews", "local", "remote", "platforms", "permissions"}
	setFields        = []string{"$schema", "identifier", "description", "permissions"}
	permFields       = []string{"identifier", "allow", "deny"}
)

func (p *parser) unknownField(file, field, key string, known []string) {
	p.errf(file, join(field, key), "unknown field%s", suggest(key, known))
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func (p *parser) strict(file, field string, raw json.RawMessage, v any, want string) bool {
	if err := json.Unmarshal(raw, v); err != nil {
		p.errf(file, field, "expected %s", want)
		return false
	}
	return true
}

func (p *parser) parseCapability(file string, data []byte) *rawCapability {
	fields, err := decodeObject(data, true)
	if err != nil {
		p.errf(file, "", "%v", err)
		return nil
	}
	c := &rawCapability{file: file, local: true}
	var haveID, havePerms bool
	nerr := len(p.errs)
	for _, f := range fields {
		switch f.key {
		case "$schema", "description":
			var s string
			p.strict(file, f.key, f.val, &s, "a string")
		case "identifier":
			haveID = p.strict(file, f.key, f.val, &c.identifier, "a string")
		case "windows":
			p.strict(file, f.key, f.val, &c.windows, "an array of strings")
		case "webviews":
			p.strict(file, f.key, f.val, &c.webviews, "an array of strings")
		case "local":
			p.strict(file, f.key, f.val, &c.local, "true or false")
		case "platforms":
			// Tether runs wherever Go does; platforms is accepted for
			// compatibility with Tauri files and otherwise ignored.
			var ps []string
			p.strict(file, f.key, f.val, &ps, "an array of strings")
		case "remote":
			p.parseRemote(c, f.val)
		case "permissions":
			havePerms = true
			c.permissions = p.parsePerms(file, f.val)
		default:
			p.unknownField(file, "", f.key, capabilityFields)
		}
	}
	if !haveID {
		p.errf(file, "identifier", "missing (every capability needs a unique identifier)")
	} else {
		p.checkIdentifier(file, c.identifier)
	}
	if !havePerms {
		p.errf(file, "permissions", "missing")
	}
	if len(c.windows) == 0 && len(c.webviews) == 0 {
		p.errf(file, "windows", `missing: list the client labels the capability applies to ("*" for every labelled client)`)
	}
	if len(p.errs) > nerr {
		return nil
	}
	return c
}

func (p *parser) checkIdentifier(file, id string) {
	if id == "" {
		p.errf(file, "identifier", "empty")
		return
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':') {
			p.errf(file, "identifier", "%q: only letters, digits and - _ . : are allowed", id)
			return
		}
	}
}

func (p *parser) parseRemote(c *rawCapability, raw json.RawMessage) {
	fields, err := decodeObject(raw, false)
	if err != nil {
		p.errf(c.file, "remote", "%v", err)
		return
	}
	for _, f := range fields {
		if f.key != "urls" {
			p.unknownField(c.file, "remote", f.key, []string{"urls"})
			continue
		}
		p.strict(c.file, "remote.urls", f.val, &c.remote, "an array of strings")
	}
}

func (p *parser) parsePerms(file string, raw json.RawMessage) []rawPerm {
	var items []json.RawMessage
	if !p.strict(file, "permissions", raw, &items, "an array") {
		return nil
	}
	perms := make([]rawPerm, 0, len(items))
	for i, item := range items {
		field := fmt.Sprintf("permissions[%d]", i)
		rp := rawPerm{file: file, field: field}
		switch item = bytes.TrimSpace(item); {
		case len(item) > 0 && item[0] == '"':
			if !p.strict(file, field, item, &rp.id, "a string") {
				continue
			}
		case len(item) > 0 && item[0] == '{':
			if !p.parsePermObject(&rp, item) {
				continue
			}
		default:
			p.errf(file, field, "expected a permission identifier or an object {identifier, allow, deny}")
			continue
		}
		if rp.id == "" {
			p.errf(file, field, "empty permission identifier")
			continue
		}
		perms = append(perms, rp)
	}
	return perms
}

func (p *parser) parsePermObject(rp *rawPerm, raw json.RawMessage) bool {
	fields, err := decodeObject(raw, false)
	if err != nil {
		p.errf(rp.file, rp.field, "%v", err)
		return false
	}
	rp.object = true
	ok, haveID := true, false
	for _, f := range fields {
		switch f.key {
		case "identifier":
			haveID = true
			ok = p.strict(rp.file, rp.field+".identifier", f.val, &rp.id, "a string") && ok
		case "allow":
			ok = p.strict(rp.file, rp.field+".allow", f.val, &rp.allow, "an array of scope objects") && ok
		case "deny":
			ok = p.strict(rp.file, rp.field+".deny", f.val, &rp.deny, "an array of scope objects") && ok
		default:
			p.unknownField(rp.file, rp.field, f.key, permFields)
			ok = false
		}
	}
	if !haveID {
		p.errf(rp.file, rp.field+".identifier", "missing")
		return false
	}
	for i, sc := range rp.allow {
		if sc == nil {
			p.errf(rp.file, fmt.Sprintf("%s.allow[%d]", rp.field, i), "expected a scope object, not null")
			ok = false
		}
	}
	for i, sc := range rp.deny {
		if sc == nil {
			p.errf(rp.file, fmt.Sprintf("%s.deny[%d]", rp.field, i), "expected a scope object, not null")
			ok = false
		}
	}
	return ok
}

func (p *parser) parseSet(file string, data []byte) *rawSet {
	fields, err := decodeObject(data, true)
	if err != nil {
		p.errf(file, "", "%v", err)
		return nil
	}
	s := &rawSet{file: file}
	var haveID, havePerms bool
	nerr := len(p.errs)
	for _, f := range fields {
		switch f.key {
		case "$schema", "description":
			var str string
			p.strict(file, f.key, f.val, &str, "a string")
		case "identifier":
			haveID = p.strict(file, f.key, f.val, &s.identifier, "a string")
		case "permissions":
			havePerms = true
			s.permissions = p.parsePerms(file, f.val)
		default:
			p.unknownField(file, "", f.key, setFields)
		}
	}
	if !haveID {
		p.errf(file, "identifier", "missing (every permission set needs a unique identifier)")
	} else {
		p.checkIdentifier(file, s.identifier)
		if strings.HasPrefix(s.identifier, "allow-") || strings.HasPrefix(s.identifier, "deny-") || isEventPermID(s.identifier) {
			p.errf(file, "identifier", "%q is reserved for generated permissions; choose another name", s.identifier)
		}
	}
	if !havePerms {
		p.errf(file, "permissions", "missing")
	}
	if len(p.errs) > nerr {
		return nil
	}
	return s
}

// suggest returns ` (did you mean "x"?)` for the candidate closest to s, or
// "" if none is close enough.
func suggest(s string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := levenshtein(s, c)
		if bestD < 0 || d < bestD || d == bestD && c < best {
			best, bestD = c, d
		}
	}
	limit := max(2, len(s)/3)
	if bestD < 0 || bestD > limit || best == s {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func levenshtein(a, b string) int {
	if len(a) > 256 || len(b) > 256 {
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
