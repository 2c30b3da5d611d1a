// Package bench runs Tether's comparison program. Every Tether side is the
// product as users get it — package app with config.Default(), tracing
// exporting over OTLP to a local sink, metrics and per-call logs on — and
// every baseline is set up as its own users would set it up. Each
// comparison measures its two sides in the same run, interleaved round by
// round (A then B, then B then A, …), and reports the median of the
// per-round ratios, so that a shared, noisy machine slows both sides of a
// round alike.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-ipc/tether/internal/stress"
)

// Config sets how long each comparison runs.
type Config struct {
	Quick  bool
	Rounds int           // rounds per comparison (at least 5)
	Side   time.Duration // time for one side of one round
	// Listeners is the number of idle listeners of each kind for
	// listener_memory.
	Listeners int
	// ProfileDir, when set, receives a CPU profile and an allocation
	// profile of each comparison (of this process: with -cross off, the
	// Tether side and the baseline both run here).
	ProfileDir string
	// Only, when set, runs only the comparisons named.
	Only map[string]bool
	// NoCross skips the cross-process measurements (profiling).
	NoCross bool
	// Untraced and LogLevel change the Tether sides from the app as
	// shipped: no OTLP exporter, and a log level other than info. The
	// figures are then not those of the product as shipped; they show what
	// tracing and logging cost.
	Untraced bool
	LogLevel string
	Log      io.Writer
}

// Goal is a target: a value op Target.
type Goal struct {
	Op     string `json:"op"` // "<=" or ">="
	Target float64
}

// Met reports whether v meets the goal.
func (g Goal) Met(v float64) bool {
	if g.Op == "<=" {
		return v <= g.Target
	}
	return v >= g.Target
}

// margin is how far v is inside the goal, as a factor: above 1 met, below
// 1 missed.
func (g Goal) margin(v float64) float64 {
	if v <= 0 || g.Target <= 0 {
		return 0
	}
	if g.Op == "<=" {
		return g.Target / v
	}
	return v / g.Target
}

func (g Goal) String() string { return g.Op + fmtNum(g.Target) }

// Metric is one measured figure of a comparison, with its own goal: a
// ratio A/B (the median of the per-round ratios), or with Absolute an
// absolute figure of side A (the median of its rounds).
type Metric struct {
	Name     string    `json:"name"`
	Unit     string    `json:"unit"`
	Absolute bool      `json:"absolute,omitempty"`
	GoalOp   string    `json:"goal_op"`
	Goal     float64   `json:"goal"`
	AValues  []float64 `json:"a_values"`
	BValues  []float64 `json:"b_values,omitempty"`
	Ratios   []float64 `json:"ratios,omitempty"`
	AMedian  float64   `json:"a_median"`
	BMedian  float64   `json:"b_median,omitempty"`
	Value    float64   `json:"value"`
	Min      float64   `json:"min"` // spread of the per-round values (ratios, or A for absolute figures)
	Max      float64   `json:"max"`
	Pass     bool      `json:"pass"`
	goal     Goal
	key      string
	absolute bool
}

// Result is one comparison's outcome. Value is its binding metric's value:
// of the metrics, the one with the least margin to its goal.
type Result struct {
	Name    string   `json:"name"`
	What    string   `json:"what"`
	A       string   `json:"a"`
	B       string   `json:"b"`
	SetupA  string   `json:"setup_a"`
	SetupB  string   `json:"setup_b"`
	Value   float64  `json:"value"`
	GoalOp  string   `json:"goal_op"`
	Goal    float64  `json:"goal"`
	Binding string   `json:"binding"` // the metric Value comes from
	Pass    bool     `json:"pass"`
	Metrics []Metric `json:"metrics"`
	Notes   []string `json:"notes,omitempty"`
	Seconds float64  `json:"seconds"`
	Err     string   `json:"error,omitempty"`
}

// Line is the bench-quick line of r.
func (r Result) Line() string {
	pf := "FAIL"
	if r.Pass {
		pf = "PASS"
	}
	return fmt.Sprintf("RATIO %s %s goal %s%s %s", r.Name, fmtNum(r.Value), r.GoalOp, fmtNum(r.Goal), pf)
}

func (r *Result) note(f string, a ...any) { r.Notes = append(r.Notes, fmt.Sprintf(f, a...)) }

// finish sets r's value from its metrics.
func (r *Result) finish() {
	best := math.Inf(1)
	r.Pass = len(r.Metrics) > 0
	for i := range r.Metrics {
		m := &r.Metrics[i]
		m.Pass = m.goal.Met(m.Value)
		r.Pass = r.Pass && m.Pass
		if mg := m.goal.margin(m.Value); mg < best {
			best = mg
			r.Value, r.GoalOp, r.Goal, r.Binding = m.Value, m.goal.Op, m.goal.Target, m.Name
		}
	}
}

