package bus

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tether-ipc/tether"
)

// Subscription is one subscriber's bounded queue of messages. Read it with
// Next and Poll from one goroutine at a time; Unsubscribe, Done, Err and
// Pending are safe from any goroutine.
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
	backend  bool // a Listen or Once handler's: Interrupt leaves it

	// The queue: a ring buffer that grows on demand up to max messages, so
	// an idle subscriber holds none. Written by deliver (under bus.mu) and
	// read by Next, both under mu.
	mu              sync.Mutex
	buf             []Message
	head, n         int
	max             int
	bytes, maxBytes int64  // of the queued events (eventBytes)
	dropped         uint64 // events dropped since the queue filled
	resumeAfter     uint64
	wake            chan struct{} // pinged when the queue leaves empty or dropping starts

	// skipTo, set before the subscription is registered: live events with
	// ids up to it are not delivered (a resume from an id of a log not yet
	// appended here).
	skipTo uint64

	// lostGen is the bus's lostN at the last Lost this subscriber was
	// told of; guarded by bus.mu.
	lostGen uint64

	// The replay, read by Next and Poll only: a notice first, then the
	// ids rnext..rend (0: none left) from the window — or, for the part
	// the window no longer holds, from the bus's history: the range
	// (histFrom, histTo] (histTo 0: none), read into histBuf.
	lag              *Lagged
	rnext, rend      uint64
	histFrom, histTo uint64
	histBuf          []Message

	// The open history cursor; hmu also guards histEnded and life, which
	// end it when the subscription ends (from any goroutine).
	hmu        sync.Mutex
	hist       Cursor
	histEnded  bool
	life       context.Context
	lifeCancel context.CancelFunc

	closed atomic.Bool
	done   chan struct{}
	err    error // why it ended; written before done is closed
	stop   func() bool
}

// minQueueAlloc is the first allocation of a queue; it doubles from there.
const minQueueAlloc = 8

func (s *Subscription) matches(e *Event) bool {
	if !s.filter.matchTarget(e) {
		return false
	}
	return s.wildcard || slices.Contains(s.names, e.Name)
}

// push appends m; the caller holds mu and has checked n < max.
func (s *Subscription) push(m Message) {
	if s.n == len(s.buf) {
		size := max(minQueueAlloc, 2*len(s.buf))
		size = min(size, s.max)
		nb := make([]Message, size)
		k := copy(nb, s.buf[s.head:])
		copy(nb[k:], s.buf[:s.head])
		s.buf, s.head = nb, 0
	}
	i := s.head + s.n
	if i >= len(s.buf) {
		i -= len(s.buf)
	}
	s.buf[i] = m
	s.n++
	if m.Event != nil {
		s.bytes += m.Event.size()
	}
}

// pop removes the oldest message; the caller holds mu and has checked n > 0.
func (s *Subscription) pop() Message {
	m := s.buf[s.head]
	s.buf[s.head] = Message{}
	if s.head++; s.head == len(s.buf) {
		s.head = 0
	}
	s.n--
	if s.n == 0 {
		s.head = 0
	}
	if m.Event != nil {
		s.bytes -= m.Event.size()
	}
	return m
}

func (s *Subscription) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// deliver queues e or drops it. The caller holds bus.mu, so deliver is never
// run concurrently for one subscription.
func (s *Subscription) deliver(e *Event) {
	if e.ID <= s.skipTo {
		return
	}
	size := e.size()
	s.mu.Lock()
	defer s.mu.Unlock()
	// Next waits only after finding the queue empty, so only a push into
	// an empty queue needs to wake it.
	if s.dropped == 0 {
		if s.n < s.max && (s.n == 0 || s.bytes+size <= s.maxBytes) {
			s.push(Message{Event: e})
			if s.n == 1 {
				s.signal()
			}
		} else {
			s.resumeAfter = e.ID - 1
			s.dropped = 1
			s.signal()
		}
		return
	}
	if s.n <= s.max/2 && s.max-s.n >= 2 && s.bytes <= s.maxBytes/2 && (s.n == 0 || s.bytes+size <= s.maxBytes) {
		// Room for the notice and the event.
		wasEmpty := s.n == 0
		s.push(Message{Lagged: &Lagged{Dropped: s.dropped, ResumeAfter: s.resumeAfter}})
		s.dropped = 0
		s.push(Message{Event: e})
		if wasEmpty {
			s.signal()
		}
		return
	}
	s.dropped++
}

// lost records that the ids (after, upto] of the bus's log are gone. The
// caller holds bus.mu. Ids up to skipTo were never this subscriber's.
func (s *Subscription) lost(after, upto uint64) {
	after = max(after, s.skipTo)
	if upto <= after {
		return
	}
	n := upto - after
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.dropped != 0:
		s.dropped += n
	case s.n < s.max:
		s.push(Message{Lagged: &Lagged{Dropped: n, ResumeAfter: after}})
		if s.n == 1 {
			s.signal()
		}
	default:
		s.resumeAfter, s.dropped = after, n
		s.signal()
	}
}

