package isolation

import (
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/payload"
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
		if args, ok = payload.AliasWire(f[2]); !ok {
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
	var body *tetherv1.Payload
	if f[2] != nil {
		if body, ok = payload.AliasWire(f[2]); !ok {
			return false
		}
	}
	proto.Reset(m)
	m.Event, m.Payload, m.Target = str(f[1], name), body, string(f[3])
	return true
}