func fmtNum(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

type comparison struct {
	name, what string
	run        func(ctx context.Context, cfg *Config, r *Result) error
}

// comparisons, in the order BENCHMARKS.md lists them.
var comparisons = []comparison{
	{"invoke_vs_grpc", "Invoke by name with proto args (Tether's Go client, the app's core) / a typed call of the same handler on a plain grpc-go server and client; Unix socket; p50 latency of one caller", runInvokeVsGRPC},
	{"gateway_vs_connect", "POST /ipc/invoke/greet through the app's gateway / POST /demo.v1.Demo/Greet to connect-go's handler (JSON), HTTP/1.1 loopback, the same raw HTTP client on both sides; 1, 64 and 256 callers: throughput and p50 latency", runGatewayVsConnect},
	{"json_1mib_vs_connect", "1 MiB of JSON args (process_data) through the app's gateway / connect-go's handler (JSON), the same raw HTTP client; p50 latency of one caller", runJSON1MiBVsConnect},
	{"sse_fanout_vs_min", "events delivered per second to 1000 SSE clients: the app's gateway (GET /ipc/listen) / a minimal net/http SSE handler that coalesces writes", runSSEFanout},
	{"sse_p99_vs_min", "emit → receive p99 at 100k deliveries/s (100 events/s to 1000 SSE clients): the app's gateway / the same minimal handler", runSSEP99},
	{"grpc_fanout_vs_nats", "events delivered per second, the backend's Emit → 100 gRPC Listen streams (one connection each) / an embedded NATS server → 100 nats.go subscribers", runGRPCFanoutVsNATS},
	{"isolation_js_vs_brownfield", "1 KiB JSON invoke (process_data) through the app's gateway: isolation with the example whitelist JS hook / brownfield; p50 latency of one caller", runIsolationJSVsBrownfield},
	{"bytes_vs_uds", "a 64 MiB raw-bytes invoke (echo_bytes) over a Unix socket / a plain Unix-socket echo of 64 MiB; throughput", runBytesVsUDS},
	{"listener_memory", "bytes per idle listener in the serving process, 10,000 listeners of each kind, one connection each: SSE (GET /ipc/listen) and gRPC Listen, the app as shipped", runListenerMemory},
}

// Names lists the comparisons.
func Names() []string {
	var out []string
	for _, c := range comparisons {
		out = append(out, c.name)
	}
	return out
}

// Run runs the comparisons of cfg in order; onResult is told each result.
func Run(ctx context.Context, cfg *Config, onResult func(Result)) []Result {
	if cfg.Rounds < 5 {
		cfg.Rounds = 5
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	slog.SetDefault(slog.New(slog.DiscardHandler))
	if cfg.Untraced {
		os.Setenv(untracedEnv, "1")
	}
	if cfg.LogLevel != "" {
		os.Setenv(logLevelEnv, cfg.LogLevel)
	}
	var out []Result
	for _, c := range comparisons {
		if cfg.Only != nil && !cfg.Only[c.name] {
			continue
		}
		r := Result{Name: c.name, What: c.what}
		start := time.Now()
		stopProf := startProfile(cfg, c.name)
		err := c.run(ctx, cfg, &r)
		stopProf()
		r.Seconds = time.Since(start).Seconds()
		r.finish()
		if err != nil {
			r.Err = err.Error()
			r.Pass = false
		}
		runtime.GC()
		out = append(out, r)
		if onResult != nil {
			onResult(r)
		}
	}
	return out
}

func startProfile(cfg *Config, name string) func() {
	if cfg.ProfileDir == "" {
		return func() {}
	}
	if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
		return func() {}
	}
	f, err := os.Create(filepath.Join(cfg.ProfileDir, name+".cpu.pprof"))
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		if h, err := os.Create(filepath.Join(cfg.ProfileDir, name+".allocs.pprof")); err == nil {
			pprof.Lookup("allocs").WriteTo(h, 0) //nolint:errcheck
			h.Close()
		}
	}
}

// values are one side's measurements in one round, by key ("p50", "rate",
// "bytes", …).
type values map[string]float64

// side measures one side of one round.
type side func(ctx context.Context) (values, error)

// metricDef names a metric and the key of the values it reads.
type metricDef struct {
	key, name, unit string
	goal            Goal
	absolute        bool // the figure is side A's own value, not A/B
}

