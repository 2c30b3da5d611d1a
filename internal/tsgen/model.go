// Package tsgen writes typed TypeScript bindings for Tether commands and
// events: one ES module per source, with a type for each message, a
// function per command, typed helpers per event, and one error type whose
// code is a union of Tether's codes. It has two front ends — proto
// descriptors (FromProto, used by protoc-gen-tether-ts) and the JSON schemas
// of GET /ipc/commands (FromCommands, used by `tether gen ts`) — and one
// writer (Write), so both give the same kind of file.
//
// The generated module depends on nothing but its transport: @tauri-apps/api
// (works in a Tauri app, and on Tether with the shim) or Tether's own
// /ipc/client.js.
package tsgen

import "fmt"

// Transport is the JavaScript API a generated file calls.
type Transport string

const (
	// Tether imports invoke, Channel, listen, once and emit from Tether's
	// client module (by default "/ipc/client.js", which the gateway serves).
	Tether Transport = "tether"
	// Tauri imports them from @tauri-apps/api/core and @tauri-apps/api/event:
	// the file works inside a Tauri app, and on Tether with the shim.
	Tauri Transport = "tauri"
)

// ParseTransport returns the transport named s ("tether" or "tauri").
func ParseTransport(s string) (Transport, error) {
	switch t := Transport(s); t {
	case Tether, Tauri:
		return t, nil
	}
	return "", fmt.Errorf("unknown transport %q (want %q or %q)", s, Tether, Tauri)
}

// DefaultClientModule is the module the Tether transport imports.
const DefaultClientModule = "/ipc/client.js"

// Options choose how a file is written.
type Options struct {
	// Transport is the API the file calls; empty means Tether.
	Transport Transport
	// ClientModule is the module specifier the Tether transport imports;
	// empty means DefaultClientModule.
	ClientModule string
	// Generator and Source name the program that wrote the file and what
	// from, for its header ("protoc-gen-tether-ts", "demo/v1/demo.proto").
	Generator, Source string
}

func (o Options) withDefaults() (Options, error) {
	if o.Transport == "" {
		o.Transport = Tether
	} else if _, err := ParseTransport(string(o.Transport)); err != nil {
		return o, fmt.Errorf("tsgen: %w", err)
	}
	if o.ClientModule == "" {
		o.ClientModule = DefaultClientModule
	}
	if o.Generator == "" {
		o.Generator = "tsgen"
	}
	return o, nil
}

// File is what one generated module declares.
type File struct {
	Types    []*Decl
	Commands []*Command
	Events   []*Event
}

// Empty reports whether f has no commands and no events (such a file is not
// written).
func (f *File) Empty() bool { return f == nil || len(f.Commands) == 0 && len(f.Events) == 0 }

// Decl is a named type: `export type Name = Type;`.
type Decl struct {
	Name string
	Doc  string
	Type Type
}

// Kind is the kind of a type expression.
type Kind uint8

const (
	// Prim is a keyword or a type the file always knows: string, number,
	// boolean, null, unknown, JsonValue, ArrayBuffer, Uint8Array.
	Prim Kind = iota
	// Ref names a Decl.
	Ref
	// Lit is a literal type: a JSON string, number or boolean.
	Lit
	// Array is Elem[].
	Array
	// Map is { [key: string]: Elem }.
	Map
	// Object is an object type with Fields (and an index signature of type
	// Index, if not nil). Without fields and index it is Record<string, never>.
	Object
	// Union is Alts joined by |.
	Union
)

// Type is a TypeScript type expression.
type Type struct {
	Kind   Kind
	Name   string // Prim: the keyword; Ref: the Decl's name; Lit: the literal as JSON
	Elem   *Type  // Array, Map
	Fields []Field
	Index  *Type
	Alts   []Type
}

// Field is a property of an object type.
type Field struct {
	Name     string // the JSON key
	Doc      string
	Type     Type
	Optional bool
}

// Command is one command's function.
type Command struct {
	Name string // as invoked: "greet", "process_data"
	Doc  string
	// Channel commands stream messages of type Result to a callback.
	Channel bool
	// Args is the argument object's type, unless RawArgs (the command takes
	// raw bytes: Uint8Array or ArrayBuffer).
	Args    Type
	RawArgs bool
	// Result is the result's type (of each message, for channels), unless
	// RawResult (raw bytes: ArrayBuffer) or VoidResult (nothing to read:
	// google.protobuf.Empty).
	Result     Type
	RawResult  bool
	VoidResult bool
}

// Event is one event's typed helpers.
type Event struct {
	Name    string // "frontend-event"
	Doc     string
	Payload Type
}

var (
	tString    = Type{Kind: Prim, Name: "string"}
	tNumber    = Type{Kind: Prim, Name: "number"}
	tBoolean   = Type{Kind: Prim, Name: "boolean"}
	tNull      = Type{Kind: Prim, Name: "null"}
	tUnknown   = Type{Kind: Prim, Name: "unknown"}
	tJSONValue = Type{Kind: Prim, Name: jsonValueName}
	tEmpty     = Type{Kind: Object}
)

func arrayOf(t Type) Type { return Type{Kind: Array, Elem: &t} }
func mapOf(t Type) Type   { return Type{Kind: Map, Elem: &t} }

// optionalArgs reports whether every field of an argument type may be left
// out, so that the function's args parameter can be too.
func (f *File) optionalArgs(t Type) bool {
	for t.Kind == Ref {
		d := f.decl(t.Name)
		if d == nil {
			return false
		}
		t = d.Type
	}
	if t.Kind != Object {
		return false
	}
	for _, fl := range t.Fields {
		if !fl.Optional {
			return false
		}
	}
	return true
}

func (f *File) decl(name string) *Decl {
	for _, d := range f.Types {
		if d.Name == name {
			return d
		}
	}
	return nil
}
