package natsbus_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/bus/natsbus"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/gateway"
	"github.com/tether-ipc/tether/interceptors/idempotency"
	"github.com/tether-ipc/tether/server"
)

// core is one replica of an app: server.New with a JetStream natsbus and an
// idempotency cache on the shared bucket, serving gRPC on loopback TCP.
type core struct {
	srv  *server.Server
	nc   *nats.Conn
	addr string
	once sync.Once
	done chan struct{}
}

// applied counts, per key, how often the "apply" command ran on any
// replica.
type applied struct {
	mu   sync.Mutex
	runs map[string]int
}

func (a *applied) count(key string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.runs[key]
}

func startCore(t *testing.T, url string, ap *applied) *core {
	t.Helper()
	nc := quickConnect(t, url)
	b, err := natsbus.New(nc, natsbus.WithJetStream(natsbus.Stream{}))
	if err != nil {
		t.Fatal(err)
	}
	idem, err := idempotency.OpenKV(context.Background(), nc, idempotency.KV{Lease: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.WithLogger(slog.New(slog.DiscardHandler)), server.WithBus(b),
		server.WithInterceptors(idem.UnaryServerInterceptor()))
	type args struct {
		Key string `json:"key"`
		MS  int    `json:"ms,omitempty"`
	}
	server.Handle(srv, "apply", func(ctx context.Context, a args) (string, error) {
		ap.mu.Lock()
		ap.runs[a.Key]++
		n := ap.runs[a.Key]
		ap.mu.Unlock()
		select {
		case <-time.After(time.Duration(a.MS) * time.Millisecond):
		case <-ctx.Done():
			return "", tether.FromError(ctx.Err())
		}
		return fmt.Sprintf("applied %s (run %d)", a.Key, n), nil
	})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &core{srv: srv, nc: nc, addr: lis.Addr().String(), done: make(chan struct{})}
	go func() { defer close(c.done); srv.Serve(lis) }()
	t.Cleanup(c.stop)
	return c
}

func (c *core) stop() {
	c.once.Do(func() {
		c.srv.Stop()
		<-c.done
	})
}

// crash stops the replica as a crash would: its NATS connection goes first,
// so it writes nothing more to NATS.
func (c *core) crash() {
	c.nc.Close()
	c.stop()
}

func dial(t *testing.T, addr string) *client.Client {
	t.Helper()
	c, err := client.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// seen records a listener's events in order.
type seen struct {
	mu  sync.Mutex
	ids []uint64
	ns  []int
}

func (s *seen) on(e client.Event) {
	var v struct{ N int }
	_ = e.Decode(&v)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, e.ID)
	s.ns = append(s.ns, v.N)
}

func (s *seen) waitFor(t *testing.T, n int) ([]uint64, []int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s.mu.Lock()
		got := len(s.ids)
		ids, ns := slices.Clone(s.ids), slices.Clone(s.ns)
		s.mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			return ids, ns
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Three cores on one NATS with JetStream. A listener on replica A; A is
// stopped; events are emitted on B meanwhile; the listener reconnects to C
// with its last id and gets every event once, in order, then live ones. A
// page's EventSource does the same through C's gateway with Last-Event-ID.
func TestResumeOnAnotherReplica(t *testing.T) {
	url := startJS(t).url()
	ap := &applied{runs: map[string]int{}}
	a, b, c := startCore(t, url, ap), startCore(t, url, ap), startCore(t, url, ap)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	onA := &seen{}
	subA, err := dial(t, a.addr).Listen(ctx, []string{"e"}, onA.on)
	if err != nil {
		t.Fatal(err)
	}
	cb := dial(t, b.addr)
	var emitted []uint64
	emit := func(n int) {
		id, err := cb.Emit(ctx, "e", map[string]int{"n": n})
		if err != nil {
			t.Fatalf("emit %d on B: %v", n, err)
		}
		emitted = append(emitted, id)
	}
	for n := range 10 {
		emit(n)
	}
	ids, _ := onA.waitFor(t, 10)
	if !slices.Equal(ids, emitted) {
		t.Fatalf("A's listener got ids %v, B gave %v", ids, emitted)
	}
	last := subA.LastID()

	a.stop()
	for n := 10; n < 30; n++ {
		emit(n)
	}
	subA.Unlisten()
	<-subA.Done()

	onC := &seen{}
	subC, err := dial(t, c.addr).Listen(ctx, []string{"e"}, onC.on, client.AfterID(last))
	if err != nil {
		t.Fatal(err)
	}
	defer subC.Unlisten()
	for n := 30; n < 35; n++ {
		emit(n)
	}
	ids, ns := onC.waitFor(t, 25)
	want := make([]int, 0, 25)
	for n := 10; n < 35; n++ {
		want = append(want, n)
	}
	if !slices.Equal(ns, want) || !slices.Equal(ids, emitted[10:]) {
		t.Fatalf("on C after id %d: payloads %v ids %v; want payloads %v ids %v", last, ns, ids, want, emitted[10:])
	}
	time.Sleep(100 * time.Millisecond)
	onC.mu.Lock()
	if len(onC.ids) != 25 {
		t.Fatalf("C's listener got %d events, want 25 (no duplicate)", len(onC.ids))
	}
	onC.mu.Unlock()

	// Through C's gateway: Last-Event-ID, an id seen on A, resumes there.
	conn, err := c.srv.DialInProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gw, err := gateway.New(conn, gateway.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	hs := httptest.NewServer(gw)
	defer hs.Close()
	sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
	defer scancel()
	req, _ := http.NewRequestWithContext(sctx, "GET", hs.URL+"/ipc/listen?event=e", nil)
	req.Header.Set("Last-Event-ID", strconv.FormatUint(emitted[19], 10))
	res, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var sse []uint64
	rd := bufio.NewReader(res.Body)
	for len(sse) < 15 {
		line, err := rd.ReadString('\n')
		if err == io.EOF || err != nil {
			t.Fatalf("SSE ended after %v: %v", sse, err)
		}
		if id, ok := strings.CutPrefix(strings.TrimSpace(line), "id:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(id), 10, 64)
			sse = append(sse, n)
		}
	}
	if !slices.Equal(sse, emitted[20:35]) {
		t.Fatalf("SSE on C with Last-Event-ID %d got ids %v, want %v", emitted[19], sse, emitted[20:35])
	}
}

// A keyed invoke on A, retried on B, runs once; a call in flight on a
// replica that dies is in doubt on the others, never run twice.
func TestKeyedInvokeOnAnotherReplica(t *testing.T) {
	url := startJS(t).url()
	ap := &applied{runs: map[string]int{}}
	a, b, c := startCore(t, url, ap), startCore(t, url, ap), startCore(t, url, ap)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ca, cb := dial(t, a.addr), dial(t, b.addr)

	var r1, r2 string
	if err := ca.Invoke(ctx, "apply", map[string]any{"key": "k1"}, &r1, client.WithIdempotencyKey("k1")); err != nil {
		t.Fatal(err)
	}
	if err := cb.Invoke(ctx, "apply", map[string]any{"key": "k1"}, &r2, client.WithIdempotencyKey("k1")); err != nil {
		t.Fatal(err)
	}
	if r1 != r2 || ap.count("k1") != 1 {
		t.Fatalf("on A %q, retried on B %q; ran %d times, want once", r1, r2, ap.count("k1"))
	}

	// A slow call on C; C dies in the middle; the retry on B is refused as
	// in doubt (after the lease without heartbeat), not run again. (A core
	// stopped in order cancels the call, whose canceled result is not
	// kept: then the retry runs, as a retry after any canceled call does.)
	var wg sync.WaitGroup
	var onC atomic.Value
	wg.Go(func() {
		err := dial(t, c.addr).Invoke(ctx, "apply", map[string]any{"key": "k2", "ms": 5000}, nil, client.WithIdempotencyKey("k2"))
		onC.Store(fmt.Sprint(err))
	})
	for ap.count("k2") == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	c.crash()
	wg.Wait()
	err := cb.Invoke(ctx, "apply", map[string]any{"key": "k2", "ms": 5000}, nil, client.WithIdempotencyKey("k2"))
	if te := tether.FromError(err); te.Code() != tether.CodeFailedPrecondition || string(te.Details()) != `{"idempotency":"in_doubt"}` {
		t.Fatalf("retry on B of the call C died in: %v (C's caller got %v)", err, onC.Load())
	}
	if n := ap.count("k2"); n != 1 {
		t.Fatalf("k2 ran %d times, want once", n)
	}
}
