package natsbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/bus"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// Stream configures the JetStream stream of WithJetStream. Zero fields
// take the defaults. The stream's limits are the resume window shared by
// every replica: a listener that reconnects, to any replica, with an id the
// stream still holds gets every event it missed.
type Stream struct {
	// Name is the stream's name (default: the subject prefix in capitals,
	// dots as underscores: "TETHER_EVENTS"). One stream per app: apps that
	// share a NATS server need their own prefix and name.
	Name string
	// MaxAge is how long the stream keeps an event (default 1h).
	MaxAge time.Duration
	// MaxBytes bounds the bytes the stream keeps (default 256 MiB); the
	// oldest events go first.
	MaxBytes int64
	// Replicas is the number of copies of the stream in a NATS cluster
	// (default 1; 3 for a cluster that survives the loss of a server).
	Replicas int
	// Memory keeps the stream in the NATS servers' memory instead of on
	// their disks: faster, lost when they all restart.
	Memory bool
}

// Defaults of Stream.
const (
	DefaultStreamMaxAge   = time.Hour
	DefaultStreamMaxBytes = 256 << 20
)

func (s Stream) withDefaults(prefix string) Stream {
	if s.Name == "" {
		s.Name = strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(prefix))
	}
	if s.MaxAge <= 0 {
		s.MaxAge = DefaultStreamMaxAge
	}
	if s.MaxBytes <= 0 {
		s.MaxBytes = DefaultStreamMaxBytes
	}
	if s.Replicas <= 0 {
		s.Replicas = 1
	}
	return s
}

func validStreamName(n string) bool {
	return n != "" && len(n) <= 255 && !strings.ContainsAny(n, " \t\r\n.*>/\\")
}

// startJetStream creates or updates the stream, makes the local copy start
// at the stream's end, and starts the consumer that feeds it.
func (b *Bus) startJetStream(s Stream, busOpts []bus.Option) error {
	s = s.withDefaults(b.prefix)
	if !validStreamName(s.Name) {
		return tether.Errorf(tether.CodeInvalidArgument, "natsbus: invalid stream name %q", s.Name)
	}
	b.scfg = s
	js, err := jetstream.New(b.nc)
	if err != nil {
		return tether.Errorf(tether.CodeUnavailable, "natsbus: jetstream: %w", err)
	}
	b.js = js
	ctx, cancel := context.WithTimeout(context.Background(), b.drainTimeout)
	defer cancel()
	storage := jetstream.FileStorage
	if s.Memory {
		storage = jetstream.MemoryStorage
	}
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        s.Name,
		Description: "Tether events (" + b.prefix + ")",
		Subjects:    []string{b.prefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      s.MaxAge,
		MaxBytes:    s.MaxBytes,
		Storage:     storage,
		Replicas:    s.Replicas,
		Duplicates:  min(s.MaxAge, 30*time.Second),
		AllowDirect: true,
	})
	if err != nil {
		return tether.Errorf(tether.CodeUnavailable, "natsbus: stream %s: %w", s.Name, err)
	}
	b.stream = stream
	info, err := stream.Info(ctx)
	if err != nil {
		return tether.Errorf(tether.CodeUnavailable, "natsbus: stream %s: %w", s.Name, err)
	}
	start := info.State.LastSeq + 1
	b.next = start
	b.local = bus.NewMemory(append(slices.Clone(busOpts), bus.WithFirstID(start), bus.WithHistory(history{b}))...)
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{b.prefix + ".>"},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    start,
	})
	if err != nil {
		b.local.Close()
		return tether.Errorf(tether.CodeUnavailable, "natsbus: consumer of %s: %w", s.Name, err)
	}
	b.live, err = cons.Consume(b.receiveStream,
		jetstream.PullMaxBytes(b.fetchBytes()),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			b.fail(fmt.Errorf("natsbus: consumer of %s: %w", s.Name, err))
		}))
	if err != nil {
		b.local.Close()
		return tether.Errorf(tether.CodeUnavailable, "natsbus: consume %s: %w", s.Name, err)
	}
	return nil
}

// fetchBytes bounds what one pull from the stream buffers: 4 MiB, or room
// for the largest message the server accepts.
func (b *Bus) fetchBytes() int {
	return int(max(4<<20, 2*b.nc.MaxPayload()))
}

