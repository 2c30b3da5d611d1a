package client

import (
	"fmt"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// viaProto is what proto.Unmarshal makes of b, as the events and notice a
// listener gets.
func viaProto(b []byte) ([]Event, *tetherv1.Lagged, error) {
	var m tetherv1.ListenResponse
	if err := proto.Unmarshal(b, &m); err != nil {
		return nil, nil, err
	}
	r := &listenReply{msg: &m}
	r.settle()
	return r.events, r.lagged, nil
}

// known is p without unknown fields, which the decoder drops (a listener
// sees only the payload's body).
func known(p *tetherv1.Payload) *tetherv1.Payload {
	if p == nil {
		return nil
	}
	c := proto.Clone(p).(*tetherv1.Payload)
	c.ProtoReflect().SetUnknown(nil)
	return c
}

func sameEvents(a, b []Event) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d events, want %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Name != y.Name || x.Target != y.Target || x.Source != y.Source ||
			(x.Payload == nil) != (y.Payload == nil) || !proto.Equal(known(x.Payload), known(y.Payload)) {
			return fmt.Errorf("event %d: %+v, want %+v", i, x, y)
		}
	}
	return nil
}

// checkDecode decodes b both ways and fails if they differ.
func checkDecode(t *testing.T, b []byte) {
	t.Helper()
	wantEvs, wantLag, wantErr := viaProto(b)
	r := newListenReply([]string{"tick", "*"})
	err := r.decode(b)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("decode(%x): error %v, proto.Unmarshal: %v", b, err, wantErr)
	}
	if err != nil {
		return
	}
	if err := sameEvents(r.events, wantEvs); err != nil {
		t.Fatalf("decode(%x): %v", b, err)
	}
	if !proto.Equal(r.lagged, wantLag) {
		t.Fatalf("decode(%x): lagged %v, want %v", b, r.lagged, wantLag)
	}
}

func jsonP(s string) *tetherv1.Payload {
	return &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte(s)}}
}

// seeds are encodings the decoder must read as proto.Unmarshal does.
func seeds() [][]byte {
	mustMarshal := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			panic(err)
		}
		return b
	}
	ev := func(id uint64, name string, p *tetherv1.Payload) *tetherv1.Event {
		return &tetherv1.Event{Id: id, Name: name, Payload: p, Target: "t", Source: "s"}
	}
	single := mustMarshal(&tetherv1.ListenResponse{Kind: &tetherv1.ListenResponse_Event{Event: ev(7, "tick", jsonP(`{"a":1}`))}})
	batch := mustMarshal(&tetherv1.ListenResponse{Kind: &tetherv1.ListenResponse_Batch{Batch: &tetherv1.EventBatch{Events: []*tetherv1.Event{
		ev(1, "tick", jsonP(`1`)),
		ev(2, "other", &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: []byte{0, 1}}}),
		ev(3, "tick", &tetherv1.Payload{Body: &tetherv1.Payload_Proto{Proto: []byte{8, 1}}}),
		ev(4, "tick", &tetherv1.Payload{}),
		ev(5, "tick", nil),
		{},
	}}}})
	lagged := mustMarshal(&tetherv1.ListenResponse{Kind: &tetherv1.ListenResponse_Lagged{Lagged: &tetherv1.Lagged{Dropped: 3, ResumeAfter: 9}}})
	tag := func(b []byte, n protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, n, protowire.BytesType), v)
	}
	// An event whose payload field comes twice (merged: the second body
	// wins, or the first stays if the second has none) and with unknown
	// fields.
	evTwice := tag(nil, 3, mustMarshal(jsonP(`1`)))
	evTwice = tag(evTwice, 3, mustMarshal(&tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: []byte("r")}}))
	evTwice = tag(evTwice, 3, nil)
	evTwice = protowire.AppendVarint(protowire.AppendTag(evTwice, 99, protowire.VarintType), 5)
	evTwice = tag(evTwice, 2, []byte("tick"))
	evTwice = tag(evTwice, 2, []byte("renamed"))
	return [][]byte{
		nil, single, batch, lagged,
		tag(nil, 1, evTwice),
		tag(nil, 3, tag(nil, 1, evTwice)),
		append(single, single...), // the event field twice: merged into one
		append(single, batch...),  // the oneof: the last wins
		append(batch, lagged...),
		tag(nil, 1, tag(nil, 2, []byte("\xff"))),            // invalid UTF-8
		tag(nil, 3, tag(nil, 1, tag(nil, 4, []byte{0xc3}))), // invalid UTF-8 in a batch
		single[:len(single)-1],                              // truncated
		batch[:len(batch)/2],
		{0x0a, 0x80},              // bad length
		{0x08, 0x80, 0x80},        // bad varint
		{0x00},                    // field 0
		{0x0b, 0x0c},              // a group
		{0x0c},                    // a stray end of group
		tag(nil, 1, []byte{0x0b}), // an unterminated group in an event
	}
}

