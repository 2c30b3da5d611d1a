package bus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/bus"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// testCtx bounds every test that waits.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func jsonPayload(s string) *tetherv1.Payload {
	return &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte(s)}}
}

func mustPublish(t *testing.T, b bus.Bus, ev bus.Event) uint64 {
	t.Helper()
	id, err := b.Publish(context.Background(), ev)
	if err != nil {
		t.Fatalf("Publish(%q): %v", ev.Name, err)
	}
	return id
}

func mustSubscribe(t *testing.T, b bus.Bus, f bus.Filter) *bus.Subscription {
	t.Helper()
	s, err := b.Subscribe(context.Background(), f)
	if err != nil {
		t.Fatalf("Subscribe(%+v): %v", f, err)
	}
	t.Cleanup(s.Unsubscribe)
	return s
}

// next reads one message, failing the test if none comes within a second.
func next(t *testing.T, s *bus.Subscription) bus.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	m, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return m
}

func nextEvent(t *testing.T, s *bus.Subscription) *bus.Event {
	t.Helper()
	m := next(t, s)
	if m.Event == nil {
		t.Fatalf("Next = Lagged %+v, want an event", *m.Lagged)
	}
	return m.Event
}

// expectEmpty checks that nothing is delivered for a short while.
func expectEmpty(t *testing.T, s *bus.Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if m, err := s.Next(ctx); err == nil {
		t.Fatalf("Next = %+v (event %+v), want nothing", m, m.Event)
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next error = %v, want deadline exceeded", err)
	}
}

func code(err error) tether.Code {
	var te *tether.Error
	if errors.As(err, &te) {
		return te.Code()
	}
	return tether.CodeUnknown
}

func TestPublishSubscribe(t *testing.T) {
	b := bus.NewMemory()
	defer b.Close()
	greet := mustSubscribe(t, b, bus.Filter{Names: []string{"greet", "greet", "bye"}})
	all := mustSubscribe(t, b, bus.Filter{Names: []string{"*"}})

	for i, name := range []string{"greet", "other", "bye", "greet"} {
		id := mustPublish(t, b, bus.Event{Name: name, Payload: jsonPayload(fmt.Sprint(i)), Source: "src"})
		if id != uint64(i+1) {
			t.Fatalf("id %d, want %d", id, i+1)
		}
	}
	for _, want := range []struct {
		id   uint64
		name string
	}{{1, "greet"}, {3, "bye"}, {4, "greet"}} {
		e := nextEvent(t, greet)
		if e.ID != want.id || e.Name != want.name || e.Source != "src" {
			t.Fatalf("got %+v, want id %d name %s", e, want.id, want.name)
		}
	}
	expectEmpty(t, greet) // the duplicate name must not double-deliver
	for id := uint64(1); id <= 4; id++ {
		if e := nextEvent(t, all); e.ID != id {
			t.Fatalf("wildcard got id %d, want %d", e.ID, id)
		}
	}
	if got := string(nextPayload(t, b)); got != `"x"` {
		t.Fatalf("payload %s", got)
	}
}

// nextPayload checks that the payload pointer travels untouched.
func nextPayload(t *testing.T, b *bus.Memory) []byte {
	s := mustSubscribe(t, b, bus.Filter{Names: []string{"p"}})
	p := jsonPayload(`"x"`)
	mustPublish(t, b, bus.Event{Name: "p", Payload: p})
	e := nextEvent(t, s)
	if e.Payload != p {
		t.Fatalf("payload was copied")
	}
	return e.Payload.GetJson()
}

func TestTargetedEvents(t *testing.T) {
	b := bus.NewMemory()
	defer b.Close()
	a := mustSubscribe(t, b, bus.Filter{Names: []string{"msg"}, Label: "a"})
	bb := mustSubscribe(t, b, bus.Filter{Names: []string{"msg"}, Label: "b"})
	anon := mustSubscribe(t, b, bus.Filter{Names: []string{"msg"}})
	wild := mustSubscribe(t, b, bus.Filter{Names: []string{"*"}, Label: "c"})
	wildA := mustSubscribe(t, b, bus.Filter{Names: []string{"*"}, Label: "a"})

	mustPublish(t, b, bus.Event{Name: "msg", Target: "a"})  // 1
	mustPublish(t, b, bus.Event{Name: "msg"})               // 2
	mustPublish(t, b, bus.Event{Name: "msg", Target: "b"})  // 3
	mustPublish(t, b, bus.Event{Name: "msg", Target: "zz"}) // 4

	for _, c := range []struct {
		name string
		s    *bus.Subscription
		want []uint64
	}{
		{"a", a, []uint64{1, 2}},
		{"b", bb, []uint64{2, 3}},
		{"no label", anon, []uint64{2}},
		{"wildcard c", wild, []uint64{2}},
		{"wildcard a", wildA, []uint64{1, 2}},
	} {
		for _, id := range c.want {
			if e := nextEvent(t, c.s); e.ID != id {
				t.Fatalf("%s: got id %d, want %d", c.name, e.ID, id)
			}
		}
		expectEmpty(t, c.s)
	}
}