func (b *Bus) stopJetStream() error {
	if b.nc.Status() != nats.CONNECTED {
		// Nothing to drain from a connection that is down; the consumer
		// may be retrying a request, which ends with the connection.
		b.live.Stop()
		select {
		case <-b.live.Closed():
		case <-time.After(time.Second):
		}
		return nil
	}
	b.live.Drain()
	select {
	case <-b.live.Closed():
		return nil
	case <-time.After(b.drainTimeout):
		b.live.Stop()
		select {
		case <-b.live.Closed():
		case <-time.After(time.Second):
		}
		return tether.NewError(tether.CodeDeadlineExceeded, "natsbus: drain timed out")
	}
}

// subject is where an event travels with JetStream: PREFIX.NAME, or
// PREFIX.NAME.TARGET for one aimed at a client label, so that a resume
// asks the stream for exactly the subscriber's events.
func (b *Bus) subject(name, target string) string {
	if target == "" {
		return b.prefix + "." + name
	}
	return b.prefix + "." + name + "." + target
}

// filterSubjects are the subjects of the events f matches.
func (b *Bus) filterSubjects(f bus.Filter) []string {
	names := f.Names
	if slices.Contains(names, bus.Wildcard) {
		names = []string{"*"}
	}
	label := f.Label
	if bus.ValidName(label) != nil {
		label = "" // no event can be aimed at it
	}
	out := make([]string, 0, 2*len(names))
	for _, n := range names {
		for _, s := range []string{b.prefix + "." + n, b.prefix + "." + n + "." + label} {
			if (label != "" || !strings.HasSuffix(s, ".")) && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

func (b *Bus) publishJetStream(ctx context.Context, ev bus.Event, data []byte) (uint64, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.drainTimeout)
		defer cancel()
	}
	msg := &nats.Msg{Subject: b.subject(ev.Name, ev.Target), Data: data}
	ack, err := b.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(b.scfg.Name))
	if err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0, tether.FromError(ctx.Err())
		}
		return 0, tether.Errorf(tether.CodeUnavailable, "natsbus: publish to stream %s: %v", b.scfg.Name, err)
	}
	return ack.Sequence, nil
}

// decodeStreamMsg decodes an event of the stream.
func (b *Bus) decodeStreamMsg(m jetstream.Msg) (bus.Event, error) {
	md, err := m.Metadata()
	if err != nil {
		return bus.Event{}, fmt.Errorf("natsbus: metadata of %s: %w", m.Subject(), err)
	}
	return b.decodeStream(m.Subject(), md.Sequence.Stream, m.Data())
}

// decodeStream decodes the event stored at sequence seq of the stream,
// checking that its subject is the one its name and target give.
func (b *Bus) decodeStream(subject string, seq uint64, data []byte) (bus.Event, error) {
	var pe tetherv1.Event
	if err := proto.Unmarshal(data, &pe); err != nil {
		return bus.Event{}, tether.Errorf(tether.CodeInvalidArgument, "natsbus: decode %s (stream sequence %d): %w", subject, seq, err)
	}
	ev := bus.EventFromProto(&pe)
	ev.ID = seq
	if bus.ValidName(ev.Name) != nil || (ev.Target != "" && bus.ValidName(ev.Target) != nil) || subject != b.subject(ev.Name, ev.Target) {
		return bus.Event{}, tether.Errorf(tether.CodeInvalidArgument, "natsbus: event %q for %q on subject %s (stream sequence %d)", pe.GetName(), pe.GetTarget(), subject, seq)
	}
	if seq == 0 {
		return bus.Event{}, tether.Errorf(tether.CodeInvalidArgument, "natsbus: event on %s without a stream sequence", subject)
	}
	return ev, nil
}

// receiveStream appends to the local copy an event of the stream; the
// ordered consumer calls it on one goroutine, in stream order.
func (b *Bus) receiveStream(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		b.fail(fmt.Errorf("natsbus: metadata of %s: %w", m.Subject(), err))
		return
	}
	ev, err := b.decodeStream(m.Subject(), md.Sequence.Stream, m.Data())
	if err != nil {
		// Foreign bytes: reported and skipped, their id with them (it was
		// read, not lost).
		b.next = max(b.next, md.Sequence.Stream+1)
		b.fail(err)
		return
	}
	// The stream holds only this bus's subjects, so a sequence skipped is
	// an event the stream removed (its limits, or a deletion) before this
	// replica read it: its listeners are told, not left to miss it unseen.
	if ev.ID > b.next {
		if err := b.local.Lost(ev.ID - 1); err != nil && !errors.Is(err, bus.ErrClosed) {
			b.fail(err)
			return
		}
	}
	b.next = ev.ID + 1
	if err := b.local.Append(ev); err != nil && !errors.Is(err, bus.ErrClosed) {
		b.fail(err)
	}
}

