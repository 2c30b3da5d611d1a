package natsbus

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/bus"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// ReplicaHeader is the NATS header naming the replica that published an
// event (NATS core mode).
const ReplicaHeader = "Tether-Replica"

// DefaultSubjectPrefix is the subject prefix events travel under.
const DefaultSubjectPrefix = "tether.events"

// ErrNATSDown is the error of Publish and Subscribe while the NATS
// connection is down, and the one that ends the bus's subscriptions when
// it goes down: a listener reconnects, to another replica, and resumes.
var ErrNATSDown = tether.NewError(tether.CodeUnavailable, "natsbus: this replica lost its NATS connection: reconnect to another replica and resume")

// Bus is a bus.Bus shared by every replica connected to the same NATS
// subjects (and, with WithJetStream, the same stream). It is safe for
// concurrent use.
type Bus struct {
	local        *bus.Memory
	nc           *nats.Conn
	prefix       string
	replica      string
	drainTimeout time.Duration
	onError      func(error)

	// NATS core mode.
	sub       *nats.Subscription
	subClosed <-chan nats.SubStatus

	// JetStream mode (js != nil).
	js     jetstream.JetStream
	stream jetstream.Stream
	scfg   Stream
	live   jetstream.ConsumeContext
	// next is the stream sequence the live consumer should deliver next;
	// only receiveStream uses it, on the consumer's one goroutine.
	next uint64

	mu     sync.Mutex // keeps local and NATS order the same (core mode)
	closed bool

	health *healthWatch
}

var (
	_ bus.Bus    = (*Bus)(nil)
	_ bus.Health = (*Bus)(nil)
)

// Option configures a Bus.
type Option func(*config)

type config struct {
	prefix       string
	replica      string
	drainTimeout time.Duration
	onError      func(error)
	busOpts      []bus.Option
	jetStream    *Stream
}

// WithSubjectPrefix sets the subject prefix (default "tether.events").
func WithSubjectPrefix(p string) Option { return func(c *config) { c.prefix = p } }

// WithReplicaID names this replica (default a random NUID). Every replica
// sharing the subjects must have a different id.
func WithReplicaID(id string) Option { return func(c *config) { c.replica = id } }

// WithDrainTimeout bounds how long Close waits for events already received
// from NATS to reach the local bus (default 5s), and how long New waits for
// NATS.
func WithDrainTimeout(d time.Duration) Option { return func(c *config) { c.drainTimeout = d } }

// WithErrorHandler sets a function told about messages from NATS that were
// dropped because they could not be decoded or published locally, and about
// errors of the JetStream consumer. It is called on a goroutine of the NATS
// connection.
func WithErrorHandler(h func(error)) Option { return func(c *config) { c.onError = h } }

// WithBusOptions configures the local bus.Memory. With WithJetStream, its
// first id and history are the stream's (WithFirstID and WithHistory are
// overridden).
func WithBusOptions(opts ...bus.Option) Option {
	return func(c *config) { c.busOpts = append(c.busOpts, opts...) }
}

// WithJetStream carries events on a JetStream stream instead of NATS core:
// ids are the stream's sequence numbers, the same on every replica, and a
// listener resumes on any replica from the stream. See Stream.
func WithJetStream(s Stream) Option {
	return func(c *config) { c.jetStream = &s }
}

// New returns a Bus on the connection nc, which the caller owns and closes
// after Close. It subscribes to the events of the other replicas at once
// (with WithJetStream, it creates or updates the stream first).
func New(nc *nats.Conn, opts ...Option) (*Bus, error) {
	if nc == nil {
		return nil, tether.NewError(tether.CodeInvalidArgument, "natsbus: nil connection")
	}
	c := config{prefix: DefaultSubjectPrefix, drainTimeout: 5 * time.Second}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.replica == "" {
		c.replica = nuid.Next()
	}
	if !validPrefix(c.prefix) {
		return nil, tether.Errorf(tether.CodeInvalidArgument, "natsbus: invalid subject prefix %q", c.prefix)
	}
	if c.drainTimeout <= 0 {
		c.drainTimeout = 5 * time.Second
	}
	b := &Bus{
		nc:           nc,
		prefix:       c.prefix,
		replica:      c.replica,
		drainTimeout: c.drainTimeout,
		onError:      c.onError,
	}
	var err error
	if c.jetStream != nil {
		err = b.startJetStream(*c.jetStream, c.busOpts)
	} else {
		err = b.startCore(c.busOpts)
	}
	if err != nil {
		return nil, err
	}
	b.health = watchHealth(nc, b.local)
	return b, nil
}

