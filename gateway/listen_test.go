package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/gateway"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// fakeIPC stands in for the core's Emit and Listen until they land: an
// in-memory fan-out that keeps the last `window` events for resuming and
// reports a gap as Lagged.
type fakeIPC struct {
	tetherv1.UnimplementedIPCServer
	window int

	mu        sync.Mutex
	nextID    uint64
	history   []*tetherv1.Event
	subs      map[chan *tetherv1.Event]bool
	lastReq   *tetherv1.ListenRequest
	lastMD    metadata.MD
	failErr   error // when set, Listen fails with it after the replay
	refuseErr error // when set, Listen fails with it before subscribing

	active  atomic.Int32 // Listen calls in progress
	started atomic.Int32 // Listen calls ever started
}

func (f *fakeIPC) Emit(ctx context.Context, req *tetherv1.EmitRequest) (*tetherv1.EmitResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastMD = md
	f.nextID++
	ev := &tetherv1.Event{Id: f.nextID, Name: req.GetEvent(), Payload: req.GetPayload(), Target: req.GetTarget()}
	if l := md.Get(tether.MetadataClientLabel); len(l) > 0 {
		ev.Source = l[0]
	}
	f.history = append(f.history, ev)
	if len(f.history) > f.window {
		f.history = f.history[1:]
	}
	for c := range f.subs {
		select {
		case c <- ev:
		default:
		}
	}
	return &tetherv1.EmitResponse{Id: ev.Id}, nil
}

