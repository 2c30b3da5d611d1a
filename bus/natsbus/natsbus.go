package natsbus

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/bus"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// ReplicaHeader is the NATS header naming the replica that published an
// event.
const ReplicaHeader = "Tether-Replica"

// DefaultSubjectPrefix is the subject prefix events travel under.
const DefaultSubjectPrefix = "tether.events"

// Bus is a bus.Bus shared by every replica connected to the same NATS
// subjects. It is safe for concurrent use.
type Bus struct {
	local        *bus.Memory
	nc           *nats.Conn
	sub          *nats.Subscription
	subClosed    <-chan nats.SubStatus
	prefix       string
	replica      string
	drainTimeout time.Duration
	onError      func(error)

	mu     sync.Mutex // keeps local and NATS order the same
	closed bool
}

var _ bus.Bus = (*Bus)(nil)

// Option configures a Bus.
type Option func(*config)

type config struct {
	prefix       string
	replica      string
	drainTimeout time.Duration
	onError      func(error)
	busOpts      []bus.Option
}

// WithSubjectPrefix sets the subject prefix (default "tether.events").
func WithSubjectPrefix(p string) Option { return func(c *config) { c.prefix = p } }

// WithReplicaID names this replica (default a random NUID). Every replica
// sharing the subjects must have a different id.
func WithReplicaID(id string) Option { return func(c *config) { c.replica = id } }

// WithDrainTimeout bounds how long Close waits for events already received
// from NATS to reach the local bus (default 5s).
func WithDrainTimeout(d time.Duration) Option { return func(c *config) { c.drainTimeout = d } }

// WithErrorHandler sets a function told about messages from NATS that were
// dropped because they could not be decoded or published locally. It is
// called on the NATS subscription's goroutine.
func WithErrorHandler(h func(error)) Option { return func(c *config) { c.onError = h } }

// WithBusOptions configures the local bus.Memory.
func WithBusOptions(opts ...bus.Option) Option {
	return func(c *config) { c.busOpts = append(c.busOpts, opts...) }
}

// New returns a Bus on the connection nc, which the caller owns and closes
// after Close. It subscribes to the events of the other replicas at once.
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
	if c.prefix == "" || strings.ContainsAny(c.prefix, " \t\r\n*>") || strings.HasPrefix(c.prefix, ".") || strings.HasSuffix(c.prefix, ".") {
		return nil, tether.Errorf(tether.CodeInvalidArgument, "natsbus: invalid subject prefix %q", c.prefix)
	}
	b := &Bus{
		local:        bus.NewMemory(c.busOpts...),
		nc:           nc,
		prefix:       c.prefix,
		replica:      c.replica,
		drainTimeout: c.drainTimeout,
		onError:      c.onError,
	}
	sub, err := nc.Subscribe(c.prefix+".>", b.receive)
	if err != nil {
		b.local.Close()
		return nil, tether.Errorf(tether.CodeUnavailable, "natsbus: subscribe: %w", err)
	}
	b.sub = sub
	b.subClosed = sub.StatusChanged(nats.SubscriptionClosed)
	// Make sure the server knows the subscription before New returns, so
	// that no event published after New is missed.
	if err := nc.FlushTimeout(c.drainTimeout); err != nil {
		_ = sub.Unsubscribe()
		b.local.Close()
		return nil, tether.Errorf(tether.CodeUnavailable, "natsbus: flush: %w", err)
	}
	return b, nil
}

// ReplicaID returns this replica's id.
func (b *Bus) ReplicaID() string { return b.replica }

// Local returns the replica's local bus.
func (b *Bus) Local() *bus.Memory { return b.local }

// Publish delivers ev locally, then sends it to the other replicas. The id
// is the local one. If the local delivery succeeded but sending to NATS
// failed, the id is returned with an unavailable error.
func (b *Bus) Publish(ctx context.Context, ev bus.Event) (uint64, error) {
	if err := bus.ValidName(ev.Name); err != nil {
		return 0, err
	}
	data, err := proto.Marshal(&tetherv1.Event{Name: ev.Name, Payload: ev.Payload, Target: ev.Target, Source: ev.Source})
	if err != nil {
		return 0, tether.Errorf(tether.CodeInvalidArgument, "natsbus: encode event: %w", err)
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

// receive publishes into the local bus an event from another replica. NATS
// calls it on one goroutine, in arrival order.
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

// Subscribe implements bus.Bus on the local bus: ids and resume are local.
func (b *Bus) Subscribe(ctx context.Context, f bus.Filter) (*bus.Subscription, error) {
	return b.local.Subscribe(ctx, f)
}

// Listen implements bus.Bus on the local bus.
func (b *Bus) Listen(name string, h bus.Handler) (func(), error) { return b.local.Listen(name, h) }

// Once implements bus.Bus on the local bus.
func (b *Bus) Once(name string, h bus.Handler) (func(), error) { return b.local.Once(name, h) }

// Close stops publishing, flushes what was sent, drains the NATS
// subscription (events already received still reach local subscribers,
// within the drain timeout), then closes the local bus. It does not close
// the NATS connection.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()

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
	b.local.Close()
	return first
}
