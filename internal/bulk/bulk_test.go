package bulk

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

func big(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

// chunks splits b as the transport does: a BufferSlice of frames.
func chunks(b []byte, size int) mem.BufferSlice {
	var out mem.BufferSlice
	for len(b) > 0 {
		n := min(size, len(b))
		out = append(out, mem.SliceBuffer(b[:n]))
		b = b[n:]
	}
	return out
}

func messages(body []byte) []proto.Message {
	return []proto.Message{
		&tetherv1.InvokeRequest{Command: "echo_bytes", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: body}},
			Headers: map[string]string{"x-tether-a": "1"}, IdempotencyKey: "k",
			Sealed: &tetherv1.Sealed{Session: "s", Seq: 9, Nonce: []byte{1, 2}, Ciphertext: []byte{3}}},
		&tetherv1.InvokeRequest{Command: "c", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: body}}},
		&tetherv1.InvokeResponse{Result: &tetherv1.Payload{Body: &tetherv1.Payload_Proto{Proto: body}}},
		&tetherv1.ChannelMessage{Index: 4, Message: &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: body}}, End: false},
		&tetherv1.EmitRequest{Event: "e", Target: "main", Payload: &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: body}}},
		&tetherv1.InvokeRequest{Command: "no-args"},
		&tetherv1.ListenRequest{Events: []string{"a"}, AfterId: 3},
	}
}

// What the codec sends, proto decodes to the same message; what proto
// sends, the codec decodes to the same message — for bodies above and
// below the threshold, with the transport's framing.
func TestRoundTripBothWays(t *testing.T) {
	defer func(t0 int) { threshold = t0 }(threshold)
	threshold = 1 << 10
	for _, size := range []int{0, 100, threshold, 3*threshold + 5} {
		for _, m := range messages(big(size)) {
			out, err := Codec{}.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			wire := out.Materialize()
			got := m.ProtoReflect().Type().New().Interface()
			if err := proto.Unmarshal(wire, got); err != nil || !proto.Equal(got, m) {
				t.Fatalf("size %d %T: proto read the codec's bytes as %v (%v)", size, m, err, got != nil)
			}
			if size >= threshold && len(out) != 2 && proto.Size(m) > threshold {
				t.Fatalf("size %d %T: body was copied into the marshal buffer (%d buffers)", size, m, len(out))
			}
			std, err := proto.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			got2 := m.ProtoReflect().Type().New().Interface()
			if err := (Codec{}).Unmarshal(chunks(std, 16<<10), got2); err != nil || !proto.Equal(got2, m) {
				t.Fatalf("size %d %T: the codec read proto's bytes wrongly: %v", size, m, err)
			}
		}
	}
}

// Layouts other than the plain one decode as proto decodes them: a
// payload field given twice (merged), a payload with an unknown field,
// and a body field given twice (the last wins).
func TestOddLayoutsAsProto(t *testing.T) {
	defer func(t0 int) { threshold = t0 }(threshold)
	threshold = 16
	body := big(64)
	payload := func(extra ...byte) []byte {
		p := protowire.AppendTag(nil, 3, protowire.BytesType)
		p = protowire.AppendBytes(p, body)
		return append(p, extra...)
	}
	field := func(num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), v)
	}
	cmd := field(1, []byte("echo"))
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 7)
	cases := map[string][]byte{
		"payload twice":       bytes.Join([][]byte{cmd, field(2, payload()), field(2, field(1, []byte("{}")))}, nil),
		"unknown in payload":  bytes.Join([][]byte{cmd, field(2, payload(unknown...))}, nil),
		"body twice":          bytes.Join([][]byte{cmd, field(2, append(payload(), payload()...))}, nil),
		"payload not bytes":   bytes.Join([][]byte{cmd, protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 1), field(2, payload())}, nil),
		"unknown top level":   bytes.Join([][]byte{unknown, cmd, field(2, payload())}, nil),
		"payload body number": bytes.Join([][]byte{cmd, field(2, field(7, body))}, nil),
	}
	for name, wire := range cases {
		want := &tetherv1.InvokeRequest{}
		wantErr := proto.Unmarshal(wire, want)
		got := &tetherv1.InvokeRequest{}
		err := Codec{}.Unmarshal(chunks(wire, 10), got)
		if (err != nil) != (wantErr != nil) || (err == nil && !proto.Equal(got, want)) {
			t.Errorf("%s: got %v %v, proto gives %v %v", name, got, err, want, wantErr)
		}
	}
}

// Malformed input gets proto's error, never a panic.
func FuzzUnmarshal(f *testing.F) {
	defer func(t0 int) { threshold = t0 }(threshold)
	threshold = 8
	for _, m := range messages(big(40)) {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		want := &tetherv1.InvokeRequest{}
		wantErr := proto.Unmarshal(wire, want)
		got := &tetherv1.InvokeRequest{}
		err := Codec{}.Unmarshal(chunks(wire, 7), got)
		if (err != nil) != (wantErr != nil) || (err == nil && !proto.Equal(got, want)) {
			t.Fatalf("got %v %v, proto gives %v %v", got, err, want, wantErr)
		}
	})
}
