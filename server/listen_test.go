package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/bus"
	"github.com/tether-ipc/tether/client"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/server"
)

// emitN emits n events named name with payloads {"i":k} and returns the
// id of the first.
func emitN(t *testing.T, srv *server.Server, name string, n int) uint64 {
	t.Helper()
	var first uint64
	for k := range n {
		id, err := srv.Emit(context.Background(), name, map[string]int{"i": k})
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			first = id
		}
	}
	return first
}

// listenRaw opens a Listen call with the generated client, as any gRPC
// caller (grpcurl, another language) does, and reads until want events
// arrived. It returns every response.
func listenRaw(t *testing.T, conn grpc.ClientConnInterface, req *tetherv1.ListenRequest, want int) []*tetherv1.ListenResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := tetherv1.NewIPCClient(conn).Listen(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var out []*tetherv1.ListenResponse
	got := 0
	for got < want {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("after %d events: %v", got, err)
		}
		out = append(out, m)
		got += len(m.GetBatch().GetEvents())
		if m.GetEvent() != nil {
			got++
		}
	}
	return out
}

// events flattens responses to events and renders the notices, in order.
func flatten(rs []*tetherv1.ListenResponse) (evs []*tetherv1.Event, seq []string) {
	for _, r := range rs {
		switch k := r.GetKind().(type) {
		case *tetherv1.ListenResponse_Event:
			evs = append(evs, k.Event)
			seq = append(seq, fmt.Sprint(k.Event.GetId()))
		case *tetherv1.ListenResponse_Batch:
			for _, e := range k.Batch.GetEvents() {
				evs = append(evs, e)
				seq = append(seq, fmt.Sprint(e.GetId()))
			}
		case *tetherv1.ListenResponse_Lagged:
			seq = append(seq, fmt.Sprintf("lagged(%d,%d)", k.Lagged.GetDropped(), k.Lagged.GetResumeAfter()))
		default:
			seq = append(seq, "empty")
		}
	}
	return evs, seq
}

// checkEvents checks that evs are the events first, first+1, … emitted by
// emitN, each with its own payload.
func checkEvents(t *testing.T, evs []*tetherv1.Event, first uint64, name string) {
	t.Helper()
	for k, e := range evs {
		if e.GetId() != first+uint64(k) || e.GetName() != name || string(e.GetPayload().GetJson()) != fmt.Sprintf(`{"i":%d}`, k) {
			t.Fatalf("event %d = %v, want id %d with payload {\"i\":%d}", k, e, first+uint64(k), k)
		}
	}
}

// A listener that asks for batches gets the events that were queued for it
// in batches of at most max_batch, in order, each event intact; one that
// does not ask (an older client, grpcurl) gets exactly one event per
// response, as before batches existed. Both over a real TCP socket, so the
// server's codec sends the events' cached encodings.
func TestListenBatchesOnlyWhenAsked(t *testing.T) {
	const n = 1000
	e := start(t, nil)
	first := emitN(t, e.srv, "b", n)
	// Resuming before the first event: the replay is all queued at once.
	batched := listenRaw(t, e.conn, &tetherv1.ListenRequest{Events: []string{"b"}, AfterId: first - 1, MaxBatch: 64}, n)
	evs, _ := flatten(batched)
	checkEvents(t, evs, first, "b")
	batches := 0
	for _, r := range batched {
		if b := r.GetBatch(); b != nil {
			batches++
			if len(b.GetEvents()) > 64 || len(b.GetEvents()) < 2 {
				t.Fatalf("a batch of %d events, want 2..64", len(b.GetEvents()))
			}
		} else if r.GetEvent() == nil {
			t.Fatalf("unexpected response %v", r)
		}
	}
	if batches < n/64 || len(batched) > n/64+2 {
		t.Fatalf("%d responses with %d batches for %d replayed events, want about %d full batches", len(batched), batches, n, n/64)
	}

	single := listenRaw(t, e.conn, &tetherv1.ListenRequest{Events: []string{"b"}, AfterId: first - 1}, n)
	if len(single) != n {
		t.Fatalf("%d responses for %d events without max_batch", len(single), n)
	}
	evs, _ = flatten(single)
	checkEvents(t, evs, first, "b")
	for _, r := range single {
		if r.GetEvent() == nil {
			t.Fatalf("response %v without max_batch, want a single event", r)
		}
	}
	// max_batch 1 is the same as not asking.
	one := listenRaw(t, e.conn, &tetherv1.ListenRequest{Events: []string{"b"}, AfterId: first - 1, MaxBatch: 1}, 10)
	for _, r := range one {
		if r.GetEvent() == nil {
			t.Fatalf("response %v with max_batch 1, want a single event", r)
		}
	}
}

