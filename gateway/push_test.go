package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/gateway"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/server"
)

// pushEnv is a real core reached through DialInProcess, so that SSE
// listeners are pushed: the core's Listen handler writes to a connection
// the gateway took over. A stream interceptor counts the Listen streams in
// progress and can refuse them.
type pushEnv struct {
	srv    *server.Server
	gw     *gateway.Gateway
	hs     *httptest.Server
	active atomic.Int64
	refuse atomic.Pointer[tether.Error]
}

func newPushEnv(t *testing.T, isolated bool, opts ...gateway.Option) *pushEnv {
	t.Helper()
	e := &pushEnv{}
	count := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if err := e.refuse.Load(); err != nil {
			return err
		}
		e.active.Add(1)
		defer e.active.Add(-1)
		return h(srv, ss)
	}
	sopts := []server.Option{server.WithLogger(quiet), server.WithStreamInterceptors(count)}
	var dial []grpc.DialOption
	if isolated {
		key, err := isolation.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		opener, err := isolation.NewOpener(key)
		if err != nil {
			t.Fatal(err)
		}
		stage, err := isolation.NewStage(key)
		if err != nil {
			t.Fatal(err)
		}
		sopts = append(sopts, server.WithWireInterceptors(isolation.UnaryServerInterceptor(opener), isolation.StreamServerInterceptor(opener)))
		dial = append(dial, isolation.DialOptions(stage)...)
	}
	e.srv = server.New(sopts...)
	conn, err := e.srv.DialInProcess(dial...)
	if err != nil {
		t.Fatal(err)
	}
	e.gw, err = gateway.New(conn, append([]gateway.Option{gateway.WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e.hs = httptest.NewUnstartedServer(e.gw)
	e.hs.Config = e.gw.Server("")
	e.hs.Start()
	t.Cleanup(func() {
		e.gw.Close()
		e.hs.Close()
		conn.Close()
		e.srv.Stop()
	})
	return e
}

// listen opens GET /ipc/listen, checks that the stream was pushed (a body
// that ends with the connection, not chunked) and reads the retry hint.
func (e *pushEnv) listen(t *testing.T, query string, hdr map[string]string) (*sseReader, *http.Response) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxTimeout(t, 20*time.Second), "GET", e.hs.URL+"/ipc/listen?"+query, nil)
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
	if len(res.TransferEncoding) != 0 || !res.Close {
		t.Fatalf("listen was not pushed: transfer-encoding %v, close %v", res.TransferEncoding, res.Close)
	}
	sse := newSSE(res.Body)
	if f, err := sse.next(); err != nil || f.retry == "" {
		t.Fatalf("first frame %+v %v, want a retry hint", f, err)
	}
	return sse, res
}

func (e *pushEnv) emit(t *testing.T, name, payload string) uint64 {
	t.Helper()
	id, err := e.srv.Emit(context.Background(), name, json.RawMessage(payload))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestPushListenFramesAndResume(t *testing.T) {
	for _, isolated := range []bool{false, true} {
		t.Run("isolated="+strconv.FormatBool(isolated), func(t *testing.T) {
			e := newPushEnv(t, isolated)
			sse, res := e.listen(t, "event=a&event=b", nil)
			if n := e.active.Load(); n != 1 {
				t.Fatalf("%d listen streams in the core's chain, want 1", n)
			}
			id1 := e.emit(t, "a", `{"n": 1}`)
			e.emit(t, "c", `{}`)
			id2 := e.emit(t, "b", "\"multi\\nline\"")
			for _, want := range []frame{
				{event: "a", id: strconv.FormatUint(id1, 10), data: `{"n":1}`},
				{event: "b", id: strconv.FormatUint(id2, 10), data: `"multi\nline"`},
			} {
				if got := sse.nextData(t); got != want {
					t.Fatalf("got %+v, want %+v", got, want)
				}
			}
			res.Body.Close()
			waitFor(t, func() bool { return e.active.Load() == 0 })

			// Emitted while no one listens, then resumed from the last id.
			var missed []uint64
			for i := range 3 {
				missed = append(missed, e.emit(t, "a", strconv.Itoa(i)))
			}
			sse2, _ := e.listen(t, "event=a", map[string]string{"Last-Event-ID": strconv.FormatUint(id2, 10)})
			for i, id := range missed {
				if f := sse2.nextData(t); f.id != strconv.FormatUint(id, 10) || f.data != strconv.Itoa(i) {
					t.Fatalf("resumed frame %+v, want id %d", f, id)
				}
			}
		})
	}
}

// The client leaving ends the core's stream at once (the hangup watcher),
// not at the next ping.
func TestPushListenClientGone(t *testing.T) {
	e := newPushEnv(t, false, gateway.WithPingInterval(time.Hour))
	var bodies []*http.Response
	for range 5 {
		_, res := e.listen(t, "event=a", nil)
		bodies = append(bodies, res)
	}
	if n := e.active.Load(); n != 5 {
		t.Fatalf("%d listen streams, want 5", n)
	}
	for i, res := range bodies {
		res.Body.Close()
		waitFor(t, func() bool { return e.active.Load() == int64(4-i) })
	}
}

func TestPushListenRefusedIsJSON(t *testing.T) {
	e := newPushEnv(t, false)
	e.refuse.Store(tether.NewError(tether.CodePermissionDenied, "not for you"))
	res, err := e.hs.Client().Get(e.hs.URL + "/ipc/listen?event=x")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	wantError(t, res.StatusCode, []byte(body), 403, tether.CodePermissionDenied)
}

func TestPushListenPing(t *testing.T) {
	e := newPushEnv(t, false, gateway.WithPingInterval(20*time.Millisecond))
	sse, _ := e.listen(t, "event=quiet", nil)
	for range 2 {
		if f, err := sse.next(); err != nil || f.comment != "ping" {
			t.Fatalf("want a ping comment, got %+v %v", f, err)
		}
	}
}

// A core that shuts down ends pushed streams with an error frame telling
// the client to reconnect.
func TestPushListenCoreShutdown(t *testing.T) {
	e := newPushEnv(t, false)
	sse, _ := e.listen(t, "event=a", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go e.srv.Shutdown(ctx) //nolint:errcheck
	f := sse.nextData(t)
	var te tether.Error
	if f.event != "error" || json.Unmarshal([]byte(f.data), &te) != nil || te.Code() != tether.CodeUnavailable {
		t.Fatalf("last frame %+v", f)
	}
	if _, err := sse.next(); err == nil {
		t.Fatal("the stream goes on after the error frame")
	}
}

// Closing the gateway ends pushed streams (their connections are no longer
// net/http's) with an error frame, and Close waits for them.
func TestPushGatewayCloseEndsStreams(t *testing.T) {
	e := newPushEnv(t, false)
	sse, _ := e.listen(t, "event=a", nil)
	if err := e.gw.Close(); err != nil {
		t.Fatal(err)
	}
	if n := e.active.Load(); n != 0 {
		t.Fatalf("%d listen streams after Close", n)
	}
	f := sse.nextData(t)
	var te tether.Error
	if f.event != "error" || json.Unmarshal([]byte(f.data), &te) != nil || te.Code() != tether.CodeUnavailable || te.Message() != "the gateway is shutting down" {
		t.Fatalf("last frame %+v", f)
	}
	res, err := e.hs.Client().Get(e.hs.URL + "/ipc/listen?event=a")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	wantError(t, res.StatusCode, []byte(body), 503, tether.CodeUnavailable)
}
