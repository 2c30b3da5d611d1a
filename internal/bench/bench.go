// Package bench runs Tether's comparison program: each comparison measures
// two things in the same run, interleaved round by round (A then B, then B
// then A, …), and reports the median of the per-round ratios, so that a
// shared, noisy machine slows both sides of a round alike.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config sets how long each comparison runs.
type Config struct {
	Quick  bool
	Rounds int           // rounds per comparison (at least 5)
	Side   time.Duration // time for one side of one round
	// Listeners is the number of idle listeners for listener_memory.
	Listeners int
	// ProfileDir, when set, receives a CPU profile and a heap profile of
	// each comparison.
	ProfileDir string
	// Only, when set, runs only the comparisons named.
	Only map[string]bool
	Log  io.Writer
}

// Goal is a comparison's target: Value op Target.
type Goal struct {
	Op     string // "<=" or ">="
	Target float64
}

// Met reports whether v meets the goal.
func (g Goal) Met(v float64) bool {
	if g.Op == "<=" {
		return v <= g.Target
	}
	return v >= g.Target
}

// Result is one comparison's outcome.
type Result struct {
	Name   string  `json:"name"`
	What   string  `json:"what"`
	Value  float64 `json:"value"`
	GoalOp string  `json:"goal_op"`
	Goal   float64 `json:"goal"`
	Pass   bool    `json:"pass"`
	Unit   string  `json:"unit"` // unit of A and B
	A      string  `json:"a"`
	B      string  `json:"b"`
	// AValues and BValues are the per-round measurements, Ratios the
	// per-round ratios; Value is the median of Ratios (for
	// listener_memory, the larger of the two medians).
	AValues []float64 `json:"a_values"`
	BValues []float64 `json:"b_values"`
	Ratios  []float64 `json:"ratios"`
	AMedian float64   `json:"a_median"`
	BMedian float64   `json:"b_median"`
	Note    string    `json:"note,omitempty"`
	Seconds float64   `json:"seconds"`
	Err     string    `json:"error,omitempty"`
}

// Line is the bench-quick line of r.
func (r Result) Line() string {
	pf := "FAIL"
	if r.Pass {
		pf = "PASS"
	}
	return fmt.Sprintf("RATIO %s %s goal %s%s %s", r.Name, fmtNum(r.Value), r.GoalOp, fmtNum(r.Goal), pf)
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
	goal       Goal
	run        func(ctx context.Context, cfg *Config, r *Result) error
}

// comparisons in the order the issue lists them.
var comparisons = []comparison{
	{"invoke_vs_typed", "Invoke by name with proto args / direct typed gRPC call; same server, same TCP loopback connection; latency (ns/op)", Goal{"<=", 1.10}, runInvokeVsTyped},
	{"json_invoke_vs_connect", "JSON Invoke over gRPC / connect-go JSON unary (HTTP/1.1), same Greet handler, 64 concurrent callers; throughput (calls/s)", Goal{">=", 1.00}, runJSONInvokeVsConnect},
	{"gateway_vs_connect_http1", "gateway POST /ipc/invoke/greet / connect-go JSON unary, both HTTP/1.1 loopback, 64 concurrent callers; throughput (calls/s)", Goal{">=", 1.00}, runGatewayVsConnect},
	{"isolation_vs_brownfield", "1 KiB JSON invoke over a Unix socket: client isolation stage + sealing core / plain brownfield core; latency (ns/op)", Goal{"<=", 1.10}, runIsolationVsBrownfield},
	{"fanout_vs_nats", "events delivered per second, 1 publisher → 100 listeners: gRPC Listen streams / embedded NATS subscribers", Goal{">=", 1.00}, runFanoutVsNATS},
	{"bytes_vs_uds", "64 MiB raw-bytes echo invoke over a Unix socket / plain Unix-socket echo of 64 MiB; throughput", Goal{">=", 0.50}, runBytesVsUDS},
	{"listener_memory", "bytes per idle listener in the serving process (HeapInuse+StackInuse growth after GC), gRPC Listen and SSE; value is the larger", Goal{"<=", 16384}, runListenerMemory},
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
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	var out []Result
	for _, c := range comparisons {
		if cfg.Only != nil && !cfg.Only[c.name] {
			continue
		}
		r := Result{Name: c.name, What: c.what, GoalOp: c.goal.Op, Goal: c.goal.Target}
		start := time.Now()
		stopProf := startProfile(cfg, c.name)
		err := c.run(ctx, cfg, &r)
		stopProf()
		r.Seconds = time.Since(start).Seconds()
		if err != nil {
			r.Err = err.Error()
			r.Pass = false
		} else {
			r.Pass = c.goal.Met(r.Value)
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
		if h, err := os.Create(filepath.Join(cfg.ProfileDir, name+".heap.pprof")); err == nil {
			pprof.Lookup("allocs").WriteTo(h, 0) //nolint:errcheck
			h.Close()
		}
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// side measures one side of one round, returning its value in the
// comparison's unit.
type side func(ctx context.Context) (float64, error)

// interleave runs a and b for cfg.Rounds rounds, alternating which goes
// first, after one untimed warm-up of each; ratio turns a round's pair into
// its ratio. It fills r's values and sets r.Value to the median ratio.
func interleave(ctx context.Context, cfg *Config, r *Result, a, b side, ratio func(a, b float64) float64) error {
	if _, err := a(ctx); err != nil {
		return fmt.Errorf("%s (warm-up): %w", r.A, err)
	}
	if _, err := b(ctx); err != nil {
		return fmt.Errorf("%s (warm-up): %w", r.B, err)
	}
	for i := range cfg.Rounds {
		if err := ctx.Err(); err != nil {
			return err
		}
		first, second := a, b
		if i%2 == 1 {
			first, second = b, a
		}
		x, err := first(ctx)
		if err != nil {
			return err
		}
		y, err := second(ctx)
		if err != nil {
			return err
		}
		if i%2 == 1 {
			x, y = y, x
		}
		r.AValues = append(r.AValues, x)
		r.BValues = append(r.BValues, y)
		r.Ratios = append(r.Ratios, ratio(x, y))
		fmt.Fprintf(cfg.Log, "  %s round %d: %s=%.4g %s=%.4g ratio=%.3f\n", r.Name, i+1, r.A, x, r.B, y, ratio(x, y))
	}
	r.AMedian, r.BMedian = median(r.AValues), median(r.BValues)
	r.Value = median(r.Ratios)
	return nil
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// latency runs op one call at a time for d (at least minOps calls) and
// returns ns per call.
func latency(d time.Duration, minOps int, op func() error) side {
	return func(ctx context.Context) (float64, error) {
		n := 0
		start := time.Now()
		for n < minOps || time.Since(start) < d {
			if err := op(); err != nil {
				return 0, err
			}
			n++
			if n&63 == 0 && ctx.Err() != nil {
				return 0, ctx.Err()
			}
		}
		return float64(time.Since(start).Nanoseconds()) / float64(n), nil
	}
}

// throughput runs op from conc goroutines for d and returns calls per second.
func throughput(d time.Duration, conc int, op func() error) side {
	return func(ctx context.Context) (float64, error) {
		var n atomic.Int64
		var firstErr error
		var once sync.Once
		var wg sync.WaitGroup
		stop := make(chan struct{})
		start := time.Now()
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if err := op(); err != nil {
						once.Do(func() { firstErr = err })
						return
					}
					n.Add(1)
				}
			}()
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		close(stop)
		wg.Wait()
		el := time.Since(start)
		if firstErr != nil {
			return 0, firstErr
		}
		return float64(n.Load()) / el.Seconds(), ctx.Err()
	}
}