func TestPublishRejectsInvalidNames(t *testing.T) {
	b := bus.NewMemory()
	defer b.Close()
	for _, name := range []string{"", "a b", "a.b", "*", "é", "x\n"} {
		if _, err := b.Publish(context.Background(), bus.Event{Name: name}); code(err) != tether.CodeInvalidArgument {
			t.Errorf("Publish(%q) = %v, want invalid_argument", name, err)
		}
		if _, err := b.Subscribe(context.Background(), bus.Filter{Names: []string{"ok", name}}); name != "*" && code(err) != tether.CodeInvalidArgument {
			t.Errorf("Subscribe(%q) = %v, want invalid_argument", name, err)
		}
	}
	if _, err := b.Subscribe(context.Background(), bus.Filter{}); code(err) != tether.CodeInvalidArgument {
		t.Errorf("Subscribe with no names = %v, want invalid_argument", err)
	}
	if b.LastID() != 0 {
		t.Errorf("rejected events got ids")
	}
}

func TestMaxSubscribers(t *testing.T) {
	b := bus.NewMemory(bus.WithMaxSubscribers(2))
	defer b.Close()
	s1 := mustSubscribe(t, b, bus.Filter{Names: []string{"a"}})
	unlisten, err := b.Listen("a", func(bus.Event) {})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Subscribe(context.Background(), bus.Filter{Names: []string{"a"}})
	if code(err) != tether.CodeResourceExhausted {
		t.Fatalf("third subscriber: %v, want resource_exhausted", err)
	}
	s1.Unsubscribe()
	s1.Unsubscribe() // idempotent: must not free two slots
	mustSubscribe(t, b, bus.Filter{Names: []string{"a"}})
	if _, err := b.Subscribe(context.Background(), bus.Filter{Names: []string{"a"}}); code(err) != tether.CodeResourceExhausted {
		t.Fatalf("after one Unsubscribe twice: %v, want resource_exhausted", err)
	}
	unlisten()
}

func TestSubscriptionLifecycle(t *testing.T) {
	b := bus.NewMemory()
	s := mustSubscribe(t, b, bus.Filter{Names: []string{"a"}})

	// Next honours its own context.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	if _, err := s.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on empty = %v", err)
	}
	cancel()
	if s.Err() != nil {
		t.Fatal("Err before end")
	}

	// Unsubscribe wakes a waiting Next.
	errc := make(chan error, 1)
	go func() {
		_, err := s.Next(context.Background())
		errc <- err
	}()
	time.Sleep(5 * time.Millisecond)
	s.Unsubscribe()
	select {
	case err := <-errc:
		if !errors.Is(err, bus.ErrUnsubscribed) {
			t.Fatalf("Next after Unsubscribe = %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Next did not return after Unsubscribe")
	}
	<-s.Done()

	// The Subscribe context ends the subscription.
	sctx, scancel := context.WithCancel(context.Background())
	s2, err := b.Subscribe(sctx, bus.Filter{Names: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	scancel()
	select {
	case <-s2.Done():
	case <-time.After(time.Second):
		t.Fatal("cancelling the Subscribe context did not end the subscription")
	}
	if code(s2.Err()) != tether.CodeCanceled {
		t.Fatalf("Err = %v, want canceled", s2.Err())
	}

	// Close ends the rest and refuses new work.
	s3 := mustSubscribe(t, b, bus.Filter{Names: []string{"*"}})
	mustPublish(t, b, bus.Event{Name: "a"})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s3.Next(context.Background()); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Next after Close = %v", err)
	}
	if _, err := b.Publish(context.Background(), bus.Event{Name: "a"}); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Publish after Close = %v", err)
	}
	if _, err := b.Subscribe(context.Background(), bus.Filter{Names: []string{"a"}}); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Subscribe after Close = %v", err)
	}
}