// streamLast is the stream's last sequence number.
func (b *Bus) streamLast(ctx context.Context) (uint64, error) {
	info, err := b.streamInfo(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq, nil
}

func (b *Bus) streamInfo(ctx context.Context) (*jetstream.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, b.drainTimeout)
	defer cancel()
	info, err := b.stream.Info(ctx)
	if err != nil {
		return nil, tether.Errorf(tether.CodeUnavailable, "natsbus: stream %s: %v", b.scfg.Name, err)
	}
	return info, nil
}

// history reads a resume's missing events from the stream: the local copy
// is a bus.Memory made WithHistory(history{b}).
type history struct{ b *Bus }

// replayBatch bounds the events one read of a resume asks the stream for.
const replayBatch = 256

func (h history) Read(ctx context.Context, f bus.Filter, after, upto uint64) (bus.Cursor, error) {
	b := h.b
	info, err := b.streamInfo(ctx)
	if err != nil {
		return nil, err
	}
	c := &cursor{b: b, upto: upto}
	start := after + 1
	if first := info.State.FirstSeq; first > start {
		// The window moved past the id: say how many ids are gone.
		c.lag = &bus.Lagged{Dropped: min(first, upto+1) - start, ResumeAfter: after}
		start = first
	}
	if start > upto || start > info.State.LastSeq {
		c.done = true
		return c, nil
	}
	cctx, cancel := context.WithTimeout(ctx, b.drainTimeout)
	defer cancel()
	cons, err := b.stream.CreateConsumer(cctx, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		FilterSubjects:    b.filterSubjects(f),
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
		Replicas:          1,
	})
	if err != nil {
		return nil, tether.Errorf(tether.CodeUnavailable, "natsbus: read stream %s: %v", b.scfg.Name, err)
	}
	c.cons = cons
	c.pending = cons.CachedInfo().NumPending
	c.done = c.pending == 0
	return c, nil
}

// cursor reads a range of the stream through an ephemeral consumer, one
// bounded batch per Next.
type cursor struct {
	b       *Bus
	cons    jetstream.Consumer
	upto    uint64
	lag     *bus.Lagged
	pending uint64 // matching messages left in the stream, from the last one read
	done    bool
	empty   int // fetches in a row that returned nothing

	once sync.Once
}

func (c *cursor) Next(ctx context.Context) ([]bus.Message, error) {
	if c.lag != nil {
		l := c.lag
		c.lag = nil
		return []bus.Message{{Lagged: l}}, nil
	}
	for !c.done {
		msgs, err := c.fetch(ctx)
		if err != nil {
			return nil, err
		}
		if len(msgs) > 0 {
			return msgs, nil
		}
	}
	return nil, io.EOF
}

func (c *cursor) fetch(ctx context.Context) ([]bus.Message, error) {
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	batch, err := c.cons.Fetch(int(min(c.pending, replayBatch)), jetstream.FetchMaxBytes(c.b.fetchBytes()), jetstream.FetchContext(fctx))
	if err != nil {
		return nil, c.err(ctx, err)
	}
	var out []bus.Message
	got := 0
	for m := range batch.Messages() {
		got++
		if c.done {
			continue // drained: the fetch asked for no more than is pending
		}
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		if md.Sequence.Stream > c.upto {
			c.done = true
			continue
		}
		c.pending = md.NumPending
		c.done = c.pending == 0 || md.Sequence.Stream == c.upto
		ev, err := c.b.decodeStreamMsg(m)
		if err != nil {
			c.b.fail(err)
			continue
		}
		out = append(out, bus.Message{Event: &ev})
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		return nil, c.err(ctx, err)
	}
	if got == 0 {
		// Messages counted as pending have gone (the stream's limits
		// removed them) or the stream is slow: ask again, a few times.
		if c.empty++; c.empty >= 3 {
			return nil, tether.Errorf(tether.CodeUnavailable, "natsbus: reading stream %s: no messages where %d were pending", c.b.scfg.Name, c.pending)
		}
	} else {
		c.empty = 0
	}
	return out, nil
}

func (c *cursor) err(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return tether.FromError(ctx.Err())
	}
	return tether.Errorf(tether.CodeUnavailable, "natsbus: reading stream %s: %v", c.b.scfg.Name, err)
}

// Close deletes the consumer (which the server would drop after a minute
// of inactivity anyway).
func (c *cursor) Close() {
	c.once.Do(func() {
		if c.cons == nil || c.b.nc.IsClosed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.b.stream.DeleteConsumer(ctx, c.cons.CachedInfo().Name)
	})
}