// Live events that pile up while a listener is busy also go out in
// batches, in order and without loss.
func TestListenBatchesLiveEvents(t *testing.T) {
	const n = 20000
	e := start(t, nil, server.WithBus(bus.NewMemory(bus.WithQueueSize(n))))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := tetherv1.NewIPCClient(e.conn).Listen(ctx, &tetherv1.ListenRequest{Events: []string{"live"}, MaxBatch: 256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil { // subscribed
		t.Fatal(err)
	}
	done := make(chan uint64, 1)
	go func() { done <- emitN(t, e.srv, "live", n) }()
	var rs []*tetherv1.ListenResponse
	for got := 0; got < n; {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("after %d events: %v", got, err)
		}
		rs = append(rs, m)
		got += len(m.GetBatch().GetEvents())
		if m.GetEvent() != nil {
			got++
		}
	}
	first := <-done
	evs, seq := flatten(rs)
	if len(evs) != n || strings.Contains(strings.Join(seq, " "), "lagged") {
		t.Fatalf("%d events, sequence %v", len(evs), seq[:min(len(seq), 20)])
	}
	checkEvents(t, evs, first, "live")
	if len(rs) == n {
		t.Log("no batch formed (the listener kept up with every emit)")
	}
}

// A Lagged notice is never inside a batch: it comes on its own, at its
// place in the order.
func TestListenBatchLaggedInOrder(t *testing.T) {
	e := start(t, nil, server.WithBus(bus.NewMemory(bus.WithWindowSize(16), bus.WithFirstID(1000))))
	first := emitN(t, e.srv, "w", 100)
	rs := listenRaw(t, e.conn, &tetherv1.ListenRequest{Events: []string{"w"}, AfterId: first - 1, MaxBatch: 8}, 16)
	_, seq := flatten(rs)
	want := []string{fmt.Sprintf("lagged(84,%d)", first-1)}
	for id := first + 84; id < first+100; id++ {
		want = append(want, fmt.Sprint(id))
	}
	if strings.Join(seq, " ") != strings.Join(want, " ") {
		t.Fatalf("sequence\n%v\nwant\n%v", seq, want)
	}
	if rs[0].GetLagged() == nil {
		t.Fatalf("first response %v, want the notice alone", rs[0])
	}
	for _, r := range rs[1:] {
		if len(r.GetBatch().GetEvents()) > 8 {
			t.Fatalf("a batch of %d events, want at most 8", len(r.GetBatch().GetEvents()))
		}
	}
}

// Interceptors that look at what Listen sends see a ListenResponse (through
// proto reflection), and a change they make is what the listener gets.
func TestListenFramesSeenByInterceptors(t *testing.T) {
	var seen []string
	rewrite := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if info.FullMethod != server.ListenMethod {
			return h(srv, ss)
		}
		return h(srv, &rewritingStream{ServerStream: ss, seen: &seen})
	}
	e := start(t, nil, server.WithStreamInterceptors(rewrite))
	first := emitN(t, e.srv, "r", 5)
	rs := listenRaw(t, e.conn, &tetherv1.ListenRequest{Events: []string{"r"}, AfterId: first - 1, MaxBatch: 4}, 5)
	evs, _ := flatten(rs)
	if len(evs) != 5 {
		t.Fatalf("got %d events", len(evs))
	}
	for _, ev := range evs {
		if ev.GetSource() != "rewritten" {
			t.Fatalf("event %v: the interceptor's change did not reach the listener", ev)
		}
	}
	if got := strings.Join(seen, " "); got != "tether.v1.ListenResponse tether.v1.ListenResponse" {
		t.Fatalf("interceptor saw %q, want two ListenResponses (a batch of 4, then one event)", got)
	}
}

