package bench

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A row's value is its figure with the least margin to its goal, and the
// row passes only if every figure does.
func TestFinishBinding(t *testing.T) {
	r := Result{Metrics: []Metric{
		{Name: "throughput", Value: 1.3, goal: Goal{">=", 1.0}},
		{Name: "p50", Value: 0.9, goal: Goal{"<=", 1.0}},
		{Name: "p50 at 256", Value: 1.05, goal: Goal{"<=", 1.0}},
	}}
	r.finish()
	if r.Binding != "p50 at 256" || r.Value != 1.05 || r.GoalOp != "<=" || r.Pass {
		t.Fatalf("finish: %+v", r)
	}
	if got := r.Line(); got != "RATIO  1.050 goal <=1.000 FAIL" {
		t.Fatalf("line %q", got)
	}
	r.Metrics[2].Value = 0.95
	r.finish()
	if !r.Pass || r.Binding != "p50 at 256" {
		t.Fatalf("all met: %+v", r)
	}
}

// The minimal SSE server delivers every event to every client, in order,
// however its writes coalesce.
func TestSSEHub(t *testing.T) {
	p, err := startSSEMin()
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	readers := []*sseReader{{}, {}, {}}
	closeAll, err := openSSE(t.Context(), p.HTTP+"/events", "", len(readers), readers)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	for p.hub.count() < len(readers) {
		time.Sleep(time.Millisecond)
	}
	for range 500 {
		p.hub.publish("e", []byte(`{"x":1}`))
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, r := range readers {
		for r.got.Load() < 500 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n := r.got.Load(); n != 500 {
			t.Fatalf("a client got %d of 500 events", n)
		}
	}
}

// interleave alternates which side goes first, after one warm-up of each,
// and files A/B of every round; an absolute metric is A's own figures.
func TestInterleave(t *testing.T) {
	var order []string
	round := 0
	mk := func(name string, v func() float64) side {
		return func(context.Context) (values, error) {
			order = append(order, name)
			return values{"x": v()}, nil
		}
	}
	a := mk("a", func() float64 { round++; return float64(2 * round) })
	b := mk("b", func() float64 { return 1 })
	cfg := &Config{Rounds: 4, Log: io.Discard}
	r := &Result{A: "a", B: "b"}
	def := metricDef{key: "x", name: "x", goal: Goal{"<=", 10}}
	if err := interleave(t.Context(), cfg, r, "L", []metricDef{def}, a, b); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ""); got != "ab"+"ab"+"ba"+"ab"+"ba" {
		t.Fatalf("order %s", got)
	}
	m := r.Metrics[0]
	if m.Name != "L: x" || !slices.Equal(m.AValues, []float64{4, 6, 8, 10}) || !slices.Equal(m.Ratios, []float64{4, 6, 8, 10}) ||
		m.Value != 7 || m.Min != 4 || m.Max != 10 || m.BMedian != 1 {
		t.Fatalf("metric %+v", m)
	}

	r = &Result{A: "a"}
	round = 0
	abs := metricDef{key: "x", name: "x", goal: Goal{"<=", 10}, absolute: true}
	if err := interleave(t.Context(), &Config{Rounds: 3, Log: io.Discard}, r, "", []metricDef{abs}, a, nil); err != nil {
		t.Fatal(err)
	}
	if m := r.Metrics[0]; !slices.Equal(m.AValues, []float64{4, 6, 8}) || m.Value != 6 || m.Ratios != nil || m.BValues != nil {
		t.Fatalf("absolute metric %+v", m)
	}
}

// A side that fails its warm-up three times fails the comparison, noting
// each try; one that fails once then works is measured.
func TestWarmUp(t *testing.T) {
	fails := 1
	s := func(context.Context) (values, error) {
		if fails > 0 {
			fails--
			return nil, errors.New("not yet")
		}
		return values{}, nil
	}
	r := &Result{}
	if err := warmUp(t.Context(), r, "L", "a", s); err != nil || len(r.Notes) != 1 {
		t.Fatalf("%v, notes %q", err, r.Notes)
	}
	fails = 3
	if err := warmUp(t.Context(), r, "L", "a", s); err == nil || len(r.Notes) != 4 {
		t.Fatalf("%v, notes %q", err, r.Notes)
	}
}

// paceRound publishes every event, flushes once, and keeps the publisher
// within paceAhead (checked every 64 events) of the slowest reader.
func TestPaceRound(t *testing.T) {
	prog := counters(3)
	var sent atomic.Int64
	var flushed int
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // reader 2 is slow: it waits until the publisher is paceAhead ahead, then reads one event per pass
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if n := sent.Load(); n >= paceAhead && prog[2].Load() < n {
				prog[2].Add(1)
			}
			time.Sleep(time.Microsecond)
		}
	}()
	defer func() { close(stop); <-done }()
	var maxAhead int64
	publish := func() error {
		n := sent.Add(1)
		prog[0].Add(1)
		prog[1].Add(1)
		maxAhead = max(maxAhead, n-prog[2].Load())
		return nil
	}
	rate, err := paceRound(t.Context(), 2000, prog, publish, func() error { flushed++; return nil })
	if err != nil || rate <= 0 || sent.Load() != 2000 || flushed != 1 {
		t.Fatalf("rate %v, %v; sent %d, flushed %d", rate, err, sent.Load(), flushed)
	}
	if maxAhead > paceAhead+64 {
		t.Fatalf("the publisher ran %d ahead of the slowest reader (bound %d+64)", maxAhead, paceAhead)
	}
	if maxAhead < paceAhead {
		t.Fatalf("the slow reader was at most %d behind: the bound was not reached", maxAhead)
	}
}
