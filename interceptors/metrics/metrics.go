package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/tether-ipc/tether"
)

// Label values for calls that name nothing the core knows, and for names
// beyond a label's bound.
const (
	Unknown = "unknown"
	Other   = "other"
)

// Full methods of the IPC event calls (as server.EmitMethod and
// server.ListenMethod), for calls whose context carries no tether.Call.
const (
	emitMethod   = "/tether.v1.IPC/Emit"
	listenMethod = "/tether.v1.IPC/Listen"
)

// DefaultBuckets are the buckets of tether_invoke_duration_seconds, from
// 100µs (an in-process call) to 10s.
var DefaultBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// BusObserver is told what an event bus delivers and drops. A bus that
// accepts one calls it from its publishing path, so implementations must be
// cheap and safe for concurrent use. *Metrics implements it.
type BusObserver interface {
	// Delivered reports n events queued to subscribers.
	Delivered(n uint64)
	// Dropped reports n events named name dropped because a subscriber's
	// queue was full.
	Dropped(name string, n uint64)
}

var _ BusObserver = (*Metrics)(nil)

// Option configures New.
type Option func(*config)

type config struct {
	buckets     []float64
	maxValues   int
	maxCommands int
	events      []string
	known       func(string) bool
}

// WithBuckets sets the buckets of tether_invoke_duration_seconds.
func WithBuckets(b ...float64) Option {
	return func(c *config) {
		if len(b) > 0 {
			c.buckets = append([]float64(nil), b...)
		}
	}
}

// MaxLabelValues bounds the distinct values of the event and reason labels
// (default 256) and of the command label (default 1024); values beyond the
// bound count as "other". n <= 0 keeps the defaults.
func MaxLabelValues(events, commands int) Option {
	return func(c *config) {
		if events > 0 {
			c.maxValues = events
		}
		if commands > 0 {
			c.maxCommands = commands
		}
	}
}

// WithEvents restricts the event label to these names; other events count
// as "other".
func WithEvents(names ...string) Option {
	return func(c *config) { c.events = append(c.events, names...) }
}

// WithKnownEvents gives the event names for which known returns true a
// value of their own in the event labels, outside MaxLabelValues' bound,
// so that callers emitting or listening to made-up names cannot push the
// app's events into "other" (server.Server.KnownEvent: declared events and
// those with a backend listener). known must be cheap and safe for
// concurrent use, and true for a bounded set of names.
func WithKnownEvents(known func(name string) bool) Option {
	return func(c *config) { c.known = known }
}

// Metrics holds a private Prometheus registry and the Tether metrics in it.
// It is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	invokes    *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	emitted    *prometheus.CounterVec
	listeners  prometheus.Gauge
	messages   *prometheus.CounterVec
	rejections *prometheus.CounterVec
	delivered  prometheus.Counter
	dropped    *prometheus.CounterVec

	commands, events, reasons, dropNames *bounded

	// cmds holds each admitted command's series, so that a call looks its
	// series up once, without hashing label values.
	cmdMu sync.RWMutex
	cmds  map[string]*commandSeries
}

// commandSeries are the series of one command label.
type commandSeries struct {
	label    string
	duration prometheus.Observer
	ok       prometheus.Counter
}