type rewritingStream struct {
	grpc.ServerStream
	seen *[]string
}

func (s *rewritingStream) SendMsg(m any) error {
	pm := m.(proto.Message).ProtoReflect()
	*s.seen = append(*s.seen, string(pm.Descriptor().FullName()))
	r := pm.Interface().(*tetherv1.ListenResponse)
	for _, ev := range append(r.GetBatch().GetEvents(), r.GetEvent()) {
		if ev != nil {
			ev.Source = "rewritten"
		}
	}
	return s.ServerStream.SendMsg(m)
}

// The Listen stream ends cleanly when the listener goes, batches or not.
func TestListenBatchCancel(t *testing.T) {
	e := start(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := tetherv1.NewIPCClient(e.conn).Listen(ctx, &tetherv1.ListenRequest{Events: []string{"c"}, MaxBatch: 16})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil { // subscribed
		t.Fatal(err)
	}
	emitN(t, e.srv, "c", 50)
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	for {
		if _, err := stream.Recv(); err != nil {
			if err == io.EOF {
				t.Fatal("clean end after cancel")
			}
			break
		}
	}
}

// In isolation mode max_batch travels sealed with the rest of the request:
// the core opens it and batches for the Go client behind an isolation
// stage, which gets every event in order.
func TestListenBatchesThroughIsolation(t *testing.T) {
	key, err := isolation.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	opener, err := isolation.NewOpener(key)
	if err != nil {
		t.Fatal(err)
	}
	var maxBatch atomic.Uint32
	record := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, &recordingStream{ServerStream: ss, maxBatch: &maxBatch})
	}
	srv := server.New(
		server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		server.WithWireInterceptors(isolation.UnaryServerInterceptor(opener), isolation.StreamServerInterceptor(opener)),
		server.WithStreamInterceptors(record),
	)
	defer srv.Stop()
	policy, err := (&isolation.Policy{Events: []string{"iso"}}).Hook()
	if err != nil {
		t.Fatal(err)
	}
	stage, err := isolation.NewStage(key, policy)
	if err != nil {
		t.Fatal(err)
	}
	front, err := srv.DialInProcess(
		isolation.DialOptions(stage)...)
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	const n = 500
	first := emitN(t, srv, "iso", n)
	got := make(chan client.Event, n)
	ctx := client.WithClientLabel(context.Background(), "main", "http://127.0.0.1:7400")
	sub, err := client.New(front).Listen(ctx, []string{"iso"}, func(e client.Event) { got <- e }, client.AfterID(first-1))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unlisten()
	for k := range n {
		select {
		case e := <-got:
			if e.ID != first+uint64(k) || string(e.Payload.GetJson()) != fmt.Sprintf(`{"i":%d}`, k) {
				t.Fatalf("event %d: %d %s", k, e.ID, e.Payload.GetJson())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d of %d events", k, n)
		}
	}
	if maxBatch.Load() < 2 {
		t.Fatalf("the opened request has max_batch %d", maxBatch.Load())
	}
}

type recordingStream struct {
	grpc.ServerStream
	maxBatch *atomic.Uint32
}

func (s *recordingStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if r, ok := m.(*tetherv1.ListenRequest); ok && err == nil {
		s.maxBatch.Store(r.GetMaxBatch())
	}
	return err
}

// A backend EmitTo checks its target as a frontend's emit is checked, on
// the default memory bus as natsbus does: a label that is not a valid name
// is refused, and nothing is published.
func TestEmitToChecksTarget(t *testing.T) {
	srv := server.New()
	defer srv.Stop()
	last := srv.Bus().(*bus.Memory).LastID()
	for _, target := range []string{"user@example.com", "a b", "x.y"} {
		if _, err := srv.EmitTo(context.Background(), target, "news", "hi"); tether.CodeOf(err) != tether.CodeInvalidArgument {
			t.Errorf("EmitTo(%q): %v, want invalid_argument", target, err)
		}
	}
	if got := srv.Bus().(*bus.Memory).LastID(); got != last {
		t.Fatalf("refused emits published events: last id %d, was %d", got, last)
	}
	if _, err := srv.EmitTo(context.Background(), "main", "news", "hi"); err != nil {
		t.Fatal(err)
	}
}
