package jsonargs

import (
	"encoding"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// A Shape says which keys a command's handler binds in JSON arguments: for
// each object it binds, the key of each field (its canonical name) and the
// other spellings the handler's decoder accepts for it. Canonical rewrites
// arguments to those canonical names, so that whoever reads the result — an
// isolation hook, then the handler's decoder — reads the same keys:
//
//   - a Go function command's struct argument: the top-level keys are the
//     fields' JSON names, with their lowerCamelCase and snake_case forms as
//     aliases (see Spec); below the top level, the keys encoding/json binds,
//     exactly (no case-insensitive matching);
//   - a proto message: protojson's JSON names, with the proto field names as
//     aliases, at every level; a google.protobuf.Any binds the message its
//     "@type" names.
//
// A nil *Shape binds nothing by key: Canonical only validates.
// A Shape is immutable and safe for concurrent use.
type Shape struct {
	nodes  []node
	strict bool
}

// NodeKind is the kind of one value of a Shape.
type NodeKind uint8

// The node kinds.
const (
	// KindAny is any JSON value, bound as it is.
	KindAny NodeKind = iota
	// KindObject is an object whose keys are fields.
	KindObject
	// KindMap is an object with keys of its own choosing.
	KindMap
	// KindList is an array.
	KindList
	// KindProtoAny is a google.protobuf.Any.
	KindProtoAny
)

type node struct {
	kind   NodeKind
	fields []field2
	byKey  map[string]int32 // canonical names and aliases -> index in fields
	elem   int32            // KindMap, KindList
}

type field2 struct {
	name    string
	aliases []string
	node    int32
}

// Strict returns a copy of s that refuses keys the handler does not bind,
// instead of dropping them. A nil s stays nil.
func (s *Shape) Strict(strict bool) *Shape {
	if s == nil || s.strict == strict {
		return s
	}
	c := *s
	c.strict = strict
	return &c
}

// IsStrict reports whether s refuses unknown keys.
func (s *Shape) IsStrict() bool { return s != nil && s.strict }

// builder makes the nodes of one Shape, sharing the node of a type that
// occurs twice (and closing the cycle of a recursive one).
type builder struct {
	nodes   []node
	goSeen  map[reflect.Type]int32
	ptrBusy map[reflect.Type]bool
	pbSeen  map[protoreflect.FullName]int32
}

func newBuilder() *builder {
	return &builder{goSeen: map[reflect.Type]int32{}, ptrBusy: map[reflect.Type]bool{}, pbSeen: map[protoreflect.FullName]int32{}}
}

func (b *builder) add(n node) int32 {
	b.nodes = append(b.nodes, n)
	return int32(len(b.nodes) - 1)
}

func (b *builder) shape() *Shape {
	for i := range b.nodes {
		n := &b.nodes[i]
		if n.kind != KindObject {
			continue
		}
		n.byKey = make(map[string]int32, len(n.fields))
		for j, f := range n.fields {
			for _, k := range append([]string{f.name}, f.aliases...) {
				if _, dup := n.byKey[k]; !dup {
					n.byKey[k] = int32(j)
				}
			}
		}
	}
	return &Shape{nodes: b.nodes}
}

var (
	goShapes    sync.Map // reflect.Type -> *Shape
	protoShapes sync.Map // protoreflect.FullName -> *Shape
	protoMsgTyp = reflect.TypeFor[interface{ ProtoReflect() protoreflect.Message }]()
	unmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarsh = reflect.TypeFor[encoding.TextUnmarshaler]()
	rawMessage  = reflect.TypeFor[json.RawMessage]()
	byteSlice   = reflect.TypeFor[[]byte]()
)

// ShapeOf returns the Shape of the argument type A of a Go function command
// (see server.Handle), or nil when A takes the raw request body ([]byte).
// Shapes are cached.
func ShapeOf(t reflect.Type) *Shape {
	if t == nil || t == byteSlice {
		return nil
	}
	if s, ok := goShapes.Load(t); ok {
		return s.(*Shape)
	}
	b := newBuilder()
	switch {
	case t.Implements(protoMsgTyp):
		m, _ := reflect.Zero(t).Interface().(interface{ ProtoReflect() protoreflect.Message })
		b.message(m.ProtoReflect().Descriptor())
	case t.Kind() == reflect.Struct:
		b.topLevel(t)
	default:
		b.goType(t)
	}
	s, _ := goShapes.LoadOrStore(t, b.shape())
	return s.(*Shape)
}

// ShapeOfMessage returns the Shape of a proto message's JSON form as
// protojson binds it. Shapes are cached.
func ShapeOfMessage(md protoreflect.MessageDescriptor) *Shape {
	if s, ok := protoShapes.Load(md.FullName()); ok {
		return s.(*Shape)
	}
	b := newBuilder()
	b.message(md)
	s, _ := protoShapes.LoadOrStore(md.FullName(), b.shape())
	return s.(*Shape)
}

// topLevel is the node of a Go function command's struct argument, whose
// keys jsonargs.Spec binds: each field's JSON name, lowerCamelCase and
// snake_case, the first field to claim a key keeping it.
func (b *builder) topLevel(t reflect.Type) int32 {
	idx := b.add(node{kind: KindObject})
	var fields []field2
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, _, ok := Argument(sf)
		if !ok {
			continue
		}
		f := field2{name: name}
		for _, k := range []string{LowerCamel(name), Snake(name)} {
			if k != name && !contains(f.aliases, k) {
				f.aliases = append(f.aliases, k)
			}
		}
		fields = append(fields, f)
		fields[len(fields)-1].node = b.goType(sf.Type)
	}
	b.nodes[idx].fields = fields
	return idx
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// goType is the node of a Go type as encoding/json binds it.
func (b *builder) goType(t reflect.Type) int32 {
	if idx, ok := b.goSeen[t]; ok {
		return idx
	}
	if t == rawMessage || t.Implements(unmarshaler) || reflect.PointerTo(t).Implements(unmarshaler) ||
		t.Implements(textUnmarsh) || reflect.PointerTo(t).Implements(textUnmarsh) {
		return b.anyNode(t)
	}
	switch t.Kind() {
	case reflect.Pointer:
		if idx, ok := b.goSeen[t.Elem()]; ok {
			return idx
		}
		if b.ptrBusy[t] {
			return b.anyNode(nil) // a cycle of pointers only: type P *P
		}
		b.ptrBusy[t] = true
		idx := b.goType(t.Elem())
		delete(b.ptrBusy, t)
		b.goSeen[t] = idx
		return idx
	case reflect.Struct:
		idx := b.add(node{kind: KindObject})
		b.goSeen[t] = idx
		fs := jsonFields(t)
		fields := make([]field2, len(fs))
		for i, f := range fs {
			fields[i] = field2{name: f.name}
			if f.quoted {
				fields[i].node = b.anyNode(nil)
			} else {
				fields[i].node = b.goType(f.typ)
			}
		}
		b.nodes[idx].fields = fields
		return idx
	case reflect.Map:
		idx := b.add(node{kind: KindMap})
		b.goSeen[t] = idx
		elem := b.goType(t.Elem())
		b.nodes[idx].elem = elem
		return idx
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 && !reflect.PointerTo(t.Elem()).Implements(unmarshaler) &&
			!reflect.PointerTo(t.Elem()).Implements(textUnmarsh) {
			return b.anyNode(t) // base64 string
		}
		idx := b.add(node{kind: KindList})
		b.goSeen[t] = idx
		elem := b.goType(t.Elem())
		b.nodes[idx].elem = elem
		return idx
	}
	return b.anyNode(t)
}

func (b *builder) anyNode(t reflect.Type) int32 {
	idx := b.add(node{kind: KindAny})
	if t != nil {
		b.goSeen[t] = idx
	}
	return idx
}

// jsonField is a field encoding/json binds.
type jsonField struct {
	name   string
	typ    reflect.Type
	index  []int
	tagged bool
	quoted bool
}

// jsonFields returns the fields encoding/json binds for a struct type: the
// exported fields by their tag name or Go name, with the fields of untagged
// embedded structs promoted, and of several fields with one name only the
// shallowest (the tagged one among equals; none if still ambiguous).
func jsonFields(t reflect.Type) []jsonField {
	type queued struct {
		typ   reflect.Type
		index []int
	}
	var all []jsonField
	var current []queued
	next := []queued{{typ: t}}
	count, nextCount := map[reflect.Type]int{}, map[reflect.Type]int{}
	visited := map[reflect.Type]bool{}
	for len(next) > 0 {
		current, next = next, nil
		count, nextCount = nextCount, map[reflect.Type]int{}
		for _, q := range current {
			if visited[q.typ] {
				continue
			}
			visited[q.typ] = true
			for i := 0; i < q.typ.NumField(); i++ {
				sf := q.typ.Field(i)
				if sf.Anonymous {
					ft := sf.Type
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !validTag(name) {
					name = ""
				}
				index := append(append([]int{}, q.index...), i)
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				quoted := false
				if hasOpt(opts, "string") {
					switch ft.Kind() {
					case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
						reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
						reflect.Float32, reflect.Float64, reflect.String:
						quoted = true
					}
				}
				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					tagged := name != ""
					if name == "" {
						name = sf.Name
					}
					all = append(all, jsonField{name: name, typ: sf.Type, index: index, tagged: tagged, quoted: quoted})
					if count[q.typ] > 1 {
						// The type was embedded twice at this depth: a second
						// copy makes the dominance rule below drop the field,
						// as encoding/json does.
						all = append(all, all[len(all)-1])
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					next = append(next, queued{typ: ft, index: index})
				}
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].name != all[j].name {
			return all[i].name < all[j].name
		}
		if len(all[i].index) != len(all[j].index) {
			return len(all[i].index) < len(all[j].index)
		}
		if all[i].tagged != all[j].tagged {
			return all[i].tagged
		}
		return lessIndex(all[i].index, all[j].index)
	})
	var out []jsonField
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].name == all[i].name {
			j++
		}
		group := all[i:j]
		i = j
		if len(group) == 1 {
			out = append(out, group[0])
			continue
		}
		if len(group[0].index) == len(group[1].index) && group[0].tagged == group[1].tagged {
			continue // ambiguous: encoding/json binds none of them
		}
		out = append(out, group[0])
	}
	sort.Slice(out, func(i, j int) bool { return lessIndex(out[i].index, out[j].index) })
	return out
}