func validPrefix(p string) bool {
	if p == "" || strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") || strings.Contains(p, "..") {
		return false
	}
	for _, r := range p {
		if r <= ' ' || r == '*' || r == '>' || r == 0x7f {
			return false
		}
	}
	return true
}

// startCore subscribes to the subjects of NATS core mode.
func (b *Bus) startCore(busOpts []bus.Option) error {
	b.local = bus.NewMemory(busOpts...)
	sub, err := b.nc.Subscribe(b.prefix+".>", b.receive)
	if err != nil {
		b.local.Close()
		return tether.Errorf(tether.CodeUnavailable, "natsbus: subscribe: %w", err)
	}
	b.sub = sub
	b.subClosed = sub.StatusChanged(nats.SubscriptionClosed)
	// Make sure the server knows the subscription before New returns, so
	// that no event published after New is missed.
	if err := b.nc.FlushTimeout(b.drainTimeout); err != nil {
		_ = sub.Unsubscribe()
		b.local.Close()
		return tether.Errorf(tether.CodeUnavailable, "natsbus: flush: %w", err)
	}
	return nil
}

// ReplicaID returns this replica's id.
func (b *Bus) ReplicaID() string { return b.replica }

// Local returns the replica's local bus: with WithJetStream, its copy of the
// stream.
func (b *Bus) Local() *bus.Memory { return b.local }

// JetStream reports whether the bus carries events on a JetStream stream.
func (b *Bus) JetStream() bool { return b.js != nil }

// Publish sends ev to every replica. With JetStream it returns once the
// stream has stored the event, with the stream sequence as its id; the
// event reaches local subscribers, as remote ones, from the stream. In NATS
// core mode it delivers locally first, with a local id, then sends; if the
// local delivery succeeded but sending failed, the id is returned with an
// unavailable error. In either mode it fails with ErrNATSDown while the
// NATS connection is down, delivering nothing.
func (b *Bus) Publish(ctx context.Context, ev bus.Event) (uint64, error) {
	if err := bus.ValidName(ev.Name); err != nil {
		return 0, err
	}
	if err := b.Healthy(); err != nil {
		return 0, err
	}
	if ev.Target != "" {
		if err := bus.ValidName(ev.Target); err != nil {
			return 0, tether.Errorf(tether.CodeInvalidArgument, "natsbus: invalid target label %q", ev.Target)
		}
	}
	data, err := proto.Marshal(&tetherv1.Event{Name: ev.Name, Payload: ev.Payload, Target: ev.Target, Source: ev.Source})
	if err != nil {
		return 0, tether.Errorf(tether.CodeInvalidArgument, "natsbus: encode event: %w", err)
	}
	if max := b.nc.MaxPayload(); max > 0 && int64(len(data)) > max-1024 {
		return 0, tether.Errorf(tether.CodeResourceExhausted, "natsbus: the event is %d bytes encoded; the NATS server's max_payload is %d", len(data), max)
	}
	if b.js != nil {
		return b.publishJetStream(ctx, ev, data)
	}
	msg := &nats.Msg{
		Subject: b.prefix + "." + ev.Name,
		Data:    data,
		Header:  nats.Header{ReplicaHeader: []string{b.replica}},
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, bus.ErrClosed
	}
	id, err := b.local.Publish(ctx, ev)
	if err != nil {
		return 0, err
	}
	if err := b.nc.PublishMsg(msg); err != nil {
		return id, tether.Errorf(tether.CodeUnavailable, "natsbus: publish: %w", err)
	}
	return id, nil
}

