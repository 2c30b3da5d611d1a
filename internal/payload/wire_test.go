package payload

import (
	"testing"

	"google.golang.org/protobuf/proto"

	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// AliasWire decodes what proto encodes, its body a capped view of the
// input, and refuses the forms it leaves to proto.Unmarshal.
func TestAliasWire(t *testing.T) {
	for _, p := range []*tetherv1.Payload{
		{},
		{Body: &tetherv1.Payload_Json{Json: []byte(`{"a":1}`)}},
		{Body: &tetherv1.Payload_Proto{Proto: []byte{8, 1}}},
		{Body: &tetherv1.Payload_Raw{Raw: []byte("raw bytes")}},
		{Body: &tetherv1.Payload_Raw{Raw: []byte{}}},
	} {
		b, err := proto.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := AliasWire(b)
		if !ok || !proto.Equal(got, p) {
			t.Fatalf("%v: got %v, %v", p, got, ok)
		}
		if raw := got.GetRaw(); len(raw) > 0 {
			b[len(b)-1] = 'X'
			if raw[len(raw)-1] != 'X' {
				t.Fatal("the body is a copy, not a view of the input")
			}
			if cap(raw) != len(raw) {
				t.Fatalf("the body's capacity %d reaches past it (%d)", cap(raw), len(raw))
			}
		}
	}
	twice := append(mustMarshal(t, &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: []byte("a")}}),
		mustMarshal(t, &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte("1")}})...)
	for name, b := range map[string][]byte{
		"two fields":   twice,
		"unknown":      {0x20, 0x01},
		"varint body":  {0x18, 0x01},
		"truncated":    {0x1a, 0x05, 'a'},
		"field 4":      {0x22, 0x00},
		"trailing tag": append(mustMarshal(t, &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: []byte("a")}}), 0x1a),
	} {
		if p, ok := AliasWire(b); ok {
			t.Errorf("%s: decoded as %v", name, p)
		}
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