func lessIndex(a, b []int) bool {
	for k := 0; k < len(a) && k < len(b); k++ {
		if a[k] != b[k] {
			return a[k] < b[k]
		}
	}
	return len(a) < len(b)
}

// validTag mirrors encoding/json's check of a tag name.
func validTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c > 0x7f:
		default:
			return false
		}
	}
	return true
}

// message is the node of a proto message as protojson binds it.
func (b *builder) message(md protoreflect.MessageDescriptor) int32 {
	if idx, ok := b.pbSeen[md.FullName()]; ok {
		return idx
	}
	switch wellKnown(md.FullName()) {
	case KindProtoAny:
		idx := b.add(node{kind: KindProtoAny})
		b.pbSeen[md.FullName()] = idx
		return idx
	case KindAny:
		idx := b.add(node{kind: KindAny})
		b.pbSeen[md.FullName()] = idx
		return idx
	}
	idx := b.add(node{kind: KindObject})
	b.pbSeen[md.FullName()] = idx
	fds := md.Fields()
	fields := make([]field2, 0, fds.Len())
	for i := 0; i < fds.Len(); i++ {
		fd := fds.Get(i)
		f := field2{name: fd.JSONName()}
		if tn := fd.TextName(); tn != f.name {
			f.aliases = []string{tn}
		}
		f.node = b.protoField(fd)
		fields = append(fields, f)
	}
	b.nodes[idx].fields = fields
	return idx
}

