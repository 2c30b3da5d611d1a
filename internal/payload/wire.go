package payload

import (
	"google.golang.org/protobuf/encoding/protowire"

	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// One allocation for a payload and its body.
type (
	jsonBody struct {
		p tetherv1.Payload
		b tetherv1.Payload_Json
	}
	protoBody struct {
		p tetherv1.Payload
		b tetherv1.Payload_Proto
	}
	rawBody struct {
		p tetherv1.Payload
		b tetherv1.Payload_Raw
	}
)

// AliasWire decodes the wire form of a Payload that holds at most one
// field, its body, which aliases b (capped, so that appending to it cannot
// write into b). ok is false for any other form — a repeated or unknown
// field, a wrong wire type, trailing bytes — which callers leave to
// proto.Unmarshal.
func AliasWire(b []byte) (p *tetherv1.Payload, ok bool) {
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
		x := new(jsonBody)
		x.b.Json, x.p.Body = v, &x.b
		return &x.p, true
	case 2:
		x := new(protoBody)
		x.b.Proto, x.p.Body = v, &x.b
		return &x.p, true
	case 3:
		x := new(rawBody)
		x.b.Raw, x.p.Body = v, &x.b
		return &x.p, true
	}
	return nil, false
}
