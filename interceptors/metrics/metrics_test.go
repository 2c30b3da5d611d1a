package metrics_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/interceptors/internal/coretest"
	"github.com/tether-ipc/tether/interceptors/metrics"
	"github.com/tether-ipc/tether/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scrape fetches the handler's exposition and returns each sample by its
// series (name and labels as written, e.g. `x_total{code="ok"}`).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", res.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func start(t *testing.T, opts ...metrics.Option) (*coretest.Core, *metrics.Metrics, string) {
	t.Helper()
	m := metrics.New(opts...)
	c := coretest.Start(t, nil,
		server.WithInterceptors(m.UnaryServerInterceptor()),
		server.WithStreamInterceptors(m.StreamServerInterceptor()))
	hs := httptest.NewServer(m.Handler())
	t.Cleanup(hs.Close)
	return c, m, hs.URL + "/metrics"
}

// TestMetricsMove scrapes /metrics before and after a known mix of calls
// and checks that each series moved by exactly the calls that should count.
func TestMetricsMove(t *testing.T) {
	c, _, url := start(t)
	ctx := coretest.Labelled("main")
	before := scrape(t, url)

	for range 3 {
		if err := c.Client.Invoke(ctx, "echo", coretest.EchoArgs{Text: "x"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Srv.Invoke(context.Background(), "echo", coretest.EchoArgs{Text: "in-process"}, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.Client.Invoke(ctx, "fail", coretest.FailArgs{Code: "not_found"}, nil); tether.CodeOf(err) != tether.CodeNotFound {
			t.Fatalf("fail: %v", err)
		}
	}
	// An unknown command fails before the chain and creates no label.
	if err := c.Client.Invoke(ctx, "no_such_command_xyz", nil, nil); tether.CodeOf(err) != tether.CodeNotFound {
		t.Fatalf("unknown command: %v", err)
	}
	for range 2 {
		if _, err := c.Client.Emit(ctx, "evt-a", 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Client.Emit(ctx, "bad name!", 1); err == nil {
		t.Fatal("emit with a bad name succeeded")
	}
	var msgs int
	if err := c.Client.Channel(ctx, "count", coretest.CountArgs{N: 4}, func(client.ChannelMessage) error { msgs++; return nil }); err != nil || msgs != 4 {
		t.Fatalf("channel: %d messages, %v", msgs, err)
	}

	lctx, cancel := context.WithCancel(ctx)
	var subs []*client.Subscription
	for range 2 {
		sub, err := c.Client.Listen(lctx, []string{"evt-a"}, func(client.Event) {})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	during := scrape(t, url)
	cancel()
	for _, s := range subs {
		<-s.Done()
	}
	// The server sees the streams end shortly after the client does.
	var after map[string]float64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		after = scrape(t, url)
		if after["tether_listeners"] == before["tether_listeners"] || time.Now().After(deadline) {
			break
		}
	}

	moved := func(m map[string]float64, series string) float64 { return m[series] - before[series] }
	for _, tt := range []struct {
		series string
		in     map[string]float64
		want   float64
	}{
		{`tether_invokes_total{code="ok",command="echo"}`, after, 4},
		{`tether_invokes_total{code="not_found",command="fail"}`, after, 2},
		{`tether_invokes_total{code="ok",command="count"}`, after, 1},
		{`tether_invoke_duration_seconds_count{command="echo"}`, after, 4},
		{`tether_invoke_duration_seconds_count{command="fail"}`, after, 2},
		{`tether_events_emitted_total{event="evt-a"}`, after, 2},
		{`tether_channel_messages_total{command="count"}`, after, 4},
		{`tether_listeners`, during, 2},
		{`tether_listeners`, after, 0},
	} {
		if got := moved(tt.in, tt.series); got != tt.want {
			t.Errorf("%s moved by %v, want %v", tt.series, got, tt.want)
		}
	}
	for series := range after {
		if strings.Contains(series, "no_such_command_xyz") || strings.Contains(series, "bad name") {
			t.Errorf("caller-chosen name became a label: %s", series)
		}
	}
}

func TestIsolationAndBus(t *testing.T) {
	_, m, url := start(t)
	before := scrape(t, url)
	m.IsolationRejected("hook_blocked")
	m.IsolationRejected("hook_blocked")
	m.IsolationRejected("bad_seal")
	var obs metrics.BusObserver = m
	obs.Delivered(5)
	obs.Dropped("evt-a", 3)
	after := scrape(t, url)
	for series, want := range map[string]float64{
		`tether_isolation_rejections_total{reason="hook_blocked"}`: 2,
		`tether_isolation_rejections_total{reason="bad_seal"}`:     1,
		`tether_bus_delivered_total`:                               5,
		`tether_bus_dropped_total{event="evt-a"}`:                  3,
	} {
		if got := after[series] - before[series]; got != want {
			t.Errorf("%s moved by %v, want %v", series, got, want)
		}
	}
}

func TestLabelBounds(t *testing.T) {
	tests := []struct {
		name   string
		opts   []metrics.Option
		emit   []string
		series map[string]float64
	}{
		{"cap", []metrics.Option{metrics.MaxLabelValues(2, 0)}, []string{"a", "b", "c", "d", "a"},
			map[string]float64{`tether_events_emitted_total{event="a"}`: 2, `tether_events_emitted_total{event="b"}`: 1, `tether_events_emitted_total{event="other"}`: 2}},
		{"fixed list", []metrics.Option{metrics.WithEvents("b")}, []string{"a", "b", "c"},
			map[string]float64{`tether_events_emitted_total{event="b"}`: 1, `tether_events_emitted_total{event="other"}`: 2}},
		// Made-up names fill the slots; the app's own events still get
		// their label.
		{"known events", []metrics.Option{metrics.MaxLabelValues(2, 0), metrics.WithKnownEvents(func(n string) bool { return n == "app-event" })},
			[]string{"junk-1", "junk-2", "junk-3", "junk-4", "app-event", "app-event"},
			map[string]float64{`tether_events_emitted_total{event="junk-1"}`: 1, `tether_events_emitted_total{event="junk-2"}`: 1,
				`tether_events_emitted_total{event="other"}`: 2, `tether_events_emitted_total{event="app-event"}`: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, url := start(t, tt.opts...)
			for _, e := range tt.emit {
				if _, err := c.Client.Emit(context.Background(), e, nil); err != nil {
					t.Fatal(err)
				}
			}
			got := scrape(t, url)
			n := 0
			for series := range got {
				if strings.HasPrefix(series, "tether_events_emitted_total{") {
					n++
				}
			}
			if n != len(tt.series) {
				t.Errorf("%d event series, want %d: %v", n, len(tt.series), got)
			}
			for series, want := range tt.series {
				if got[series] != want {
					t.Errorf("%s = %v, want %v", series, got[series], want)
				}
			}
		})
	}
}

// TestPlainGRPC: on a call that carries no tether.Call (a plain gRPC
// server), the command label is "unknown", whatever the method.
func TestPlainGRPC(t *testing.T) {
	m := metrics.New()
	i := m.UnaryServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: "/attacker.Chosen/Name"}
	_, _ = i(context.Background(), nil, info, func(context.Context, any) (any, error) { return nil, nil })
	hs := httptest.NewServer(m.Handler())
	defer hs.Close()
	got := scrape(t, hs.URL)
	if got[`tether_invokes_total{code="ok",command="unknown"}`] != 1 {
		t.Fatalf("unknown not counted: %v", got)
	}
	res, err := http.Get(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if strings.Contains(string(b), "attacker") {
		t.Fatal("method name became a label")
	}
}
