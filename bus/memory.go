package bus

import (
	"context"
	"slices"
	"sort"
	"sync"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// Memory is the in-process Bus. One mutex orders everything: Publish takes
// it to assign the id, store the event in the window and queue it for each
// matching subscriber in its ring buffer, without waiting, so the publisher
// never waits for a subscriber and the bus starts no goroutine per event or
// per subscription (only one per backend listener).
//
// Memory held is bounded in bytes: the window (WithWindowBytes, and at most
// WithWindowSize events) plus, per subscriber, its queue (WithQueueBytes,
// and at most WithQueueSize messages). A resumed subscriber replays from the
// window itself, as it reads, so it holds no copy of it.
type Memory struct {
	queue, window, maxSubs  int
	queueBytes, windowBytes int64
	history                 History

	mu     sync.Mutex
	closed bool
	base   uint64 // the id before the first one this bus gives
	last   uint64 // last id assigned (or appended)

	// The window: a ring of the last events, oldest first, ids increasing
	// (with gaps when appended from a history log).
	ring       []*Event
	head, held int
	heldBytes  int64

	nsubs  int
	byName map[string][]*Subscription
	all    []*Subscription // wildcard subscribers
	lostN  uint64          // counts the calls of Lost that reached subscribers
}

var _ Bus = (*Memory)(nil)

// NewMemory returns an in-process bus. With no options it keeps 4096 events
// and 32 MiB for resuming, gives each subscriber a queue of 1024 messages
// and 8 MiB, and accepts DefaultMaxSubscribers() subscribers.
func NewMemory(opts ...Option) *Memory {
	c := config{queue: DefaultQueueSize, queueBytes: DefaultQueueBytes, window: DefaultWindowSize,
		windowBytes: DefaultWindowBytes, firstID: 1}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.maxSubs == 0 {
		c.maxSubs = DefaultMaxSubscribers()
	}
	return &Memory{
		queue:       c.queue,
		queueBytes:  c.queueBytes,
		window:      c.window,
		windowBytes: c.windowBytes,
		maxSubs:     c.maxSubs,
		history:     c.history,
		base:        c.firstID - 1,
		last:        c.firstID - 1,
		byName:      make(map[string][]*Subscription),
	}
}

// eventOverhead is what an event costs beyond its payload and strings: the
// Event, its encoding cache, the payload message and the window slot.
const eventOverhead = 256

// eventBytes is what an event counts against the window and queue bounds.
func eventBytes(e *Event) int64 {
	n := int64(eventOverhead + len(e.Name) + len(e.Target) + len(e.Source))
	switch b := e.Payload.GetBody().(type) {
	case *tetherv1.Payload_Json:
		n += 2 * int64(len(b.Json))
	case *tetherv1.Payload_Raw:
		n += 2 * int64(len(b.Raw))
	case *tetherv1.Payload_Proto:
		n += 2 * int64(len(b.Proto))
	}
	return n
}

// Publish implements Bus. The event is copied; its payload is shared. A bus
// made WithHistory refuses it with failed_precondition: its events come
// from the log (Append).
func (m *Memory) Publish(ctx context.Context, ev Event) (uint64, error) {
	if err := ValidName(ev.Name); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, tether.FromError(err)
	}
	if m.history != nil {
		return 0, tether.NewError(tether.CodeFailedPrecondition, "bus: this bus copies a log: publish to the log")
	}
	e := newHeld(ev)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	m.last++
	e.ID = m.last
	m.addLocked(e)
	return e.ID, nil
}

// Append adds an event of the log a bus made WithHistory copies, with the
// log's id ev.ID, which must be larger than every id appended before (ids
// may skip: a log may number more than the events it sends here; ids it
// lost are told with Lost). It stores the event in the window and queues
// it for every matching subscriber, as Publish does. The event is copied;
// its payload is shared.
func (m *Memory) Append(ev Event) error {
	if err := ValidName(ev.Name); err != nil {
		return err
	}
	e := newHeld(ev)
	e.ID = ev.ID
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if e.ID <= m.last {
		return tether.Errorf(tether.CodeFailedPrecondition, "bus: append id %d after %d: ids must increase", e.ID, m.last)
	}
	m.last = e.ID
	m.addLocked(e)
	return nil
}