func TestListenReplyDecodesAsProto(t *testing.T) {
	for _, b := range seeds() {
		checkDecode(t, b)
	}
}

func FuzzListenReplyDecode(f *testing.F) {
	for _, b := range seeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkDecode(t, b) })
}

// The codec decodes a listenReply from several buffers as from one, and
// leaves other messages to the proto codec.
func TestListenCodec(t *testing.T) {
	b := seeds()[2]
	var data mem.BufferSlice
	for i := 0; i < len(b); i += 7 {
		data = append(data, mem.SliceBuffer(b[i:min(i+7, len(b))]))
	}
	r := newListenReply(nil)
	if err := (listenCodec{}).Unmarshal(data, r); err != nil || len(r.events) != 6 {
		t.Fatalf("decoded %d events, %v", len(r.events), err)
	}
	// The payloads are copies, not views of the received buffers.
	want := string(r.events[0].Payload.GetJson())
	for i := range b {
		b[i] = 0
	}
	if got := string(r.events[0].Payload.GetJson()); got != want {
		t.Fatalf("payload changed with the buffer: %q", got)
	}
	var l tetherv1.Lagged
	lb, _ := proto.Marshal(&tetherv1.Lagged{Dropped: 2})
	if err := (listenCodec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(lb)}, &l); err != nil || l.GetDropped() != 2 {
		t.Fatalf("Lagged through the codec: %v %v", &l, err)
	}
	if _, err := (listenCodec{}).Marshal(&l); err != nil {
		t.Fatal(err)
	}
	// What an interceptor sees is the response; a change it makes wins.
	r.msg = nil
	if name := r.ProtoReflect().Descriptor().FullName(); name != "tether.v1.ListenResponse" {
		t.Fatalf("ProtoReflect is %s", name)
	}
	r.msg.GetBatch().GetEvents()[0].Source = "changed"
	r.settle()
	if r.events[0].Source != "changed" {
		t.Fatalf("settle kept %q", r.events[0].Source)
	}
}

func BenchmarkListenReplyDecode(b *testing.B) {
	evs := make([]*tetherv1.Event, 256)
	for i := range evs {
		evs[i] = &tetherv1.Event{Id: uint64(i), Name: "bench", Payload: jsonP(`{"n":1,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)}
	}
	data, _ := proto.Marshal(&tetherv1.ListenResponse{Kind: &tetherv1.ListenResponse_Batch{Batch: &tetherv1.EventBatch{Events: evs}}})
	b.Run("listenReply", func(b *testing.B) {
		r := newListenReply([]string{"bench"})
		b.ReportAllocs()
		for b.Loop() {
			r.reset()
			if err := r.decode(data); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
	})
	b.Run("proto.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m tetherv1.ListenResponse
			if err := proto.Unmarshal(data, &m); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
	})
}

// A listener keeps its events slice while responses are large, and lets it
// go once they are small again.
func TestListenReplyReleasesBurstMemory(t *testing.T) {
	r := newListenReply(nil)
	r.events = make([]Event, 1000)
	r.reset()
	if cap(r.events) != 1000 {
		t.Fatalf("after a full response the slice was dropped (cap %d)", cap(r.events))
	}
	r.events = append(r.events, Event{ID: 1})
	r.reset()
	if cap(r.events) > 64 {
		t.Fatalf("after a small response the listener still holds %d events' room", cap(r.events))
	}
}
