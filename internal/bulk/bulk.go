// Package bulk is the gRPC codec of Tether's IPC messages: grpc-go's proto
// codec, except for messages that carry a large Payload body (raw bytes of
// an invoke, say). Those are sent without copying the body into a marshal
// buffer — the encoding is the small rest of the message followed by the
// body's own bytes — and received with the body aliasing the one buffer the
// message is gathered into, instead of being copied out of it again. A
// 64 MiB echo thus makes two fewer user-space copies each way.
//
// The wire format is the protobuf encoding, unchanged: any peer decodes
// what this codec sends, and this codec decodes what any peer sends (an
// unusual layout, such as a payload field split in parts, falls back to the
// proto codec).
package bulk

import (
	"bytes"
	"sync"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	wirepayload "github.com/tether-ipc/tether/internal/payload"
)

// Threshold is the body size from which a payload is handled apart.
// Below it, the proto codec's copies cost less than the bookkeeping.
const Threshold = 256 << 10

// threshold is Threshold, lowered by tests.
var threshold = Threshold

// Codec is the codec; its name is "proto", so it replaces grpc-go's for
// every message (grpc.ForceServerCodecV2, grpc.ForceCodecV2).
type Codec struct{}

var protoCodec = encoding.GetCodecV2(grpcproto.Name)

// Name implements encoding.CodecV2.
func (Codec) Name() string { return grpcproto.Name }

// Marshal implements encoding.CodecV2.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(proto.Message); ok {
		if out, ok, err := marshalBulk(m.ProtoReflect()); ok {
			return out, err
		}
	}
	return protoCodec.Marshal(v)
}

// Unmarshal implements encoding.CodecV2.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := v.(proto.Message); ok && data.Len() >= threshold {
		if fd := payloadField(m.ProtoReflect().Descriptor()); fd != nil {
			return unmarshalBulk(gather(data), m, fd)
		}
	}
	return protoCodec.Unmarshal(data, v)
}

// gather copies data into one new slice, which the message keeps: the
// body aliases it. bytes.Join allocates it without zeroing it first, which
// matters as much as the copy at these sizes.
func gather(data mem.BufferSlice) []byte {
	parts := make([][]byte, len(data))
	for i, b := range data {
		parts[i] = b.ReadOnlyData()
	}
	return bytes.Join(parts, nil)
}

var payloadName = (&tetherv1.Payload{}).ProtoReflect().Descriptor().FullName()

// payloadFields caches, per message type, its singular Payload field (nil
// when it has none, or several).
var payloadFields sync.Map // protoreflect.FullName -> protoreflect.FieldDescriptor (or nil)

func payloadField(md protoreflect.MessageDescriptor) protoreflect.FieldDescriptor {
	if v, ok := payloadFields.Load(md.FullName()); ok {
		fd, _ := v.(protoreflect.FieldDescriptor)
		return fd
	}
	var found protoreflect.FieldDescriptor
	n := 0
	fields := md.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.Kind() == protoreflect.MessageKind && f.Cardinality() != protoreflect.Repeated && f.Message().FullName() == payloadName {
			found = f
			n++
		}
	}
	if n != 1 {
		found = nil
	}
	payloadFields.Store(md.FullName(), found)
	return found
}

// body returns the set body of a Payload and its field number.
func body(p *tetherv1.Payload) ([]byte, protowire.Number) {
	switch b := p.GetBody().(type) {
	case *tetherv1.Payload_Json:
		return b.Json, 1
	case *tetherv1.Payload_Proto:
		return b.Proto, 2
	case *tetherv1.Payload_Raw:
		return b.Raw, 3
	}
	return nil, 0
}

// marshalBulk encodes m as the rest of it (every field but the payload),
// then the payload field's tag and length, the body's tag and length, and
// the body itself as a buffer of its own. ok is false when m has no large
// body: the proto codec then encodes it.
func marshalBulk(m protoreflect.Message) (out mem.BufferSlice, ok bool, err error) {
	fd := payloadField(m.Descriptor())
	if fd == nil || !m.Has(fd) {
		return nil, false, nil
	}
	p, isPayload := m.Get(fd).Message().Interface().(*tetherv1.Payload)
	if !isPayload {
		return nil, false, nil
	}
	b, num := body(p)
	if len(b) < threshold {
		return nil, false, nil
	}
	rest := m.Type().New()
	m.Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if f != fd {
			rest.Set(f, v)
		}
		return true
	})
	head, err := proto.MarshalOptions{}.MarshalAppend(make([]byte, 0, 64), rest.Interface())
	if err != nil {
		return nil, true, err
	}
	inner := protowire.SizeTag(num) + protowire.SizeBytes(len(b))
	head = protowire.AppendTag(head, fd.Number(), protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(inner))
	head = protowire.AppendTag(head, num, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(len(b)))
	return mem.BufferSlice{mem.SliceBuffer(head), mem.SliceBuffer(b)}, true, nil
}

// unmarshalBulk decodes buf into m, the payload's body aliasing buf. Any
// layout but the plain one (one payload field holding one body field) is
// left to proto.Unmarshal, whose errors stand for malformed input.
func unmarshalBulk(buf []byte, m proto.Message, fd protoreflect.FieldDescriptor) error {
	rest := make([]byte, 0, 64)
	var payload []byte
	seen := false
	for b := buf; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return proto.Unmarshal(buf, m)
		}
		l := protowire.ConsumeFieldValue(num, typ, b[n:])
		if l < 0 {
			return proto.Unmarshal(buf, m)
		}
		if num == fd.Number() {
			if seen || typ != protowire.BytesType {
				return proto.Unmarshal(buf, m)
			}
			seen = true
			payload, _ = protowire.ConsumeBytes(b[n:])
		} else {
			rest = append(rest, b[:n+l]...)
		}
		b = b[n+l:]
	}
	if !seen {
		return proto.Unmarshal(buf, m)
	}
	p, ok := wirepayload.AliasWire(payload)
	if !ok {
		return proto.Unmarshal(buf, m)
	}
	if err := proto.Unmarshal(rest, m); err != nil {
		return err
	}
	m.ProtoReflect().Set(fd, protoreflect.ValueOfMessage(p.ProtoReflect()))
	return nil
}