// receive publishes into the local bus an event from another replica (core
// mode). NATS calls it on one goroutine, in arrival order.
func (b *Bus) receive(m *nats.Msg) {
	if m.Header.Get(ReplicaHeader) == b.replica {
		return // our own, already delivered locally
	}
	var pe tetherv1.Event
	if err := proto.Unmarshal(m.Data, &pe); err != nil {
		b.fail(tether.Errorf(tether.CodeInvalidArgument, "natsbus: decode %s: %w", m.Subject, err))
		return
	}
	if m.Subject != b.prefix+"."+pe.GetName() {
		b.fail(tether.Errorf(tether.CodeInvalidArgument, "natsbus: event %q on subject %s", pe.GetName(), m.Subject))
		return
	}
	ev := bus.EventFromProto(&pe)
	ev.ID = 0
	if _, err := b.local.Publish(context.Background(), ev); err != nil {
		b.fail(err)
	}
}

func (b *Bus) fail(err error) {
	if b.onError != nil {
		b.onError(err)
	}
}

// Subscribe implements bus.Bus on the local bus. With JetStream, ids are
// the stream's and a resume reads what the local copy does not hold from
// the stream; in core mode ids and resume are local. While the NATS
// connection is down it fails with ErrNATSDown.
func (b *Bus) Subscribe(ctx context.Context, f bus.Filter) (*bus.Subscription, error) {
	if err := b.Healthy(); err != nil {
		return nil, err
	}
	if b.js != nil && f.AfterID > b.local.LastID() {
		// An id of the stream not here yet, or one the stream never gave
		// (it was deleted and made again, or the id is not ours): then
		// resume from the stream's end.
		last, err := b.streamLast(ctx)
		if err != nil {
			return nil, err
		}
		f.AfterID = min(f.AfterID, last)
	}
	return b.local.Subscribe(ctx, f)
}

// Listen implements bus.Bus on the local bus. A backend listener goes on
// while the NATS connection is down; with JetStream it then gets what it
// missed once the connection is back.
func (b *Bus) Listen(name string, h bus.Handler) (func(), error) { return b.local.Listen(name, h) }

// Once implements bus.Bus on the local bus.
func (b *Bus) Once(name string, h bus.Handler) (func(), error) { return b.local.Once(name, h) }

// Healthy implements bus.Health: nil while the NATS connection is up,
// ErrNATSDown otherwise.
func (b *Bus) Healthy() error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return bus.ErrClosed
	}
	if b.nc.Status() != nats.CONNECTED {
		return ErrNATSDown
	}
	return nil
}

// NotifyHealth implements bus.Health.
func (b *Bus) NotifyHealth(f func(error)) (stop func()) { return b.health.notify(f) }

// Close stops publishing and drains what was received (core mode: the NATS
// subscription; JetStream: the stream consumer), so that events already
// received still reach local subscribers within the drain timeout, then
// closes the local bus. It does not close the NATS connection.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	b.health.stop()

	var first error
	if b.js != nil {
		first = b.stopJetStream()
	} else {
		first = b.stopCore()
	}
	b.local.Close()
	return first
}

func (b *Bus) stopCore() error {
	var first error
	if err := b.nc.FlushTimeout(b.drainTimeout); err != nil && !b.nc.IsClosed() {
		first = tether.Errorf(tether.CodeUnavailable, "natsbus: flush: %w", err)
	}
	if err := b.sub.Drain(); err == nil {
		select {
		case <-b.subClosed:
			for range b.subClosed { // closed with the subscription
			}
		case <-time.After(b.drainTimeout):
			_ = b.sub.Unsubscribe()
			if first == nil {
				first = tether.NewError(tether.CodeDeadlineExceeded, "natsbus: drain timed out")
			}
		}
	} else if !b.nc.IsClosed() && first == nil {
		first = tether.Errorf(tether.CodeUnavailable, "natsbus: drain: %w", err)
	}
	return first
}