// New returns a Metrics with its own registry.
func New(opts ...Option) *Metrics {
	c := config{buckets: DefaultBuckets, maxValues: 256, maxCommands: 1024}
	for _, o := range opts {
		o(&c)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		invokes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_invokes_total", Help: "Commands that ended, by command and code.",
		}, []string{"command", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tether_invoke_duration_seconds", Help: "Duration of unary commands through the chain.", Buckets: c.buckets,
		}, []string{"command"}),
		emitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_events_emitted_total", Help: "Events emitted successfully through the chain, by event.",
		}, []string{"event"}),
		listeners: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tether_listeners", Help: "Live listen streams.",
		}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_channel_messages_total", Help: "Messages sent on channel commands, by command.",
		}, []string{"command"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_isolation_rejections_total", Help: "Calls refused by the isolation stage, by reason.",
		}, []string{"reason"}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tether_bus_delivered_total", Help: "Events queued to subscribers by the event bus.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_bus_dropped_total", Help: "Events dropped for subscribers whose queue was full, by event.",
		}, []string{"event"}),
		commands:  newBounded(c.maxCommands, nil),
		events:    newBounded(c.maxValues, c.events),
		reasons:   newBounded(c.maxValues, nil),
		dropNames: newBounded(c.maxValues, c.events),
	}
	m.events.known, m.dropNames.known = c.known, c.known
	m.reg.MustRegister(m.invokes, m.duration, m.emitted, m.listeners, m.messages, m.rejections, m.delivered, m.dropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry, to register more collectors or to gather.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// IsolationRejected counts a call the isolation stage refused, with a short
// fixed reason ("hook_blocked", "bad_seal", "replay"…). Reasons are a bounded
// label; do not pass caller input.
func (m *Metrics) IsolationRejected(reason string) {
	m.rejections.WithLabelValues(m.reasons.value(reason)).Inc()
}

// Delivered implements BusObserver.
func (m *Metrics) Delivered(n uint64) { m.delivered.Add(float64(n)) }

// Dropped implements BusObserver.
func (m *Metrics) Dropped(name string, n uint64) {
	m.dropped.WithLabelValues(m.dropNames.value(name)).Add(float64(n))
}

// command returns the command label of a call.
func (m *Metrics) command(call *tether.Call) string {
	if call == nil || call.Name == "" {
		return Unknown
	}
	return m.commands.value(call.Name)
}

// series returns the series of call's command.
func (m *Metrics) series(call *tether.Call) *commandSeries {
	name := Unknown
	if call != nil && call.Name != "" {
		name = call.Name
	}
	m.cmdMu.RLock()
	cs := m.cmds[name]
	m.cmdMu.RUnlock()
	if cs != nil {
		return cs
	}
	label := m.command(call)
	cs = &commandSeries{label: label, duration: m.duration.WithLabelValues(label), ok: m.invokes.WithLabelValues(label, tether.CodeOK.String())}
	if label != name {
		return cs // beyond the bound: not kept
	}
	m.cmdMu.Lock()
	if m.cmds == nil {
		m.cmds = map[string]*commandSeries{}
	}
	m.cmds[name] = cs
	m.cmdMu.Unlock()
	return cs
}

// UnaryServerInterceptor counts unary commands and emits.
func (m *Metrics) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		call, _ := tether.CallFromContext(ctx)
		if call != nil && call.Kind == tether.KindEmit || call == nil && info.FullMethod == emitMethod {
			resp, err := handler(ctx, req)
			if err == nil {
				name := Unknown
				if call != nil {
					name = m.events.value(call.Name)
				}
				m.emitted.WithLabelValues(name).Inc()
			}
			return resp, err
		}
		start := time.Now()
		resp, err := handler(ctx, req)
		cs := m.series(call)
		cs.duration.Observe(time.Since(start).Seconds())
		if code := tether.CodeOf(err); code == tether.CodeOK {
			cs.ok.Inc()
		} else {
			m.invokes.WithLabelValues(cs.label, code.String()).Inc()
		}
		return resp, err
	}
}

// StreamServerInterceptor counts listen streams and channel commands.
func (m *Metrics) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		call, _ := tether.CallFromContext(ss.Context())
		if call != nil && call.Kind == tether.KindListen || call == nil && info.FullMethod == listenMethod {
			m.listeners.Inc()
			defer m.listeners.Dec()
			return handler(srv, ss)
		}
		cmd := m.command(call)
		err := handler(srv, &countingStream{ServerStream: ss, sent: m.messages.WithLabelValues(cmd)})
		m.invokes.WithLabelValues(cmd, tether.CodeOf(err).String()).Inc()
		return err
	}
}

type countingStream struct {
	grpc.ServerStream
	sent prometheus.Counter
}

func (s *countingStream) SendMsg(msg any) error {
	err := s.ServerStream.SendMsg(msg)
	if err == nil {
		s.sent.Inc()
	}
	return err
}

// bounded admits at most max distinct label values; others become Other.
// With a fixed list, only the listed values are admitted. Values known
// reports are admitted besides, without taking a slot.
type bounded struct {
	mu    sync.RWMutex
	seen  map[string]struct{}
	max   int
	fixed bool
	known func(string) bool
}

func newBounded(max int, fixed []string) *bounded {
	b := &bounded{seen: make(map[string]struct{}), max: max, fixed: len(fixed) > 0}
	for _, v := range fixed {
		b.seen[v] = struct{}{}
	}
	return b
}

func (b *bounded) value(v string) string {
	if v == "" {
		return Unknown
	}
	b.mu.RLock()
	_, ok := b.seen[v]
	b.mu.RUnlock()
	if ok || b.known != nil && b.known(v) {
		return v
	}
	if b.fixed {
		return Other
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[v]; ok {
		return v
	}
	if len(b.seen) >= b.max {
		return Other
	}
	b.seen[v] = struct{}{}
	return v
}
