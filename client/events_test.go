package client_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/bus"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/examples/demo"
	"github.com/tether-ipc/tether/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quiet() server.Option {
	return server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// core runs a server on a Unix socket (whose peers may name their label).
type core struct {
	srv  *server.Server
	addr string
	wg   sync.WaitGroup
}

func startCore(t testing.TB, path string, opts ...server.Option) *core {
	t.Helper()
	return startCoreAt(t, "unix://"+path, opts...)
}

// startCoreAt runs the core on addr (server.Listen's form: a Unix socket,
// or a TCP address whose port may be 0).
func startCoreAt(t testing.TB, addr string, opts ...server.Option) *core {
	t.Helper()
	srv := server.New(append([]server.Option{quiet()}, opts...)...)
	demo.New(t.TempDir()).Register(srv)
	lis, err := server.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, "unix://") {
		addr = lis.Addr().String()
	}
	c := &core{srv: srv, addr: addr}
	c.wg.Add(1)
	go func() { defer c.wg.Done(); srv.Serve(lis) }()
	return c
}

func (c *core) stop() { c.srv.Stop(); c.wg.Wait() }

func sockPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "core.sock")
}

func dial(t testing.TB, addr string) *client.Client {
	t.Helper()
	c, err := client.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// collector gathers events for a test.
type collector struct {
	mu   sync.Mutex
	evs  []client.Event
	more chan struct{}
}

func newCollector() *collector { return &collector{more: make(chan struct{}, 1)} }

func (c *collector) handle(e client.Event) {
	c.mu.Lock()
	c.evs = append(c.evs, e)
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
}

func (c *collector) waitFor(t *testing.T, n int) []client.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		got := append([]client.Event(nil), c.evs...)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-c.more:
		case <-deadline:
			t.Fatalf("got %d events, want %d", len(got), n)
		}
	}
}

