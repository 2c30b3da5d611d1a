package natsbus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/bus"
	"github.com/tether-ipc/tether/bus/natsbus"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// jsServer is an embedded NATS server with JetStream on 127.0.0.1, its
// store in a temporary folder; it can be stopped and started again on the
// same port and store.
type jsServer struct {
	tb   testing.TB
	opts server.Options
	s    *server.Server
}

func startJS(tb testing.TB) *jsServer {
	tb.Helper()
	j := &jsServer{tb: tb, opts: server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: tb.TempDir()}}
	j.start()
	j.opts.Port = j.s.Addr().(*net.TCPAddr).Port
	tb.Cleanup(j.stop)
	return j
}

func (j *jsServer) start() {
	j.tb.Helper()
	s, err := server.NewServer(&j.opts)
	if err != nil {
		j.tb.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		j.tb.Fatal("NATS server not ready")
	}
	j.s = s
}

func (j *jsServer) stop() {
	if j.s != nil {
		j.s.Shutdown()
		j.s.WaitForShutdown()
		j.s = nil
	}
}

func (j *jsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", j.opts.Port) }

// quickConnect is a connection that reconnects quickly and forever.
func quickConnect(tb testing.TB, url string) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

func jsReplica(tb testing.TB, url string, opts ...natsbus.Option) *natsbus.Bus {
	tb.Helper()
	b, err := natsbus.New(quickConnect(tb, url), append([]natsbus.Option{natsbus.WithJetStream(natsbus.Stream{})}, opts...)...)
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

func jsonP(s string) *tetherv1.Payload {
	return &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte(s)}}
}

func publish(t *testing.T, b bus.Bus, ev bus.Event) uint64 {
	t.Helper()
	id, err := b.Publish(context.Background(), ev)
	if err != nil {
		t.Fatalf("Publish(%s): %v", ev.Name, err)
	}
	return id
}

// Ids are the stream's sequence numbers: the same on every replica, for
// events published on any of them, in one order everywhere.
func TestJetStreamIDsEverywhere(t *testing.T) {
	url := startJS(t).url()
	reps := []*natsbus.Bus{jsReplica(t, url), jsReplica(t, url), jsReplica(t, url)}
	var subs []*bus.Subscription
	for _, r := range reps {
		if !r.JetStream() {
			t.Fatal("not on JetStream")
		}
		subs = append(subs, subscribe(t, r, bus.Filter{Names: []string{"n"}}))
	}
	var want []uint64
	for i := range 60 {
		id := publish(t, reps[i%3], bus.Event{Name: "n", Payload: jsonP(fmt.Sprint(i)), Source: "win"})
		want = append(want, id)
	}
	if !slices.IsSorted(want) || want[0] != 1 || want[59] != 60 {
		t.Fatalf("ids %v, want 1..60", want)
	}
	for r, s := range subs {
		for i, id := range want {
			e := next(t, s)
			if e.ID != id || string(e.Payload.GetJson()) != fmt.Sprint(i) || e.Source != "win" {
				t.Fatalf("replica %d: event %d is %d %s %q, want %d", r, i, e.ID, e.Payload.GetJson(), e.Source, id)
			}
		}
		expectEmpty(t, s)
	}
}

