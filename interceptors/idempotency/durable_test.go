package idempotency_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/interceptors/idempotency"
	"github.com/tether-ipc/tether/interceptors/internal/coretest"
	"github.com/tether-ipc/tether/server"
)

// durableCore is one run of a core whose idempotency log is in dir. runs
// counts the executions of every command across runs.
type durableCore struct {
	*coretest.Core
	cache *idempotency.Cache
}

type counters struct {
	text, proto, raw, fail atomic.Int64
	started, release       chan struct{} // for Args.Wait
}

func startDurable(t *testing.T, dir string, n *counters, opts ...idempotency.Option) *durableCore {
	t.Helper()
	cache, err := idempotency.Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	core := coretest.Start(t, func(s *server.Server) {
		server.Handle(s, "text", func(_ context.Context, a Args) (string, error) {
			if a.Code != "" {
				code, _ := tether.ParseCode(a.Code)
				return "", tether.Errorf(code, "text failed").WithDetails(map[string]int64{"run": n.fail.Add(1)})
			}
			r := n.text.Add(1)
			if a.Wait {
				n.started <- struct{}{}
				<-n.release
			}
			return fmt.Sprintf("run %d of %s", r, a.Text), nil
		})
		server.Handle(s, "proto", func(_ context.Context, a *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
			return wrapperspb.String(fmt.Sprint(a.GetValue(), n.proto.Add(1))), nil
		})
		server.Handle(s, "raw", func(_ context.Context, b []byte) ([]byte, error) {
			return append(b, byte('0'+n.raw.Add(1))), nil
		})
	}, server.WithInterceptors(cache.UnaryServerInterceptor()))
	t.Cleanup(func() { cache.Close() })
	return &durableCore{Core: core, cache: cache}
}

// stop ends a run as a crash would leave it: nothing is flushed beyond
// what each call already wrote.
func (d *durableCore) stop() {
	d.Conn.Close()
	d.Srv.Stop()
	d.cache.Close()
}

func TestDurableReplayAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	var n counters
	ctx := coretest.Labelled("main")
	key := client.WithIdempotencyKey("k")

	first := startDurable(t, dir, &n)
	var s1, s2 string
	var p1, p2 wrapperspb.StringValue
	var r1, r2 []byte
	if err := first.Client.Invoke(ctx, "text", Args{Text: "a"}, &s1, key); err != nil {
		t.Fatal(err)
	}
	if err := first.Client.Invoke(ctx, "proto", wrapperspb.String("p"), &p1, key); err != nil {
		t.Fatal(err)
	}
	if err := first.Client.Invoke(ctx, "raw", []byte("r"), &r1, key); err != nil {
		t.Fatal(err)
	}
	e1 := first.Client.Invoke(ctx, "text", Args{Code: "not_found"}, nil, client.WithIdempotencyKey("e"))
	first.stop()

	second := startDurable(t, dir, &n)
	if err := second.Client.Invoke(ctx, "text", Args{Text: "a"}, &s2, key); err != nil {
		t.Fatal(err)
	}
	if err := second.Client.Invoke(ctx, "proto", wrapperspb.String("p"), &p2, key); err != nil {
		t.Fatal(err)
	}
	if err := second.Client.Invoke(ctx, "raw", []byte("r"), &r2, key); err != nil {
		t.Fatal(err)
	}
	e2 := second.Client.Invoke(ctx, "text", Args{Code: "not_found"}, nil, client.WithIdempotencyKey("e"))

	if n.text.Load() != 1 || n.proto.Load() != 1 || n.raw.Load() != 1 || n.fail.Load() != 1 {
		t.Fatalf("runs after restart: text %d proto %d raw %d fail %d, want 1 each", n.text.Load(), n.proto.Load(), n.raw.Load(), n.fail.Load())
	}
	if s1 != s2 || p1.GetValue() != p2.GetValue() || string(r1) != string(r2) {
		t.Fatalf("replayed results differ: %q/%q %q/%q %q/%q", s1, s2, p1.GetValue(), p2.GetValue(), r1, r2)
	}
	te1, te2 := tether.FromError(e1), tether.FromError(e2)
	if te2.Code() != tether.CodeNotFound || te1.Error() != te2.Error() || string(te1.Details()) != string(te2.Details()) {
		t.Fatalf("replayed error %v %s, first %v %s", te2, te2.Details(), te1, te1.Details())
	}

	// Other arguments under the same key are still refused after a restart.
	if err := second.Client.Invoke(ctx, "text", Args{Text: "b"}, nil, key); tether.CodeOf(err) != tether.CodeInvalidArgument {
		t.Fatalf("other args after restart: %v", err)
	}
	// A new key runs.
	if err := second.Client.Invoke(ctx, "text", Args{Text: "a"}, &s2, client.WithIdempotencyKey("new")); err != nil || n.text.Load() != 2 {
		t.Fatalf("new key: %v, runs %d", err, n.text.Load())
	}
}

