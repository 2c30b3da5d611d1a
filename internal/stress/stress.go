// Package stress holds what the load and fault programs (cmd/tether-load,
// cmd/tether-fault) and the bench programs share: process figures, latency
// summaries, time-stamped event payloads, app secrets, and the OTLP sink
// their apps export traces to.
package stress

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RSS returns the resident set size of this process from
// /proc/self/status (VmRSS), in bytes; 0 where /proc is not there.
func RSS() uint64 { rss, _ := procStatus("self"); return rss }

// PeakRSS returns the peak resident set size (VmHWM), in bytes.
func PeakRSS() uint64 { _, peak := procStatus("self"); return peak }

// ProcessRSS returns the resident set size and its peak (VmRSS, VmHWM) of
// process pid, in bytes; 0 where /proc is not there.
func ProcessRSS(pid int) (rss, peak uint64) { return procStatus(strconv.Itoa(pid)) }

func procStatus(proc string) (rss, peak uint64) {
	f, err := os.Open("/proc/" + proc + "/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		for _, v := range []struct {
			field string
			dst   *uint64
		}{{"VmRSS:", &rss}, {"VmHWM:", &peak}} {
			if rest, ok := strings.CutPrefix(s.Text(), v.field); ok {
				kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				*v.dst = kb << 10
			}
		}
	}
	return rss, peak
}

// NewSecret makes an app secret (32 random bytes, base64url) and writes
// it to dir/token, where a core started with gateway.token_file
// dir/token reads it: a driver that reaches its core over TCP sends it.
func NewSecret(dir string) (string, error) {
	b := make([]byte, 32)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read does not fail
	token := base64.RawURLEncoding.EncodeToString(b)
	return token, WriteSecret(dir, token)
}

// WriteSecret writes token to dir/token, mode 0600.
func WriteSecret(dir, token string) error {
	return os.WriteFile(filepath.Join(dir, "token"), []byte(token+"\n"), 0o600)
}

// Snapshot is the process's goroutines and memory at one moment.
type Snapshot struct {
	Goroutines int
	RSS        uint64
	HeapInuse  uint64
}

// Take collects garbage, returns freed memory to the OS and reads the
// figures.
func Take() Snapshot {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Snapshot{Goroutines: runtime.NumGoroutine(), RSS: RSS(), HeapInuse: ms.HeapInuse}
}

// Settle waits, up to limit, for the goroutine count to come down to want,
// then takes a Snapshot.
func Settle(want int, limit time.Duration) Snapshot {
	deadline := time.Now().Add(limit)
	for runtime.NumGoroutine() > want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return Take()
}

// MiB formats bytes as MiB.
func MiB(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// Latencies summarises durations.
type Latencies []time.Duration

// Percentile returns the p-th percentile (0 < p <= 100), nearest rank;
// the slice is sorted in place.
func (l Latencies) Percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	if !slices.IsSorted(l) {
		slices.Sort(l)
	}
	i := int(float64(len(l))*p/100+0.999999) - 1
	return l[min(max(i, 0), len(l)-1)]
}

// Median is the median of v (the mean of the two middle values of an even
// count), 0 for none; v is not changed.
func Median(v []float64) float64 {
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

// Summary is "p50 … p99 … p99.9 … max …".
func (l Latencies) Summary() string {
	return fmt.Sprintf("p50 %v  p99 %v  p99.9 %v  max %v", round(l.Percentile(50)), round(l.Percentile(99)), round(l.Percentile(99.9)), round(l.Percentile(100)))
}

func round(d time.Duration) time.Duration {
	switch {
	case d > 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d > 100*time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d
}

// Stamp is an event payload of 64 bytes of JSON carrying its emit time t:
// {"t":<Unix ns>,"pad":"xx…"}.
func Stamp(t time.Time) []byte {
	b := strconv.AppendInt([]byte(`{"t":`), t.UnixNano(), 10)
	b = append(b, `,"pad":"`...)
	for len(b) < 64-2 {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// StampOf reads the emit time back from a JSON payload whose "t" member is
// a Unix time in nanoseconds (as Stamp writes), followed by "," or "}".
func StampOf(data []byte) (int64, bool) {
	i := bytes.Index(data, []byte(`"t":`))
	if i < 0 {
		return 0, false
	}
	data = data[i+4:]
	j := bytes.IndexAny(data, ",}")
	if j < 0 {
		return 0, false
	}
	t, err := strconv.ParseInt(string(data[:j]), 10, 64)
	return t, err == nil
}
