package natsbus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether/bus"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// FuzzReceive feeds outside bytes to the decoder of events from NATS: it
// must never panic, and whatever reaches the local bus has a valid name that
// agrees with the subject.
func FuzzReceive(f *testing.F) {
	good, _ := proto.Marshal(&tetherv1.Event{Name: "a", Target: "t", Payload: &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: []byte{1}}}})
	f.Add("a", good)
	f.Add("a", []byte{0xff})
	f.Add("b", good)
	f.Add("x!", []byte{})
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		b := &Bus{local: bus.NewMemory(bus.WithWindowSize(1)), prefix: DefaultSubjectPrefix, replica: "me"}
		defer b.local.Close()
		s, err := b.local.Subscribe(context.Background(), bus.Filter{Names: []string{bus.Wildcard}})
		if err != nil {
			t.Fatal(err)
		}
		subject := DefaultSubjectPrefix + "." + name
		b.receive(&nats.Msg{Subject: subject, Data: data, Header: nats.Header{ReplicaHeader: []string{"other"}}})
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		m, err := s.Next(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Event == nil || bus.ValidName(m.Event.Name) != nil || m.Event.Name != name {
			t.Fatalf("delivered %+v from subject %q", m, subject)
		}
	})
}

// FuzzDecodeStream feeds outside bytes, as a JetStream stream holds them, to
// the decoder of stream events: it must never panic, and what it accepts has
// valid names, its subject, and the stream sequence as its id.
func FuzzDecodeStream(f *testing.F) {
	good, _ := proto.Marshal(&tetherv1.Event{Name: "a", Target: "t", Payload: &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: []byte{1}}}})
	untargeted, _ := proto.Marshal(&tetherv1.Event{Name: "a"})
	f.Add("tether.events.a.t", uint64(1), good)
	f.Add("tether.events.a", uint64(7), untargeted)
	f.Add("tether.events.a", uint64(0), untargeted)
	f.Add("tether.events.a.t", uint64(2), []byte{0xff})
	f.Fuzz(func(t *testing.T, subject string, seq uint64, data []byte) {
		b := &Bus{prefix: DefaultSubjectPrefix}
		ev, err := b.decodeStream(subject, seq, data)
		if err != nil {
			return
		}
		if bus.ValidName(ev.Name) != nil || (ev.Target != "" && bus.ValidName(ev.Target) != nil) {
			t.Fatalf("accepted invalid names %+v", ev)
		}
		if ev.ID != seq || seq == 0 || subject != b.subject(ev.Name, ev.Target) {
			t.Fatalf("accepted %+v from subject %q, sequence %d", ev, subject, seq)
		}
	})
}