// A listener that leaves one replica resumes on another, started later,
// with its last id: it gets every event after it, from the stream, then
// live ones, once each, in order.
func TestJetStreamResumeOnAnotherReplica(t *testing.T) {
	url := startJS(t).url()
	a := jsReplica(t, url)
	onA := subscribe(t, a, bus.Filter{Names: []string{"e"}})
	for i := range 30 {
		publish(t, a, bus.Event{Name: "e", Payload: jsonP(fmt.Sprint(i))})
	}
	var last uint64
	for range 10 {
		last = next(t, onA).ID
	}
	onA.Unsubscribe()
	// Replica C starts now: its own copy holds nothing before id 31.
	c := jsReplica(t, url, natsbus.WithBusOptions(bus.WithWindowSize(5)))
	resumed := subscribe(t, c, bus.Filter{Names: []string{"e"}, AfterID: last})
	for i := 10; i < 30; i++ {
		e := next(t, resumed)
		if e.ID != uint64(i+1) || string(e.Payload.GetJson()) != fmt.Sprint(i) {
			t.Fatalf("resumed got id %d %s, want %d", e.ID, e.Payload.GetJson(), i+1)
		}
	}
	for i := 30; i < 40; i++ {
		publish(t, a, bus.Event{Name: "e", Payload: jsonP(fmt.Sprint(i))})
	}
	// C's window holds 5 of these; a resume further back reads the stream.
	for i := 30; i < 40; i++ {
		if e := next(t, resumed); e.ID != uint64(i+1) {
			t.Fatalf("live got %d, want %d", e.ID, i+1)
		}
	}
	expectEmpty(t, resumed)
	again := subscribe(t, c, bus.Filter{Names: []string{"e"}, AfterID: 33})
	for want := uint64(34); want <= 40; want++ {
		if e := next(t, again); e.ID != want {
			t.Fatalf("second resume got %d, want %d", e.ID, want)
		}
	}
	expectEmpty(t, again)
}

// Targets travel in the subject: a resume from the stream gets only the
// subscriber's own targeted events and untargeted ones, and names with ':'
// and '/' work.
func TestJetStreamTargets(t *testing.T) {
	url := startJS(t).url()
	a := jsReplica(t, url)
	for _, ev := range []bus.Event{
		{Name: "plugin:x/y", Target: "win-1"}, // 1
		{Name: "plugin:x/y"},                  // 2
		{Name: "plugin:x/y", Target: "win-2"}, // 3
		{Name: "other", Target: "win-1"},      // 4
		{Name: "other"},                       // 5
	} {
		publish(t, a, ev)
	}
	b := jsReplica(t, url) // holds none of them: every resume reads the stream
	got := func(f bus.Filter, n int) []uint64 {
		s := subscribe(t, b, f)
		var out []uint64
		for range n {
			out = append(out, next(t, s).ID)
		}
		expectEmpty(t, s)
		return out
	}
	mark := publish(t, a, bus.Event{Name: "mark"}) // 6
	for _, ev := range []bus.Event{
		{Name: "plugin:x/y", Target: "win-1"}, // 7
		{Name: "plugin:x/y"},                  // 8
		{Name: "plugin:x/y", Target: "win-2"}, // 9
		{Name: "other", Target: "win-1"},      // 10
		{Name: "other"},                       // 11
	} {
		publish(t, a, ev)
	}
	if g := got(bus.Filter{Names: []string{"plugin:x/y"}, Label: "win-1", AfterID: mark}, 2); !slices.Equal(g, []uint64{7, 8}) {
		t.Fatalf("win-1 plugin:x/y got %v, want [7 8]", g)
	}
	if g := got(bus.Filter{Names: []string{"*"}, Label: "win-2", AfterID: mark}, 3); !slices.Equal(g, []uint64{8, 9, 11}) {
		t.Fatalf("win-2 * got %v, want [8 9 11]", g)
	}
	if g := got(bus.Filter{Names: []string{"other", "plugin:x/y", "other"}, AfterID: 1}, 4); !slices.Equal(g, []uint64{2, 5, 8, 11}) {
		t.Fatalf("no label got %v, want the untargeted [2 5 8 11]", g)
	}
}