// Lost tells a bus made WithHistory that the log's ids after the last one
// appended, up to upto, are gone: the log removed them (its limits, or a
// deletion) before this copy read them. Every subscriber learns it in
// order: a Lagged notice {Dropped: the ids gone, ResumeAfter: the last id
// before them} after what it has queued, merged into the count of a
// subscriber that is already dropping. Whether a lost id would have matched
// a subscriber is not known, so Dropped counts ids, as a resume's notice
// does. Ids up to the last appended are ignored; the next Append must be
// after upto.
func (m *Memory) Lost(upto uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.history == nil {
		return tether.NewError(tether.CodeFailedPrecondition, "bus: only a bus that copies a log can lose ids of it")
	}
	if upto <= m.last {
		return nil
	}
	after := m.last
	m.last = upto
	m.lostN++ // a subscriber of several names is told once
	tell := func(s *Subscription) {
		if s.lostGen != m.lostN {
			s.lostGen = m.lostN
			s.lost(after, upto)
		}
	}
	for _, subs := range m.byName {
		for _, s := range subs {
			tell(s)
		}
	}
	for _, s := range m.all {
		tell(s)
	}
	return nil
}

func newHeld(ev Event) *Event {
	h := &heldEvent{ev: Event{Name: ev.Name, Payload: ev.Payload, Target: ev.Target, Source: ev.Source}}
	e := &h.ev
	e.enc = &h.enc
	h.enc.owner = e
	h.enc.size = eventBytes(e)
	return e
}

// addLocked stores e in the window and queues it for its subscribers.
func (m *Memory) addLocked(e *Event) {
	m.keepLocked(e)
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
}

// keepLocked appends e to the window, then drops the oldest events while
// the window holds more than its size or its bytes.
func (m *Memory) keepLocked(e *Event) {
	if m.window == 0 {
		return
	}
	if m.held == len(m.ring) && len(m.ring) < m.window {
		// Grow (by doubling, up to the size): a bus with little traffic
		// holds a small ring.
		nr := make([]*Event, min(max(16, 2*len(m.ring)), m.window))
		for i := range m.held {
			nr[i] = m.ring[(m.head+i)%len(m.ring)]
		}
		m.ring, m.head = nr, 0
	}
	if m.held == len(m.ring) {
		m.dropOldestLocked()
	}
	m.ring[(m.head+m.held)%len(m.ring)] = e
	m.held++
	m.heldBytes += e.enc.size
	for m.held > 0 && m.heldBytes > m.windowBytes {
		m.dropOldestLocked()
	}
}

func (m *Memory) dropOldestLocked() {
	e := m.ring[m.head]
	m.ring[m.head] = nil
	m.head = (m.head + 1) % len(m.ring)
	m.held--
	m.heldBytes -= e.enc.size
}

// heldAt returns the i-th oldest event of the window.
func (m *Memory) heldAt(i int) *Event { return m.ring[(m.head+i)%len(m.ring)] }

// oldestLocked is the id of the oldest event held, or last+1 if none is.
func (m *Memory) oldestLocked() uint64 {
	if m.held == 0 {
		return m.last + 1
	}
	return m.heldAt(0).ID
}

// Subscribe implements Bus. Next delivers, in order: the events after
// f.AfterID the bus or its history still holds (a Lagged notice where some
// are gone), then live events.
func (m *Memory) Subscribe(ctx context.Context, f Filter) (*Subscription, error) {
	return m.subscribe(ctx, f, false)
}

