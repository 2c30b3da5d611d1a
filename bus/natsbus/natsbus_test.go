package natsbus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/bus"
	"github.com/tether-ipc/tether/bus/natsbus"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startNATS runs an embedded NATS server on 127.0.0.1 and a random port,
// shut down when the test ends.
func startNATS(tb testing.TB) string {
	tb.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		tb.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		tb.Fatal("NATS server not ready")
	}
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s.ClientURL()
}

func connect(tb testing.TB, url string) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

func newReplica(tb testing.TB, url string, opts ...natsbus.Option) *natsbus.Bus {
	tb.Helper()
	b, err := natsbus.New(connect(tb, url), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := b.Close(); err != nil {
			tb.Error(err)
		}
	})
	return b
}

func next(t *testing.T, s *bus.Subscription) *bus.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if m.Event == nil {
		t.Fatalf("Next = Lagged %+v", *m.Lagged)
	}
	return m.Event
}

func expectEmpty(t *testing.T, s *bus.Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if m, err := s.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next = %+v, %v; want nothing", m.Event, err)
	}
}

// waitUntil polls cond every millisecond until it returns nil, failing
// the test after timeout with what and the last error cond returned.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(time.Millisecond) {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s: %v", timeout, what, err)
		}
	}
}

func subscribe(t *testing.T, b bus.Bus, f bus.Filter) *bus.Subscription {
	t.Helper()
	s, err := b.Subscribe(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Unsubscribe)
	return s
}

