package isolation

import (
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// decodeOpened decodes the plaintext of an opened request into dst, a
// message of the request's type that the caller owns. plain is the caller's
// too, and nothing else will use it: payload bytes may alias it.
//
// An invoke or emit request in the shape a Sealer writes — each field at
// most once, no headers, nothing unknown — is decoded here without copying
// its payload and with one allocation for payload and body; anything else
// goes to proto.Unmarshal, so the result is always what proto.Unmarshal
// would give (FuzzDecodeOpened checks it). name is the command or event the
// request is expected to name; when it does, that string is reused.
func decodeOpened(plain []byte, dst proto.Message, name string) error {
	var ok bool
	switch m := dst.(type) {
	case *tetherv1.InvokeRequest:
		ok = decodeInvoke(plain, m, name)
	case *tetherv1.EmitRequest:
		ok = decodeEmit(plain, m, name)
	}
	if ok {
		return nil
	}
	return proto.Unmarshal(plain, dst)
}

// fields splits b into length-delimited fields numbered 1 to 7, each at
// most once, and reports false for anything else.
func fields(b []byte) (f [8][]byte, ok bool) {
	var seen uint8
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType || num > 7 || seen&(1<<num) != 0 {
			return f, false
		}
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 {
			return f, false
		}
		seen |= 1 << num
		f[num] = v
		b = b[n+m:]
	}
	return f, true
}

// str returns b as a string: name itself when they are equal.
func str(b []byte, name string) string {
	if string(b) == name {
		return name
	}
	return string(b)
}

func decodeInvoke(b []byte, m *tetherv1.InvokeRequest, name string) bool {
	f, ok := fields(b)
	if !ok || f[3] != nil || f[5] != nil || f[6] != nil || f[7] != nil || !utf8.Valid(f[1]) || !utf8.Valid(f[4]) {
		return false
	}
	var args *tetherv1.Payload
	if f[2] != nil {
		if args, ok = decodePayload(f[2]); !ok {
			return false
		}
	}
	proto.Reset(m)
	m.Command, m.Args, m.IdempotencyKey = str(f[1], name), args, string(f[4])
	return true
}

func decodeEmit(b []byte, m *tetherv1.EmitRequest, name string) bool {
	f, ok := fields(b)
	if !ok || f[4] != nil || f[5] != nil || f[6] != nil || f[7] != nil || !utf8.Valid(f[1]) || !utf8.Valid(f[3]) {
		return false
	}
	var payload *tetherv1.Payload
	if f[2] != nil {
		if payload, ok = decodePayload(f[2]); !ok {
			return false
		}
	}
	proto.Reset(m)
	m.Event, m.Payload, m.Target = str(f[1], name), payload, string(f[3])
	return true
}

// A payload and its body in one allocation.
type (
	jsonPayload struct {
		p tetherv1.Payload
		b tetherv1.Payload_Json
	}
	protoPayload struct {
		p tetherv1.Payload
		b tetherv1.Payload_Proto
	}
	rawPayload struct {
		p tetherv1.Payload
		b tetherv1.Payload_Raw
	}
)

// decodePayload decodes a Payload of at most one field, its bytes aliasing b.
func decodePayload(b []byte) (*tetherv1.Payload, bool) {
	if len(b) == 0 {
		return new(tetherv1.Payload), true
	}
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || typ != protowire.BytesType {
		return nil, false
	}
	v, m := protowire.ConsumeBytes(b[n:])
	if m < 0 || n+m != len(b) {
		return nil, false
	}
	v = v[:len(v):len(v)]
	switch num {
	case 1:
		x := new(jsonPayload)
		x.b.Json, x.p.Body = v, &x.b
		return &x.p, true
	case 2:
		x := new(protoPayload)
		x.b.Proto, x.p.Body = v, &x.b
		return &x.p, true
	case 3:
		x := new(rawPayload)
		x.b.Raw, x.p.Body = v, &x.b
		return &x.p, true
	}
	return nil, false
}