func (m *Memory) subscribe(ctx context.Context, f Filter, backend bool) (*Subscription, error) {
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
		maxBytes: m.queueBytes,
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		names:    names,
		wildcard: wildcard,
		backend:  backend,
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
		s.resumeLocked(m, f.AfterID)
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

// resumeLocked sets up the replay of a subscription resuming after the id
// after. m.mu is held, so no event can be added between this and the
// registration: the replay ends at m.last, and live events follow it.
func (s *Subscription) resumeLocked(m *Memory, after uint64) {
	if after >= m.last {
		if after > m.last {
			if m.history != nil {
				// An id of the log not appended here yet.
				s.skipTo = after
			} else {
				// Ids this bus never gave: its history was lost (a restart).
				s.lag = &Lagged{ResumeAfter: m.last}
			}
		}
		return
	}
	s.rnext, s.rend = after+1, m.last
}

// replayLocked appends to dst, up to max, the replay messages the window
// answers, advancing the replay. It returns the range the window no longer
// holds, (from, to], when the replay must read it from the history first
// (to == 0 otherwise). m.mu is held.
func (s *Subscription) replayLocked(m *Memory, dst []Message, max int) (out []Message, from, to uint64) {
	for max > 0 && s.rnext != 0 {
		if s.rnext > s.rend {
			s.rnext, s.rend = 0, 0
			break
		}
		if oldest := m.oldestLocked(); s.rnext < oldest {
			gapEnd := min(oldest-1, s.rend)
			if m.history != nil {
				return dst, s.rnext - 1, gapEnd
			}
			l := &Lagged{Dropped: gapEnd - s.rnext + 1, ResumeAfter: s.rnext - 1}
			if s.rnext <= m.base {
				// Ids from before this bus existed (a previous run): what
				// happened in between is unknown.
				l.Dropped = 0
			}
			dst = append(dst, Message{Lagged: l})
			max--
			s.rnext = gapEnd + 1
			continue
		}
		i := sort.Search(m.held, func(i int) bool { return m.heldAt(i).ID >= s.rnext })
		for ; i < m.held && max > 0; i++ {
			e := m.heldAt(i)
			if e.ID > s.rend {
				break
			}
			s.rnext = e.ID + 1
			if s.matches(e) {
				dst = append(dst, Message{Event: e})
				max--
			}
		}
		if i == m.held || m.heldAt(i).ID > s.rend {
			s.rnext, s.rend = 0, 0
		}
	}
	return dst, 0, 0
}

// remove ends a subscription with err; it is idempotent.
func (m *Memory) remove(s *Subscription, err error) {
	m.mu.Lock()
	c := m.removeLocked(s, err)
	m.mu.Unlock()
	closeCursors(c)
}

// removeLocked ends s and returns its open history cursor, if any, for the
// caller to close once it has released m.mu.
func (m *Memory) removeLocked(s *Subscription, err error) Cursor {
	if s.closed.Load() {
		return nil
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
	return s.endHistory()
}

func closeCursors(cs ...Cursor) {
	for _, c := range cs {
		if c != nil {
			c.Close()
		}
	}
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
	s, err := m.subscribe(context.Background(), Filter{Names: []string{name}}, true)
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

// Interrupt ends every subscription made with Subscribe with err, which
// Next then returns; backend listeners (Listen, Once) go on. The bus stays
// open. A bus that copies a log uses it when it loses the log, so that
// remote listeners move to a replica that has it.
func (m *Memory) Interrupt(err error) {
	m.mu.Lock()
	cs := m.removeAllLocked(err, false)
	m.mu.Unlock()
	closeCursors(cs...)
}

// removeAllLocked ends every subscription (but backend ones unless
// backend) and returns the cursors to close.
func (m *Memory) removeAllLocked(err error, backend bool) []Cursor {
	var cs []Cursor
	for _, l := range m.byName {
		for _, s := range slices.Clone(l) {
			if backend || !s.backend {
				cs = append(cs, m.removeLocked(s, err))
			}
		}
	}
	for _, s := range slices.Clone(m.all) {
		if backend || !s.backend {
			cs = append(cs, m.removeLocked(s, err))
		}
	}
	return cs
}

// Close implements Bus. Queued messages are discarded; Next returns
// ErrClosed. A backend handler already running is not waited for.
func (m *Memory) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	cs := m.removeAllLocked(ErrClosed, true)
	clear(m.ring)
	m.ring, m.head, m.held, m.heldBytes = nil, 0, 0, 0
	m.mu.Unlock()
	closeCursors(cs...)
	return nil
}

// LastID returns the id of the last event published (or appended); before
// the first, the id before the bus's first id (0 unless set with
// WithFirstID).
func (m *Memory) LastID() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// Held reports the events the window holds now and the bytes they count
// (see WithWindowBytes).
func (m *Memory) Held() (events int, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held, m.heldBytes
}