func TestLagged(t *testing.T) {
	b := bus.NewMemory(bus.WithQueueSize(4))
	defer b.Close()
	s := mustSubscribe(t, b, bus.Filter{Names: []string{"e"}})
	other := mustPublish(t, b, bus.Event{Name: "skip"}) // id 1, not matched
	for range 10 {
		mustPublish(t, b, bus.Event{Name: "e"}) // ids 2..11
	}
	if s.Pending() != 4 {
		t.Fatalf("Pending = %d, want 4", s.Pending())
	}
	for id := other + 1; id <= other+4; id++ {
		if e := nextEvent(t, s); e.ID != id {
			t.Fatalf("got %d, want %d", e.ID, id)
		}
	}
	m := next(t, s)
	if m.Lagged == nil || *m.Lagged != (bus.Lagged{Dropped: 6, ResumeAfter: 5}) {
		t.Fatalf("got %+v, want Lagged{6, 5}", m)
	}
	expectEmpty(t, s)

	// Hysteresis: after a new overflow, delivery resumes only once half the
	// queue is free, with the notice in the gap's place.
	for range 6 {
		mustPublish(t, b, bus.Event{Name: "e"}) // 12..15 queued, 16, 17 dropped
	}
	nextEvent(t, s)                         // 12 read: 3 queued
	mustPublish(t, b, bus.Event{Name: "e"}) // 18 dropped: more than half full
	nextEvent(t, s)                         // 13 read: 2 queued
	mustPublish(t, b, bus.Event{Name: "e"}) // 19: notice, then 19
	for _, want := range []uint64{14, 15} {
		if e := nextEvent(t, s); e.ID != want {
			t.Fatalf("got %d, want %d", e.ID, want)
		}
	}
	if m := next(t, s); m.Lagged == nil || *m.Lagged != (bus.Lagged{Dropped: 3, ResumeAfter: 15}) {
		t.Fatalf("got %+v, want Lagged{3, 15}", m)
	}
	if e := nextEvent(t, s); e.ID != 19 {
		t.Fatalf("after notice got %d, want 19", e.ID)
	}
	expectEmpty(t, s)
}

// TestLaggedWakesWaitingNext: a notice reaches a reader already waiting on
// an empty queue even if nothing is published after the drop.
func TestLaggedWakesWaitingNext(t *testing.T) {
	b := bus.NewMemory(bus.WithQueueSize(2))
	defer b.Close()
	s := mustSubscribe(t, b, bus.Filter{Names: []string{"e"}})
	for range 5 {
		mustPublish(t, b, bus.Event{Name: "e"})
	}
	var got []bus.Message
	for range 3 {
		got = append(got, next(t, s))
	}
	if got[0].Event.ID != 1 || got[1].Event.ID != 2 || got[2].Lagged == nil || *got[2].Lagged != (bus.Lagged{Dropped: 3, ResumeAfter: 2}) {
		t.Fatalf("got %+v %+v %+v", got[0], got[1], got[2])
	}
}

