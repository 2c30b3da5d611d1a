package tsgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// CommandInfo is one command as GET /ipc/commands lists it (and as
// `tether commands --json` prints it).
type CommandInfo struct {
	Name        string          `json:"name"`
	Kind        string          `json:"kind"` // "unary" (or "invoke") or "channel"
	Description string          `json:"description,omitempty"`
	Args        json.RawMessage `json:"args"`   // JSON Schema
	Result      json.RawMessage `json:"result"` // JSON Schema (of each message, for channels)
}

// FromCommands describes commands from their JSON schemas, as the server
// gives them: an object schema with a title (a proto message) becomes a type
// of that name, other top-level objects types named after the command
// (AddArgs, AddResult, TicksMessage); a binary string is raw bytes; a
// property is optional unless the schema requires it.
func FromCommands(cmds []CommandInfo) (*File, error) {
	s := &schemaFront{f: &File{}, names: newNamer(), byTitle: map[string]string{}, shortTitle: map[string]string{}}
	for _, ci := range cmds {
		c := &Command{Name: ci.Name, Doc: ci.Description}
		switch ci.Kind {
		case "unary", "invoke", "":
		case "channel":
			c.Channel = true
		default:
			return nil, fmt.Errorf("tsgen: command %q: unknown kind %q", ci.Name, ci.Kind)
		}
		args, err := parseSchema(ci.Args)
		if err != nil {
			return nil, fmt.Errorf("tsgen: command %q: args schema: %w", ci.Name, err)
		}
		res, err := parseSchema(ci.Result)
		if err != nil {
			return nil, fmt.Errorf("tsgen: command %q: result schema: %w", ci.Name, err)
		}
		base := PascalName(ci.Name)
		if isBinary(args) {
			c.RawArgs = true
		} else {
			c.Args = s.typ(args, base+"Args")
		}
		suffix := "Result"
		if c.Channel {
			suffix = "Message"
		}
		switch {
		case isBinary(res):
			c.RawResult = true
		case !c.Channel && title(res) == "google.protobuf.Empty":
			c.VoidResult, c.Result = true, tEmpty
		default:
			c.Result = s.typ(res, base+suffix)
		}
		s.f.Commands = append(s.f.Commands, c)
	}
	return s.f, nil
}

type schemaFront struct {
	f          *File
	names      *namer
	byTitle    map[string]string // title → Decl name
	shortTitle map[string]string // short name → the title that has it
}

func parseSchema(raw json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return true, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	switch v.(type) {
	case bool, map[string]any:
		return v, nil
	}
	return nil, fmt.Errorf("a JSON Schema is an object or a boolean, not %s", raw)
}

func isBinary(v any) bool {
	m, _ := v.(map[string]any)
	return m["type"] == "string" && m["format"] == "binary"
}

func title(v any) string {
	m, _ := v.(map[string]any)
	t, _ := m["title"].(string)
	return t
}

// typ converts a schema; an object schema without a title is declared as
// hint when hint is not "".
func (s *schemaFront) typ(v any, hint string) Type {
	m, ok := v.(map[string]any)
	if !ok {
		if v == false {
			return Type{Kind: Union}
		}
		return tUnknown
	}
	if c, ok := m["const"]; ok {
		return literal(c)
	}
	if e, ok := m["enum"].([]any); ok {
		u := Type{Kind: Union}
		for _, x := range e {
			u.Alts = append(u.Alts, literal(x))
		}
		return u
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		if alts, ok := m[key].([]any); ok {
			u := Type{Kind: Union}
			for _, a := range alts {
				u.Alts = append(u.Alts, s.typ(a, ""))
			}
			return u
		}
	}
	switch t := m["type"].(type) {
	case string:
		return s.ofType(t, m, hint)
	case []any:
		names := map[string]bool{}
		for _, x := range t {
			if n, ok := x.(string); ok {
				names[n] = true
			}
		}
		if f, _ := m["format"].(string); (f == "int64" || f == "uint64") && names["string"] {
			return tString // protojson writes 64-bit integers as strings
		}
		u := Type{Kind: Union}
		for _, x := range t {
			if n, ok := x.(string); ok {
				u.Alts = append(u.Alts, s.ofType(n, m, hint))
			}
		}
		return u
	}
	if _, ok := m["properties"]; ok {
		return s.object(m, hint)
	}
	return tUnknown
}

func (s *schemaFront) ofType(t string, m map[string]any, hint string) Type {
	switch t {
	case "string":
		return tString
	case "integer", "number":
		return tNumber
	case "boolean":
		return tBoolean
	case "null":
		return tNull
	case "array":
		if items, ok := m["items"]; ok {
			return arrayOf(s.typ(items, ""))
		}
		return arrayOf(tUnknown)
	case "object":
		return s.object(m, hint)
	}
	return tUnknown
}

