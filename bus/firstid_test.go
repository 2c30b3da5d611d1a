package bus_test

import (
	"testing"

	"github.com/tether-ipc/tether/bus"
)

// A listener resuming with an id from a previous run (a smaller first id)
// gets a Lagged notice with Dropped 0 (unknown), then everything the new
// run holds — not "ahead of the bus".
func TestResumeAcrossRuns(t *testing.T) {
	old := bus.NewMemory()
	var last uint64
	for i := 0; i < 10; i++ {
		last = mustPublish(t, old, bus.Event{Name: "e"})
	}
	old.Close()

	b := bus.NewMemory(bus.WithFirstID(1000))
	defer b.Close()
	for i := 0; i < 3; i++ {
		if id := mustPublish(t, b, bus.Event{Name: "e"}); id != uint64(1000+i) {
			t.Fatalf("id %d, want %d", id, 1000+i)
		}
	}
	s := mustSubscribe(t, b, bus.Filter{Names: []string{"e"}, AfterID: last})
	defer s.Unsubscribe()
	m := next(t, s)
	if m.Lagged == nil || m.Lagged.Dropped != 0 || m.Lagged.ResumeAfter != last {
		t.Fatalf("first message %+v %+v, want Lagged{0, %d}", m.Event, m.Lagged, last)
	}
	for i := 0; i < 3; i++ {
		if e := nextEvent(t, s); e.ID != uint64(1000+i) {
			t.Fatalf("replayed id %d", e.ID)
		}
	}
	expectEmpty(t, s)
}