func TestEmitListenOrder(t *testing.T) {
	core := startCore(t, sockPath(t))
	defer core.stop()
	c := dial(t, core.addr)
	ctx := context.Background()
	col := newCollector()
	sub, err := c.Listen(ctx, []string{"tick", "tock"}, col.handle)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		name := "tick"
		if i%2 == 1 {
			name = "tock"
		}
		if _, err := c.Emit(ctx, name, map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	c.Emit(ctx, "other", 1) // not listened to
	evs := col.waitFor(t, 1000)
	for i, e := range evs {
		var p struct{ I int }
		if err := e.Decode(&p); err != nil || p.I != i {
			t.Fatalf("event %d: %+v %v", i, p, err)
		}
		if i > 0 && e.ID <= evs[i-1].ID {
			t.Fatalf("ids not increasing: %d then %d", evs[i-1].ID, e.ID)
		}
	}
	sub.Unlisten()
	<-sub.Done()
	if sub.Err() != nil {
		t.Fatal(sub.Err())
	}
}

// Targeted events reach only the listener with that label, over the real
// socket, with labels set by a trusted front (a Unix-socket peer).
func TestTargetedEventsReachOnlyTheTarget(t *testing.T) {
	core := startCore(t, sockPath(t))
	defer core.stop()
	c := dial(t, core.addr)
	ctx := context.Background()
	cols := map[string]*collector{"main": newCollector(), "settings": newCollector(), "": newCollector()}
	for label, col := range cols {
		sub, err := c.Listen(client.WithClientLabel(ctx, label, ""), []string{"note"}, col.handle)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unlisten()
	}
	c.EmitTo(ctx, "main", "note", "for main")
	c.EmitTo(ctx, "settings", "note", "for settings")
	c.Emit(ctx, "note", "for all")
	for label, col := range cols {
		evs := col.waitFor(t, 1)
		time.Sleep(50 * time.Millisecond)
		evs = col.waitFor(t, len(evs))
		var got []string
		for _, e := range evs {
			var s string
			e.Decode(&s)
			got = append(got, s)
		}
		want := []string{"for all"}
		if label != "" {
			want = []string{"for " + label, "for all"}
		}
		if len(got) != len(want) || got[0] != want[0] || got[len(got)-1] != want[len(want)-1] {
			t.Errorf("label %q received %v, want %v", label, got, want)
		}
	}
}

func TestListenRejectsBadNamesAtOnce(t *testing.T) {
	core := startCore(t, sockPath(t))
	defer core.stop()
	c := dial(t, core.addr)
	for _, names := range [][]string{{}, {"bad name"}, {"ok", "semi;colon"}, {""}} {
		_, err := c.Listen(context.Background(), names, func(client.Event) {})
		if tether.CodeOf(err) != tether.CodeInvalidArgument {
			t.Errorf("Listen(%q): %v, want invalid_argument", names, err)
		}
	}
	if _, err := c.Emit(context.Background(), "no spaces allowed", nil); tether.CodeOf(err) != tether.CodeInvalidArgument {
		t.Errorf("Emit bad name: %v", err)
	}
}

// A listener survives a restart of the core: it reconnects by itself and
// receives what is emitted after the restart.
func TestListenerReconnectsAfterRestart(t *testing.T) {
	path := sockPath(t)
	core := startCore(t, path)
	c := dial(t, core.addr)
	col := newCollector()
	var lags atomic.Int32
	sub, err := c.Listen(context.Background(), []string{"e"}, col.handle,
		client.Backoff(10*time.Millisecond, 100*time.Millisecond),
		client.OnLag(func(uint64, uint64) { lags.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unlisten()
	c.Emit(context.Background(), "e", "before")
	col.waitFor(t, 1)
	core.stop()

	core = startCore(t, path)
	defer core.stop()
	// Emitted during the gap, before the listener is back: the new core's
	// window holds them and the listener gets them when it resumes.
	core.srv.Emit(context.Background(), "e", "gap-1")
	core.srv.Emit(context.Background(), "e", "gap-2")
	// Then emit until the listener is back and sees a live one.
	deadline := time.Now().Add(10 * time.Second)
	for {
		core.srv.Emit(context.Background(), "e", "after")
		time.Sleep(20 * time.Millisecond)
		col.mu.Lock()
		n := len(col.evs)
		col.mu.Unlock()
		if n >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("listener did not come back after the restart")
		}
	}
	evs := col.waitFor(t, 4)
	var got []string
	for _, e := range evs[:4] {
		var s string
		e.Decode(&s)
		got = append(got, s)
	}
	if got[0] != "before" || got[1] != "gap-1" || got[2] != "gap-2" || got[3] != "after" {
		t.Fatalf("received %v", got)
	}
	if lags.Load() != 1 {
		t.Fatalf("%d lag notices, want 1 (the unknown gap of the restart)", lags.Load())
	}
}

// A channel command from the Go client: ordered messages, then nil.
func TestClientChannel(t *testing.T) {
	core := startCore(t, sockPath(t))
	defer core.stop()
	c := dial(t, core.addr)
	n := 0
	err := c.Channel(context.Background(), "count", map[string]int{"to": 10000}, func(m client.ChannelMessage) error {
		var v struct{ N int }
		if err := m.Decode(&v); err != nil {
			return err
		}
		n++
		if v.N != n || m.Index != uint64(n-1) {
			t.Fatalf("message %d: %+v index %d", n, v, m.Index)
		}
		return nil
	})
	if err != nil || n != 10000 {
		t.Fatalf("%d messages, %v", n, err)
	}
}

// Backend listeners hear what clients emit, off the emitter's goroutine.
func TestBackendListenerHearsClients(t *testing.T) {
	core := startCore(t, sockPath(t))
	defer core.stop()
	got := make(chan string, 1)
	unlisten, err := core.srv.Listen("frontend-event", func(e busEvent) {
		var m struct{ Message string }
		json.Unmarshal(e.Payload.GetJson(), &m)
		got <- m.Message
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unlisten()
	c := dial(t, core.addr)
	c.Emit(context.Background(), "frontend-event", map[string]string{"message": "hi backend"})
	select {
	case m := <-got:
		if m != "hi backend" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("backend listener heard nothing")
	}
}

type busEvent = bus.Event

// frontend-event is declared in demo.proto as demov1.FrontendEvent: payloads
// of another shape are refused; the declared shape passes.
func TestDeclaredEventPayloadsAreChecked(t *testing.T) {
	core := startCore(t, sockPath(t))
	defer core.stop()
	c := dial(t, core.addr)
	ctx := context.Background()
	for _, bad := range []any{map[string]int{"message": 5}, map[string]string{"msg": "x"}, []int{1}} {
		if _, err := c.Emit(ctx, "frontend-event", bad); tether.CodeOf(err) != tether.CodeInvalidArgument {
			t.Errorf("emit %v: %v, want invalid_argument", bad, err)
		}
	}
	if _, err := c.Emit(ctx, "frontend-event", map[string]string{"message": "fine"}); err != nil {
		t.Fatal(err)
	}
	// Undeclared events take any JSON.
	if _, err := c.Emit(ctx, "anything-goes", []int{1, 2}); err != nil {
		t.Fatal(err)
	}
}

// Emitted payloads are checked as arguments are — on the gRPC path too, not
// only by the gateway — before any listener sees them.
func TestEmitPayloadChecks(t *testing.T) {
	core := startCore(t, sockPath(t))
	defer core.stop()
	c := dial(t, core.addr)
	ctx := context.Background()
	col := newCollector()
	sub, err := c.Listen(ctx, []string{"anything"}, col.handle)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unlisten()
	for name, bad := range map[string]string{
		"malformed":     `{"a":`,
		"too deep":      strings.Repeat("[", 100) + strings.Repeat("]", 100),
		"invalid UTF-8": "\"\xff\"",
	} {
		if _, err := c.Emit(ctx, "anything", json.RawMessage(bad)); tether.CodeOf(err) != tether.CodeInvalidArgument {
			t.Errorf("%s: %v, want invalid_argument", name, err)
		}
	}
	if _, err := c.Emit(ctx, "anything", json.RawMessage(`{"ok":true}`)); err != nil {
		t.Fatal(err)
	}
	evs := col.waitFor(t, 1)
	time.Sleep(50 * time.Millisecond)
	if evs = col.waitFor(t, 1); len(evs) != 1 || string(evs[0].Payload.GetJson()) != `{"ok":true}` {
		t.Fatalf("listener received %d events, first %s; want only the good one", len(evs), evs[0].Payload.GetJson())
	}
}