func (b *builder) protoField(fd protoreflect.FieldDescriptor) int32 {
	switch {
	case fd.IsMap():
		idx := b.add(node{kind: KindMap})
		elem := b.protoSingle(fd.MapValue())
		b.nodes[idx].elem = elem
		return idx
	case fd.IsList():
		idx := b.add(node{kind: KindList})
		elem := b.protoSingle(fd)
		b.nodes[idx].elem = elem
		return idx
	}
	return b.protoSingle(fd)
}

func (b *builder) protoSingle(fd protoreflect.FieldDescriptor) int32 {
	if k := fd.Kind(); k == protoreflect.MessageKind || k == protoreflect.GroupKind {
		return b.message(fd.Message())
	}
	return b.anyNode(nil)
}

// wellKnown returns the node kind of a well-known type with a JSON form of
// its own (KindAny: a scalar, a string or free JSON; KindProtoAny), or
// KindObject for any other message.
func wellKnown(name protoreflect.FullName) NodeKind {
	switch name {
	case "google.protobuf.Any":
		return KindProtoAny
	case "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue",
		"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask",
		"google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
		"google.protobuf.UInt64Value", "google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
		return KindAny
	}
	return KindObject
}

// Proto returns s as carried in tether.v1.CommandInfo.args_shape; nil for
// a nil s.
func (s *Shape) Proto() *tetherv1.ArgShape {
	if s == nil {
		return nil
	}
	out := &tetherv1.ArgShape{Strict: s.strict, Nodes: make([]*tetherv1.ArgNode, len(s.nodes))}
	for i, n := range s.nodes {
		pn := &tetherv1.ArgNode{Kind: tetherv1.ArgNode_Kind(n.kind), Elem: uint32(n.elem)}
		for _, f := range n.fields {
			pn.Fields = append(pn.Fields, &tetherv1.ArgField{Name: f.name, Aliases: f.aliases, Node: uint32(f.node)})
		}
		out.Nodes[i] = pn
	}
	return out
}

