package bus

import (
	"context"
	"slices"
	"sync"

	"github.com/tether-ipc/tether"
)

// Memory is the in-process Bus. One mutex orders everything: Publish takes
// it to assign the id, store the event in the window and queue it for each
// matching subscriber in its ring buffer, without waiting, so the publisher
// never waits for a subscriber and the bus starts no goroutine per event or
// per subscription (only one per backend listener).
//
// Memory held is bounded by the window (WithWindowSize events) plus, per
// subscriber, its queue (WithQueueSize messages) and, while a resumed
// subscriber has not read them, the window's events it replays.
type Memory struct {
	queue, window, maxSubs int

	mu     sync.Mutex
	closed bool
	base   uint64   // the id before the first one this bus gives
	last   uint64   // last id assigned
	ring   []*Event // the window: event id i sits at ring[(i-1)%len(ring)]
	held   int      // events in the window
	nsubs  int
	byName map[string][]*Subscription
	all    []*Subscription // wildcard subscribers
}

var _ Bus = (*Memory)(nil)

// NewMemory returns an in-process bus. With no options it keeps 4096 events
// for resuming, gives each subscriber a queue of 1024 messages and accepts
// DefaultMaxSubscribers() subscribers.
func NewMemory(opts ...Option) *Memory {
	c := config{queue: DefaultQueueSize, window: DefaultWindowSize, firstID: 1}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.maxSubs == 0 {
		c.maxSubs = DefaultMaxSubscribers()
	}
	return &Memory{
		queue:   c.queue,
		window:  c.window,
		maxSubs: c.maxSubs,
		base:    c.firstID - 1,
		last:    c.firstID - 1,
		ring:    make([]*Event, c.window),
		byName:  make(map[string][]*Subscription),
	}
}

// Publish implements Bus. The event is copied; its payload is shared.
func (m *Memory) Publish(ctx context.Context, ev Event) (uint64, error) {
	if err := ValidName(ev.Name); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, tether.FromError(err)
	}
	h := &heldEvent{ev: Event{Name: ev.Name, Payload: ev.Payload, Target: ev.Target, Source: ev.Source}}
	e := &h.ev
	e.enc = &h.enc
	h.enc.owner = e
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	m.last++
	e.ID = m.last
	if len(m.ring) > 0 {
		m.ring[(e.ID-1)%uint64(len(m.ring))] = e
		if m.held < len(m.ring) {
			m.held++
		}
	}
	for _, s := range m.byName[e.Name] {
		if s.filter.matchTarget(e) {
			s.deliver(e)
		}
	}
	for _, s := range m.all {
		if s.filter.matchTarget(e) {
			s.deliver(e)
		}
	}
	return e.ID, nil
}

// Subscribe implements Bus. Next delivers, in order: a Lagged notice if
// f.AfterID reaches back beyond the window, the held events after f.AfterID,
// then live events.
func (m *Memory) Subscribe(ctx context.Context, f Filter) (*Subscription, error) {
	if len(f.Names) == 0 {
		return nil, tether.NewError(tether.CodeInvalidArgument, "bus: subscribe needs at least one event name")
	}
	wildcard := false
	names := make([]string, 0, len(f.Names))
	for _, n := range f.Names {
		if n == Wildcard {
			wildcard = true
			continue
		}
		if err := ValidName(n); err != nil {
			return nil, err
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if wildcard {
		names = nil
	}
	if err := ctx.Err(); err != nil {
		return nil, tether.FromError(err)
	}
	s := &Subscription{
		bus:      m,
		max:      m.queue,
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		names:    names,
		wildcard: wildcard,
	}
	s.filter = Filter{Names: slices.Clone(f.Names), Label: f.Label, AfterID: f.AfterID}

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	if m.nsubs >= m.maxSubs {
		m.mu.Unlock()
		return nil, tether.Errorf(tether.CodeResourceExhausted, "bus: subscriber limit of %d reached", m.maxSubs)
	}
	if f.AfterID != 0 {
		s.replayLocked(m, f.AfterID)
	}
	m.nsubs++
	if wildcard {
		m.all = append(m.all, s)
	} else {
		for _, n := range names {
			m.byName[n] = append(m.byName[n], s)
		}
	}
	m.mu.Unlock()

	s.stop = context.AfterFunc(ctx, func() { m.remove(s, tether.FromError(ctx.Err())) })
	return s, nil
}

// replayLocked fills the subscription's replay from the window. m.mu is held,
// so no event can be published between the snapshot and the registration.
func (s *Subscription) replayLocked(m *Memory, after uint64) {
	if after > m.last {
		// Ids this bus never gave: its history was lost (a restart).
		s.lag = &Lagged{ResumeAfter: m.last}
		return
	}
	oldest := m.last - uint64(m.held) + 1
	from := after + 1
	if after < m.base {
		// An id from before this bus existed (a previous run): what
		// happened in between is unknown. Deliver all that is held.
		s.lag = &Lagged{ResumeAfter: after}
		from = oldest
	} else if from < oldest {
		s.lag = &Lagged{Dropped: oldest - from, ResumeAfter: after}
		from = oldest
	}
	w := uint64(len(m.ring))
	for id := from; id <= m.last; id++ {
		e := m.ring[(id-1)%w]
		if s.matches(e) {
			s.replay = append(s.replay, e)
		}
	}
}

// remove ends a subscription with err; it is idempotent.
func (m *Memory) remove(s *Subscription, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeLocked(s, err)
}

func (m *Memory) removeLocked(s *Subscription, err error) {
	if s.closed.Load() {
		return
	}
	if s.wildcard {
		m.all = deleteSub(m.all, s)
	} else {
		for _, n := range s.names {
			if l := deleteSub(m.byName[n], s); len(l) == 0 {
				delete(m.byName, n)
			} else {
				m.byName[n] = l
			}
		}
	}
	m.nsubs--
	s.err = err
	s.closed.Store(true)
	close(s.done)
}

func deleteSub(l []*Subscription, s *Subscription) []*Subscription {
	if i := slices.Index(l, s); i >= 0 {
		l[i] = l[len(l)-1]
		l[len(l)-1] = nil
		l = l[:len(l)-1]
	}
	return l
}

// Listen implements Bus.
func (m *Memory) Listen(name string, h Handler) (func(), error) {
	return m.listen(name, h, false)
}

// Once implements Bus.
func (m *Memory) Once(name string, h Handler) (func(), error) {
	return m.listen(name, h, true)
}

func (m *Memory) listen(name string, h Handler, once bool) (func(), error) {
	if h == nil {
		return nil, tether.NewError(tether.CodeInvalidArgument, "bus: nil handler")
	}
	s, err := m.Subscribe(context.Background(), Filter{Names: []string{name}})
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			msg, err := s.Next(context.Background())
			if err != nil {
				return
			}
			if msg.Event == nil || s.closed.Load() {
				continue
			}
			if once {
				s.Unsubscribe()
			}
			h(*msg.Event)
			if once {
				return
			}
		}
	}()
	return s.Unsubscribe, nil
}

// Close implements Bus. Queued messages are discarded; Next returns
// ErrClosed. A backend handler already running is not waited for.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	for _, l := range m.byName {
		for _, s := range slices.Clone(l) {
			m.removeLocked(s, ErrClosed)
		}
	}
	for _, s := range slices.Clone(m.all) {
		m.removeLocked(s, ErrClosed)
	}
	clear(m.ring)
	m.held = 0
	return nil
}

// LastID returns the id of the last published event, 0 if none.
func (m *Memory) LastID() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}
