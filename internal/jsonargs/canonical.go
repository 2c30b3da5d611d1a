package jsonargs

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/tether-ipc/tether"
)

// Canonical checks the JSON arguments in — valid JSON and UTF-8, nested no
// deeper than maxDepth, no key twice in one object — and returns them with
// every key the shape binds under its canonical name. Keys the handler does
// not bind are dropped, or, if s is strict, refused; a field given under two
// spellings (or one key given twice) is refused. Values keep their bytes.
// When nothing changes, Canonical returns in itself; otherwise a compact
// rewrite. Empty input is returned as it is. Every error is an
// invalid_argument *tether.Error that names where it is.
//
// Canonical is idempotent, and what it returns binds exactly: a decoder that
// reads the canonical names, and nothing else, binds what the handler binds.
func (s *Shape) Canonical(in []byte, maxDepth int) ([]byte, error) {
	out, _, err := s.CanonicalRenames(in, maxDepth)
	return out, err
}

// CanonicalRenames is Canonical, and also reports the first key it put
// under another name ("" if none did; dropped keys do not count).
func (s *Shape) CanonicalRenames(in []byte, maxDepth int) (out []byte, renamed string, err error) {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	c := canons.Get().(*canon)
	defer c.release()
	*c = canon{in: in, maxDepth: maxDepth, strict: s.IsStrict(), write: false}
	c.keys, c.path = c.keysBuf[:0], c.pathBuf[:0]
	c.skipSpace()
	if c.pos == len(in) {
		return in, "", nil
	}
	if err := c.value(s, 0); err != nil {
		return nil, "", err
	}
	c.skipSpace()
	if c.pos != len(in) {
		return nil, "", c.syntax("after the top-level value")
	}
	if !c.changed {
		return in, "", nil
	}
	strict, renamed := c.strict, c.renamed
	*c = canon{in: in, maxDepth: maxDepth, strict: strict, write: true, out: make([]byte, 0, len(in))}
	c.keys, c.path = c.keysBuf[:0], c.pathBuf[:0]
	c.skipSpace()
	if err := c.value(s, 0); err != nil {
		return nil, "", err // cannot happen: the first pass accepted in
	}
	return c.out, renamed, nil
}

var canons = sync.Pool{New: func() any { return new(canon) }}

func (c *canon) release() {
	*c = canon{}
	canons.Put(c)
}

// canon is one pass of Canonical over its input: the first finds errors
// and whether anything changes; the second (write) builds the output.
type canon struct {
	in       []byte
	pos      int
	maxDepth int
	depth    int
	strict   bool
	changed  bool
	renamed  string // the first key put under another name
	write    bool
	out      []byte
	keys     [][]byte // keys of the open objects without a field list, for duplicates
	path     []pathElem

	keysBuf [16][]byte
	pathBuf [16]pathElem
}

type pathElem struct {
	key   []byte
	index int // -1 for a key
}

const maxKeyInMessage = 64

