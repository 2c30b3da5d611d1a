package bus_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/bus"
)

// fakeLog is an ordered log of events with gaps in its ids, holding only the
// ids from first on, read in batches of three: the History a bus copies.
type fakeLog struct {
	mu     sync.Mutex
	events []bus.Event
	first  uint64 // ids below it are gone
	reads  int
	fail   error
	block  chan struct{} // when set, Next waits on it (or ctx)
	closed int
}

func (l *fakeLog) add(ev bus.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

func (l *fakeLog) Read(_ context.Context, f bus.Filter, after, upto uint64) (bus.Cursor, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads++
	c := &fakeCursor{log: l}
	if l.first > after+1 {
		c.msgs = append(c.msgs, bus.Message{Lagged: &bus.Lagged{Dropped: min(l.first, upto+1) - after - 1, ResumeAfter: after}})
	}
	for _, ev := range l.events {
		if ev.ID > after && ev.ID <= upto && ev.ID >= l.first && (slices.Contains(f.Names, ev.Name) || slices.Contains(f.Names, "*")) &&
			(ev.Target == "" || ev.Target == f.Label) {
			c.msgs = append(c.msgs, bus.Message{Event: &ev})
		}
	}
	return c, nil
}

type fakeCursor struct {
	log  *fakeLog
	msgs []bus.Message
	once sync.Once
}

func (c *fakeCursor) Next(ctx context.Context) ([]bus.Message, error) {
	c.log.mu.Lock()
	fail, block := c.log.fail, c.log.block
	c.log.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if fail != nil {
		return nil, fail
	}
	if len(c.msgs) == 0 {
		return nil, io.EOF
	}
	n := min(3, len(c.msgs))
	out := c.msgs[:n]
	c.msgs = c.msgs[n:]
	return out, nil
}

func (c *fakeCursor) Close() {
	c.once.Do(func() {
		c.log.mu.Lock()
		c.log.closed++
		c.log.mu.Unlock()
	})
}

// copyBus is a bus copying log from id first on, with the events of the
// log from there appended.
func copyBus(t *testing.T, log *fakeLog, first uint64, opts ...bus.Option) *bus.Memory {
	t.Helper()
	b := bus.NewMemory(append([]bus.Option{bus.WithHistory(log), bus.WithFirstID(first)}, opts...)...)
	t.Cleanup(func() { b.Close() })
	log.mu.Lock()
	evs := slices.Clone(log.events)
	log.mu.Unlock()
	for _, ev := range evs {
		if ev.ID >= first {
			if err := b.Append(ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	return b
}

func ids(t *testing.T, s *bus.Subscription, n int) []uint64 {
	t.Helper()
	var out []uint64
	for range n {
		out = append(out, nextEvent(t, s).ID)
	}
	return out
}

func TestHistoryResume(t *testing.T) {
	log := &fakeLog{first: 10}
	for id := uint64(2); id <= 60; id += 2 { // even ids only: the log skips
		name := "a"
		if id%4 == 0 {
			name = "b"
		}
		log.add(bus.Event{ID: id, Name: name})
	}
	// This copy started at 21 and its window holds the last 5 (52..60).
	b := copyBus(t, log, 21, bus.WithWindowSize(5))

	t.Run("history, window, live", func(t *testing.T) {
		s := mustSubscribe(t, b, bus.Filter{Names: []string{"*"}, AfterID: 3})
		if m := next(t, s); m.Lagged == nil || *m.Lagged != (bus.Lagged{Dropped: 6, ResumeAfter: 3}) {
			t.Fatalf("got %+v, want the log's Lagged{6, 3}", m)
		}
		var want []uint64
		for id := uint64(10); id <= 60; id += 2 {
			want = append(want, id)
		}
		if got := ids(t, s, len(want)); !slices.Equal(got, want) {
			t.Fatalf("replay %v, want %v", got, want)
		}
		ev := bus.Event{ID: 64, Name: "a"}
		log.add(ev)
		if err := b.Append(ev); err != nil {
			t.Fatal(err)
		}
		if e := nextEvent(t, s); e.ID != 64 {
			t.Fatalf("live got %d, want 64", e.ID)
		}
		expectEmpty(t, s)
	})
	t.Run("names filtered", func(t *testing.T) {
		s := mustSubscribe(t, b, bus.Filter{Names: []string{"b"}, AfterID: 40})
		want := []uint64{44, 48, 52, 56, 60} // 64 is an "a"
		if got := ids(t, s, len(want)); !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		expectEmpty(t, s)
	})
	t.Run("within the window: no history read", func(t *testing.T) {
		log.mu.Lock()
		before := log.reads
		log.mu.Unlock()
		s := mustSubscribe(t, b, bus.Filter{Names: []string{"*"}, AfterID: 54})
		if got := ids(t, s, 4); !slices.Equal(got, []uint64{56, 58, 60, 64}) {
			t.Fatalf("got %v", got)
		}
		log.mu.Lock()
		defer log.mu.Unlock()
		if log.reads != before {
			t.Fatalf("history read %d times for a resume the window holds", log.reads-before)
		}
	})
	t.Run("ahead of the copy: skipped until it arrives", func(t *testing.T) {
		s := mustSubscribe(t, b, bus.Filter{Names: []string{"*"}, AfterID: 68})
		for _, id := range []uint64{66, 68, 70} {
			ev := bus.Event{ID: id, Name: "a"}
			log.add(ev)
			if err := b.Append(ev); err != nil {
				t.Fatal(err)
			}
		}
		if e := nextEvent(t, s); e.ID != 70 {
			t.Fatalf("got %d, want 70 (66 and 68 are at or before the resume id)", e.ID)
		}
		expectEmpty(t, s)
	})
	log.mu.Lock()
	defer log.mu.Unlock()
	if log.closed != log.reads {
		t.Fatalf("%d cursors opened, %d closed", log.reads, log.closed)
	}
}

func TestHistoryRules(t *testing.T) {
	log := &fakeLog{}
	b := copyBus(t, log, 1)
	if _, err := b.Publish(context.Background(), bus.Event{Name: "e"}); code(err) != tether.CodeFailedPrecondition {
		t.Fatalf("Publish on a copy = %v, want failed_precondition", err)
	}
	if err := b.Append(bus.Event{ID: 5, Name: "e"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{5, 4} {
		if err := b.Append(bus.Event{ID: id, Name: "e"}); code(err) != tether.CodeFailedPrecondition {
			t.Fatalf("Append(id %d after 5) = %v, want failed_precondition", id, err)
		}
	}
	if err := b.Append(bus.Event{ID: 6, Name: "bad name"}); code(err) != tether.CodeInvalidArgument {
		t.Fatalf("Append(bad name) = %v", err)
	}
}

// A history that fails ends the read with its error; one that blocks is
// left when the subscription ends, and its cursor is closed.
func TestHistoryFailureAndUnsubscribe(t *testing.T) {
	log := &fakeLog{}
	for id := uint64(1); id <= 10; id++ {
		log.add(bus.Event{ID: id, Name: "e"})
	}
	b := copyBus(t, log, 8, bus.WithWindowSize(2))

	log.fail = tether.NewError(tether.CodeUnavailable, "log gone")
	s := mustSubscribe(t, b, bus.Filter{Names: []string{"e"}, AfterID: 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := s.Next(ctx); code(err) != tether.CodeUnavailable {
		t.Fatalf("Next = %v, want the history's unavailable", err)
	}
	s.Unsubscribe()

	log.mu.Lock()
	log.fail, log.block = nil, make(chan struct{})
	log.mu.Unlock()
	s = mustSubscribe(t, b, bus.Filter{Names: []string{"e"}, AfterID: 1})
	errc := make(chan error, 1)
	go func() {
		_, err := s.Next(context.Background())
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	s.Unsubscribe()
	select {
	case err := <-errc:
		if !errors.Is(err, bus.ErrUnsubscribed) {
			t.Fatalf("Next = %v, want ErrUnsubscribed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next still waits on the history after Unsubscribe")
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if log.closed != log.reads {
		t.Fatalf("%d cursors opened, %d closed", log.reads, log.closed)
	}
}

// TestHistorySeam appends while subscribers resume from ids only the
// history holds: each must see every id after its resume id exactly once,
// in order.
func TestHistorySeam(t *testing.T) {
	const total = 3000
	for round := range 10 {
		log := &fakeLog{}
		for id := uint64(1); id <= 100; id++ {
			log.add(bus.Event{ID: id, Name: "e"})
		}
		b := copyBus(t, log, 50, bus.WithWindowSize(20), bus.WithQueueSize(total))
		started := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for id := uint64(101); id <= total; id++ {
				if id == uint64(110+10*round) {
					close(started)
				}
				ev := bus.Event{ID: id, Name: "e"}
				log.add(ev)
				if err := b.Append(ev); err != nil {
					t.Error(err)
					return
				}
			}
		})
		<-started
		after := uint64(10 + round)
		s, err := b.Subscribe(context.Background(), bus.Filter{Names: []string{"e"}, AfterID: after})
		if err != nil {
			t.Fatal(err)
		}
		ctx := testCtx(t)
		for want := after + 1; want <= total; want++ {
			m, err := s.Next(ctx)
			if err != nil {
				t.Fatalf("round %d: waiting for %d: %v", round, want, err)
			}
			if m.Event == nil || m.Event.ID != want {
				t.Fatalf("round %d: got %+v, want id %d", round, m, want)
			}
		}
		wg.Wait()
		expectEmpty(t, s)
		s.Unsubscribe()
	}
}

// Interrupt ends the subscriptions but not the backend listeners, and the
// bus goes on.
func TestInterrupt(t *testing.T) {
	b := bus.NewMemory()
	defer b.Close()
	s := mustSubscribe(t, b, bus.Filter{Names: []string{"e"}})
	got := make(chan uint64, 10)
	unlisten, err := b.Listen("e", func(e bus.Event) { got <- e.ID })
	if err != nil {
		t.Fatal(err)
	}
	defer unlisten()
	lost := tether.NewError(tether.CodeUnavailable, "log lost")
	b.Interrupt(lost)
	if _, err := s.Next(context.Background()); !errors.Is(err, lost) {
		t.Fatalf("Next after Interrupt = %v, want its error", err)
	}
	id := mustPublish(t, b, bus.Event{Name: "e"})
	select {
	case g := <-got:
		if g != id {
			t.Fatalf("backend listener got %d, want %d", g, id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the backend listener did not survive Interrupt")
	}
	s2 := mustSubscribe(t, b, bus.Filter{Names: []string{"e"}})
	id = mustPublish(t, b, bus.Event{Name: "e"})
	if e := nextEvent(t, s2); e.ID != id {
		t.Fatalf("new subscription after Interrupt got %d, want %d", e.ID, id)
	}
}

// Ids the log lost before the copy read them reach every subscriber as a
// Lagged notice, in order, once per subscriber, and only for ids it would
// have been sent.
func TestHistoryLost(t *testing.T) {
	appendAll := func(b *bus.Memory, evs ...bus.Event) {
		t.Helper()
		for _, ev := range evs {
			if err := b.Append(ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	lose := func(b *bus.Memory, upto uint64) {
		t.Helper()
		if err := b.Lost(upto); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(s *bus.Subscription, want ...any) {
		t.Helper()
		for _, w := range want {
			m := next(t, s)
			switch w := w.(type) {
			case uint64:
				if m.Event == nil || m.Event.ID != w {
					t.Fatalf("got %+v (lagged %+v), want event %d", m, m.Lagged, w)
				}
			case bus.Lagged:
				if m.Lagged == nil || *m.Lagged != w {
					t.Fatalf("got %+v (event %+v), want %+v", m, m.Event, w)
				}
			}
		}
		expectEmpty(t, s)
	}

	t.Run("room in the queue", func(t *testing.T) {
		b := copyBus(t, &fakeLog{}, 1)
		appendAll(b, bus.Event{ID: 1, Name: "a"}, bus.Event{ID: 2, Name: "b"})
		a := mustSubscribe(t, b, bus.Filter{Names: []string{"a"}})
		ab := mustSubscribe(t, b, bus.Filter{Names: []string{"a", "b"}})
		all := mustSubscribe(t, b, bus.Filter{Names: []string{"*"}, Label: "win-1"})
		ahead := mustSubscribe(t, b, bus.Filter{Names: []string{"*"}, AfterID: 7})
		appendAll(b, bus.Event{ID: 3, Name: "a"})
		lose(b, 6)
		appendAll(b, bus.Event{ID: 7, Name: "a"})
		lose(b, 8)
		appendAll(b, bus.Event{ID: 9, Name: "b"})
		lose(b, 5) // already past: nothing
		expect(a, uint64(3), bus.Lagged{Dropped: 3, ResumeAfter: 3}, uint64(7), bus.Lagged{Dropped: 1, ResumeAfter: 7})
		expect(ab, uint64(3), bus.Lagged{Dropped: 3, ResumeAfter: 3}, uint64(7), bus.Lagged{Dropped: 1, ResumeAfter: 7}, uint64(9))
		expect(all, uint64(3), bus.Lagged{Dropped: 3, ResumeAfter: 3}, uint64(7), bus.Lagged{Dropped: 1, ResumeAfter: 7}, uint64(9))
		// Resumed after 7: ids up to 7 were never its own.
		expect(ahead, bus.Lagged{Dropped: 1, ResumeAfter: 7}, uint64(9))
		if err := b.Append(bus.Event{ID: 8, Name: "a"}); code(err) != tether.CodeFailedPrecondition {
			t.Fatalf("Append(8) after the loss of 8 = %v, want failed_precondition", err)
		}
	})

	t.Run("full queue", func(t *testing.T) {
		b := copyBus(t, &fakeLog{}, 1, bus.WithQueueSize(2))
		s := mustSubscribe(t, b, bus.Filter{Names: []string{"a"}})
		appendAll(b, bus.Event{ID: 1, Name: "a"}, bus.Event{ID: 2, Name: "a"})
		lose(b, 4) // no room for a notice: counted as dropped
		appendAll(b, bus.Event{ID: 5, Name: "a"})
		expect(s, uint64(1), uint64(2), bus.Lagged{Dropped: 3, ResumeAfter: 2})
		appendAll(b, bus.Event{ID: 6, Name: "a"}, bus.Event{ID: 7, Name: "a"}, bus.Event{ID: 8, Name: "a"})
		lose(b, 10) // already dropping 8: merged
		expect(s, uint64(6), uint64(7), bus.Lagged{Dropped: 3, ResumeAfter: 7})
	})

	plain := bus.NewMemory()
	defer plain.Close()
	if err := plain.Lost(3); code(err) != tether.CodeFailedPrecondition {
		t.Fatalf("Lost on a bus without a log = %v, want failed_precondition", err)
	}
}
