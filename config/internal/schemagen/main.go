// Command schemagen writes tether.schema.json, the JSON Schema of
// tether.json, from the Go types of package config: their json tags, their
// doc comments (read from the package's source) and the defaults of
// config.Default(). `make generate` runs it from the module root:
//
//	go run ./config/internal/schemagen -o tether.schema.json
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/tether-ipc/tether/config"
)

func main() {
	out := flag.String("o", "tether.schema.json", "file to write")
	src := flag.String("src", "config", "folder of package config's source")
	flag.Parse()
	docs, err := fieldDocs(*src)
	if err != nil {
		fail(err)
	}
	g := &gen{docs: docs}
	root := g.object(reflect.TypeOf(config.Config{}), reflect.ValueOf(config.Default()))
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://github.com/tether-ipc/tether/tether.schema.json"
	root["title"] = "tether.json"
	root["description"] = "The configuration of a Tether app (tether serve, or a program built on package app). Every field is also a flag."
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		fail(err)
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "schemagen:", err)
	os.Exit(1)
}

// fieldDocs maps "Type.Field" to the field's doc comment, from the
// package's non-test source files.
func fieldDocs(dir string) (map[string]string, error) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	docs := map[string]string{}
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				ts, ok := n.(*ast.TypeSpec)
				if !ok {
					return true
				}
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					return true
				}
				for _, fld := range st.Fields.List {
					text := fld.Doc.Text()
					for _, name := range fld.Names {
						docs[ts.Name.Name+"."+name.Name] = sentence(text)
					}
				}
				return true
			})
		}
	}
	return docs, nil
}

// sentence joins a doc comment's lines into one paragraph.
func sentence(doc string) string {
	return strings.Join(strings.Fields(doc), " ")
}

// userWords drops the Go name a doc comment starts with: "Queue is each
// listener's queue length." becomes "Each listener's queue length."
func userWords(name, doc string) string {
	for _, verb := range []string{" is ", " are "} {
		if rest, ok := strings.CutPrefix(doc, name+verb); ok && rest != "" {
			return strings.ToUpper(rest[:1]) + rest[1:]
		}
	}
	return doc
}

type gen struct{ docs map[string]string }

// enums are the fields with a fixed set of values.
var enums = map[string][]string{
	"Pattern.Use": {config.Brownfield, config.IsolationPattern},
	"Log.Level":   {"debug", "info", "warn", "error"},
	"Log.Format":  {"text", "json"},
}

var (
	durationType = reflect.TypeOf(config.Duration{})
	rawType      = reflect.TypeOf(json.RawMessage{})
)

func (g *gen) object(t reflect.Type, def reflect.Value) map[string]any {
	props := map[string]any{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || name == "" || !f.IsExported() {
			continue
		}
		var fdef reflect.Value
		if def.IsValid() {
			fdef = def.Field(i)
		}
		s := g.schema(f.Type, fdef)
		if d := g.docs[t.Name()+"."+f.Name]; d != "" {
			s["description"] = userWords(f.Name, d)
		}
		if e, ok := enums[t.Name()+"."+f.Name]; ok {
			s["enum"] = e
		}
		props[name] = s
	}
	return map[string]any{"type": "object", "properties": sorted(props), "additionalProperties": false}
}

// sorted returns props as an ordered JSON object (keys sorted).
func sorted(props map[string]any) json.RawMessage {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(props[k])
		if err != nil {
			fail(err)
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func (g *gen) schema(t reflect.Type, def reflect.Value) map[string]any {
	s := map[string]any{}
	switch {
	case t == durationType:
		s["type"] = []string{"string", "integer"}
		s["pattern"] = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^0$`
		if def.IsValid() {
			if d := def.Interface().(config.Duration); d.Duration != 0 {
				s["default"] = d.String()
			}
		}
		return s
	case t == rawType:
		return s // any JSON value
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem(), reflect.Value{})
	case reflect.String:
		s["type"] = "string"
	case reflect.Bool:
		s["type"] = "boolean"
	case reflect.Int, reflect.Int64:
		s["type"] = "integer"
		s["minimum"] = 0
	case reflect.Float64:
		s["type"] = "number"
		s["minimum"] = 0
	case reflect.Slice:
		s["type"] = "array"
		if t.Elem() == rawType {
			s["items"] = map[string]any{"type": []string{"string", "object"}}
		} else {
			s["items"] = g.schema(t.Elem(), reflect.Value{})
		}
		return s
	case reflect.Map:
		s["type"] = "object"
		s["additionalProperties"] = g.schema(t.Elem(), reflect.Value{})
		return s
	case reflect.Struct:
		return g.object(t, def)
	default:
		fail(fmt.Errorf("no schema for %v", t))
	}
	if def.IsValid() && !def.IsZero() {
		s["default"] = def.Interface()
	}
	return s
}
