package idempotency_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/interceptors/idempotency"
	"github.com/tether-ipc/tether/interceptors/internal/coretest"
	"github.com/tether-ipc/tether/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Args of the "run" command: Code makes it fail with that code; Wait makes
// it block until the test releases it.
type Args struct {
	Text string `json:"text,omitempty"`
	Code string `json:"code,omitempty"`
	Wait bool   `json:"wait,omitempty"`
}

type fixture struct {
	*coretest.Core
	cache   *idempotency.Cache
	runs    atomic.Int64 // how often "run" ran
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (f *fixture) unblock() { f.once.Do(func() { close(f.release) }) }

func start(t *testing.T, opts ...idempotency.Option) *fixture {
	t.Helper()
	f := &fixture{cache: idempotency.New(opts...), started: make(chan struct{}, 100), release: make(chan struct{})}
	t.Cleanup(f.unblock)
	f.Core = coretest.Start(t, func(s *server.Server) {
		server.Handle(s, "run", func(ctx context.Context, a Args) (string, error) {
			n := f.runs.Add(1)
			if a.Wait {
				f.started <- struct{}{}
				select {
				case <-f.release:
				case <-ctx.Done():
					return "", ctx.Err()
				}
			}
			if a.Code != "" {
				code, _ := tether.ParseCode(a.Code)
				return "", tether.Errorf(code, "run %d failed", n)
			}
			return fmt.Sprintf("run %d of %s", n, a.Text), nil
		})
	}, server.WithInterceptors(f.cache.UnaryServerInterceptor()))
	return f
}

func (f *fixture) invoke(ctx context.Context, key string, a Args) (string, error) {
	var out string
	var opts []client.CallOption
	if key != "" {
		opts = append(opts, client.WithIdempotencyKey(key))
	}
	err := f.Client.Invoke(ctx, "run", a, &out, opts...)
	return out, err
}

func TestConcurrentRunsOnce(t *testing.T) {
	f := start(t)
	const n = 20
	ctx := coretest.Labelled("main")
	results := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = f.invoke(ctx, "k1", Args{Text: "x", Wait: true})
		}()
	}
	<-f.started // the first call is in the handler
	// Give the others time to arrive and wait; the handler must not start again.
	time.Sleep(100 * time.Millisecond)
	f.unblock()
	wg.Wait()
	if got := f.runs.Load(); got != 1 {
		t.Fatalf("handler ran %d times, want 1", got)
	}
	for i := range n {
		if errs[i] != nil || results[i] != "run 1 of x" {
			t.Fatalf("call %d: %q, %v", i, results[i], errs[i])
		}
	}
}

func TestReplay(t *testing.T) {
	tests := []struct {
		name     string
		first    Args
		key1     string
		label1   string
		retry    Args
		key2     string
		label2   string
		wantRuns int64
		wantCode tether.Code
	}{
		{"same key replays the result", Args{Text: "a"}, "k", "main", Args{Text: "a"}, "k", "main", 1, tether.CodeOK},
		{"same key replays the error", Args{Code: "not_found"}, "k", "main", Args{Code: "not_found"}, "k", "main", 1, tether.CodeNotFound},
		{"different keys run twice", Args{Text: "a"}, "k1", "main", Args{Text: "a"}, "k2", "main", 2, tether.CodeOK},
		{"other client label runs again", Args{Text: "a"}, "k", "main", Args{Text: "a"}, "k", "other", 2, tether.CodeOK},
		{"no key runs again", Args{Text: "a"}, "", "main", Args{Text: "a"}, "", "main", 2, tether.CodeOK},
		{"a transient error is not kept", Args{Code: "unavailable"}, "k", "main", Args{Code: "unavailable"}, "k", "main", 2, tether.CodeUnavailable},
		{"different arguments are refused", Args{Text: "a"}, "k", "main", Args{Text: "b"}, "k", "main", 1, tether.CodeInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t)
			out1, err1 := f.invoke(coretest.Labelled(tt.label1), tt.key1, tt.first)
			var header metadata.MD
			var out2 string
			opts := []client.CallOption{client.WithGRPCCallOptions(grpc.Header(&header))}
			if tt.key2 != "" {
				opts = append(opts, client.WithIdempotencyKey(tt.key2))
			}
			err2 := f.Client.Invoke(coretest.Labelled(tt.label2), "run", tt.retry, &out2, opts...)
			if got := f.runs.Load(); got != tt.wantRuns {
				t.Fatalf("handler ran %d times, want %d", got, tt.wantRuns)
			}
			if got := tether.CodeOf(err2); got != tt.wantCode {
				t.Fatalf("retry: %v, want %s", err2, tt.wantCode)
			}
			replayed := len(header.Get(idempotency.HeaderReplay)) > 0
			if replayed != (tt.wantRuns == 1 && tt.wantCode != tether.CodeInvalidArgument) {
				t.Errorf("replay header %v", header)
			}
			if replayed {
				if out1 != out2 || fmt.Sprint(err1) != fmt.Sprint(err2) {
					t.Fatalf("replay (%q, %v) differs from first (%q, %v)", out2, err2, out1, err1)
				}
			}
		})
	}
}

