package stress

import (
	"os"
	"path/filepath"
	"strings"
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
	if rss, peak := ProcessRSS(os.Getpid()); rss == 0 || peak < rss {
		t.Fatalf("ProcessRSS(self) = %d, %d", rss, peak)
	}
	if rss, peak := ProcessRSS(-1); rss != 0 || peak != 0 {
		t.Fatalf("ProcessRSS(-1) = %d, %d", rss, peak)
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

func TestNewSecret(t *testing.T) {
	dir := t.TempDir()
	token, err := NewSecret(dir)
	if err != nil || len(token) != 43 {
		t.Fatalf("NewSecret = %q, %v", token, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil || strings.TrimSpace(string(b)) != token {
		t.Fatalf("token file %q, %v; want %q", b, err, token)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "token")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", fi.Mode())
	}
	if again, _ := NewSecret(dir); again == token {
		t.Fatal("the same secret twice")
	}
}

func TestMedian(t *testing.T) {
	v := []float64{3, 1, 2}
	if Median(v) != 2 || Median([]float64{4, 1, 3, 2}) != 2.5 || Median(nil) != 0 {
		t.Fatal(Median(v), Median([]float64{4, 1, 3, 2}))
	}
	if v[0] != 3 {
		t.Fatal("Median sorted its argument")
	}
}