func TestCrossReplica(t *testing.T) {
	url := startNATS(t)
	a := newReplica(t, url)
	b := newReplica(t, url)
	if a.ReplicaID() == b.ReplicaID() {
		t.Fatal("replicas share an id")
	}
	onA := subscribe(t, a, bus.Filter{Names: []string{"n"}})
	onB := subscribe(t, b, bus.Filter{Names: []string{"n"}})

	const total = 1000
	for i := range total {
		p := &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: fmt.Appendf(nil, "%d", i)}}
		if _, err := a.Publish(context.Background(), bus.Event{Name: "n", Payload: p, Source: "win"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range total {
		want := fmt.Sprint(i)
		ea, eb := next(t, onA), next(t, onB)
		if string(ea.Payload.GetJson()) != want || string(eb.Payload.GetJson()) != want {
			t.Fatalf("event %d: A got %s, B got %s", i, ea.Payload.GetJson(), eb.Payload.GetJson())
		}
		if eb.Source != "win" || eb.Name != "n" {
			t.Fatalf("B got %+v", eb)
		}
		if eb.ID != uint64(i+1) { // B's own ids, dense
			t.Fatalf("B id %d, want %d", eb.ID, i+1)
		}
	}
	// Each replica delivered every event once: its own are not echoed back.
	expectEmpty(t, onA)
	expectEmpty(t, onB)

	// And the other way round.
	if _, err := b.Publish(context.Background(), bus.Event{Name: "n"}); err != nil {
		t.Fatal(err)
	}
	if e := next(t, onA); e.ID != total+1 {
		t.Fatalf("A got id %d", e.ID)
	}
	next(t, onB)
	expectEmpty(t, onA)
	expectEmpty(t, onB)
}

func TestCrossReplicaTargeted(t *testing.T) {
	url := startNATS(t)
	a := newReplica(t, url)
	b := newReplica(t, url)
	c := newReplica(t, url)
	x := subscribe(t, b, bus.Filter{Names: []string{"*"}, Label: "x"})
	y := subscribe(t, c, bus.Filter{Names: []string{"msg"}, Label: "y"})
	anon := subscribe(t, c, bus.Filter{Names: []string{"msg"}})

	for _, target := range []string{"x", "y", "", "z"} {
		if _, err := a.Publish(context.Background(), bus.Event{Name: "msg", Target: target}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name    string
		s       *bus.Subscription
		targets []string
	}{{"x", x, []string{"x", ""}}, {"y", y, []string{"y", ""}}, {"anon", anon, []string{""}}} {
		for _, want := range c.targets {
			if e := next(t, c.s); e.Target != want {
				t.Fatalf("%s got target %q, want %q", c.name, e.Target, want)
			}
		}
		expectEmpty(t, c.s)
	}
}

func TestRejectsBadInput(t *testing.T) {
	url := startNATS(t)
	var mu sync.Mutex
	var errs []error
	b := newReplica(t, url, natsbus.WithErrorHandler(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}))
	if _, err := b.Publish(context.Background(), bus.Event{Name: "bad name"}); tether.FromError(err).Code() != tether.CodeInvalidArgument {
		t.Fatalf("Publish(bad name) = %v", err)
	}
	all := subscribe(t, b, bus.Filter{Names: []string{"*"}})

	// Foreign bytes on the subjects: garbage, a name that disagrees with the
	// subject, an invalid name. None may reach subscribers.
	raw := connect(t, url)
	bad, _ := protoEvent("x!")
	mismatch, _ := protoEvent("other")
	for _, m := range []*nats.Msg{
		{Subject: "tether.events.x", Data: []byte{0xff, 0xff, 0xff}},
		{Subject: "tether.events.x", Data: mismatch},
		{Subject: "tether.events.x!", Data: bad},
	} {
		if err := raw.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	good, _ := protoEvent("ok")
	if err := raw.Publish("tether.events.ok", good); err != nil {
		t.Fatal(err)
	}
	if e := next(t, all); e.Name != "ok" {
		t.Fatalf("got %+v", e)
	}
	expectEmpty(t, all)
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 3 {
		t.Fatalf("error handler saw %v, want the bad messages", errs)
	}
	if _, err := natsbus.New(raw, natsbus.WithSubjectPrefix("a.>")); tether.FromError(err).Code() != tether.CodeInvalidArgument {
		t.Fatalf("bad prefix: %v", err)
	}
	if _, err := natsbus.New(nil); err == nil {
		t.Fatal("nil conn accepted")
	}
}

func protoEvent(name string) ([]byte, error) {
	return protoMarshal(&tetherv1.Event{Name: name})
}

func TestCloseDrains(t *testing.T) {
	url := startNATS(t)
	a := newReplica(t, url)
	nc := connect(t, url)
	b, err := natsbus.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s := subscribe(t, b, bus.Filter{Names: []string{"e"}})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(context.Background()); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Next after Close = %v", err)
	}
	if _, err := b.Publish(context.Background(), bus.Event{Name: "e"}); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Publish after Close = %v", err)
	}
	// The other replica keeps working, and the connection is still usable.
	if _, err := a.Publish(context.Background(), bus.Event{Name: "e"}); err != nil {
		t.Fatal(err)
	}
	if !nc.IsConnected() {
		t.Fatal("Close closed the caller's connection")
	}
}

// In NATS core mode too, Publish fails with ErrNATSDown while the
// connection is down (as the package's health rules say, and as with
// JetStream), delivering nothing locally; once it is back, Publish works.
func TestCoreNATSDown(t *testing.T) {
	srv := startJS(t)
	b, err := natsbus.New(quickConnect(t, srv.url()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	waitHealth := func(up bool) {
		t.Helper()
		waitUntil(t, 10*time.Second, fmt.Sprintf("health up %v", up), func() error {
			if err := b.Healthy(); (err == nil) != up {
				return fmt.Errorf("Healthy = %v", err)
			}
			return nil
		})
	}
	publish(t, b, bus.Event{Name: "e"})
	srv.stop()
	waitHealth(false)
	last := b.Local().LastID()
	if _, err := b.Publish(context.Background(), bus.Event{Name: "e"}); !errors.Is(err, natsbus.ErrNATSDown) {
		t.Fatalf("Publish while down = %v, want ErrNATSDown", err)
	}
	if got := b.Local().LastID(); got != last {
		t.Fatalf("a refused publish was delivered locally: last id %d, was %d", got, last)
	}
	srv.start()
	waitHealth(true)
	publish(t, b, bus.Event{Name: "e"})
}
