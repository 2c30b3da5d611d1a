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

func TestStamp(t *testing.T) {
	now := time.Now()
	b := Stamp(now)
	if len(b) != 64 {
		t.Fatalf("Stamp is %d bytes", len(b))
	}
	if ts, ok := StampOf(b); !ok || ts != now.UnixNano() {
		t.Fatalf("StampOf(%s) = %d, %v", b, ts, ok)
	}
	if ts, ok := StampOf([]byte(`{"t":42,"n":7}`)); !ok || ts != 42 {
		t.Fatalf("StampOf(t then n) = %d, %v", ts, ok)
	}
	if ts, ok := StampOf([]byte(`{"n":7,"t":43}`)); !ok || ts != 43 {
		t.Fatalf("StampOf(t last) = %d, %v", ts, ok)
	}
	for _, bad := range []string{`{"n":1}`, `{"t":12`, `{"t":"x","n":1}`} {
		if _, ok := StampOf([]byte(bad)); ok {
			t.Errorf("StampOf(%s) ok", bad)
		}
	}
}