func TestDurableInDoubt(t *testing.T) {
	// A call that had begun when the process died is refused, never run
	// again. The "crash" is a copy of the log taken while the handler runs.
	dir, crashed := t.TempDir(), t.TempDir()
	n := counters{started: make(chan struct{}, 1), release: make(chan struct{})}
	ctx := coretest.Labelled("main")
	c := startDurable(t, dir, &n)
	done := make(chan error, 1)
	go func() {
		done <- c.Client.Invoke(ctx, "text", Args{Text: "a", Wait: true}, nil, client.WithIdempotencyKey("k"))
	}()
	<-n.started
	log, err := os.ReadFile(filepath.Join(dir, idempotency.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	close(n.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.stop()
	// A torn last line, as a crash in the middle of a write leaves.
	if err := os.WriteFile(filepath.Join(crashed, idempotency.LogFile), append(log, `{"t":"d","k":"torn`...), 0o600); err != nil {
		t.Fatal(err)
	}

	c = startDurable(t, crashed, &n)
	err = c.Client.Invoke(ctx, "text", Args{Text: "a", Wait: true}, nil, client.WithIdempotencyKey("k"))
	if tether.CodeOf(err) != tether.CodeFailedPrecondition || !strings.Contains(err.Error(), "outcome is unknown") {
		t.Fatalf("in-doubt key: %v", err)
	}
	if n.text.Load() != 1 {
		t.Fatalf("in-doubt call ran again: %d runs", n.text.Load())
	}
	// It stays in doubt across a further restart (the log was compacted).
	c.stop()
	c = startDurable(t, crashed, &n)
	err = c.Client.Invoke(ctx, "text", Args{Text: "a", Wait: true}, nil, client.WithIdempotencyKey("k"))
	if tether.CodeOf(err) != tether.CodeFailedPrecondition || n.text.Load() != 1 {
		t.Fatalf("in-doubt key after a second restart: %v, runs %d", err, n.text.Load())
	}
	// The copy taken after the call finished replays its result.
	c.stop()
	c = startDurable(t, dir, &n)
	var out string
	if err := c.Client.Invoke(ctx, "text", Args{Text: "a", Wait: true}, &out, client.WithIdempotencyKey("k")); err != nil || out != "run 1 of a" {
		t.Fatalf("finished key: %q, %v", out, err)
	}
}

func TestDurableTransientNotKept(t *testing.T) {
	dir := t.TempDir()
	var n counters
	ctx := coretest.Labelled("main")
	c := startDurable(t, dir, &n)
	if err := c.Client.Invoke(ctx, "text", Args{Code: "unavailable"}, nil, client.WithIdempotencyKey("k")); tether.CodeOf(err) != tether.CodeUnavailable {
		t.Fatal(err)
	}
	c.stop()
	c = startDurable(t, dir, &n)
	if err := c.Client.Invoke(ctx, "text", Args{Code: "unavailable"}, nil, client.WithIdempotencyKey("k")); tether.CodeOf(err) != tether.CodeUnavailable {
		t.Fatalf("retry of a transient failure: %v", err)
	}
	if n.fail.Load() != 2 {
		t.Fatalf("transient failure ran %d times, want 2 (not kept, not in doubt)", n.fail.Load())
	}
}

func TestDurableBoundedAndExpiring(t *testing.T) {
	dir := t.TempDir()
	var n counters
	ctx := coretest.Labelled("main")
	c := startDurable(t, dir, &n, idempotency.WithMaxEntries(5))
	for i := range 100 {
		if err := c.Client.Invoke(ctx, "text", Args{Text: "a"}, nil, client.WithIdempotencyKey(fmt.Sprint("k", i))); err != nil {
			t.Fatal(err)
		}
		if lines := countLines(t, dir); lines > 4*5+1 {
			t.Fatalf("log holds %d records after %d calls, bound %d", lines, i+1, 4*5+1)
		}
	}
	c.stop()
	c = startDurable(t, dir, &n, idempotency.WithMaxEntries(5))
	if c.cache.Len() != 5 || countLines(t, dir) != 5 {
		t.Fatalf("after restart: %d keys, %d records, want 5", c.cache.Len(), countLines(t, dir))
	}
	if err := c.Client.Invoke(ctx, "text", Args{Text: "a"}, nil, client.WithIdempotencyKey("k99")); err != nil || n.text.Load() != 100 {
		t.Fatalf("newest key ran again: %v, runs %d", err, n.text.Load())
	}
	c.stop()

	// Expired results are dropped when the log is loaded.
	c = startDurable(t, dir, &n, idempotency.WithTTL(time.Nanosecond))
	if c.cache.Len() != 0 || countLines(t, dir) != 0 {
		t.Fatalf("expired: %d keys, %d records", c.cache.Len(), countLines(t, dir))
	}
}

func countLines(t *testing.T, dir string) int {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, idempotency.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for s := bufio.NewScanner(f); s.Scan(); {
		n++
	}
	return n
}

func TestOpenErrors(t *testing.T) {
	if _, err := idempotency.Open(""); err == nil {
		t.Fatal("Open with no directory")
	}
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o600)
	if _, err := idempotency.Open(file); err == nil {
		t.Fatal("Open on a file")
	}
	var c idempotency.Cache
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDurableConcurrentWithCompaction(t *testing.T) {
	// Many calls at once, the same keys from several callers, while the log
	// is compacted again and again: every key runs once, the log stays
	// bounded, and a restart still replays what it holds.
	dir := t.TempDir()
	var n counters
	ctx := coretest.Labelled("main")
	c := startDurable(t, dir, &n, idempotency.WithMaxEntries(8))
	const keys, callers = 60, 3
	var wg sync.WaitGroup
	for k := range keys {
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.Client.Invoke(ctx, "text", Args{Text: "a"}, nil, client.WithIdempotencyKey(fmt.Sprint("k", k))); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	// Keys evicted from the bound may run again when called late, but
	// concurrent callers of one key share one run.
	if got := n.text.Load(); got < keys || got > keys*callers {
		t.Fatalf("%d runs for %d keys", got, keys)
	}
	if lines := countLines(t, dir); lines > 4*8+1 {
		t.Fatalf("log holds %d records, bound %d", lines, 4*8+1)
	}
	c.stop()
	c = startDurable(t, dir, &n, idempotency.WithMaxEntries(8))
	if c.cache.Len() > 8 {
		t.Fatalf("%d keys after restart, bound 8", c.cache.Len())
	}
}
