package stress

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var l Latencies
	for i := 100; i >= 1; i-- {
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}} {
		if got := l.Percentile(c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if (Latencies{}).Percentile(50) != 0 {
		t.Error("empty")
	}
}

func TestSnapshot(t *testing.T) {
	s := Take()
	if s.Goroutines < 1 || s.RSS == 0 || PeakRSS() < s.RSS {
		t.Fatalf("%+v peak %d", s, PeakRSS())
	}
}
