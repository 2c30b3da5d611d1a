package tsgen

import (
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tether-ipc/tether/internal/schema"
)

// FromProto describes the commands and events of one proto file: every
// unary method of its services is a command and every server-streaming
// method a channel command, named as the server names them (the
// tether.v1.command option, else snake_case); every top-level message with
// the tether.v1.event option is an event's payload. Every message and enum
// of the file gets a type, and so does every message of another file they
// reach. Client-streaming methods are gRPC-only and get nothing; so does
// package tether.v1 (Tether's own service).
func FromProto(fd protoreflect.FileDescriptor) *File {
	p := &protoFront{file: fd, f: &File{}, names: newNamer(), decls: map[protoreflect.FullName]*Decl{}}
	if fd.Package() == "tether.v1" {
		return p.f
	}
	// The file's own types first, in the order it declares them.
	var walk func(ms protoreflect.MessageDescriptors, es protoreflect.EnumDescriptors)
	walk = func(ms protoreflect.MessageDescriptors, es protoreflect.EnumDescriptors) {
		for i := 0; i < es.Len(); i++ {
			p.ref(es.Get(i))
		}
		for i := 0; i < ms.Len(); i++ {
			m := ms.Get(i)
			if m.IsMapEntry() {
				continue
			}
			p.message(m)
			walk(m.Messages(), m.Enums())
		}
	}
	walk(fd.Messages(), fd.Enums())

	svcs := fd.Services()
	for i := 0; i < svcs.Len(); i++ {
		ms := svcs.Get(i).Methods()
		for j := 0; j < ms.Len(); j++ {
			md := ms.Get(j)
			if md.IsStreamingClient() {
				continue
			}
			c := &Command{
				Name:    schema.CommandName(md),
				Doc:     schema.Comment(md),
				Channel: md.IsStreamingServer(),
				Args:    p.message(md.Input()),
				Result:  p.message(md.Output()),
			}
			c.VoidResult = !c.Channel && md.Output().FullName() == "google.protobuf.Empty"
			p.f.Commands = append(p.f.Commands, c)
		}
	}
	msgs := fd.Messages()
	for i := 0; i < msgs.Len(); i++ {
		m := msgs.Get(i)
		if name := schema.EventName(m); name != "" {
			p.f.Events = append(p.f.Events, &Event{Name: name, Doc: schema.Comment(m), Payload: p.message(m)})
		}
	}
	return p.f
}

type protoFront struct {
	file  protoreflect.FileDescriptor
	f     *File
	names *namer
	decls map[protoreflect.FullName]*Decl
}

// message returns the type of a message's JSON form: the well-known types
// inline, any other message by reference to its Decl (declared on first use).
func (p *protoFront) message(md protoreflect.MessageDescriptor) Type {
	if t, ok := wellKnownType(md); ok {
		return t
	}
	return p.ref(md)
}

// ref declares a message or enum (once) and returns a reference to it.
func (p *protoFront) ref(d protoreflect.Descriptor) Type {
	if decl, ok := p.decls[d.FullName()]; ok {
		return Type{Kind: Ref, Name: decl.Name}
	}
	decl := &Decl{Name: p.names.take(p.localName(d)), Doc: schema.Comment(d)}
	p.decls[d.FullName()] = decl
	p.f.Types = append(p.f.Types, decl)
	switch d := d.(type) {
	case protoreflect.EnumDescriptor:
		vals := d.Values()
		u := Type{Kind: Union}
		for i := 0; i < vals.Len(); i++ {
			u.Alts = append(u.Alts, Type{Kind: Lit, Name: jsString(string(vals.Get(i).Name()))})
		}
		decl.Type = u
	case protoreflect.MessageDescriptor:
		obj := Type{Kind: Object}
		fields := d.Fields()
		for i := 0; i < fields.Len(); i++ {
			fl := fields.Get(i)
			obj.Fields = append(obj.Fields, Field{
				Name: fl.JSONName(),
				Doc:  fieldDoc(schema.Comment(fl), schema.Rules(fl)),
				Type: p.field(fl),
				// protojson (with the server's EmitDefaultValues) always
				// writes fields without presence; the others may be absent.
				Optional: fl.HasPresence() && !schema.Required(fl),
			})
		}
		decl.Type = obj
	}
	return Type{Kind: Ref, Name: decl.Name}
}

// localName names a type: relative to the file's package, nested names
// joined by "_" (demo.v1.Outer.Inner → Outer_Inner); a type of another
// package keeps its package too (other.v1.Thing → other_v1_Thing).
func (p *protoFront) localName(d protoreflect.Descriptor) string {
	full := string(d.FullName())
	if pkg := string(p.file.Package()); pkg != "" && d.ParentFile().Package() == p.file.Package() {
		full = strings.TrimPrefix(full, pkg+".")
	}
	return strings.ReplaceAll(full, ".", "_")
}

func (p *protoFront) field(fl protoreflect.FieldDescriptor) Type {
	if fl.IsMap() {
		return mapOf(p.single(fl.MapValue()))
	}
	if fl.IsList() {
		return arrayOf(p.single(fl))
	}
	return p.single(fl)
}

func (p *protoFront) single(fl protoreflect.FieldDescriptor) Type {
	switch fl.Kind() {
	case protoreflect.BoolKind:
		return tBoolean
	case protoreflect.StringKind, protoreflect.BytesKind:
		return tString // bytes: base64
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return tString // protojson writes 64-bit integers as strings
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.FloatKind, protoreflect.DoubleKind:
		return tNumber
	case protoreflect.EnumKind:
		if fl.Enum().FullName() == "google.protobuf.NullValue" {
			return tNull
		}
		return p.ref(fl.Enum())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return p.message(fl.Message())
	}
	return tUnknown
}

// wellKnownType gives the JSON forms protojson uses for the well-known
// types: wrappers as their scalar, Timestamp, Duration and FieldMask as
// strings, Struct and Value as JSON values, Empty as {}.
func wellKnownType(md protoreflect.MessageDescriptor) (Type, bool) {
	switch md.FullName() {
	case "google.protobuf.StringValue", "google.protobuf.BytesValue",
		"google.protobuf.Int64Value", "google.protobuf.UInt64Value",
		"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask":
		return tString, true
	case "google.protobuf.BoolValue":
		return tBoolean, true
	case "google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.FloatValue", "google.protobuf.DoubleValue":
		return tNumber, true
	case "google.protobuf.Empty":
		return tEmpty, true
	case "google.protobuf.Struct":
		return mapOf(tJSONValue), true
	case "google.protobuf.Value":
		return tJSONValue, true
	case "google.protobuf.ListValue":
		return arrayOf(tJSONValue), true
	case "google.protobuf.Any":
		return Type{Kind: Object, Fields: []Field{{Name: "@type", Type: tString}}, Index: &tUnknown}, true
	}
	return Type{}, false
}
