package server

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// fill sets every field of m, choosing member i%len of each oneof.
func fill(m protoreflect.Message, i int) {
	fields := m.Descriptor().Fields()
	for j := range fields.Len() {
		fd := fields.Get(j)
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() && o.Fields().Get(i%o.Fields().Len()) != fd {
			continue
		}
		switch {
		case fd.IsMap():
			m.Mutable(fd).Map().Set(protoreflect.ValueOfString("k").MapKey(), protoreflect.ValueOfString("v"))
		case fd.IsList():
			l := m.Mutable(fd).List()
			l.Append(l.NewElement())
		case fd.Message() != nil:
			fill(m.Mutable(fd).Message(), i)
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString("s"))
		case fd.Kind() == protoreflect.BytesKind:
			m.Set(fd, protoreflect.ValueOfBytes([]byte("b")))
		case fd.Kind() == protoreflect.BoolKind:
			m.Set(fd, protoreflect.ValueOfBool(true))
		case fd.Kind() == protoreflect.EnumKind:
			m.Set(fd, protoreflect.ValueOfEnum(1))
		case fd.Kind() == protoreflect.Uint64Kind || fd.Kind() == protoreflect.Fixed64Kind:
			m.Set(fd, protoreflect.ValueOfUint64(7))
		case fd.Kind() == protoreflect.Uint32Kind || fd.Kind() == protoreflect.Fixed32Kind:
			m.Set(fd, protoreflect.ValueOfUint32(7))
		case fd.Kind() == protoreflect.Int64Kind || fd.Kind() == protoreflect.Sint64Kind || fd.Kind() == protoreflect.Sfixed64Kind:
			m.Set(fd, protoreflect.ValueOfInt64(7))
		case fd.Kind() == protoreflect.Int32Kind || fd.Kind() == protoreflect.Sint32Kind || fd.Kind() == protoreflect.Sfixed32Kind:
			m.Set(fd, protoreflect.ValueOfInt32(7))
		}
	}
}

// handOver carries every field of the IPC's unary messages (a field added
// to them later must be added to its fast path) and of any other message.
func TestHandOverCarriesEveryField(t *testing.T) {
	for _, m := range []proto.Message{&tetherv1.InvokeRequest{}, &tetherv1.InvokeResponse{}, &tetherv1.EmitRequest{}, &wrapperspb.StringValue{}} {
		for i := range 3 {
			src := m.ProtoReflect().New().Interface()
			fill(src.ProtoReflect(), i)
			src.ProtoReflect().SetUnknown(protoreflect.RawFields{0x98, 0x06, 0x01}) // field 99, varint 1
			dst := m.ProtoReflect().New().Interface()
			handOver(dst, src)
			if !proto.Equal(dst, src) {
				t.Errorf("%T (%d): handOver gave %v, want %v", m, i, dst, src)
			}
		}
	}
}

// A dynamicpb message of the same descriptor (an interceptor may replace
// the request with one) is merged, not handed over: its values cannot be
// set in the generated type.
func TestHandOverMergesOtherImplementations(t *testing.T) {
	src := dynamicpb.NewMessage((&tetherv1.EmitRequest{}).ProtoReflect().Descriptor())
	fill(src, 0)
	dst := &tetherv1.EmitRequest{}
	handOver(dst, src)
	if !proto.Equal(dst, src) {
		t.Fatalf("handOver gave %v, want %v", dst, src)
	}
}
