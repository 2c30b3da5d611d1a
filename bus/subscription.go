package bus

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// Subscription is one subscriber's bounded queue of messages. Read it with
// Next from one goroutine at a time; Unsubscribe, Done, Err and Pending are
// safe from any goroutine.
//
// When the queue is full the bus drops events for this subscriber only,
// counting them. Delivery resumes once the subscriber has emptied at least
// half of its queue: a Lagged notice with the count comes first, then the
// next event. If no event follows, Next returns the notice as soon as the
// queue is empty. So a subscriber sees every event in order, or learns
// exactly where and how many it missed.
type Subscription struct {
	bus      *Memory
	filter   Filter
	names    []string // exact names, nil with wildcard
	wildcard bool

	ch   chan Message  // the queue; written only under bus.mu
	wake chan struct{} // pinged when dropping starts, so a waiting Next sees the notice

	// Dropping state. dropped is written under mu, read atomically on the
	// publish fast path (only the publisher makes it non-zero).
	mu          sync.Mutex
	dropped     atomic.Uint64
	resumeAfter uint64

	// Read by Next only.
	lag    *Lagged  // notice before the replay, when resuming beyond the window
	replay []*Event // held events to deliver before the queue

	closed atomic.Bool
	done   chan struct{}
	err    error // why it ended; written before done is closed
	stop   func() bool
}

func (s *Subscription) matches(e *Event) bool {
	if !s.filter.matchTarget(e) {
		return false
	}
	return s.wildcard || slices.Contains(s.names, e.Name)
}

// deliver queues e or drops it. The caller holds bus.mu, so deliver is never
// run concurrently for one subscription, and only Next removes from ch.
func (s *Subscription) deliver(e *Event) {
	if s.dropped.Load() == 0 {
		select {
		case s.ch <- Message{Event: e}:
			return
		default:
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.dropped.Load()
	if n == 0 {
		select {
		case s.ch <- Message{Event: e}: // Next made room meanwhile
			return
		default:
		}
		s.resumeAfter = e.ID - 1
		s.dropped.Store(1)
		select {
		case s.wake <- struct{}{}:
		default:
		}
		return
	}
	if l := len(s.ch); l <= cap(s.ch)/2 && cap(s.ch)-l >= 2 {
		// Room for the notice and the event: no send below can block.
		s.ch <- Message{Lagged: &Lagged{Dropped: n, ResumeAfter: s.resumeAfter}}
		s.dropped.Store(0)
		s.ch <- Message{Event: e}
		return
	}
	s.dropped.Store(n + 1)
}

// Next returns the next message, waiting until there is one, ctx ends or the
// subscription ends (then the error is ErrUnsubscribed, ErrClosed, or the
// error of the context given to Subscribe). Messages still queued when the
// subscription ends are discarded.
func (s *Subscription) Next(ctx context.Context) (Message, error) {
	for {
		if s.closed.Load() {
			return Message{}, s.err
		}
		if s.lag != nil {
			l := s.lag
			s.lag = nil
			return Message{Lagged: l}, nil
		}
		if len(s.replay) > 0 {
			e := s.replay[0]
			s.replay[0] = nil
			s.replay = s.replay[1:]
			if len(s.replay) == 0 {
				s.replay = nil
			}
			return Message{Event: e}, nil
		}
		select {
		case m := <-s.ch:
			return m, nil
		default:
		}
		if s.dropped.Load() != 0 {
			s.mu.Lock()
			if n := s.dropped.Load(); n != 0 && len(s.ch) == 0 {
				l := &Lagged{Dropped: n, ResumeAfter: s.resumeAfter}
				s.dropped.Store(0)
				s.mu.Unlock()
				return Message{Lagged: l}, nil
			}
			s.mu.Unlock()
		}
		select {
		case m := <-s.ch:
			return m, nil
		case <-s.wake:
			// Dropping started while the queue looked empty: look again.
		case <-s.done:
			return Message{}, s.err
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}

// Unsubscribe ends the subscription now, discarding what is queued. It is
// idempotent and safe from any goroutine, including a backend Handler.
func (s *Subscription) Unsubscribe() {
	s.bus.remove(s, ErrUnsubscribed)
	if s.stop != nil {
		s.stop()
	}
}

// Done returns a channel closed when the subscription has ended.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns why the subscription ended, or nil while it is live.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Pending returns the number of messages queued, not counting replayed
// events or a pending Lagged notice. It never exceeds the queue size.
func (s *Subscription) Pending() int { return len(s.ch) }

// Filter returns the filter the subscription was made with.
func (s *Subscription) Filter() Filter {
	f := s.filter
	f.Names = slices.Clone(f.Names)
	return f
}
