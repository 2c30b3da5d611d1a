// Command tether-bench-replicas measures events across core replicas on
// NATS JetStream against JetStream itself, in one process, interleaved
// round by round (as cmd/tether-bench does):
//
//   - fan-out: events emitted on replica A, delivered to 100 gRPC listeners
//     spread over replicas B and C (50 each, one connection each), against
//     the same messages published to a JetStream stream and consumed by 100
//     ordered consumers (one connection each). Both sides publish from 8
//     goroutines, each waiting for the stream's acknowledgement, and are
//     paced so that nothing is dropped: the figure is deliveries per second.
//   - latency: emit → receive at 200 events/s (-latency-rate; 20,000
//     deliveries per second), p50 and p99 over every delivery, same two
//     sides.
//
// The replicas are three apps (package app, config as shipped: metrics,
// idempotency, tracing exported over OTLP/HTTP to a local sink as
// tether-bench's apps do; events.jetstream on) on one embedded NATS server
// with JetStream, its store in a temporary folder.
//
//	tether-bench-replicas [-rounds 5] [-events 4000] [-latency-rate 200] [-latency-events 1000] [-quick]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tether-ipc/tether/app"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/config"
	"github.com/tether-ipc/tether/internal/bench"
	"github.com/tether-ipc/tether/internal/stress"
)

const (
	listeners  = 100
	publishers = 8
	paceAhead  = 512
)

// latencyHz is the rate of the latency rounds (-latency-rate).
var latencyHz = 200

func main() {
	rounds := flag.Int("rounds", 5, "rounds (each side once per round)")
	events := flag.Int("events", 4000, "events per fan-out round")
	latEvents := flag.Int("latency-events", 1000, "events per latency round")
	quick := flag.Bool("quick", false, "3 rounds of fewer events")
	flag.IntVar(&latencyHz, "latency-rate", latencyHz, "events per second of the latency rounds (x 100 listeners = deliveries per second)")
	flag.Parse()
	if *quick {
		*rounds, *events, *latEvents = 3, 1500, 400
	}
	if err := run(*rounds, *events, *latEvents); err != nil {
		fmt.Fprintln(os.Stderr, "tether-bench-replicas:", err)
		os.Exit(1)
	}
}

func run(rounds, events, latEvents int) error {
	m := bench.ThisMachine()
	fmt.Printf("tether-bench-replicas: %s, %d CPUs, %s, %s, commit %s\n", m.GoVersion, m.NProc, m.CPU, m.OS, m.Commit)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	store, err := os.MkdirTemp("", "tether-bench-replicas-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(store)
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: store, MaxPending: 1 << 30})
	if err != nil {
		return err
	}
	go ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(10 * time.Second) {
		return errors.New("NATS did not start")
	}

	// The replicas trace as an app with a collector does: every call and
	// emit sampled, exported over OTLP/HTTP to a local sink.
	if err := stress.StartTraceSink(); err != nil {
		return err
	}
	t, err := newTetherSide(ctx, ns.ClientURL(), store)
	if err != nil {
		return err
	}
	defer t.close()
	j, err := newJetStreamSide(ctx, ns.ClientURL())
	if err != nil {
		return err
	}
	defer j.close()

	// Warm-up, then interleaved rounds.
	if _, err := t.fanout(ctx, 500); err != nil {
		return fmt.Errorf("tether warm-up: %w", err)
	}
	if _, err := j.fanout(ctx, 500); err != nil {
		return fmt.Errorf("jetstream warm-up: %w", err)
	}
	var tv, jv, ratios []float64
	for r := range rounds {
		order := []side{t, j}
		if r%2 == 1 {
			order = []side{j, t}
		}
		var got [2]float64
		for _, s := range order {
			v, err := s.fanout(ctx, events)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name(), err)
			}
			if s == side(t) {
				got[0] = v
			} else {
				got[1] = v
			}
		}
		tv, jv, ratios = append(tv, got[0]), append(jv, got[1]), append(ratios, got[0]/got[1])
		fmt.Printf("  fan-out round %d: tether %.0f deliveries/s, jetstream %.0f deliveries/s, ratio %.3f\n", r+1, got[0], got[1], got[0]/got[1])
	}
	var tl, jl stress.Latencies
	for r := range rounds {
		order := []side{t, j}
		if r%2 == 1 {
			order = []side{j, t}
		}
		for _, s := range order {
			l, err := s.latency(ctx, latEvents)
			if err != nil {
				return fmt.Errorf("%s latency: %w", s.name(), err)
			}
			if s == side(t) {
				tl = append(tl, l...)
			} else {
				jl = append(jl, l...)
			}
		}
	}
	fmt.Printf("RATIO replica_fanout_vs_jetstream %.3f (median of %d rounds; per round %s)\n", stress.Median(ratios), rounds, fmtAll(ratios))
	fmt.Printf("  tether    fan-out median %.0f deliveries/s (%s)\n", stress.Median(tv), spread(tv))
	fmt.Printf("  jetstream fan-out median %.0f deliveries/s (%s)\n", stress.Median(jv), spread(jv))
	fmt.Printf("LATENCY replica_emit_to_receive at %d events/s to %d listeners, %d deliveries each side:\n", latencyHz, listeners, len(tl))
	fmt.Printf("  tether    %s\n", tl.Summary())
	fmt.Printf("  jetstream %s\n", jl.Summary())
	fmt.Printf("  p50 ratio %.3f, p99 ratio %.3f\n", float64(tl.Percentile(50))/float64(jl.Percentile(50)), float64(tl.Percentile(99))/float64(jl.Percentile(99)))
	return nil
}

