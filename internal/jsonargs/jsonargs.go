// Package jsonargs decodes the JSON arguments of a command the way Tauri
// does: top-level keys match a Go field by its JSON name, its lowerCamelCase
// or its snake_case form; a missing argument is an error unless it is
// optional. Every failure is a *tether.Error with code invalid_argument that
// names the argument.
//
// A Shape records which keys a handler binds, for Go function commands and
// proto messages alike; Shape.Canonical puts arguments in those keys before
// anything reads them (the core before it decodes, an isolation stage before
// its hooks run), dropping keys the handler does not bind (or, strict,
// refusing them) and refusing a field given under two spellings. Decode sees
// canonical arguments, so its own "unknown argument" error is what a strict
// shape gives.
package jsonargs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/tether-ipc/tether"
)

// DefaultMaxDepth is the nesting depth allowed when none is configured.
const DefaultMaxDepth = 64

// Check reports whether b is valid UTF-8 and nests objects and arrays no
// deeper than maxDepth. It does not check the JSON syntax; the decoder does.
// It makes one pass over b and allocates nothing.
func Check(b []byte, maxDepth int) error {
	depth, inString, escaped := 0, false, false
	for i := 0; i < len(b); {
		if inString && !escaped {
			// Cross plain string bytes eight at a time.
			if i = skipPlain(b, i); i >= len(b) {
				break
			}
		}
		c := b[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return tether.Errorf(tether.CodeInvalidArgument, "args are not valid UTF-8 (byte %d)", i)
			}
			i += size
			escaped = false
			continue
		}
		i++
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > maxDepth {
				return tether.Errorf(tether.CodeInvalidArgument, "args nest deeper than %d levels", maxDepth)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// Spec describes how JSON arguments map onto a Go struct type.
type Spec struct {
	typ    reflect.Type
	fields []field
	byKey  map[string]int // every accepted key -> index in fields
}

type field struct {
	name     string // the canonical (JSON) name, used in messages
	index    []int
	required bool
}

var specs sync.Map // reflect.Type -> *Spec

// SpecFor returns the Spec of a struct type, or nil if t is not a struct.
// Specs are cached; SpecFor is safe for concurrent use.
func SpecFor(t reflect.Type) *Spec {
	if t.Kind() != reflect.Struct {
		return nil
	}
	if s, ok := specs.Load(t); ok {
		return s.(*Spec)
	}
	s := &Spec{typ: t, byKey: map[string]int{}}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, required, ok := Argument(sf)
		if !ok {
			continue
		}
		s.fields = append(s.fields, field{name: name, index: sf.Index, required: required})
		idx := len(s.fields) - 1
		for _, k := range []string{name, LowerCamel(name), Snake(name)} {
			if _, dup := s.byKey[k]; !dup {
				s.byKey[k] = idx
			}
		}
	}
	actual, _ := specs.LoadOrStore(t, s)
	return actual.(*Spec)
}

// Argument returns how a struct field is taken as an argument: its JSON
// name, whether it is required (not a pointer, not tagged omitempty,
// omitzero or tether:"optional"), and false if it is not an argument
// (unexported, or tagged json:"-").
func Argument(sf reflect.StructField) (name string, required, ok bool) {
	if !sf.IsExported() {
		return "", false, false
	}
	name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
	if name == "-" && opts == "" {
		return "", false, false
	}
	if name == "" {
		name = sf.Name
	}
	optional := sf.Type.Kind() == reflect.Pointer || hasOpt(opts, "omitempty") || hasOpt(opts, "omitzero") ||
		hasOpt(sf.Tag.Get("tether"), "optional")
	return name, !optional, true
}

func hasOpt(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}

// Fields returns the canonical argument names and whether each is required.
func (s *Spec) Fields() (names []string, required []bool) {
	for _, f := range s.fields {
		names = append(names, f.name)
		required = append(required, f.required)
	}
	return names, required
}

// Decode decodes the JSON object b into dst, which must be a settable value
// of the Spec's struct type. Empty input and null count as {}.
func (s *Spec) Decode(b []byte, dst reflect.Value) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		b = []byte("{}")
	}
	if b[0] != '{' {
		return tether.NewError(tether.CodeInvalidArgument, "args must be a JSON object")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return syntaxError(err)
	}
	var seen []bool
	if len(s.fields) > 0 {
		seen = make([]bool, len(s.fields))
	}
	for key, val := range raw {
		i, ok := s.byKey[key]
		if !ok {
			return tether.Errorf(tether.CodeInvalidArgument, "unknown argument %q", key)
		}
		if seen[i] {
			return tether.Errorf(tether.CodeInvalidArgument, "argument %q given twice", s.fields[i].name)
		}
		seen[i] = true
		if err := json.Unmarshal(val, dst.FieldByIndex(s.fields[i].index).Addr().Interface()); err != nil {
			return argError(s.fields[i].name, err)
		}
	}
	for i, f := range s.fields {
		if f.required && !seen[i] {
			return tether.Errorf(tether.CodeInvalidArgument, "missing argument %q", f.name)
		}
	}
	return nil
}

// Decode decodes b into v (a pointer). Structs go through their Spec; any
// other type is decoded as a whole JSON value.
func Decode(b []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return tether.NewError(tether.CodeInternal, "jsonargs: Decode needs a non-nil pointer")
	}
	if s := SpecFor(rv.Elem().Type()); s != nil {
		return s.Decode(b, rv.Elem())
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return tether.NewError(tether.CodeInvalidArgument, "missing args")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return argError("", err)
	}
	return nil
}

func syntaxError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return tether.Errorf(tether.CodeInvalidArgument, "malformed JSON args at offset %d: %v", se.Offset, se)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return tether.Errorf(tether.CodeInvalidArgument, "args must be a JSON object, got %s", te.Value)
	}
	return tether.Errorf(tether.CodeInvalidArgument, "malformed JSON args: %v", err)
}

func argError(name string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		where := "args"
		if name != "" {
			where = fmt.Sprintf("argument %q", name)
			if te.Field != "" {
				where = fmt.Sprintf("argument %q (at %s)", name, te.Field)
			}
		}
		return tether.Errorf(tether.CodeInvalidArgument, "%s: expected %s, got JSON %s", where, te.Type, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return tether.Errorf(tether.CodeInvalidArgument, "malformed JSON args: %v", se)
	}
	if name != "" {
		return tether.Errorf(tether.CodeInvalidArgument, "argument %q: %v", name, err)
	}
	return tether.Errorf(tether.CodeInvalidArgument, "args: %v", err)
}

// Snake returns s in snake_case: "invokeMessage" and "InvokeMessage" become
// "invoke_message"; "HTTPGet" becomes "http_get".
func Snake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && rs[i-1] != '_' && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]) ||
				(i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// LowerCamel returns s in lowerCamelCase: "invoke_message" becomes
// "invokeMessage".
func LowerCamel(s string) string {
	var b strings.Builder
	up := false
	for i, r := range s {
		switch {
		case r == '_':
			up = b.Len() > 0
		case up:
			b.WriteRune(unicode.ToUpper(r))
			up = false
		case i == 0:
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