// When the stream's limits have moved past the resume id, a Lagged notice
// says how many ids are gone, then what the stream holds follows.
func TestJetStreamLagged(t *testing.T) {
	url := startJS(t).url()
	a, err := natsbus.New(quickConnect(t, url), natsbus.WithJetStream(natsbus.Stream{Name: "SMALL", MaxBytes: 8 << 10}),
		natsbus.WithBusOptions(bus.WithWindowSize(0)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for range 40 {
		publish(t, a, bus.Event{Name: "e", Payload: &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: make([]byte, 1000)}}})
	}
	js, _ := jetstream.New(quickConnect(t, url))
	st, err := js.Stream(context.Background(), "SMALL")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	first := info.State.FirstSeq
	if first <= 2 {
		t.Fatalf("the stream still holds from %d", first)
	}
	// Once the replica's copy has read the stream's end, the whole gap is
	// the stream's: one notice. (While the copy still reads, the ids it has
	// not read yet are told live: TestJetStreamStreamOutrunsReplica.)
	waitUntil(t, 5*time.Second, "the replica's copy to reach the stream's end, 40", func() error {
		if id := a.Local().LastID(); id < 40 {
			return fmt.Errorf("it is at %d", id)
		}
		return nil
	})
	s := subscribe(t, a, bus.Filter{Names: []string{"e"}, AfterID: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Lagged == nil || *m.Lagged != (bus.Lagged{Dropped: first - 2, ResumeAfter: 1}) {
		t.Fatalf("got %+v (%+v), want Lagged{%d, 1}", m, m.Lagged, first-2)
	}
	if lost := account(t, s, first, 40); lost != 0 {
		t.Fatalf("%d more ids said lost after the stream's first, %d", lost, first)
	}
	expectEmpty(t, s)
}

// account reads s until every id from..to is accounted for, in order: as
// an event, or inside a Lagged notice that starts right after the last id
// accounted for. It returns how many ids notices said were gone.
func account(t *testing.T, s *bus.Subscription, from, to uint64) (lost uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for want := from; want <= to; {
		m, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("Next with %d..%d to come: %v", want, to, err)
		}
		switch {
		case m.Lagged != nil:
			if m.Lagged.ResumeAfter != want-1 || m.Lagged.Dropped == 0 {
				t.Fatalf("got %+v, want a notice of ids after %d", *m.Lagged, want-1)
			}
			want += m.Lagged.Dropped
			lost += m.Lagged.Dropped
		case m.Event.ID != want:
			t.Fatalf("got event %d, want %d", m.Event.ID, want)
		default:
			want++
		}
	}
	return lost
}

// A stream whose limits drop events faster than a replica reads them:
// the replica's listeners are told of every id they did not get, in order
// (before, such ids went missing without a notice).
func TestJetStreamStreamOutrunsReplica(t *testing.T) {
	url := startJS(t).url()
	small := natsbus.WithJetStream(natsbus.Stream{Name: "TINY", MaxBytes: 4 << 10, Memory: true})
	a := jsReplica(t, url, small)
	b := jsReplica(t, url, small)
	s := subscribe(t, b, bus.Filter{Names: []string{"e"}})
	const writers, each = 8, 150
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			for range each {
				if _, err := a.Publish(context.Background(), bus.Event{Name: "e", Payload: &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: make([]byte, 900)}}}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	lost := account(t, s, 1, writers*each)
	t.Logf("%d of %d ids were gone from the stream before the replica read them", lost, writers*each)
	expectEmpty(t, s)
}

// A replica that loses NATS reports it, ends its listeners with
// unavailable, refuses new ones and publishes, and keeps its backend
// listeners, which get what they missed once NATS is back.
func TestJetStreamNATSDown(t *testing.T) {
	srv := startJS(t)
	a := jsReplica(t, srv.url())
	var mu sync.Mutex
	var changes []error
	stop := a.NotifyHealth(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, err)
	})
	defer stop()
	got := make(chan uint64, 100)
	unlisten, err := a.Listen("e", func(e bus.Event) { got <- e.ID })
	if err != nil {
		t.Fatal(err)
	}
	defer unlisten()
	s := subscribe(t, a, bus.Filter{Names: []string{"e"}})
	id := publish(t, a, bus.Event{Name: "e"})
	if e := next(t, s); e.ID != id {
		t.Fatalf("got %d", e.ID)
	}
	if g := <-got; g != id {
		t.Fatalf("backend got %d", g)
	}

	srv.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Next(ctx); !errors.Is(err, natsbus.ErrNATSDown) {
		t.Fatalf("listener's Next = %v, want ErrNATSDown", err)
	}
	if err := a.Healthy(); !errors.Is(err, natsbus.ErrNATSDown) {
		t.Fatalf("Healthy = %v", err)
	}
	if _, err := a.Subscribe(context.Background(), bus.Filter{Names: []string{"e"}}); tether.FromError(err).Code() != tether.CodeUnavailable {
		t.Fatalf("Subscribe while down = %v", err)
	}
	if _, err := a.Publish(context.Background(), bus.Event{Name: "e"}); tether.FromError(err).Code() != tether.CodeUnavailable {
		t.Fatalf("Publish while down = %v", err)
	}

	srv.start()
	waitUntil(t, 10*time.Second, "health after NATS came back", a.Healthy)
	// Another replica publishes; the backend listener gets it.
	b := jsReplica(t, srv.url())
	id2 := publish(t, b, bus.Event{Name: "e"})
	select {
	case g := <-got:
		if g != id2 {
			t.Fatalf("backend got %d, want %d", g, id2)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the backend listener got nothing after NATS came back")
	}
	s2 := subscribe(t, a, bus.Filter{Names: []string{"e"}, AfterID: id})
	if e := next(t, s2); e.ID != id2 {
		t.Fatalf("resume after NATS came back got %d, want %d", e.ID, id2)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(changes) != 2 || !errors.Is(changes[0], natsbus.ErrNATSDown) || changes[1] != nil {
		t.Fatalf("health changes %v, want [down, up]", changes)
	}
}

// Foreign bytes in the stream are skipped (the ids skip with them); events
// larger than the server's max_payload are refused; a resume id beyond the
// stream's end resumes from the end.
func TestJetStreamBadInput(t *testing.T) {
	url := startJS(t).url()
	var mu sync.Mutex
	var errs []error
	a := jsReplica(t, url, natsbus.WithErrorHandler(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}))
	all := subscribe(t, a, bus.Filter{Names: []string{"*"}})
	js, _ := jetstream.New(quickConnect(t, url))
	mismatch, _ := protoEvent("other")
	bad, _ := protoEvent("x!")
	for _, m := range []*nats.Msg{
		{Subject: "tether.events.x", Data: []byte{0xff, 0xff, 0xff}},
		{Subject: "tether.events.x", Data: mismatch},
		{Subject: "tether.events.x!", Data: bad},
		{Subject: "tether.events.x.y.z", Data: mismatch},
	} {
		if _, err := js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	id := publish(t, a, bus.Event{Name: "ok"})
	if id != 5 {
		t.Fatalf("id %d, want 5", id)
	}
	if e := next(t, all); e.ID != 5 || e.Name != "ok" {
		t.Fatalf("got %+v", e)
	}
	expectEmpty(t, all)
	mu.Lock()
	if len(errs) != 4 {
		t.Fatalf("error handler saw %v, want the 4 bad messages", errs)
	}
	mu.Unlock()

	if _, err := a.Publish(context.Background(), bus.Event{Name: "big", Payload: &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: make([]byte, 2<<20)}}}); tether.FromError(err).Code() != tether.CodeResourceExhausted {
		t.Fatalf("2 MiB event = %v, want resource_exhausted (max_payload is 1 MiB)", err)
	}
	if _, err := a.Publish(context.Background(), bus.Event{Name: "e", Target: "a.b"}); tether.FromError(err).Code() != tether.CodeInvalidArgument {
		t.Fatalf("target with a dot = %v", err)
	}
	ahead := subscribe(t, a, bus.Filter{Names: []string{"ok"}, AfterID: 1000})
	id = publish(t, a, bus.Event{Name: "ok"})
	if e := next(t, ahead); e.ID != id {
		t.Fatalf("resume from beyond the end got %d, want %d", e.ID, id)
	}
	if _, err := natsbus.New(quickConnect(t, url), natsbus.WithJetStream(natsbus.Stream{Name: "a.b"})); tether.FromError(err).Code() != tether.CodeInvalidArgument {
		t.Fatalf("bad stream name: %v", err)
	}
}