// interleave runs a and b for cfg.Rounds rounds, alternating which goes
// first, after one untimed warm-up of each, and appends the metrics of defs
// to r.
func interleave(ctx context.Context, cfg *Config, r *Result, label string, defs []metricDef, a, b side) error {
	if b == nil && cfg.Quick {
		// An absolute figure (memory) needs no warm-up in quick mode.
	} else if err := warmUp(ctx, r, label, r.A, a); err != nil {
		return err
	}
	if b != nil {
		if err := warmUp(ctx, r, label, r.B, b); err != nil {
			return err
		}
	}
	ms := make([]Metric, len(defs))
	for i, d := range defs {
		name := d.name
		if label != "" {
			name = label + ": " + d.name
		}
		ms[i] = Metric{Name: name, Unit: d.unit, Absolute: d.absolute, GoalOp: d.goal.Op, Goal: d.goal.Target, goal: d.goal, key: d.key, absolute: d.absolute}
	}
	for i := range cfg.Rounds {
		if err := ctx.Err(); err != nil {
			return err
		}
		first, second := a, b
		if i%2 == 1 && b != nil {
			first, second = b, a
		}
		x, err := first(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		var y values
		if second != nil {
			if y, err = second(ctx); err != nil {
				return fmt.Errorf("%s: %w", label, err)
			}
		}
		if i%2 == 1 && b != nil {
			x, y = y, x
		}
		for j := range ms {
			m := &ms[j]
			m.AValues = append(m.AValues, x[m.key])
			if b != nil && !m.absolute {
				m.BValues = append(m.BValues, y[m.key])
				m.Ratios = append(m.Ratios, div(x[m.key], y[m.key]))
			}
			if m.absolute {
				fmt.Fprintf(cfg.Log, "  %s round %d %s: %.4g %s\n", r.Name, i+1, m.Name, x[m.key], m.Unit)
			} else {
				fmt.Fprintf(cfg.Log, "  %s round %d %s: %s=%.4g %s=%.4g ratio=%.3f\n", r.Name, i+1, m.Name, r.A, x[m.key], r.B, y[m.key], div(x[m.key], y[m.key]))
			}
		}
	}
	for j := range ms {
		m := &ms[j]
		m.AMedian, m.BMedian = stress.Median(m.AValues), stress.Median(m.BValues)
		spread := m.Ratios
		m.Value = stress.Median(m.Ratios)
		if m.absolute {
			spread, m.Value = m.AValues, m.AMedian
		}
		m.Min, m.Max = slices.Min(spread), slices.Max(spread)
	}
	r.Metrics = append(r.Metrics, ms...)
	return nil
}

// warmUp runs a side once, untimed. A side whose first calls fail (a
// server still making what it makes on first use) gets two more tries; the
// failures are noted in the report.
func warmUp(ctx context.Context, r *Result, label, name string, s side) error {
	var err error
	for try := range 3 {
		if _, err = s(ctx); err == nil {
			return nil
		}
		r.note("%s: %s's warm-up failed (try %d of 3): %.200s", label, name, try+1, err.Error())
	}
	return fmt.Errorf("%s %s (warm-up): %w", label, name, err)
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// pct is the p-th percentile (0–100) of the sorted durations, in ns.
func pct(sorted []time.Duration, p float64) float64 {
	return float64(stress.Latencies(sorted).Percentile(p))
}

// latency runs op one call at a time for d (at least minOps calls) and
// returns the p50 and mean in ns per call.
func latency(d time.Duration, minOps int, op func() error) side {
	var lat []time.Duration
	return func(ctx context.Context) (values, error) {
		lat = lat[:0]
		start := time.Now()
		for len(lat) < minOps || time.Since(start) < d {
			t0 := time.Now()
			if err := op(); err != nil {
				return nil, err
			}
			lat = append(lat, time.Since(t0))
			if len(lat)&63 == 0 && ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
		el := time.Since(start)
		slices.Sort(lat)
		return values{"p50": pct(lat, 50), "p99": pct(lat, 99), "mean": float64(el.Nanoseconds()) / float64(len(lat)), "rate": float64(len(lat)) / el.Seconds()}, nil
	}
}

// throughput runs op from conc goroutines for d and returns calls per
// second ("rate") and the p50 and p99 latency of a call (ns).
func throughput(d time.Duration, conc int, op func() error) side {
	lats := make([][]time.Duration, conc)
	var all []time.Duration
	return func(ctx context.Context) (values, error) {
		var n atomic.Int64
		var firstErr error
		var once sync.Once
		var wg sync.WaitGroup
		var stop atomic.Bool
		start := time.Now()
		for g := range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l := lats[g][:0]
				defer func() { lats[g] = l }()
				for !stop.Load() {
					t0 := time.Now()
					if err := op(); err != nil {
						once.Do(func() { firstErr = err })
						return
					}
					l = append(l, time.Since(t0))
					n.Add(1)
				}
			}()
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		stop.Store(true)
		wg.Wait()
		el := time.Since(start)
		if firstErr != nil {
			return nil, firstErr
		}
		all = all[:0]
		for _, l := range lats {
			all = append(all, l...)
		}
		slices.Sort(all)
		return values{"rate": float64(n.Load()) / el.Seconds(), "p50": pct(all, 50), "p99": pct(all, 99)}, ctx.Err()
	}
}
