package bus_test

import (
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether/bus"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

func TestEncoded(t *testing.T) {
	b := bus.NewMemory()
	defer b.Close()
	s := mustSubscribe(t, b, bus.Filter{Names: []string{"enc"}, Label: "l"})
	mustPublish(t, b, bus.Event{Name: "enc", Payload: jsonPayload(`{"a":"ü"}`), Target: "l", Source: "src"})
	e := nextEvent(t, s)

	// Many goroutines at once (run with -race): one encoding, shared.
	const n = 8
	resps := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, _, err := e.Encoded()
			if err != nil {
				t.Error(err)
			}
			resps[i] = r
		})
	}
	wg.Wait()
	for i := range n {
		if &resps[i][0] != &resps[0][0] {
			t.Fatal("Encoded encoded a bus event more than once")
		}
	}

	resp, ev, err := e.Encoded()
	if err != nil {
		t.Fatal(err)
	}
	var gotResp tetherv1.ListenResponse
	if err := proto.Unmarshal(resp, &gotResp); err != nil {
		t.Fatal(err)
	}
	if want := (bus.Message{Event: e}).Proto(); !proto.Equal(&gotResp, want) {
		t.Fatalf("response = %v, want %v", &gotResp, want)
	}
	var gotEv tetherv1.Event
	if err := proto.Unmarshal(ev, &gotEv); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&gotEv, e.Proto()) {
		t.Fatalf("event = %v, want %v", &gotEv, e.Proto())
	}
	if len(resp) < len(ev) || &resp[len(resp)-len(ev)] != &ev[0] {
		t.Fatal("the event part is not the tail of the response")
	}

	// A copy left as it is shares the encoding; a changed copy, or an event
	// no bus published, is encoded for what it holds.
	cp := *e
	if r, _, _ := cp.Encoded(); &r[0] != &resp[0] {
		t.Fatal("an unchanged copy does not share the encoding")
	}
	cp.Name = "other"
	_, ev2, _ := cp.Encoded()
	gotEv.Reset()
	if err := proto.Unmarshal(ev2, &gotEv); err != nil || gotEv.GetName() != "other" {
		t.Fatalf("changed copy encodes %v (%v), want name other", &gotEv, err)
	}
	plain := bus.Event{ID: 9, Name: "plain"}
	_, ev3, _ := plain.Encoded()
	gotEv.Reset()
	if err := proto.Unmarshal(ev3, &gotEv); err != nil || gotEv.GetId() != 9 || gotEv.GetName() != "plain" {
		t.Fatalf("plain event encodes %v (%v)", &gotEv, err)
	}

	// Invalid UTF-8 in a string field is an error, as proto.Marshal's.
	bad := bus.Event{Name: "x", Source: "\xff"}
	if _, _, err := bad.Encoded(); err == nil {
		t.Fatal("Encoded accepted invalid UTF-8")
	}
}
