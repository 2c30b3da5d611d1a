// Package schema describes commands for GET /ipc/commands, the OpenAPI
// document, `tether commands` and the TypeScript generator: the JSON Schema
// of arguments and results (with descriptions from proto comments and
// protovalidate rules as JSON Schema keywords), and the command and event
// names proto descriptors declare.
package schema

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/jsonargs"
	"github.com/tether-ipc/tether/protodoc"
)

const maxDepth = 8 // deeper (or recursive) types are described as {}

type obj = map[string]any

// ForMessage returns the JSON Schema of a message as protojson encodes it.
func ForMessage(md protoreflect.MessageDescriptor) json.RawMessage {
	return mustJSON(message(md, 0))
}

func message(md protoreflect.MessageDescriptor, depth int) obj {
	if s, ok := wellKnown(md); ok {
		return s
	}
	if depth > maxDepth {
		return obj{}
	}
	props := obj{}
	var required []string
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		s := field(f, depth)
		if d := Comment(f); d != "" {
			s["description"] = d
		}
		props[f.JSONName()] = s
		if Required(f) || zeroRejected(f) {
			required = append(required, f.JSONName())
		}
	}
	// protojson refuses unknown fields.
	s := obj{"type": "object", "title": string(md.FullName()), "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	if d := Comment(md); d != "" {
		s["description"] = d
	}
	return s
}

func field(f protoreflect.FieldDescriptor, depth int) obj {
	r := rulesOf(f)
	if f.IsMap() {
		s := obj{"type": "object", "additionalProperties": withRules(single(f.MapValue(), depth), f.MapValue(), r.GetMap().GetValues())}
		return withRules(s, f, r)
	}
	if f.IsList() {
		s := obj{"type": "array", "items": withRules(single(f, depth), f, r.GetRepeated().GetItems())}
		return withRules(s, f, r)
	}
	return withRules(single(f, depth), f, r)
}

func single(f protoreflect.FieldDescriptor, depth int) obj {
	switch f.Kind() {
	case protoreflect.BoolKind:
		return obj{"type": "boolean"}
	case protoreflect.StringKind:
		return obj{"type": "string"}
	case protoreflect.BytesKind:
		return obj{"type": "string", "contentEncoding": "base64"}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return obj{"type": "integer"}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		// protojson writes 64-bit integers as strings and reads either.
		return obj{"type": []string{"integer", "string"}, "format": "int64"}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return obj{"type": []string{"integer", "string"}, "format": "uint64"}
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return obj{"type": "number"}
	case protoreflect.EnumKind:
		if f.Enum().FullName() == "google.protobuf.NullValue" {
			return obj{"type": "null"}
		}
		return obj{"type": "string", "enum": enumNames(f.Enum())}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return message(f.Message(), depth+1)
	}
	return obj{}
}

func enumNames(ed protoreflect.EnumDescriptor) []string {
	vals := ed.Values()
	names := make([]string, vals.Len())
	for i := range names {
		names[i] = string(vals.Get(i).Name())
	}
	return names
}

// WellKnown names the JSON shapes of the well-known types protojson writes
// specially; ForMessage describes them by these schemas.
func wellKnown(md protoreflect.MessageDescriptor) (obj, bool) {
	switch md.FullName() {
	case "google.protobuf.StringValue":
		return obj{"type": "string"}, true
	case "google.protobuf.BoolValue":
		return obj{"type": "boolean"}, true
	case "google.protobuf.Int32Value", "google.protobuf.UInt32Value":
		return obj{"type": "integer"}, true
	case "google.protobuf.Int64Value":
		return obj{"type": []string{"integer", "string"}, "format": "int64"}, true
	case "google.protobuf.UInt64Value":
		return obj{"type": []string{"integer", "string"}, "format": "uint64"}, true
	case "google.protobuf.FloatValue", "google.protobuf.DoubleValue":
		return obj{"type": "number"}, true
	case "google.protobuf.BytesValue":
		return obj{"type": "string", "contentEncoding": "base64"}, true
	case "google.protobuf.Empty":
		return obj{"type": "object", "title": "google.protobuf.Empty", "additionalProperties": false}, true
	case "google.protobuf.Timestamp":
		return obj{"type": "string", "format": "date-time"}, true
	case "google.protobuf.Duration":
		return obj{"type": "string", "format": "duration"}, true
	case "google.protobuf.FieldMask":
		return obj{"type": "string"}, true
	case "google.protobuf.Struct":
		return obj{"type": "object", "title": "google.protobuf.Struct"}, true
	case "google.protobuf.Value":
		return obj{}, true
	case "google.protobuf.Any":
		return obj{"type": "object", "title": "google.protobuf.Any", "properties": obj{"@type": obj{"type": "string"}}, "required": []string{"@type"}}, true
	case "google.protobuf.ListValue":
		return obj{"type": "array"}, true
	}
	return nil, false
}

// Comment returns the leading comment of a descriptor: from its file's
// source information, or as registered by generated code (see protodoc).
func Comment(d protoreflect.Descriptor) string { return protodoc.Comment(d) }