// where names the current location, e.g. `argument "a.b[2]"`; "args" at the
// top.
func (c *canon) where() string {
	if len(c.path) == 0 {
		return "args"
	}
	var b strings.Builder
	for i, p := range c.path {
		if p.index >= 0 {
			fmt.Fprintf(&b, "[%d]", p.index)
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(shorten(string(p.key)))
	}
	return "argument " + strconv.Quote(b.String())
}

func shorten(s string) string { return Shorten(s, maxKeyInMessage) }

// Shorten cuts s to at most n bytes, at a rune boundary, marking the cut
// with "…": for caller input quoted in messages.
func Shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func quoteKey(k []byte) string { return strconv.Quote(shorten(string(k))) }

func (c *canon) syntax(what string) error {
	return tether.Errorf(tether.CodeInvalidArgument, "malformed JSON args at offset %d: %s", c.pos, what)
}

func (c *canon) skipSpace() { c.pos = skipSpace(c.in, c.pos) }

func (c *canon) emit(b []byte) {
	if c.write {
		c.out = append(c.out, b...)
	}
}

func (c *canon) emitByte(b byte) {
	if c.write {
		c.out = append(c.out, b)
	}
}

// value reads one value at c.pos (after white space) bound by node n of s.
func (c *canon) value(s *Shape, n int32) error {
	if c.pos >= len(c.in) {
		return c.syntax("unexpected end")
	}
	switch ch := c.in[c.pos]; {
	case ch == '{':
		return c.object(s, n)
	case ch == '[':
		return c.array(s, n)
	case ch == '"':
		start := c.pos
		if _, err := c.str(false); err != nil {
			return err
		}
		c.emit(c.in[start:c.pos])
		return nil
	case ch == 't':
		return c.literal("true")
	case ch == 'f':
		return c.literal("false")
	case ch == 'n':
		return c.literal("null")
	case ch == '-' || ch >= '0' && ch <= '9':
		return c.number()
	}
	return c.syntax(fmt.Sprintf("unexpected character %q", c.in[c.pos]))
}

func (c *canon) literal(lit string) error {
	if !hasWord(c.in, c.pos, lit) {
		return c.syntax("invalid literal")
	}
	c.emit(c.in[c.pos : c.pos+len(lit)])
	c.pos += len(lit)
	return nil
}

func (c *canon) number() error {
	end, ok := numberEnd(c.in, c.pos)
	if !ok {
		return c.syntax("invalid number")
	}
	c.emit(c.in[c.pos:end])
	c.pos = end
	return nil
}

// str reads a string at c.pos. With decode, it returns its value: the
// input bytes themselves when it has no escapes.
func (c *canon) str(decode bool) ([]byte, error) {
	c.pos++ // opening quote
	start := c.pos
	escaped := false
	for c.pos < len(c.in) {
		c.pos = skipPlain(c.in, c.pos)
		if c.pos >= len(c.in) {
			break
		}
		ch := c.in[c.pos]
		switch {
		case ch == '"':
			raw := c.in[start:c.pos]
			c.pos++
			if !decode {
				return nil, nil
			}
			if !escaped {
				return raw, nil
			}
			return unescape(raw), nil
		case ch == '\\':
			escaped = true
			if c.pos+1 >= len(c.in) {
				return nil, c.syntax("unterminated string")
			}
			switch c.in[c.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				c.pos += 2
			case 'u':
				if c.pos+6 > len(c.in) || !isHex4(c.in[c.pos+2:c.pos+6]) {
					return nil, c.syntax("invalid \\u escape")
				}
				c.pos += 6
			default:
				return nil, c.syntax("invalid escape")
			}
		case ch < 0x20:
			return nil, c.syntax("control character in string")
		case ch < utf8.RuneSelf:
			c.pos++
		default:
			r, size := utf8.DecodeRune(c.in[c.pos:])
			if r == utf8.RuneError && size == 1 {
				return nil, tether.Errorf(tether.CodeInvalidArgument, "args are not valid UTF-8 (byte %d)", c.pos)
			}
			c.pos += size
		}
	}
	return nil, c.syntax("unterminated string")
}

func isHex4(b []byte) bool { return isHex(b[0]) && isHex(b[1]) && isHex(b[2]) && isHex(b[3]) }

func hex4(b []byte) rune {
	v, _ := strconv.ParseUint(string(b), 16, 32)
	return rune(v)
}

// unescape decodes the body of a valid JSON string as encoding/json does
// (a lone surrogate becomes U+FFFD).
func unescape(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		if raw[i] != '\\' {
			out = append(out, raw[i])
			i++
			continue
		}
		switch raw[i+1] {
		case 'u':
			r := hex4(raw[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if r2 := utf16.DecodeRune(r, hex4(raw[i+2:i+6])); r2 != utf8.RuneError {
						r = r2
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
			continue
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		default: // '"', '\\', '/'
			out = append(out, raw[i+1])
		}
		i += 2
	}
	return out
}

func (c *canon) enter() error {
	c.depth++
	if c.depth > c.maxDepth {
		return tether.Errorf(tether.CodeInvalidArgument, "args nest deeper than %d levels", c.maxDepth)
	}
	return nil
}

func (s *Shape) node(n int32) *node {
	if s == nil {
		return &anyNode
	}
	return &s.nodes[n]
}

var anyNode = node{kind: KindAny}

func (c *canon) array(s *Shape, n int32) error {
	if err := c.enter(); err != nil {
		return err
	}
	elem, elemShape := int32(0), (*Shape)(nil)
	if nd := s.node(n); nd.kind == KindList {
		elem, elemShape = nd.elem, s
	}
	c.pos++
	c.emitByte('[')
	c.skipSpace()
	if c.pos < len(c.in) && c.in[c.pos] == ']' {
		c.pos++
		c.emitByte(']')
		c.depth--
		return nil
	}
	for i := 0; ; i++ {
		if i > 0 {
			c.emitByte(',')
		}
		c.path = append(c.path, pathElem{index: i})
		c.skipSpace()
		if err := c.value(elemShape, elem); err != nil {
			return err
		}
		c.path = c.path[:len(c.path)-1]
		c.skipSpace()
		if c.pos >= len(c.in) {
			return c.syntax("unterminated array")
		}
		switch c.in[c.pos] {
		case ',':
			c.pos++
		case ']':
			c.pos++
			c.emitByte(']')
			c.depth--
			return nil
		default:
			return c.syntax("expected , or ] in array")
		}
	}
}

// member is one key/value pair of an object.
type member struct {
	rawKey     []byte // the key as written, with its quotes
	key        []byte // its value
	valueStart int
}

// object reads an object bound by node n of s: fields by name for an
// object node, anything (checked for duplicate keys) otherwise.
func (c *canon) object(s *Shape, n int32) error {
	if err := c.enter(); err != nil {
		return err
	}
	err := c.objectBody(s, s.node(n))
	c.depth--
	return err
}

func (c *canon) objectBody(s *Shape, nd *node) error {
	switch nd.kind {
	case KindObject:
		return c.fields(s, nd)
	case KindProtoAny:
		return c.protoAny()
	}
	elem, elemShape := int32(0), (*Shape)(nil)
	if nd.kind == KindMap {
		elem, elemShape = nd.elem, s
	}
	mark := len(c.keys)
	var set map[string]struct{}
	first := true
	err := c.members(func(m member) error {
		if set != nil {
			if _, dup := set[string(m.key)]; dup {
				return c.duplicate(m.key)
			}
			set[string(m.key)] = struct{}{}
		} else {
			for _, k := range c.keys[mark:] {
				if string(k) == string(m.key) {
					return c.duplicate(m.key)
				}
			}
			c.keys = append(c.keys, m.key)
			if len(c.keys)-mark > 16 {
				set = make(map[string]struct{}, 32)
				for _, k := range c.keys[mark:] {
					set[string(k)] = struct{}{}
				}
			}
		}
		if !first {
			c.emitByte(',')
		}
		first = false
		c.emit(m.rawKey)
		c.emitByte(':')
		return c.value(elemShape, elem)
	})
	c.keys = c.keys[:mark]
	return err
}

func (c *canon) duplicate(key []byte) error {
	c.path = c.path[:len(c.path)-1]
	return tether.Errorf(tether.CodeInvalidArgument, "key %s given twice in %s", quoteKey(key), c.where())
}

// members reads the members of the object at c.pos, calling f with each,
// c.pos at its value; f must read the value. It writes the braces.
func (c *canon) members(f func(member) error) error {
	c.pos++
	c.emitByte('{')
	c.skipSpace()
	if c.pos < len(c.in) && c.in[c.pos] == '}' {
		c.pos++
		c.emitByte('}')
		return nil
	}
	for {
		c.skipSpace()
		if c.pos >= len(c.in) || c.in[c.pos] != '"' {
			return c.syntax("expected a key")
		}
		start := c.pos
		key, err := c.str(true)
		if err != nil {
			return err
		}
		m := member{rawKey: c.in[start:c.pos], key: key}
		c.skipSpace()
		if c.pos >= len(c.in) || c.in[c.pos] != ':' {
			return c.syntax("expected : after a key")
		}
		c.pos++
		c.skipSpace()
		m.valueStart = c.pos
		c.path = append(c.path, pathElem{key: key, index: -1})
		if err := f(m); err != nil {
			return err
		}
		c.path = c.path[:len(c.path)-1]
		c.skipSpace()
		if c.pos >= len(c.in) {
			return c.syntax("unterminated object")
		}
		switch c.in[c.pos] {
		case ',':
			c.pos++
		case '}':
			c.pos++
			c.emitByte('}')
			return nil
		default:
			return c.syntax("expected , or } in object")
		}
	}
}

// channelRef reports whether the value at c.pos is a string holding a
// channel reference, "__CHANNEL__:<digits>".
func (c *canon) channelRef() bool {
	i := c.pos
	for i < len(c.in) && (c.in[i] == ' ' || c.in[i] == '\t' || c.in[i] == '\n' || c.in[i] == '\r') {
		i++
	}
	const prefix = `"__CHANNEL__:`
	if !bytes.HasPrefix(c.in[i:], []byte(prefix)) {
		return false
	}
	i += len(prefix)
	n := 0
	for i < len(c.in) && c.in[i] >= '0' && c.in[i] <= '9' {
		i, n = i+1, n+1
	}
	return n > 0 && n <= 15 && i < len(c.in) && c.in[i] == '"'
}

// skipValue reads and drops the value at c.pos.
func (c *canon) skipValue() error {
	w := c.write
	c.write = false
	err := c.value(nil, 0)
	c.write = w
	return err
}

// fields reads an object whose keys are the fields of nd.
func (c *canon) fields(s *Shape, nd *node) error {
	var seenBuf [32]int32
	var seen []int32 // for each field: 0, or 1 + the offset of the key that gave it
	if len(nd.fields) <= len(seenBuf) {
		seen = seenBuf[:len(nd.fields)]
	} else {
		seen = make([]int32, len(nd.fields))
	}
	var spellBuf [32][]byte
	spell := spellBuf[:0]
	first := true
	return c.members(func(m member) error {
		i, ok := nd.byKey[string(m.key)]
		if !ok && len(c.path) == 1 && c.channelRef() {
			// A channel ("__CHANNEL__:<id>", Tauri's serialized Channel)
			// in a top-level key of its own travels beside the arguments:
			// the core takes it as the channel of a channel command.
			if !first {
				c.emitByte(',')
			}
			first = false
			if c.write {
				c.out = strconv.AppendQuote(c.out, string(m.key))
				c.out = append(c.out, ':')
			}
			return c.value(nil, 0)
		}
		if !ok {
			if c.strict {
				c.path = c.path[:len(c.path)-1]
				if len(c.path) == 0 {
					return tether.Errorf(tether.CodeInvalidArgument, "unknown argument %s", quoteKey(m.key))
				}
				return tether.Errorf(tether.CodeInvalidArgument, "unknown key %s in %s", quoteKey(m.key), c.where())
			}
			c.changed = true
			return c.skipValue()
		}
		f := &nd.fields[i]
		if seen[i] != 0 {
			c.path = c.path[:len(c.path)-1]
			what, in := "argument "+strconv.Quote(f.name)+" given twice", ""
			if len(c.path) > 0 {
				what, in = "key "+strconv.Quote(f.name)+" given twice", " in "+c.where()
			}
			if other := spell[seen[i]-1]; string(other) != string(m.key) {
				return tether.Errorf(tether.CodeInvalidArgument, "%s%s (as %s and %s)", what, in, quoteKey(other), quoteKey(m.key))
			}
			return tether.Errorf(tether.CodeInvalidArgument, "%s%s", what, in)
		}
		spell = append(spell, m.key)
		seen[i] = int32(len(spell))
		if string(m.key) != f.name {
			c.changed = true
			if c.renamed == "" {
				c.renamed = string(m.key)
			}
		}
		if !first {
			c.emitByte(',')
		}
		first = false
		if c.write {
			c.out = strconv.AppendQuote(c.out, f.name)
			c.out = append(c.out, ':')
		}
		return c.value(s, f.node)
	})
}

// protoAny reads a google.protobuf.Any: "@type" names the message its other
// keys bind, or, for a well-known type with a JSON form of its own, what
// its "value" key holds.
func (c *canon) protoAny() error {
	start, depth, pathLen := c.pos, c.depth, len(c.path)
	var typeURL []byte
	found := false
	w := c.write
	c.write = false
	err := c.members(func(m member) error {
		if string(m.key) == "@type" && c.pos < len(c.in) && c.in[c.pos] == '"' {
			v, err := c.str(true)
			typeURL, found = v, true
			return err
		}
		return c.value(nil, 0)
	})
	c.write = w
	if err != nil {
		return err
	}
	if !found {
		// Nothing to bind by: the decoder refuses it, or it is empty.
		c.pos, c.depth, c.path = start, depth, c.path[:pathLen]
		return c.objectBody(nil, &anyNode)
	}
	mt, rerr := protoregistry.GlobalTypes.FindMessageByURL(string(typeURL))
	if rerr != nil {
		return tether.Errorf(tether.CodeInvalidArgument, "unknown message type %s in google.protobuf.Any at %s", quoteKey(typeURL), c.where())
	}
	md := mt.Descriptor()
	c.pos, c.depth, c.path = start, depth, c.path[:pathLen]
	var inner *Shape
	var nd *node
	valueNode := &node{kind: KindObject, fields: []field2{{name: "value"}}, byKey: map[string]int32{"value": 0}}
	switch wellKnown(md.FullName()) {
	case KindObject:
		inner = ShapeOfMessage(md)
		nd = inner.node(0)
	case KindProtoAny:
		inner = ShapeOfMessage(md) // one node: a nested Any
		nd = valueNode
	default:
		nd = valueNode
	}
	if inner == nil {
		inner = &Shape{nodes: []node{anyNode}}
	}
	// The fields of the named message, and "@type" as it is.
	typed := *nd
	typed.fields = append(append([]field2{}, nd.fields...), field2{name: "@type", node: -1})
	typed.byKey = make(map[string]int32, len(nd.byKey)+1)
	for k, v := range nd.byKey {
		typed.byKey[k] = v
	}
	typed.byKey["@type"] = int32(len(typed.fields) - 1)
	return c.fieldsAny(inner, &typed)
}

// fieldsAny is fields for the members of an Any, whose "@type" field (node
// -1) is a string kept as it is.
func (c *canon) fieldsAny(s *Shape, nd *node) error {
	withAny := *s
	withAny.nodes = append(append([]node{}, s.nodes...), anyNode)
	anyIdx := int32(len(withAny.nodes) - 1)
	for i := range nd.fields {
		if nd.fields[i].node < 0 {
			nd.fields[i].node = anyIdx
		}
	}
	withAny.strict = c.strict
	return c.fields(&withAny, nd)
}