func (s *schemaFront) object(m map[string]any, hint string) Type {
	t := title(m)
	switch t {
	case "google.protobuf.Struct":
		return mapOf(tJSONValue)
	case "google.protobuf.Empty":
		return tEmpty
	case "google.protobuf.Any":
		return Type{Kind: Object, Fields: []Field{{Name: "@type", Type: tString}}, Index: &tUnknown}
	}
	if name, ok := s.byTitle[t]; ok && t != "" {
		return Type{Kind: Ref, Name: name}
	}
	var decl *Decl
	switch {
	case t != "":
		short := t[strings.LastIndexByte(t, '.')+1:]
		if other, taken := s.shortTitle[short]; taken && other != t {
			short = strings.ReplaceAll(t, ".", "_")
		}
		s.shortTitle[short] = t
		decl = &Decl{Name: s.names.take(short)}
		s.byTitle[t] = decl.Name
	case hint != "":
		decl = &Decl{Name: s.names.take(hint)}
	}
	if decl != nil {
		// Declared before its fields are converted, so that the order of
		// the file is the order of first use.
		s.f.Types = append(s.f.Types, decl)
		decl.Doc, _ = m["description"].(string)
	}

	obj := Type{Kind: Object}
	props, _ := m["properties"].(map[string]any)
	required := map[string]bool{}
	if rs, ok := m["required"].([]any); ok {
		for _, r := range rs {
			if n, ok := r.(string); ok {
				required[n] = true
			}
		}
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		pm, _ := props[k].(map[string]any)
		desc, _ := pm["description"].(string)
		ft := s.typ(props[k], "")
		if ft.Kind == Ref && title(pm) != "" {
			if d := s.f.decl(ft.Name); d != nil && d.Doc == desc {
				desc = "" // the type's own description, not the field's
			}
		}
		kw := map[string]any{}
		for key, v := range pm {
			if key != "const" && key != "enum" {
				kw[key] = v
			}
		}
		obj.Fields = append(obj.Fields, Field{Name: k, Doc: fieldDoc(desc, kw), Type: ft, Optional: !required[k]})
	}
	switch ap := m["additionalProperties"].(type) {
	case map[string]any:
		it := s.typ(ap, "")
		obj.Index = &it
	case bool:
		if ap && len(props) == 0 {
			obj.Index = &tUnknown
		}
	case nil:
		if len(props) == 0 {
			obj.Index = &tUnknown
		}
	}
	if decl != nil && t == "" && len(obj.Fields) == 0 && obj.Index == nil && s.f.Types[len(s.f.Types)-1] == decl {
		s.f.Types = s.f.Types[:len(s.f.Types)-1] // {} needs no name
		decl = nil
	}
	if decl == nil {
		return obj
	}
	decl.Type = obj
	return Type{Kind: Ref, Name: decl.Name}
}

func literal(v any) Type {
	b, err := json.Marshal(v)
	if err != nil {
		return tUnknown
	}
	return Type{Kind: Lit, Name: string(b)}
}

// ruleWords are the JSON Schema keywords a field's TSDoc mentions, in
// the order it mentions them.
var ruleWords = []string{
	"minLength", "maxLength", "pattern", "format", "minimum", "exclusiveMinimum", "maximum",
	"exclusiveMaximum", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties",
	"const", "enum",
}

// fieldDoc is a field's comment followed by the rules the server checks on
// it.
func fieldDoc(comment string, kw map[string]any) string {
	var rules []string
	for _, k := range ruleWords {
		v, ok := kw[k]
		if !ok {
			continue
		}
		if k == "format" && (v == "int64" || v == "uint64" || v == "binary") {
			continue // the type says it
		}
		b, err := json.Marshal(v)
		if err != nil {
			continue
		}
		rules = append(rules, k+" "+string(b))
	}
	if len(rules) == 0 {
		return comment
	}
	line := "Checked by the server: " + strings.Join(rules, ", ") + "."
	if comment == "" {
		return line
	}
	return comment + "\n\n" + line
}

// jsString returns s as a JavaScript string literal.
func jsString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return `""`
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// CommandInfos converts the core's answer to ListCommands.
func CommandInfos(res *tetherv1.ListCommandsResponse) []CommandInfo {
	out := make([]CommandInfo, 0, len(res.GetCommands()))
	for _, c := range res.GetCommands() {
		kind := "unary"
		if c.GetKind() == tetherv1.CommandInfo_KIND_CHANNEL {
			kind = "channel"
		}
		out = append(out, CommandInfo{Name: c.GetName(), Kind: kind, Description: c.GetDescription(),
			Args: json.RawMessage(c.GetArgsSchema()), Result: json.RawMessage(c.GetResultSchema())})
	}
	return out
}
