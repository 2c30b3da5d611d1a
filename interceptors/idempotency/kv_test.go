package idempotency_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/interceptors/idempotency"
)

// startNATS runs an embedded NATS server with JetStream, its store in a
// temporary folder.
func startNATS(t *testing.T) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

func natsConn(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// replicaCaches are n caches on one bucket, as n replicas of an app have.
func replicaCaches(t *testing.T, url string, n int, cfg idempotency.KV, opts ...idempotency.Option) []grpc.UnaryServerInterceptor {
	t.Helper()
	var out []grpc.UnaryServerInterceptor
	for range n {
		c, err := idempotency.OpenKV(context.Background(), natsConn(t, url), cfg, opts...)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c.UnaryServerInterceptor())
	}
	return out
}

// A keyed call made on one replica and retried on another runs once; the
// retry gets the first result, an error result too.
func TestKVReplayOnAnotherReplica(t *testing.T) {
	ns := startNATS(t)
	ics := replicaCaches(t, ns.ClientURL(), 2, idempotency.KV{})
	a, b := ics[0], ics[1]
	var runs atomic.Int64
	if got, err := keyed(a, "k", []byte("one"), echo(&runs)); err != nil || string(got.([]byte)) != "one" {
		t.Fatalf("on A: %q %v", got, err)
	}
	for range 3 {
		got, err := keyed(b, "k", []byte("one"), echo(&runs))
		if err != nil || string(got.([]byte)) != "one" {
			t.Fatalf("retry on B: %q %v", got, err)
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("ran %d times, want 1", runs.Load())
	}
	if _, err := keyed(b, "k", []byte("two"), echo(&runs)); tether.CodeOf(err) != tether.CodeInvalidArgument {
		t.Fatalf("other args on B: %v", err)
	}
	fail := func(_ context.Context, _ any) (any, error) {
		runs.Add(1)
		return nil, tether.NewError(tether.CodeNotFound, "no such thing").WithDetails(map[string]int{"n": 1})
	}
	_, e1 := keyed(a, "e", []byte("x"), fail)
	_, e2 := keyed(b, "e", []byte("x"), fail)
	if runs.Load() != 2 || tether.CodeOf(e2) != tether.CodeNotFound || e1.Error() != e2.Error() || string(tether.FromError(e2).Details()) != `{"n":1}` {
		t.Fatalf("error replay: %v / %v, runs %d", e1, e2, runs.Load())
	}
}

// Calls with one key on two replicas at once: one runs, the other waits
// for its record to be done and gets its result.
func TestKVConcurrentOnTwoReplicas(t *testing.T) {
	ns := startNATS(t)
	ics := replicaCaches(t, ns.ClientURL(), 2, idempotency.KV{Lease: 600 * time.Millisecond})
	var runs atomic.Int64
	started, release := make(chan struct{}), make(chan struct{})
	slow := func(_ context.Context, req any) (any, error) {
		if runs.Add(1) == 1 {
			close(started)
		}
		<-release
		return req, nil
	}
	var wg sync.WaitGroup
	results := make([]any, 2)
	errs := make([]error, 2)
	wg.Go(func() { results[0], errs[0] = keyed(ics[0], "k", []byte("v"), slow) })
	<-started
	wg.Go(func() { results[1], errs[1] = keyed(ics[1], "k", []byte("v"), slow) })
	// Longer than the lease: the heartbeats keep the waiter waiting.
	time.Sleep(1500 * time.Millisecond)
	close(release)
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil || string(results[i].([]byte)) != "v" {
			t.Fatalf("call %d: %q %v", i, results[i], errs[i])
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("ran %d times, want 1", runs.Load())
	}
}

// A record left "running" by a replica that died (no heartbeat) makes the
// retry in doubt after the lease: refused, never run.
func TestKVInDoubt(t *testing.T) {
	ns := startNATS(t)
	ics := replicaCaches(t, ns.ClientURL(), 1, idempotency.KV{Lease: 300 * time.Millisecond})
	var runs atomic.Int64
	// The dead replica's claim, as it wrote it. Its key is the digest of
	// label, command and key; its digest that of the request.
	js, _ := jetstream.New(natsConn(t, ns.ClientURL()))
	kv, err := js.KeyValue(context.Background(), idempotency.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys := make(chan string, 1)
	keyed(ics[0], "probe", []byte("v"), func(context.Context, any) (any, error) {
		ks, _ := kv.Keys(context.Background())
		keys <- strings.Join(ks, ",")
		return nil, tether.NewError(tether.CodeUnavailable, "probe") // not kept: deleted
	})
	probeKey := <-keys
	// Learn the digest of []byte("v") from a kept record.
	keyed(ics[0], "probe", []byte("v"), echo(&runs))
	en, err := kv.Get(context.Background(), probeKey)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	json.Unmarshal(en.Value(), &rec)
	running, _ := json.Marshal(map[string]any{"s": "r", "h": rec["h"], "by": "dead"})
	// Put the dead claim under the probe's key, as if "probe" had never
	// finished.
	if _, err := kv.Put(context.Background(), probeKey, running); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = keyed(ics[0], "probe", []byte("v"), echo(&runs))
	te := tether.FromError(err)
	if te.Code() != tether.CodeFailedPrecondition || string(te.Details()) != `{"idempotency":"in_doubt"}` {
		t.Fatalf("retry of a dead claim: %v %s", err, te.Details())
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("in doubt after %v, before the lease", d)
	}
	if runs.Load() != 1 {
		t.Fatalf("ran %d times, want 1 (the kept probe only)", runs.Load())
	}
}

// Results that are not final delete the record, so another replica runs
// the retry; results over the bound are not kept there either; with NATS
// gone, keyed calls fail with unavailable and never run.
func TestKVNotKeptAndUnavailable(t *testing.T) {
	ns := startNATS(t)
	ics := replicaCaches(t, ns.ClientURL(), 2, idempotency.KV{}, idempotency.WithMaxResponseBytes(100))
	var runs atomic.Int64
	flaky := func(_ context.Context, _ any) (any, error) {
		if runs.Add(1) == 1 {
			return nil, tether.NewError(tether.CodeUnavailable, "try again")
		}
		return []byte("ok"), nil
	}
	if _, err := keyed(ics[0], "k", []byte("v"), flaky); tether.CodeOf(err) != tether.CodeUnavailable {
		t.Fatal(err)
	}
	if got, err := keyed(ics[1], "k", []byte("v"), flaky); err != nil || string(got.([]byte)) != "ok" || runs.Load() != 2 {
		t.Fatalf("retry on B after a transient failure: %q %v, runs %d", got, err, runs.Load())
	}

	big := make([]byte, 500)
	if got, err := keyed(ics[0], "big", big, echo(&runs)); err != nil || len(got.([]byte)) != 500 {
		t.Fatalf("big on A: %v", err)
	}
	_, err := keyed(ics[1], "big", big, echo(&runs))
	if te := tether.FromError(err); te.Code() != tether.CodeFailedPrecondition || string(te.Details()) != `{"idempotency":"result_not_kept"}` || runs.Load() != 3 {
		t.Fatalf("retry of a large result on B: %v, runs %d", err, runs.Load())
	}

	ns.Shutdown()
	ns.WaitForShutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	call := tether.WithCall(ctx, &tether.Call{Kind: tether.KindInvoke, Name: "echo", ClientLabel: "main", IdempotencyKey: "down"})
	_, err = ics[0](call, []byte("v"), &grpc.UnaryServerInfo{FullMethod: "/tether.func/echo"}, echo(&runs))
	if tether.CodeOf(err) != tether.CodeUnavailable || runs.Load() != 3 {
		t.Fatalf("keyed call with NATS down: %v, runs %d", err, runs.Load())
	}
}
