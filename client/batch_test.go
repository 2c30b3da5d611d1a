package client_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether/bus"
	"github.com/tether-ipc/tether/client"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/server"
)

// emitMany emits n events {"k":k} from the backend and returns the first id.
func emitMany(t *testing.T, srv *server.Server, name string, n int) uint64 {
	t.Helper()
	var first uint64
	for k := range n {
		id, err := srv.Emit(context.Background(), name, map[string]int{"k": k})
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			first = id
		}
	}
	return first
}

// checkRun checks that evs are the events first, first+1, … of emitMany,
// from k0 on.
func checkRun(t *testing.T, evs []client.Event, first uint64, k0 int) {
	t.Helper()
	for i, e := range evs {
		k := k0 + i
		var v struct{ K int }
		if err := e.Decode(&v); err != nil || e.ID != first+uint64(k) || v.K != k || e.Name != "many" {
			t.Fatalf("event %d: id %d (want %d), payload %s, name %q, %v", k, e.ID, first+uint64(k), e.Payload.GetJson(), e.Name, err)
		}
	}
}

// The Go client asks for batches; its handler still gets every event, one
// at a time, in order, and LastID follows the last one.
func TestListenBatchesInOrder(t *testing.T) {
	const n = 30000
	core := startCore(t, sockPath(t), server.WithBus(bus.NewMemory(bus.WithQueueSize(n))))
	defer core.stop()
	c := dial(t, core.addr)
	col := newCollector()
	var lags atomic.Int32
	sub, err := c.Listen(context.Background(), []string{"many"}, col.handle, client.OnLag(func(uint64, uint64) { lags.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unlisten()
	first := emitMany(t, core.srv, "many", n)
	evs := col.waitFor(t, n)
	checkRun(t, evs, first, 0)
	if sub.LastID() != first+n-1 || lags.Load() != 0 {
		t.Fatalf("LastID %d, want %d; %d lag notices", sub.LastID(), first+n-1, lags.Load())
	}
}

// Unlisten from the handler in the middle of a batch: no later event of the
// batch reaches the handler, LastID is the last one delivered, and a new
// listener resuming after it gets the rest, without gap or duplicate.
func TestUnlistenMidBatchThenResume(t *testing.T) {
	const n, stopAt = 2000, 700
	core := startCore(t, sockPath(t))
	defer core.stop()
	c := dial(t, core.addr)
	first := emitMany(t, core.srv, "many", n)

	var sub *client.Subscription
	ready := make(chan struct{})
	var got []client.Event
	sub, err := c.Listen(context.Background(), []string{"many"}, func(e client.Event) {
		<-ready
		got = append(got, e)
		if len(got) == stopAt {
			sub.Unlisten()
		}
	}, client.AfterID(first-1)) // the replay: all queued at once, so batched
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	select {
	case <-sub.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("listener did not stop")
	}
	if len(got) != stopAt || sub.LastID() != first+stopAt-1 {
		t.Fatalf("%d events after Unlisten at %d; LastID %d, want %d", len(got), stopAt, sub.LastID(), first+stopAt-1)
	}
	checkRun(t, got, first, 0)

	col := newCollector()
	sub2, err := c.Listen(context.Background(), []string{"many"}, col.handle, client.AfterID(sub.LastID()))
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Unlisten()
	rest := col.waitFor(t, n-stopAt)
	checkRun(t, rest, first, stopAt)
}

// Client interceptors that look at what a listener receives see a
// ListenResponse, batch or single event, and the handler gets what they
// leave in it.
func TestListenClientInterceptorSeesResponses(t *testing.T) {
	core := startCore(t, sockPath(t))
	defer core.stop()
	var kinds atomic.Value
	kinds.Store("")
	ic := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		cs, err := streamer(ctx, desc, cc, method, opts...)
		return &inspectingStream{ClientStream: cs, kinds: &kinds}, err
	}
	c, err := client.Dial(core.addr, client.WithDialOptions(grpc.WithStreamInterceptor(ic)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	first := emitMany(t, core.srv, "many", 10)
	col := newCollector()
	sub, err := c.Listen(context.Background(), []string{"many"}, col.handle, client.AfterID(first-1))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unlisten()
	evs := col.waitFor(t, 10)
	for _, e := range evs {
		if e.Source != "seen" {
			t.Fatalf("event %d: source %q, want the interceptor's change", e.ID, e.Source)
		}
	}
	if k := kinds.Load().(string); k != " tether.v1.ListenResponse/batch" {
		t.Fatalf("interceptor saw %q, want the replay in one batch", k)
	}
}

type inspectingStream struct {
	grpc.ClientStream
	kinds *atomic.Value
}

func (s *inspectingStream) RecvMsg(m any) error {
	if err := s.ClientStream.RecvMsg(m); err != nil {
		return err
	}
	pm := m.(proto.Message).ProtoReflect()
	r := pm.Interface().(*tetherv1.ListenResponse)
	kind := "other"
	switch {
	case r.GetEvent() != nil:
		kind = "event"
		r.GetEvent().Source = "seen"
	case r.GetBatch() != nil:
		kind = "batch"
		for _, e := range r.GetBatch().GetEvents() {
			e.Source = "seen"
		}
	}
	s.kinds.Store(fmt.Sprintf("%s %s/%s", s.kinds.Load(), pm.Descriptor().FullName(), kind))
	return nil
}
