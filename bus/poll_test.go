package bus_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tether-ipc/tether/bus"
)

// describe renders a message for comparing two streams.
func describe(m bus.Message) string {
	if m.Lagged != nil {
		return fmt.Sprintf("lagged(%d,%d)", m.Lagged.Dropped, m.Lagged.ResumeAfter)
	}
	return fmt.Sprintf("event(%d)", m.Event.ID)
}

// readyNow reads with Next what is ready, up to max messages, without
// waiting: the context is already cancelled, and Next returns a ready
// message before it looks at the context.
func readyNow(s *bus.Subscription, max int) []bus.Message {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out []bus.Message
	for range max {
		m, err := s.Next(ctx)
		if err != nil {
			break
		}
		out = append(out, m)
	}
	return out
}

// TestPollMatchesNext runs two identical subscriptions through the same
// random script of publishes and reads, with a small queue so that events
// are dropped and resumed: one is read with Next, one with Poll. Both must
// see the same messages in the same order: events, and Lagged notices at the
// same places.
func TestPollMatchesNext(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			b := bus.NewMemory(bus.WithQueueSize(8), bus.WithWindowSize(16))
			defer b.Close()
			for range 40 { // history, so that the resume below replays and lags
				mustPublish(t, b, bus.Event{Name: "e"})
			}
			f := bus.Filter{Names: []string{"e"}, AfterID: 10} // beyond the window: a notice, then the replay
			viaNext := mustSubscribe(t, b, f)
			viaPoll := mustSubscribe(t, b, f)
			var a, p []string
			for range 300 {
				for range rng.IntN(12) {
					mustPublish(t, b, bus.Event{Name: "e"})
				}
				n := 1 + rng.IntN(10)
				for _, m := range readyNow(viaNext, n) {
					a = append(a, describe(m))
				}
				for _, m := range viaPoll.Poll(nil, n) {
					p = append(p, describe(m))
				}
			}
			for _, m := range readyNow(viaNext, 100) {
				a = append(a, describe(m))
			}
			for _, m := range viaPoll.Poll(nil, 100) {
				p = append(p, describe(m))
			}
			if strings.Join(a, " ") != strings.Join(p, " ") {
				t.Fatalf("Next and Poll differ:\nNext: %v\nPoll: %v", a, p)
			}
			if !strings.HasPrefix(a[0], "lagged(") || !strings.Contains(strings.Join(a[1:], " "), "lagged(") {
				t.Fatalf("the script should have caused a resume notice and a drop: %v", a)
			}
		})
	}
}

func TestPollEdges(t *testing.T) {
	b := bus.NewMemory()
	defer b.Close()
	s := mustSubscribe(t, b, bus.Filter{Names: []string{"e"}})
	if got := s.Poll(nil, 10); len(got) != 0 {
		t.Fatalf("Poll on an empty queue = %v", got)
	}
	mustPublish(t, b, bus.Event{Name: "e"})
	if got := s.Poll(nil, 0); len(got) != 0 {
		t.Fatalf("Poll with max 0 = %v", got)
	}
	dst := make([]bus.Message, 1, 4)
	if got := s.Poll(dst, 10); len(got) != 2 || got[1].Event == nil {
		t.Fatalf("Poll appends after dst: %v", got)
	}
	mustPublish(t, b, bus.Event{Name: "e"})
	s.Unsubscribe()
	if got := s.Poll(nil, 10); len(got) != 0 {
		t.Fatalf("Poll after Unsubscribe = %v, want nothing (queued messages are discarded)", got)
	}
}