func TestTypedHeaderKey(t *testing.T) {
	// A key in the tether-idempotency-key header works where the call has
	// no key field, and for proto commands the replayed message is equal.
	f := start(t)
	var runs atomic.Int64
	server.Handle(f.Srv, "up", func(_ context.Context, s *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
		return wrapperspb.String(fmt.Sprint(s.GetValue(), runs.Add(1))), nil
	})
	for range 3 {
		var out wrapperspb.StringValue
		if err := f.Client.Invoke(context.Background(), "up", wrapperspb.String("v"), &out,
			client.WithHeaders(map[string]string{idempotency.HeaderKey: "hk"})); err != nil {
			t.Fatal(err)
		}
		if out.GetValue() != "v1" {
			t.Fatalf("got %q, want v1", out.GetValue())
		}
	}
}

func TestExpiry(t *testing.T) {
	f := start(t, idempotency.WithTTL(50*time.Millisecond))
	ctx := context.Background()
	if _, err := f.invoke(ctx, "k", Args{Text: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.invoke(ctx, "k", Args{Text: "a"}); err != nil || f.runs.Load() != 1 {
		t.Fatalf("within the window: runs %d, %v", f.runs.Load(), err)
	}
	time.Sleep(100 * time.Millisecond)
	out, err := f.invoke(ctx, "k", Args{Text: "a"})
	if err != nil || out != "run 2 of a" {
		t.Fatalf("after the window: %q, %v", out, err)
	}
}

func TestEvictionBound(t *testing.T) {
	f := start(t, idempotency.WithMaxEntries(3))
	ctx := context.Background()
	for i := range 10 {
		if _, err := f.invoke(ctx, fmt.Sprint("k", i), Args{Text: "a"}); err != nil {
			t.Fatal(err)
		}
		if n := f.cache.Len(); n > 3 {
			t.Fatalf("%d entries held, bound 3", n)
		}
	}
	// The newest are kept, the oldest were dropped.
	if _, _ = f.invoke(ctx, "k9", Args{Text: "a"}); f.runs.Load() != 10 {
		t.Fatalf("newest key ran again: %d runs", f.runs.Load())
	}
	if _, _ = f.invoke(ctx, "k0", Args{Text: "a"}); f.runs.Load() != 11 {
		t.Fatalf("oldest key was still held: %d runs", f.runs.Load())
	}
}

func TestWaiterGivesUp(t *testing.T) {
	f := start(t)
	first := make(chan error, 1)
	go func() {
		_, err := f.invoke(context.Background(), "k", Args{Wait: true})
		first <- err
	}()
	<-f.started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := f.invoke(ctx, "k", Args{Wait: true}); tether.CodeOf(err) != tether.CodeDeadlineExceeded {
		t.Fatalf("waiter: %v, want deadline_exceeded", err)
	}
	f.unblock()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if f.runs.Load() != 1 {
		t.Fatalf("handler ran %d times", f.runs.Load())
	}
}

func TestFirstCanceledWaiterRuns(t *testing.T) {
	// When the first call is cancelled, its result is not kept and a
	// waiting duplicate runs the command itself.
	f := start(t)
	ctx1, cancel1 := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := f.invoke(ctx1, "k", Args{Text: "a", Wait: true})
		first <- err
	}()
	<-f.started
	second := make(chan error, 1)
	var out string
	go func() {
		var err error
		out, err = f.invoke(context.Background(), "k", Args{Text: "a", Wait: true})
		second <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel1()
	if err := <-first; tether.CodeOf(err) != tether.CodeCanceled {
		t.Fatalf("first: %v", err)
	}
	<-f.started // the second call now runs the handler
	f.unblock()
	if err := <-second; err != nil || out != "run 2 of a" {
		t.Fatalf("second: %q, %v", out, err)
	}
}

func TestKeyTooLong(t *testing.T) {
	f := start(t)
	long := make([]byte, idempotency.MaxKeyLen+1)
	for i := range long {
		long[i] = 'k'
	}
	if _, err := f.invoke(context.Background(), string(long), Args{}); tether.CodeOf(err) != tether.CodeInvalidArgument {
		t.Fatalf("long key: %v", err)
	}
	if f.runs.Load() != 0 {
		t.Fatal("handler ran")
	}
}

func TestPanicIsNotKept(t *testing.T) {
	f := start(t)
	var runs atomic.Int64
	server.Handle(f.Srv, "boom", func(context.Context, struct{}) (string, error) {
		runs.Add(1)
		panic("boom")
	})
	for range 2 {
		err := f.Client.Invoke(context.Background(), "boom", nil, nil, client.WithIdempotencyKey("k"))
		if tether.CodeOf(err) != tether.CodeInternal {
			t.Fatalf("panic: %v", err)
		}
	}
	if runs.Load() != 2 || f.cache.Len() != 0 {
		t.Fatalf("runs %d, entries %d", runs.Load(), f.cache.Len())
	}
}
