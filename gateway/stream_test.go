package gateway_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/gateway"
	"github.com/tether-ipc/tether/server"
)

// openStream opens a page stream and returns its id and reader.
func (h *harness) openStream(t *testing.T, ctx context.Context, hdr map[string]string) (string, *sseReader) {
	t.Helper()
	req := h.request(t, "GET", "/ipc/stream", nil, hdr)
	res, err := h.hs.Client().Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != 200 {
		t.Fatalf("GET /ipc/stream: %d %s", res.StatusCode, readAll(t, res))
	}
	id := res.Header.Get(gateway.StreamHeader)
	sse := newSSE(res.Body)
	f := sse.nextData(t)
	if f.event != "tether.open" || !strings.Contains(f.data, id) || id == "" {
		t.Fatalf("first frame %+v, stream id %q", f, id)
	}
	return id, sse
}

func TestPageStreamEvents(t *testing.T) {
	for _, relayed := range []bool{false, true} {
		t.Run(fmt.Sprintf("relayed=%v", relayed), func(t *testing.T) { testPageStreamEvents(t, newHarnessOver(t, relayed)) })
	}
}

func testPageStreamEvents(t *testing.T, h *harness) {
	ctx := ctxTimeout(t, 10*time.Second)
	id, sse := h.openStream(t, ctx, nil)
	status, _, body := h.do(t, "POST", "/ipc/stream/"+id+"/listen", []byte(`{"id":"s1","events":["a"]}`), nil)
	if status != 200 || !strings.Contains(string(body), `"s1"`) {
		t.Fatalf("listen: %d %s", status, body)
	}
	status, _, body = h.do(t, "POST", "/ipc/stream/"+id+"/listen", []byte(`{"id":"s2","events":["b","c"]}`), nil)
	if status != 200 {
		t.Fatalf("listen 2: %d %s", status, body)
	}
	// A duplicate id, a bad name, and another client's request are refused.
	status, _, body = h.do(t, "POST", "/ipc/stream/"+id+"/listen", []byte(`{"id":"s1","events":["a"]}`), nil)
	wantError(t, status, body, 409, tether.CodeAlreadyExists)
	status, _, body = h.do(t, "POST", "/ipc/stream/"+id+"/listen", []byte(`{"id":"s3","events":["a b"]}`), nil)
	wantError(t, status, body, 400, tether.CodeInvalidArgument)
	status, _, body = h.do(t, "POST", "/ipc/stream/nope/listen", []byte(`{"id":"s3","events":["a"]}`), nil)
	wantError(t, status, body, 404, tether.CodeNotFound)

	var ids []uint64
	for _, ev := range []string{"a", "b", "zzz", "c"} {
		id, err := h.srv.Emit(ctx, ev, map[string]int{"n": len(ids)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	got := map[string]string{}
	for len(got) < 3 {
		f := sse.nextData(t)
		got[f.event] = f.data
		if f.id == "" {
			t.Fatalf("event frame without an id: %+v", f)
		}
	}
	if got["a"] != `{"n":0}` || got["b"] != `{"n":1}` || got["c"] != `{"n":3}` {
		t.Fatalf("frames %v", got)
	}
	// Unlisten: later events of that subscription do not come.
	if status, _, body := h.do(t, "POST", "/ipc/stream/"+id+"/unlisten", []byte(`{"id":"s1"}`), nil); status != 200 {
		t.Fatalf("unlisten: %d %s", status, body)
	}
	h.srv.Emit(ctx, "a", 1) //nolint:errcheck
	h.srv.Emit(ctx, "b", 2) //nolint:errcheck
	if f := sse.nextData(t); f.event != "b" || f.data != "2" {
		t.Fatalf("after unlisten: %+v", f)
	}
	// Resume: a subscription with after gets what it missed.
	status, _, body = h.do(t, "POST", "/ipc/stream/"+id+"/listen", []byte(`{"id":"r","events":["a"],"after":"`+uintStr(ids[0]-1)+`"}`), nil)
	if status != 200 {
		t.Fatalf("resume listen: %d %s", status, body)
	}
	if f := sse.nextData(t); f.event != "a" || f.data != `{"n":0}` {
		t.Fatalf("resumed: %+v", f)
	}
}

func uintStr(n uint64) string { return strconv.FormatUint(n, 10) }

type keepArgs struct {
	Steps int                 `json:"steps"`
	A     server.Channel[int] `json:"a"`
	Inner struct {
		B server.Channel[[]byte] `json:"b"`
	} `json:"inner"`
}

func TestPageStreamChannels(t *testing.T) {
	for _, relayed := range []bool{false, true} {
		t.Run(fmt.Sprintf("relayed=%v", relayed), func(t *testing.T) { testPageStreamChannels(t, newHarnessOver(t, relayed)) })
	}
}

func testPageStreamChannels(t *testing.T, h *harness) {
	release := make(chan struct{})
	server.Handle(h.srv, "keep", func(ctx context.Context, a keepArgs) (string, error) {
		for i := 0; i < a.Steps; i++ {
			a.A.Send(i) //nolint:errcheck
		}
		go func() {
			<-release
			a.Inner.B.Send([]byte("hi")) //nolint:errcheck
			a.Inner.B.Close()
			a.A.Close()
		}()
		return "kept", nil
	})
	ctx := ctxTimeout(t, 10*time.Second)
	id, sse := h.openStream(t, ctx, nil)
	hdr := map[string]string{gateway.StreamHeader: id, gateway.ChannelsHeader: "7,8"}
	status, resHdr, body := h.do(t, "POST", "/ipc/invoke/keep", []byte(`{"steps":2,"a":"__CHANNEL__:7","inner":{"b":"__CHANNEL__:8"}}`), hdr)
	if status != 200 || string(body) != `"kept"` || resHdr.Get(gateway.ChannelFramesHeader) != "7=2" {
		t.Fatalf("invoke: %d %s, frames %q", status, body, resHdr.Get(gateway.ChannelFramesHeader))
	}
	for i, want := range []string{`{"id":7,"index":0,"message":0}`, `{"id":7,"index":1,"message":1}`} {
		if f := sse.nextData(t); f.event != "tether.channel" || f.data != want {
			t.Fatalf("frame %d: %+v, want %s", i, f, want)
		}
	}
	close(release) // the handler returned long ago; its channels go on
	for _, want := range []string{`{"id":8,"index":0,"bytes":"aGk="}`, `{"id":8,"index":1,"end":true}`, `{"id":7,"index":2,"end":true}`} {
		if f := sse.nextData(t); f.data != want {
			t.Fatalf("after return: %+v, want %s", f, want)
		}
	}
	// Another client may not put calls on the stream.
	other := map[string]string{gateway.StreamHeader: id, "Origin": "http://evil.example"}
	if status, _, _ := h.do(t, "POST", "/ipc/invoke/keep", []byte(`{}`), other); status == 200 {
		t.Fatal("a call from another origin used the stream")
	}
}

// When the page's stream ends, the calls on it end: their channels are done.
func TestPageStreamEndsCalls(t *testing.T) {
	h := newHarness(t)
	done := make(chan struct{})
	server.Handle(h.srv, "hold", func(ctx context.Context, a struct {
		C server.Channel[int] `json:"c"`
	}) (string, error) {
		go func() { <-a.C.Done(); close(done) }()
		return "ok", nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	id, _ := h.openStream(t, ctx, nil)
	status, _, body := h.do(t, "POST", "/ipc/invoke/hold", []byte(`{"c":"__CHANNEL__:1"}`), map[string]string{gateway.StreamHeader: id, gateway.ChannelsHeader: "1"})
	if status != 200 {
		t.Fatalf("invoke: %d %s", status, body)
	}
	cancel() // the page goes
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the channel outlived its page's stream")
	}
}

// A page's same-origin requests carry an Origin on POSTs but not on GETs:
// they use the page's stream all the same; a request of another label may not.
func TestPageStreamIdentity(t *testing.T) {
	h := newHarness(t, gateway.WithSameOriginLabels("main", "other"))
	ctx := ctxTimeout(t, 10*time.Second)
	id, _ := h.openStream(t, ctx, nil)
	self := map[string]string{"Origin": h.hs.URL}
	if status, _, body := h.do(t, "POST", "/ipc/stream/"+id+"/listen", []byte(`{"id":"a","events":["x"]}`), self); status != 200 {
		t.Fatalf("same-origin POST with Origin: %d %s", status, body)
	}
	status, _, body := h.do(t, "POST", "/ipc/stream/"+id+"/listen", []byte(`{"id":"b","events":["x"]}`), map[string]string{"Tether-Client-Label": "other"})
	wantError(t, status, body, 404, tether.CodeNotFound)
}