// CommandName returns the command a proto method is invoked by: its
// tether.v1.command option when set, else the method name in snake_case.
func CommandName(md protoreflect.MethodDescriptor) string {
	if opts := md.Options(); opts != nil && proto.HasExtension(opts, tetherv1.E_Command) {
		if n, _ := proto.GetExtension(opts, tetherv1.E_Command).(string); n != "" {
			return n
		}
	}
	return jsonargs.Snake(string(md.Name()))
}

// EventName returns the event a message is the payload of (its
// tether.v1.event option), or "".
func EventName(md protoreflect.MessageDescriptor) string {
	opts := md.Options()
	if opts == nil || !proto.HasExtension(opts, tetherv1.E_Event) {
		return ""
	}
	n, _ := proto.GetExtension(opts, tetherv1.E_Event).(string)
	return n
}

var (
	bytesType     = reflect.TypeFor[[]byte]()
	rawJSONType   = reflect.TypeFor[json.RawMessage]()
	timeType      = reflect.TypeFor[time.Time]()
	protoMsg      = reflect.TypeFor[interface{ ProtoReflect() protoreflect.Message }]()
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// ownSchema is implemented by types that describe themselves (a
// server.Channel is a string of Tauri's channel form).
var ownSchema = reflect.TypeFor[interface{ TetherSchema() map[string]any }]()

// ForType returns the JSON Schema of a Go type as encoding/json (and
// jsonargs) read it, for a command's arguments. []byte as the whole value is
// raw bytes, described as a binary string; inside a struct, encoding/json
// writes it as base64. A field encoding/json may write as null (a pointer,
// slice or map not tagged omitempty or omitzero) has "null" among its types.
func ForType(t reflect.Type) json.RawMessage {
	return mustJSON(goType(t, 0))
}

// ForResult is ForType for a command's result or channel messages: a
// pointer, slice or map result may also be null.
func ForResult(t reflect.Type) json.RawMessage {
	s := goType(t, 0)
	if t != nil && t != bytesType && nillable(t) && !t.Implements(protoMsg) {
		addNull(s)
	}
	return mustJSON(s)
}

// nillable reports whether encoding/json writes a nil value of t as null.
func nillable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		return true
	}
	return false
}

// addNull adds "null" to the types a schema allows (a schema without a type
// allows null already).
func addNull(s obj) {
	switch t := s["type"].(type) {
	case string:
		s["type"] = []string{t, "null"}
	case []string:
		s["type"] = append(t, "null")
	}
}

func goType(t reflect.Type, depth int) obj {
	if t == nil {
		return obj{}
	}
	if t.Implements(protoMsg) {
		if m, ok := reflect.Zero(t).Interface().(interface{ ProtoReflect() protoreflect.Message }); ok {
			return message(m.ProtoReflect().Descriptor(), depth)
		}
	}
	if t.Kind() != reflect.Pointer && t.Implements(ownSchema) {
		if s, ok := reflect.Zero(t).Interface().(interface{ TetherSchema() map[string]any }); ok {
			return obj(s.TetherSchema())
		}
	}
	switch t {
	case bytesType:
		if depth == 0 {
			return obj{"type": "string", "format": "binary"}
		}
		return obj{"type": "string", "contentEncoding": "base64"}
	case rawJSONType:
		return obj{}
	case timeType:
		return obj{"type": "string", "format": "date-time"}
	}
	// A type that encodes itself says nothing reflection can read.
	if t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler) {
		return obj{}
	}
	if t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler) {
		return obj{"type": "string"}
	}
	if depth > maxDepth {
		return obj{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return goType(t.Elem(), depth)
	case reflect.Bool:
		return obj{"type": "boolean"}
	case reflect.String:
		return obj{"type": "string"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return obj{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return obj{"type": "number"}
	case reflect.Slice, reflect.Array:
		return obj{"type": "array", "items": goType(t.Elem(), depth+1)}
	case reflect.Map:
		return obj{"type": "object", "additionalProperties": goType(t.Elem(), depth+1)}
	case reflect.Struct:
		props, required := obj{}, []string{}
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			name, req, ok := jsonargs.Argument(sf)
			if !ok {
				continue
			}
			fs := goType(sf.Type, depth+1)
			if nillable(sf.Type) && !omitted(sf) {
				addNull(fs)
			}
			props[name] = fs
			if req {
				required = append(required, name)
			}
		}
		s := obj{"type": "object", "properties": props}
		if len(required) > 0 {
			s["required"] = required
		}
		if depth == 0 {
			s["additionalProperties"] = false // jsonargs refuses unknown arguments
		}
		return s
	case reflect.Interface:
		return obj{}
	}
	return obj{}
}

// omitted reports whether encoding/json leaves a field out when it is empty
// (tagged omitempty or omitzero), so never writes it as null.
func omitted(sf reflect.StructField) bool {
	_, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == "omitempty" || o == "omitzero" {
			return true
		}
	}
	return false
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}
