package bench

import (
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

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if percentile(d, 0.5) != 50 || percentile(d, 0.99) != 99 || percentile(d, 1) != 100 {
		t.Fatal(percentile(d, 0.5), percentile(d, 0.99))
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