// Next returns the next message, waiting until there is one, ctx ends or the
// subscription ends (then the error is ErrUnsubscribed, ErrClosed, the
// error given to Interrupt, or the error of the context given to
// Subscribe). Messages still queued when the subscription ends are
// discarded. A resumed subscription of a bus with a history may also fail
// with the error of reading the history.
func (s *Subscription) Next(ctx context.Context) (Message, error) {
	var one [1]Message
	for {
		if s.closed.Load() {
			return Message{}, s.err
		}
		if got := s.take(one[:0], 1); len(got) == 1 {
			return got[0], nil
		}
		if s.histTo != 0 {
			if err := s.readHistory(ctx); err != nil {
				return Message{}, err
			}
			continue
		}
		select {
		case <-s.wake:
		case <-s.done:
			return Message{}, s.err
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}

// Poll appends to dst, without waiting, up to max of the messages that Next
// would return now, in the same order, and returns the extended slice. It
// appends nothing when none is ready or the subscription has ended. Like
// Next, it is for the one goroutine reading the subscription: a reader that
// has waited for a message with Next can take what queued up behind it with
// Poll in one step. Poll never reads a bus's history: a replay that needs
// it waits for the next call of Next.
func (s *Subscription) Poll(dst []Message, max int) []Message {
	if max <= 0 || s.closed.Load() {
		return dst
	}
	return s.take(dst, max)
}

// take appends up to max (at least 1) ready messages to dst.
func (s *Subscription) take(dst []Message, max int) []Message {
	if s.lag != nil {
		dst = append(dst, Message{Lagged: s.lag})
		s.lag = nil
		if max--; max == 0 {
			return dst
		}
	}
	for max > 0 {
		if len(s.histBuf) > 0 {
			dst = append(dst, s.histBuf[0])
			s.histBuf[0] = Message{}
			if s.histBuf = s.histBuf[1:]; len(s.histBuf) == 0 {
				s.histBuf = nil
			}
			max--
			continue
		}
		if s.histTo != 0 || s.rnext == 0 {
			break
		}
		n0 := len(dst)
		m := s.bus
		m.mu.Lock()
		var from, to uint64
		dst, from, to = s.replayLocked(m, dst, max)
		m.mu.Unlock()
		max -= len(dst) - n0
		if to != 0 {
			s.histFrom, s.histTo = from, to
		}
	}
	if max == 0 || s.rnext != 0 || s.histTo != 0 {
		return dst // the queue comes after the replay
	}
	s.mu.Lock()
	for ; max > 0 && s.n > 0; max-- {
		dst = append(dst, s.pop())
	}
	if max > 0 && s.dropped != 0 {
		// Dropping started and the queue is empty: the notice now.
		dst = append(dst, Message{Lagged: &Lagged{Dropped: s.dropped, ResumeAfter: s.resumeAfter}})
		s.dropped = 0
	}
	s.mu.Unlock()
	return dst
}

// readHistory reads the next messages of the replay's history range into
// histBuf, opening the cursor first if needed; at the end of the range the
// replay goes on from the window.
func (s *Subscription) readHistory(ctx context.Context) error {
	s.hmu.Lock()
	if s.histEnded {
		s.hmu.Unlock()
		return s.endedErr()
	}
	if s.life == nil {
		s.life, s.lifeCancel = context.WithCancel(context.Background())
	}
	c, life := s.hist, s.life
	s.hmu.Unlock()
	hctx, cancel := context.WithCancel(life)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	fail := func(err error) error {
		switch {
		case s.closed.Load():
			return s.endedErr()
		case ctx.Err() != nil:
			return ctx.Err()
		}
		return tether.FromError(err)
	}
	if c == nil {
		var err error
		if c, err = s.bus.history.Read(hctx, s.Filter(), s.histFrom, s.histTo); err != nil {
			return fail(err)
		}
		s.hmu.Lock()
		if s.histEnded {
			s.hmu.Unlock()
			c.Close()
			return s.endedErr()
		}
		s.hist = c
		s.hmu.Unlock()
	}
	msgs, err := c.Next(hctx)
	if errors.Is(err, io.EOF) {
		s.hmu.Lock()
		s.hist = nil
		s.hmu.Unlock()
		c.Close()
		s.rnext = s.histTo + 1
		s.histFrom, s.histTo = 0, 0
		return nil
	}
	if err != nil {
		return fail(err)
	}
	for _, m := range msgs {
		// Only what the range asked for, in order, matching.
		if e := m.Event; e != nil {
			if e.ID <= s.histFrom || e.ID > s.histTo || !s.matches(e) {
				continue
			}
			s.histFrom = e.ID
		}
		s.histBuf = append(s.histBuf, m)
	}
	return nil
}

// endedErr is the error of a subscription that has ended (done closed).
func (s *Subscription) endedErr() error {
	<-s.done
	return s.err
}

// endHistory stops the history read of a subscription that ends and
// returns the cursor to close (outside the bus's lock), if one is open.
func (s *Subscription) endHistory() Cursor {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.histEnded = true
	if s.lifeCancel != nil {
		s.lifeCancel()
	}
	c := s.hist
	s.hist = nil
	return c
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
func (s *Subscription) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Filter returns the filter the subscription was made with.
func (s *Subscription) Filter() Filter {
	f := s.filter
	f.Names = slices.Clone(f.Names)
	return f
}