func (f *fakeIPC) Listen(req *tetherv1.ListenRequest, stream tetherv1.IPC_ListenServer) error {
	f.active.Add(1)
	defer f.active.Add(-1)
	want := map[string]bool{}
	for _, e := range req.GetEvents() {
		want[e] = true
	}
	c := make(chan *tetherv1.Event, 64)
	f.mu.Lock()
	f.lastReq = req
	f.lastMD, _ = metadata.FromIncomingContext(stream.Context())
	if f.subs == nil {
		f.subs = map[chan *tetherv1.Event]bool{}
	}
	f.subs[c] = true
	f.started.Add(1)
	var replay []*tetherv1.ListenResponse
	if after := req.GetAfterId(); after > 0 && len(f.history) > 0 {
		if oldest := f.history[0].Id; after+1 < oldest {
			replay = append(replay, &tetherv1.ListenResponse{Kind: &tetherv1.ListenResponse_Lagged{
				Lagged: &tetherv1.Lagged{Dropped: oldest - after - 1, ResumeAfter: after}}})
		}
		for _, ev := range f.history {
			if ev.Id > after && want[ev.Name] {
				replay = append(replay, &tetherv1.ListenResponse{Kind: &tetherv1.ListenResponse_Event{Event: ev}})
			}
		}
	}
	failErr, refuseErr := f.failErr, f.refuseErr
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.subs, c)
		f.mu.Unlock()
	}()
	if refuseErr != nil { // refused before subscribing, as the core does
		return refuseErr
	}
	// Like the core: the header says the subscription exists.
	if err := stream.SendHeader(metadata.Pairs(tether.MetadataSubscribed, "1")); err != nil {
		return err
	}
	if req.GetMaxBatch() > 1 { // as the core does: queued events in one batch
		replay = batchReplay(replay)
	}
	for _, m := range replay {
		if err := stream.Send(m); err != nil {
			return err
		}
	}
	if failErr != nil {
		return failErr
	}
	for {
		select {
		case ev := <-c:
			if !want[ev.Name] {
				continue
			}
			if err := stream.Send(&tetherv1.ListenResponse{Kind: &tetherv1.ListenResponse_Event{Event: ev}}); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

// batchReplay turns runs of event responses into batches.
func batchReplay(rs []*tetherv1.ListenResponse) []*tetherv1.ListenResponse {
	var out []*tetherv1.ListenResponse
	var run []*tetherv1.Event
	flush := func() {
		if len(run) > 0 {
			out = append(out, &tetherv1.ListenResponse{Kind: &tetherv1.ListenResponse_Batch{Batch: &tetherv1.EventBatch{Events: run}}})
			run = nil
		}
	}
	for _, r := range rs {
		if ev := r.GetEvent(); ev != nil {
			run = append(run, ev)
			continue
		}
		flush()
		out = append(out, r)
	}
	flush()
	return out
}

func (f *fakeIPC) request() (*tetherv1.ListenRequest, metadata.MD) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastReq, f.lastMD
}

type fakeEnv struct {
	fake *fakeIPC
	gw   *gateway.Gateway
	hs   *httptest.Server
}

// newFake serves fakeIPC on a real grpc.Server over bufconn, with the
// gateway in front on a loopback HTTP server.
func newFake(t *testing.T, opts ...gateway.Option) *fakeEnv {
	t.Helper()
	fake := &fakeIPC{window: 5}
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	tetherv1.RegisterIPCServer(gs, fake)
	go gs.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///fake",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(conn, append([]gateway.Option{gateway.WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(gw)
	hs.Config = gw.Server("")
	hs.Start()
	t.Cleanup(func() {
		gw.Close()
		hs.Close()
		conn.Close()
		gs.Stop()
	})
	return &fakeEnv{fake: fake, gw: gw, hs: hs}
}

func (e *fakeEnv) emit(t *testing.T, name, payload string) uint64 {
	t.Helper()
	res, err := e.hs.Client().Post(e.hs.URL+"/ipc/emit/"+name, "application/json", stringsReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ ID uint64 }
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 {
		t.Fatalf("emit: %d %v", res.StatusCode, err)
	}
	return out.ID
}

// listen opens GET /ipc/listen and waits until the fake has the stream.
func (e *fakeEnv) listen(t *testing.T, query string, hdr map[string]string) (*sseReader, *http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	before := e.fake.started.Load()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.hs.URL+"/ipc/listen?"+query, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := e.hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("listen: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	sse := newSSE(res.Body)
	if f, err := sse.next(); err != nil || f.retry == "" {
		t.Fatalf("first frame %+v %v, want a retry hint", f, err)
	}
	waitFor(t, func() bool { return e.fake.started.Load() > before })
	return sse, res, cancel
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestListenFrames(t *testing.T) {
	e := newFake(t, gateway.WithOrigins(map[string][]string{"http://localhost:5173": {"main", "settings"}}))
	sse, _, _ := e.listen(t, "event=backend-event&event=frontend-event&label=settings", map[string]string{"Origin": "http://localhost:5173"})
	req, md := e.fake.request()
	if len(req.GetEvents()) != 2 || req.GetAfterId() != 0 ||
		md.Get(tether.MetadataClientLabel)[0] != "settings" || md.Get(tether.MetadataOrigin)[0] != "http://localhost:5173" {
		t.Fatalf("core got %v with %v", req, md)
	}
	id1 := e.emit(t, "backend-event", `{"n": 1}`)
	e.emit(t, "other-event", `{}`)
	id3 := e.emit(t, "frontend-event", "\"multi\\nline\"")
	for _, want := range []frame{
		{event: "backend-event", id: strconv.FormatUint(id1, 10), data: `{"n":1}`},
		{event: "frontend-event", id: strconv.FormatUint(id3, 10), data: `"multi\nline"`},
	} {
		if got := sse.nextData(t); got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
}

func TestListenResume(t *testing.T) {
	e := newFake(t)
	var ids []uint64
	for i := range 8 {
		ids = append(ids, e.emit(t, "tick", strconv.Itoa(i)))
	}
	// The fake holds the last 5 (ids 4..8): resuming after 5 loses nothing.
	sse, _, _ := e.listen(t, "event=tick", map[string]string{"Last-Event-ID": "5"})
	if req, _ := e.fake.request(); req.GetAfterId() != 5 || req.GetMaxBatch() < 2 {
		t.Fatalf("after_id %d, max_batch %d: the gateway should ask for batches", req.GetAfterId(), req.GetMaxBatch())
	}
	for _, id := range ids[5:] {
		if f := sse.nextData(t); f.event != "tick" || f.id != strconv.FormatUint(id, 10) {
			t.Fatalf("resumed frame %+v, want id %d", f, id)
		}
	}
	// Resuming after 1 (by query, as a fetch-less client would) has a gap:
	// a lagged frame, then what is left.
	sse2, _, _ := e.listen(t, "event=tick&lastEventId=1", nil)
	if f := sse2.nextData(t); f.event != "lagged" || f.data != `{"dropped":2,"resume_after":1}` || f.id != "" {
		t.Fatalf("lagged frame %+v", f)
	}
	if f := sse2.nextData(t); f.id != strconv.FormatUint(ids[3], 10) {
		t.Fatalf("after the gap %+v", f)
	}
}

func TestListenPing(t *testing.T) {
	e := newFake(t, gateway.WithPingInterval(20*time.Millisecond))
	sse, _, _ := e.listen(t, "event=quiet", nil)
	f, err := sse.next()
	if err != nil || f.comment != "ping" {
		t.Fatalf("want a ping comment, got %+v %v", f, err)
	}
}

// A listen the core refuses before subscribing gets an ordinary JSON error
// response, not a 200 stream.
func TestListenRefusedIsJSON(t *testing.T) {
	e := newFake(t)
	e.fake.refuseErr = tether.NewError(tether.CodePermissionDenied, "not for you")
	res, err := e.hs.Client().Get(e.hs.URL + "/ipc/listen?event=x")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	wantError(t, res.StatusCode, body, 403, tether.CodePermissionDenied)
}

func TestListenErrorFrame(t *testing.T) {
	e := newFake(t)
	e.fake.failErr = tether.NewError(tether.CodePermissionDenied, "not for you").WithDetails("capability")
	sse, _, _ := e.listen(t, "event=x", nil)
	f := sse.nextData(t)
	var te tether.Error
	if f.event != "error" || json.Unmarshal([]byte(f.data), &te) != nil || te.Code() != tether.CodePermissionDenied || string(te.Details()) != `"capability"` {
		t.Fatalf("error frame %+v", f)
	}
	if _, err := sse.next(); err == nil {
		t.Fatal("the stream goes on after the error frame")
	}
}

// When the browser goes, the upstream Listen ends too (and goleak in
// TestMain checks that no goroutine is left).
func TestListenClientGoneEndsUpstream(t *testing.T) {
	e := newFake(t)
	_, res, cancel := e.listen(t, "event=a", nil)
	if n := e.fake.active.Load(); n != 1 {
		t.Fatalf("%d upstream listens", n)
	}
	cancel()
	res.Body.Close()
	waitFor(t, func() bool { return e.fake.active.Load() == 0 })
}

// Shutting the HTTP server down ends SSE streams, so Shutdown returns
// promptly rather than waiting for them.
func TestShutdownEndsStreams(t *testing.T) {
	e := newFake(t)
	sse, _, _ := e.listen(t, "event=a", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.hs.Config.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v after %v", err, time.Since(start))
	}
	f := sse.nextData(t)
	if f.event != "error" {
		t.Fatalf("last frame %+v", f)
	}
	waitFor(t, func() bool { return e.fake.active.Load() == 0 })
}

func TestEmitFake(t *testing.T) {
	e := newFake(t)
	res, err := e.hs.Client().Post(e.hs.URL+"/ipc/emit/frontend-event?target=settings", "application/json", stringsReader(`{"message":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	if res.StatusCode != 200 || body != "{\"id\":1}\n" {
		t.Fatalf("emit: %d %q", res.StatusCode, body)
	}
	e.fake.mu.Lock()
	ev := e.fake.history[0]
	md := e.fake.lastMD
	e.fake.mu.Unlock()
	if ev.GetName() != "frontend-event" || ev.GetTarget() != "settings" || string(ev.GetPayload().GetJson()) != `{"message":"hi"}` ||
		md.Get(tether.MetadataClientLabel)[0] != "main" {
		t.Fatalf("core got %v with %v", ev, md)
	}
}

// Events the core sends the gateway in batches become one SSE frame each,
// in order, with their ids and payloads.
func TestListenBatchFrames(t *testing.T) {
	h := newHarness(t)
	const n = 600
	var first uint64
	for k := range n {
		id, err := h.srv.Emit(context.Background(), "tick", map[string]int{"k": k})
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			first = id
		}
	}
	req, _ := http.NewRequestWithContext(ctxTimeout(t, 20*time.Second), "GET", h.hs.URL+"/ipc/listen?event=tick", nil)
	req.Header.Set("Last-Event-ID", strconv.FormatUint(first-1, 10)) // the whole replay, queued at once
	res, err := h.hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sse := newSSE(res.Body)
	for k := range n {
		want := frame{event: "tick", id: strconv.FormatUint(first+uint64(k), 10), data: fmt.Sprintf(`{"k":%d}`, k)}
		if got := sse.nextData(t); got != want {
			t.Fatalf("frame %d: %+v, want %+v", k, got, want)
		}
	}

}