// maxShapeNodes bounds a Shape read from the wire.
const maxShapeNodes = 1 << 16

// ShapeFromProto reads a Shape from its wire form, checking that every index
// is in range and every kind known; nil for nil.
func ShapeFromProto(p *tetherv1.ArgShape) (*Shape, error) {
	if p == nil {
		return nil, nil
	}
	if len(p.GetNodes()) == 0 || len(p.GetNodes()) > maxShapeNodes {
		return nil, tether.Errorf(tether.CodeInvalidArgument, "args shape with %d nodes", len(p.GetNodes()))
	}
	b := &builder{nodes: make([]node, len(p.GetNodes()))}
	n := uint32(len(p.GetNodes()))
	for i, pn := range p.GetNodes() {
		k := NodeKind(pn.GetKind())
		if k > KindProtoAny {
			return nil, tether.Errorf(tether.CodeInvalidArgument, "args shape node %d has unknown kind %d", i, pn.GetKind())
		}
		nd := node{kind: k}
		if k == KindMap || k == KindList {
			if pn.GetElem() >= n {
				return nil, tether.Errorf(tether.CodeInvalidArgument, "args shape node %d refers to node %d of %d", i, pn.GetElem(), n)
			}
			nd.elem = int32(pn.GetElem())
		}
		if k == KindObject {
			for _, f := range pn.GetFields() {
				if f.GetNode() >= n {
					return nil, tether.Errorf(tether.CodeInvalidArgument, "args shape field %q refers to node %d of %d", f.GetName(), f.GetNode(), n)
				}
				nd.fields = append(nd.fields, field2{name: f.GetName(), aliases: f.GetAliases(), node: int32(f.GetNode())})
			}
		}
		b.nodes[i] = nd
	}
	s := b.shape()
	s.strict = p.GetStrict()
	return s, nil
}
