package isolation_test

import (
	"strings"
	"testing"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/interceptors/isolation"
)

// decodeSeeds are plaintexts a Sealer writes, and some it never writes.
func decodeSeeds() [][]byte {
	det := proto.MarshalOptions{Deterministic: true}
	var out [][]byte
	for _, m := range []proto.Message{
		&tetherv1.InvokeRequest{Command: "greet", Args: jsonPayload(`{"name":"a"}`), IdempotencyKey: "k"},
		&tetherv1.InvokeRequest{Command: "up", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: []byte{0, 1}}}},
		&tetherv1.InvokeRequest{Command: "p", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Proto{Proto: []byte{8, 1}}}},
		&tetherv1.InvokeRequest{Command: "e", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Json{}}},
		&tetherv1.InvokeRequest{Command: "n", Args: &tetherv1.Payload{}},
		&tetherv1.InvokeRequest{Command: "h", Headers: map[string]string{"a": "b"}},
		&tetherv1.InvokeRequest{},
		&tetherv1.EmitRequest{Event: "chat", Payload: jsonPayload(`{"t":1}`), Target: "w"},
		&tetherv1.EmitRequest{Event: "e"},
	} {
		b, _ := det.Marshal(m)
		out = append(out, b)
	}
	tag := func(b []byte, num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
	}
	out = append(out,
		tag(tag(nil, 1, []byte("a")), 1, []byte("b")),                          // repeated field: last wins
		tag(nil, 1, []byte{0xff}),                                              // invalid UTF-8
		tag(tag(nil, 2, tag(nil, 1, []byte("{}"))), 2, tag(nil, 3, []byte{1})), // args twice: merged
		tag(nil, 2, tag(tag(nil, 1, []byte("1")), 3, []byte{1})),               // two bodies
		tag(nil, 9, []byte("x")),                                               // unknown
		tag(nil, 15, nil),                                                      // sealed inside
		protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1),
		[]byte{0x0a, 0x05, 'a'}, // truncated
	)
	return out
}

// The core's decoder gives exactly what proto.Unmarshal gives, and takes its
// fast path for what a Sealer writes.
func TestDecodeOpenedMatchesUnmarshal(t *testing.T) {
	for i, b := range decodeSeeds() {
		checkDecode(t, b, "")
		checkDecode(t, b, "greet")
		if i < 5 || i == 7 || i == 8 {
			if !isolation.DecodeFastForTest(b, newFor(i)) {
				t.Errorf("seed %d does not take the fast path", i)
			}
		}
	}
	// Payload bytes alias the plaintext, which the core owns.
	b := decodeSeeds()[0]
	m := new(tetherv1.InvokeRequest)
	name := strings.Clone("greet")
	if err := isolation.DecodeOpenedForTest(b, m, name); err != nil {
		t.Fatal(err)
	}
	if unsafe.StringData(m.Command) != unsafe.StringData(name) {
		t.Errorf("the expected command name was not reused")
	}
	js := m.GetArgs().GetJson()
	if &js[0] != &b[len(b)-len(`{"name":"a"}`)-len("k")-2] || cap(js) != len(js) {
		t.Errorf("json does not alias the plaintext, or may grow into it")
	}
}

func newFor(i int) proto.Message {
	if i >= 7 && i <= 8 {
		return new(tetherv1.EmitRequest)
	}
	return new(tetherv1.InvokeRequest)
}

func checkDecode(t *testing.T, b []byte, name string) {
	t.Helper()
	for _, mk := range []func() proto.Message{
		func() proto.Message { return new(tetherv1.InvokeRequest) },
		func() proto.Message { return new(tetherv1.EmitRequest) },
		func() proto.Message { return new(tetherv1.ListenRequest) },
	} {
		want, got := mk(), mk()
		// The message decoded over holds something already, as the sealed
		// request does in the core.
		switch g := got.(type) {
		case *tetherv1.InvokeRequest:
			g.Command, g.Headers, g.Sealed = "old", map[string]string{"x": "y"}, &tetherv1.Sealed{Seq: 1}
		case *tetherv1.EmitRequest:
			g.Event, g.Target, g.Sealed = "old", "t", &tetherv1.Sealed{Seq: 1}
		}
		wantErr := proto.Unmarshal(b, want)
		gotErr := isolation.DecodeOpenedForTest(append([]byte(nil), b...), got, name)
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("%T %x: error %v, proto.Unmarshal %v", got, b, gotErr, wantErr)
		}
		if wantErr == nil && !proto.Equal(got, want) {
			t.Fatalf("%T %x: decoded %v, proto.Unmarshal %v", got, b, got, want)
		}
	}
}

// FuzzDecodeOpened: on any input the core's decoder and proto.Unmarshal
// agree, and nothing panics.
func FuzzDecodeOpened(f *testing.F) {
	for _, b := range decodeSeeds() {
		f.Add(b, "greet")
	}
	f.Fuzz(func(t *testing.T, b []byte, name string) { checkDecode(t, b, name) })
}