type side interface {
	name() string
	fanout(ctx context.Context, events int) (float64, error)
	latency(ctx context.Context, events int) (stress.Latencies, error)
}

// counters are the listeners' progress and, while latency is measured, the
// emit → receive durations they saw.
type counters struct {
	progress []atomic.Int64
	measure  atomic.Bool
	mu       sync.Mutex
	lat      stress.Latencies
}

func (c *counters) got(i int, data []byte) {
	c.progress[i].Add(1)
	if !c.measure.Load() {
		return
	}
	if ns, ok := stress.StampOf(data); ok {
		d := time.Duration(time.Now().UnixNano() - ns)
		c.mu.Lock()
		c.lat = append(c.lat, d)
		c.mu.Unlock()
	}
}

// drive publishes events from publishers goroutines, pacing on progress,
// and returns deliveries per second once every listener has them all.
func drive(ctx context.Context, c *counters, events int, publish func() error) (float64, error) {
	base := make([]int64, len(c.progress))
	for i := range c.progress {
		base[i] = c.progress[i].Load()
	}
	slowest := func() int64 {
		m := int64(-1)
		for i := range c.progress {
			if v := c.progress[i].Load() - base[i]; m < 0 || v < m {
				m = v
			}
		}
		return m
	}
	var sent atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	start := time.Now()
	for range publishers {
		wg.Go(func() {
			for {
				k := sent.Add(1)
				if k > int64(events) {
					return
				}
				for k-slowest() > paceAhead {
					if ctx.Err() != nil {
						return
					}
					runtime.Gosched()
				}
				if err := publish(); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	deadline := time.Now().Add(60 * time.Second)
	for slowest() < int64(events) {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("a listener got %d of %d events", slowest(), events)
		}
		time.Sleep(50 * time.Microsecond)
	}
	return float64(events*len(c.progress)) / time.Since(start).Seconds(), nil
}

// paced publishes events at latencyHz from one goroutine and returns the
// emit → receive durations of every delivery.
func paced(ctx context.Context, c *counters, events int, publish func() error) (stress.Latencies, error) {
	c.mu.Lock()
	c.lat = c.lat[:0]
	c.mu.Unlock()
	base := make([]int64, len(c.progress))
	for i := range c.progress {
		base[i] = c.progress[i].Load()
	}
	c.measure.Store(true)
	defer c.measure.Store(false)
	t0 := time.Now()
	for k := range events {
		if d := time.Until(t0.Add(time.Duration(k) * time.Second / time.Duration(latencyHz))); d > 0 {
			time.Sleep(d)
		}
		if err := publish(); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for i := range c.progress {
		for c.progress[i].Load()-base[i] < int64(events) {
			if time.Now().After(deadline) || ctx.Err() != nil {
				return nil, fmt.Errorf("listener %d got %d of %d events", i, c.progress[i].Load()-base[i], events)
			}
			time.Sleep(time.Millisecond)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lat), nil
}

// tetherSide is three replicas as shipped: emits go to A, listeners are on
// B and C.
type tetherSide struct {
	apps    []*app.App
	cancel  context.CancelFunc
	done    []chan error
	emitter *client.Client
	clients []*client.Client
	c       *counters
}

func (t *tetherSide) name() string { return "tether" }

func newTetherSide(ctx context.Context, url, store string) (*tetherSide, error) {
	t := &tetherSide{c: &counters{progress: make([]atomic.Int64, listeners)}}
	rctx, cancel := context.WithCancel(ctx)
	t.cancel = cancel
	var addrs, tokens []string
	for i := range 3 {
		cfg := config.Default()
		cfg.GRPC, cfg.HTTP = "127.0.0.1:0", "off"
		cfg.Data = fmt.Sprintf("%s/replica-%d", store, i)
		if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
			t.close()
			return nil, err
		}
		cfg.Events.NATS, cfg.Events.JetStream = url, true
		cfg.Limits.IdempotencyStore = config.IdempotencyNATS
		ready := make(chan app.Ready, 1)
		a, err := app.New(cfg, app.WithOutput(io.Discard, io.Discard), app.WithReady(func(r app.Ready) { ready <- r }))
		if err != nil {
			t.close()
			return nil, err
		}
		done := make(chan error, 1)
		go func() { done <- a.Run(rctx) }()
		t.apps, t.done = append(t.apps, a), append(t.done, done)
		select {
		case r := <-ready:
			addrs, tokens = append(addrs, r.GRPC), append(tokens, r.Token)
		case err := <-done:
			t.close()
			return nil, err
		}
	}
	var err error
	if t.emitter, err = client.Dial(addrs[0], client.WithToken(tokens[0])); err != nil {
		t.close()
		return nil, err
	}
	for i := range listeners {
		c, err := client.Dial(addrs[1+i%2], client.WithToken(tokens[1+i%2])) // each replica's own secret
		if err != nil {
			t.close()
			return nil, err
		}
		t.clients = append(t.clients, c)
		if _, err := c.Listen(ctx, []string{"bench"}, func(e client.Event) { t.c.got(i, e.Payload.GetJson()) },
			client.OnLag(func(uint64, uint64) { fmt.Fprintln(os.Stderr, "tether: a listener lagged") })); err != nil {
			t.close()
			return nil, err
		}
	}
	return t, nil
}

func (t *tetherSide) emit(ctx context.Context) error {
	_, err := t.emitter.Emit(ctx, "bench", json.RawMessage(stress.Stamp(time.Now())))
	return err
}

func (t *tetherSide) fanout(ctx context.Context, events int) (float64, error) {
	return drive(ctx, t.c, events, func() error { return t.emit(ctx) })
}

func (t *tetherSide) latency(ctx context.Context, events int) (stress.Latencies, error) {
	return paced(ctx, t.c, events, func() error { return t.emit(ctx) })
}

func (t *tetherSide) close() {
	for _, c := range t.clients {
		c.Close()
	}
	if t.emitter != nil {
		t.emitter.Close()
	}
	if t.cancel != nil {
		t.cancel()
	}
	for _, d := range t.done {
		<-d
	}
}

// jetStreamSide is the same messages published to a stream (acknowledged)
// and consumed by ordered consumers, one connection each.
type jetStreamSide struct {
	pub   jetstream.JetStream
	conns []*nats.Conn
	ccs   []jetstream.ConsumeContext
	c     *counters
}

func (j *jetStreamSide) name() string { return "jetstream" }

func newJetStreamSide(ctx context.Context, url string) (*jetStreamSide, error) {
	j := &jetStreamSide{c: &counters{progress: make([]atomic.Int64, listeners)}}
	pc, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	j.conns = append(j.conns, pc)
	if j.pub, err = jetstream.New(pc); err != nil {
		j.close()
		return nil, err
	}
	st, err := j.pub.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"},
		MaxAge: time.Hour, MaxBytes: 256 << 20, Storage: jetstream.FileStorage})
	if err != nil {
		j.close()
		return nil, err
	}
	for i := range listeners {
		nc, err := nats.Connect(url)
		if err != nil {
			j.close()
			return nil, err
		}
		j.conns = append(j.conns, nc)
		js, _ := jetstream.New(nc)
		s, err := js.Stream(ctx, st.CachedInfo().Config.Name)
		if err != nil {
			j.close()
			return nil, err
		}
		oc, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
		if err != nil {
			j.close()
			return nil, err
		}
		cc, err := oc.Consume(func(m jetstream.Msg) { j.c.got(i, m.Data()) })
		if err != nil {
			j.close()
			return nil, err
		}
		j.ccs = append(j.ccs, cc)
	}
	return j, nil
}

func (j *jetStreamSide) publish(ctx context.Context) error {
	_, err := j.pub.Publish(ctx, "bench.e", stress.Stamp(time.Now()))
	return err
}

func (j *jetStreamSide) fanout(ctx context.Context, events int) (float64, error) {
	return drive(ctx, j.c, events, func() error { return j.publish(ctx) })
}

func (j *jetStreamSide) latency(ctx context.Context, events int) (stress.Latencies, error) {
	return paced(ctx, j.c, events, func() error { return j.publish(ctx) })
}

func (j *jetStreamSide) close() {
	for _, cc := range j.ccs {
		cc.Stop()
	}
	for _, nc := range j.conns {
		nc.Close()
	}
}

func spread(v []float64) string {
	return fmt.Sprintf("min %.0f, max %.0f", slices.Min(v), slices.Max(v))
}

func fmtAll(v []float64) string {
	b := make([]byte, 0, 8*len(v))
	for i, x := range v {
		if i > 0 {
			b = append(b, ' ')
		}
		b = fmt.Appendf(b, "%.3f", x)
	}
	return string(b)
}