func TestResume(t *testing.T) {
	b := bus.NewMemory(bus.WithWindowSize(8))
	defer b.Close()
	for i := range 20 {
		name := "a"
		if i%2 == 1 {
			name = "b"
		}
		mustPublish(t, b, bus.Event{Name: name}) // ids 1..20; a: odd, b: even
	}
	t.Run("within window", func(t *testing.T) {
		s := mustSubscribe(t, b, bus.Filter{Names: []string{"a"}, AfterID: 15})
		for _, want := range []uint64{17, 19} {
			if e := nextEvent(t, s); e.ID != want {
				t.Fatalf("got %d, want %d", e.ID, want)
			}
		}
		expectEmpty(t, s)
	})
	t.Run("beyond window", func(t *testing.T) {
		s := mustSubscribe(t, b, bus.Filter{Names: []string{"*"}, AfterID: 2})
		if m := next(t, s); m.Lagged == nil || *m.Lagged != (bus.Lagged{Dropped: 10, ResumeAfter: 2}) {
			t.Fatalf("got %+v, want Lagged{10 (ids 3..12), 2}", m)
		}
		for want := uint64(13); want <= 20; want++ {
			if e := nextEvent(t, s); e.ID != want {
				t.Fatalf("got %d, want %d", e.ID, want)
			}
		}
		expectEmpty(t, s)
	})
	t.Run("at the head", func(t *testing.T) {
		s := mustSubscribe(t, b, bus.Filter{Names: []string{"*"}, AfterID: 20})
		expectEmpty(t, s)
	})
	t.Run("ahead of the bus", func(t *testing.T) {
		s := mustSubscribe(t, b, bus.Filter{Names: []string{"*"}, AfterID: 1000})
		if m := next(t, s); m.Lagged == nil || *m.Lagged != (bus.Lagged{Dropped: 0, ResumeAfter: 20}) {
			t.Fatalf("got %+v, want Lagged{0, 20}", m)
		}
	})
	t.Run("targeted replay", func(t *testing.T) {
		mustPublish(t, b, bus.Event{Name: "t", Target: "x"}) // 21
		mustPublish(t, b, bus.Event{Name: "t", Target: "y"}) // 22
		s := mustSubscribe(t, b, bus.Filter{Names: []string{"t"}, Label: "y", AfterID: 20})
		if e := nextEvent(t, s); e.ID != 22 {
			t.Fatalf("got %d, want 22", e.ID)
		}
		expectEmpty(t, s)
	})
	t.Run("window off", func(t *testing.T) {
		b := bus.NewMemory(bus.WithWindowSize(0))
		defer b.Close()
		mustPublish(t, b, bus.Event{Name: "a"})
		mustPublish(t, b, bus.Event{Name: "a"})
		s := mustSubscribe(t, b, bus.Filter{Names: []string{"a"}, AfterID: 1})
		if m := next(t, s); m.Lagged == nil || *m.Lagged != (bus.Lagged{Dropped: 1, ResumeAfter: 1}) {
			t.Fatalf("got %+v, want Lagged{1, 1}", m)
		}
	})
}

// TestResumeSeam subscribes with AfterID while a publisher runs: the
// subscriber must see every id after AfterID exactly once, in order.
func TestResumeSeam(t *testing.T) {
	const total = 20000
	for round := range 20 {
		b := bus.NewMemory(bus.WithWindowSize(total), bus.WithQueueSize(total))
		started := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range total {
				if i == 100*round+10 {
					close(started)
				}
				if _, err := b.Publish(context.Background(), bus.Event{Name: "e"}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		<-started
		after := b.LastID() - 5
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
		b.Close()
	}
}

func TestListenAndOnce(t *testing.T) {
	b := bus.NewMemory()
	defer b.Close()
	var mu sync.Mutex
	var got, once []uint64
	done := make(chan struct{})
	release := make(chan struct{})
	unlisten, err := b.Listen("tick", func(e bus.Event) {
		<-release // blocks the listener, never the publisher
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e.ID)
		if len(got) == 100 {
			close(done)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	unonce, err := b.Once("tick", func(e bus.Event) {
		mu.Lock()
		defer mu.Unlock()
		once = append(once, e.ID)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unonce()
	if _, err := b.Listen("bad name", func(bus.Event) {}); code(err) != tether.CodeInvalidArgument {
		t.Fatalf("Listen(bad name) = %v", err)
	}
	if _, err := b.Listen("x", nil); code(err) != tether.CodeInvalidArgument {
		t.Fatalf("Listen(nil) = %v", err)
	}
	published := make(chan struct{})
	go func() {
		defer close(published)
		for range 100 {
			if _, err := b.Publish(context.Background(), bus.Event{Name: "tick"}); err != nil {
				t.Error(err)
			}
		}
	}()
	select {
	case <-published:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish waited for a blocked handler")
	}
	close(release)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("listener did not get 100 events")
	}
	unlisten()
	mustPublish(t, b, bus.Event{Name: "tick"})
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for i, id := range got {
		if id != uint64(i+1) {
			t.Fatalf("listener got %v, want 1..100 in order", got)
		}
	}
	if len(got) != 100 {
		t.Fatalf("listener got %d events after unlisten, want 100", len(got))
	}
	if len(once) != 1 || once[0] != 1 {
		t.Fatalf("once got %v, want [1]", once)
	}
}

func rawPayload(b []byte) *tetherv1.Payload {
	return &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: b}}
}
