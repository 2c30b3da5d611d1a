// Package schema describes command arguments and results as JSON Schema, for
// GET /ipc/commands, the OpenAPI document and `tether commands`.
package schema

import (
	"encoding/json"
	"reflect"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tether-ipc/tether/internal/jsonargs"
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
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		props[f.JSONName()] = field(f, depth)
	}
	return obj{"type": "object", "title": string(md.FullName()), "properties": props}
}

func field(f protoreflect.FieldDescriptor, depth int) obj {
	if f.IsMap() {
		return obj{"type": "object", "additionalProperties": single(f.MapValue(), depth)}
	}
	s := single(f, depth)
	if f.IsList() {
		return obj{"type": "array", "items": s}
	}
	return s
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
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return obj{"type": []string{"integer", "string"}}
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return obj{"type": "number"}
	case protoreflect.EnumKind:
		vals := f.Enum().Values()
		names := make([]string, vals.Len())
		for i := range names {
			names[i] = string(vals.Get(i).Name())
		}
		return obj{"type": "string", "enum": names}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return message(f.Message(), depth+1)
	}
	return obj{}
}

func wellKnown(md protoreflect.MessageDescriptor) (obj, bool) {
	switch md.FullName() {
	case "google.protobuf.StringValue":
		return obj{"type": "string"}, true
	case "google.protobuf.BoolValue":
		return obj{"type": "boolean"}, true
	case "google.protobuf.Int32Value", "google.protobuf.UInt32Value":
		return obj{"type": "integer"}, true
	case "google.protobuf.Int64Value", "google.protobuf.UInt64Value":
		return obj{"type": []string{"integer", "string"}}, true
	case "google.protobuf.FloatValue", "google.protobuf.DoubleValue":
		return obj{"type": "number"}, true
	case "google.protobuf.BytesValue":
		return obj{"type": "string", "contentEncoding": "base64"}, true
	case "google.protobuf.Empty":
		return obj{"type": "object"}, true
	case "google.protobuf.Timestamp":
		return obj{"type": "string", "format": "date-time"}, true
	case "google.protobuf.Duration":
		return obj{"type": "string"}, true
	case "google.protobuf.Struct":
		return obj{"type": "object"}, true
	case "google.protobuf.Value", "google.protobuf.Any":
		return obj{}, true
	case "google.protobuf.ListValue":
		return obj{"type": "array"}, true
	}
	return nil, false
}

// Comment returns the leading comment of a descriptor, if the file kept it.
func Comment(d protoreflect.Descriptor) string {
	loc := d.ParentFile().SourceLocations().ByDescriptor(d)
	return strings.TrimSpace(loc.LeadingComments)
}

var (
	bytesType   = reflect.TypeFor[[]byte]()
	rawJSONType = reflect.TypeFor[json.RawMessage]()
	protoMsg    = reflect.TypeFor[interface{ ProtoReflect() protoreflect.Message }]()
)

// ownSchema is implemented by types that describe themselves (a
// server.Channel is a string of Tauri's channel form).
var ownSchema = reflect.TypeFor[interface{ TetherSchema() map[string]any }]()

// ForType returns the JSON Schema of a Go type as encoding/json (and
// jsonargs) see it. []byte is raw bytes, described as a binary string.
func ForType(t reflect.Type) json.RawMessage {
	return mustJSON(goType(t, 0))
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
		return obj{"type": "string", "format": "binary"}
	case rawJSONType:
		return obj{}
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
			props[name] = goType(sf.Type, depth+1)
			if req {
				required = append(required, name)
			}
		}
		s := obj{"type": "object", "properties": props}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	}
	return obj{}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}
