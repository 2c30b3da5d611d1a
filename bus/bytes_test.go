package bus_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/tether-ipc/tether/bus"
)

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestWindowBoundedInBytes is finding 3 of the security review: the window
// was bounded by count only (4096 events), so 400 emits of 3.9 MB held
// 1.5 GB for good. With the default options, 400 events of 1 MiB each (each
// its own allocation, as emits over the wire are) must leave the heap within
// the default 32 MiB budget and some slack, and stay there. Before the byte
// budget the heap grew by the whole 400 MiB.
func TestWindowBoundedInBytes(t *testing.T) {
	const (
		n    = 400
		size = 1 << 20
	)
	b := bus.NewMemory()
	defer b.Close()
	base := heapInUse()
	var peak uint64
	for i := range n {
		body := make([]byte, size)
		body[0] = byte(i)
		mustPublish(t, b, bus.Event{Name: "big", Payload: rawPayload(body)})
		if i%50 == 49 {
			peak = max(peak, heapInUse())
		}
	}
	growth := int64(peak) - int64(base)
	held, bytes := b.Held()
	t.Logf("heap growth %d MiB for %d MiB published; window holds %d events, %d MiB counted", growth>>20, n*size>>20, held, bytes>>20)
	if growth > 64<<20 {
		t.Fatalf("heap grew %d MiB publishing %d MiB with the default window; want it bounded by the 32 MiB budget", growth>>20, n*size>>20)
	}
	if bytes > bus.DefaultWindowBytes {
		t.Fatalf("window counts %d bytes, more than its budget %d", bytes, bus.DefaultWindowBytes)
	}
	// Each event counts its payload twice: 32 MiB hold 15 of them.
	if held < 12 || held > 16 {
		t.Fatalf("window holds %d events of 1 MiB, want about 15", held)
	}
}

// A resume that reaches back past what the byte budget kept gets a Lagged
// notice counting the ids gone, then what is held.
func TestWindowBytesResume(t *testing.T) {
	b := bus.NewMemory(bus.WithWindowBytes(10 * (2*1000 + 256 + 1)))
	defer b.Close()
	for range 20 {
		mustPublish(t, b, bus.Event{Name: "e", Payload: rawPayload(make([]byte, 1000))}) // ids 1..20
	}
	if held, _ := b.Held(); held != 10 {
		t.Fatalf("held %d, want 10", held)
	}
	s := mustSubscribe(t, b, bus.Filter{Names: []string{"e"}, AfterID: 5})
	if m := next(t, s); m.Lagged == nil || *m.Lagged != (bus.Lagged{Dropped: 5, ResumeAfter: 5}) {
		t.Fatalf("got %+v, want Lagged{5 (ids 6..10), 5}", m)
	}
	for want := uint64(11); want <= 20; want++ {
		if e := nextEvent(t, s); e.ID != want {
			t.Fatalf("got %d, want %d", e.ID, want)
		}
	}
	expectEmpty(t, s)

	// An event larger than the whole budget is delivered live, not kept.
	live := mustSubscribe(t, b, bus.Filter{Names: []string{"e"}})
	id := mustPublish(t, b, bus.Event{Name: "e", Payload: rawPayload(make([]byte, 100_000))})
	if e := nextEvent(t, live); e.ID != id {
		t.Fatalf("live got %d, want %d", e.ID, id)
	}
	if held, _ := b.Held(); held != 0 {
		t.Fatalf("held %d after an event larger than the budget, want 0", held)
	}
}

// The replay reads the window as the subscriber goes, and holds no copy of
// it: a resumed subscriber that has not read yet when the window moves on
// gets a Lagged notice where the events left, not the old events.
func TestReplayFollowsWindow(t *testing.T) {
	b := bus.NewMemory(bus.WithWindowSize(8), bus.WithQueueSize(64))
	defer b.Close()
	for range 8 {
		mustPublish(t, b, bus.Event{Name: "e"}) // 1..8
	}
	s := mustSubscribe(t, b, bus.Filter{Names: []string{"e"}, AfterID: 2}) // replay 3..8
	if e := nextEvent(t, s); e.ID != 3 {
		t.Fatalf("got %d, want 3", e.ID)
	}
	for range 6 {
		mustPublish(t, b, bus.Event{Name: "e"}) // 9..14; the window now holds 7..14
	}
	if m := next(t, s); m.Lagged == nil || *m.Lagged != (bus.Lagged{Dropped: 3, ResumeAfter: 3}) {
		t.Fatalf("got %+v, want Lagged{3 (ids 4..6), 3}", m)
	}
	for want := uint64(7); want <= 14; want++ { // the rest of the replay (7, 8), then live (9..14)
		if e := nextEvent(t, s); e.ID != want {
			t.Fatalf("got %d, want %d", e.ID, want)
		}
	}
	expectEmpty(t, s)
}

// A stalled subscriber's queue is bounded in bytes too: it misses events
// once its queued events count more than WithQueueBytes, and gets a Lagged
// notice at the gap.
func TestQueueBytes(t *testing.T) {
	const size = 10_000
	per := int64(2*size + 256 + 1)
	b := bus.NewMemory(bus.WithQueueSize(1000), bus.WithQueueBytes(4*per), bus.WithWindowSize(0))
	defer b.Close()
	s := mustSubscribe(t, b, bus.Filter{Names: []string{"e"}})
	for range 10 {
		mustPublish(t, b, bus.Event{Name: "e", Payload: rawPayload(make([]byte, size))})
	}
	if p := s.Pending(); p != 4 {
		t.Fatalf("pending %d, want 4 (the byte bound)", p)
	}
	for want := uint64(1); want <= 4; want++ {
		if e := nextEvent(t, s); e.ID != want {
			t.Fatalf("got %d, want %d", e.ID, want)
		}
	}
	if m := next(t, s); m.Lagged == nil || *m.Lagged != (bus.Lagged{Dropped: 6, ResumeAfter: 4}) {
		t.Fatalf("got %+v, want Lagged{6, 4}", m)
	}
	// An event larger than the bound reaches a subscriber that keeps up.
	id := mustPublish(t, b, bus.Event{Name: "e", Payload: rawPayload(make([]byte, 10*size))})
	if e := nextEvent(t, s); e.ID != id {
		t.Fatalf("got %d, want %d", e.ID, id)
	}
}

func TestDefaultMaxSubscribers(t *testing.T) {
	n := bus.DefaultMaxSubscribers()
	t.Logf("DefaultMaxSubscribers() = %d on this machine", n)
	if n < 4096 {
		t.Fatalf("DefaultMaxSubscribers() = %d, want at least 4096", n)
	}
	// It is the default: one more than 4096 subscribers fit on any machine.
	b := bus.NewMemory()
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 4097 {
		if _, err := b.Subscribe(ctx, bus.Filter{Names: []string{"e"}}); err != nil {
			t.Fatalf("subscriber %d: %v", i+1, err)
		}
	}
}
