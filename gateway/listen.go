package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/inproc"
)

// maxListenEvents bounds the event names of one listen request.
const maxListenEvents = 64

// listenRequest builds the ListenRequest of GET /ipc/listen from the event
// query parameters and Last-Event-ID (header, or ?lastEventId= for callers
// that cannot set headers).
func listenRequest(r *http.Request) (*tetherv1.ListenRequest, *tether.Error) {
	q := r.URL.Query()
	events := q["event"]
	if err := checkEvents(events, "listen needs at least one ?event=NAME"); err != nil {
		return nil, err
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = q.Get("lastEventId")
	}
	after, err := ParseLastEventID(last)
	if err != nil {
		return nil, tether.FromError(err)
	}
	return &tetherv1.ListenRequest{Events: events, AfterId: after, MaxBatch: listenBatch}, nil
}

// checkEvents checks the event names of one subscription (GET
// /ipc/listen's, a page stream's): 1 to maxListenEvents valid names; none
// is the message for an empty list.
func checkEvents(events []string, none string) *tether.Error {
	if len(events) == 0 {
		return tether.NewError(tether.CodeInvalidArgument, none)
	}
	if len(events) > maxListenEvents {
		return tether.Errorf(tether.CodeInvalidArgument, "a subscription names at most %d events", maxListenEvents)
	}
	for _, e := range events {
		if err := validName("event", e); err != nil {
			return err
		}
	}
	return nil
}

// serveListen answers GET /ipc/listen with an SSE stream of the core's
// Listen: one frame per event (event: NAME, id: N, data: payload), lagged
// notices, a ping comment when idle, and an error frame if the stream fails.
// It ends, and ends the upstream call, when the client goes or the gateway
// closes.
//
// The response is written only once the core has the subscription (its
// "subscribed" header says so): an emit made after the page's listen
// resolved is then delivered, and a refused listen gets an ordinary JSON
// error response.
//
// With a core in the same process (server.DialInProcess) and HTTP/1.x, the
// stream is pushed (see pushListen): the core's handler writes each frame
// straight to the connection, which the gateway takes over from net/http.
// Otherwise the gRPC stream is relayed.
func (g *Gateway) serveListen(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	req, rerr := listenRequest(r)
	if rerr != nil {
		writeError(w, 0, rerr)
		return
	}
	// A pushed stream outlives this handler: its context ends with the
	// gateway, or when cancelled.
	ctx, cancel := context.WithCancel(g.ctx)
	ctx = metadata.NewOutgoingContext(ctx, streamMD(identityFrom(r.Context())))
	var opts []grpc.CallOption
	pl := newPushListen(g, cancel)
	if r.ProtoMajor == 1 {
		opts = append(opts, pl.push)
	}
	stream, err := g.ipc.Listen(ctx, req, opts...)
	if err != nil {
		cancel()
		writeError(w, 0, err)
		return
	}
	if pl.push.Taken {
		pl.serve(w, r, ctx, stream)
		return
	}
	defer context.AfterFunc(r.Context(), cancel)()
	md, err := stream.Header()
	if err == nil && len(md.Get(tether.MetadataSubscribed)) == 0 {
		if _, err = stream.Recv(); err == nil || errors.Is(err, io.EOF) {
			err = errNotStarted
		}
	}
	if err != nil {
		cancel()
		writeError(w, 0, err)
		return
	}
	sse, err := startSSE(w, g.cfg.retry)
	if err != nil {
		cancel()
		return
	}
	relay(g, ctx, cancel, sse, stream.Recv, func(m *tetherv1.ListenResponse) (bool, error) {
		return false, writeListen(sse, m)
	}, func() error { return errStreamEnded }) // the core is shutting down
}

var (
	errNotStarted  = tether.NewError(tether.CodeUnavailable, "the event stream ended before it started")
	errStreamEnded = tether.NewError(tether.CodeUnavailable, "the event stream ended")
	errGatewayGone = tether.NewError(tether.CodeUnavailable, "the gateway is shutting down")
	errClientGone  = errors.New("gateway: the SSE client is gone")
)

// pushListen is an SSE listener whose frames the core's Listen handler
// writes itself, on its own goroutine (the only one the listener has once
// it is idle): the HTTP handler waits for the subscribed header, writes
// the response head, takes the connection over from net/http (whose
// goroutine and 8 KiB of buffers then go) and hands it to the stream. The
// gateway's hangups watcher notices a client that leaves.
type pushListen struct {
	g      *Gateway
	cancel context.CancelFunc
	push   *inproc.Push
	ready  chan metadata.MD // the stream's header, once
	out    chan *sseWriter  // the HTTP handler's answer to it: nil refuses
	ended  chan error       // why the stream ended, once

	sse     *sseWriter // set by header, on the stream's goroutine
	conn    net.Conn   // the connection taken over, or nil
	unwatch func()     // ends the watch for the client's hangup

	mu   sync.Mutex
	ping *time.Timer
}

func newPushListen(g *Gateway, cancel context.CancelFunc) *pushListen {
	l := &pushListen{g: g, cancel: cancel, ready: make(chan metadata.MD, 1),
		out: make(chan *sseWriter, 1), ended: make(chan error, 1)}
	l.push = &inproc.Push{Header: l.header, Send: l.send}
	return l
}

// header runs on the stream's goroutine: it waits for the HTTP handler to
// answer with the writer.
func (l *pushListen) header(md metadata.MD) error {
	l.ready <- md
	l.sse = <-l.out
	// The handshake is over (serve is past both channels): an idle listener
	// need not hold them.
	l.ready, l.out = nil, nil
	if l.sse == nil {
		return errClientGone
	}
	return nil
}

func (l *pushListen) send(m any) error {
	return writeListen(l.sse, m)
}

// serve runs on the HTTP handler's goroutine.
func (l *pushListen) serve(w http.ResponseWriter, r *http.Request, ctx context.Context, stream grpc.ClientStream) {
	g := l.g
	if !g.track() {
		l.cancel()
		writeError(w, 0, errGatewayGone)
		return
	}
	go func() {
		defer g.streams.Done()
		err := stream.RecvMsg(new(tetherv1.ListenResponse))
		l.finish(ctx, err)
		l.ended <- err
	}()
	select {
	case md := <-l.ready:
		if len(md.Get(tether.MetadataSubscribed)) == 0 {
			l.out <- nil
			writeError(w, 0, errNotStarted)
			return
		}
	case err := <-l.ended:
		writeError(w, 0, err)
		return
	case <-r.Context().Done():
		l.out <- nil
		l.cancel()
		return
	}
	// Headers for a body that ends when the connection closes: no
	// chunking, which the connection taken over could not keep up.
	rs := responseSSE(w)
	sseHeaders(w.Header())
	w.Header().Set("Transfer-Encoding", "identity")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		l.out <- nil
		return
	}
	conn, _, err := rc.Hijack()
	if err != nil {
		// A writer that cannot give the connection up: this handler
		// stays, writing through net/http, until the stream ends.
		l.start(rs)
		<-l.ended
		return
	}
	l.conn = conn
	l.unwatch = g.hangups.watch(conn, l.cancel)
	l.start(connSSE(conn, l.cancel))
}

// start writes the retry line, arms the ping and hands the writer to the
// stream.
func (l *pushListen) start(sse *sseWriter) {
	if err := sse.start(l.g.cfg.retry); err != nil {
		l.out <- nil
		return
	}
	l.mu.Lock()
	l.ping = pingTimer(&l.mu, &l.ping, l.g.cfg.ping, sse, l.cancel)
	l.mu.Unlock()
	l.out <- sse
}

// finish runs on the stream's goroutine when it ends: the last frame says
// why, unless the client is gone, and the connection closes.
func (l *pushListen) finish(ctx context.Context, err error) {
	defer l.cancel()
	l.mu.Lock()
	if l.ping != nil {
		l.ping.Stop()
		l.ping = nil
	}
	l.mu.Unlock()
	if l.conn != nil {
		defer func() {
			l.unwatch()
			l.conn.Close()
		}()
	}
	if l.sse == nil {
		return // never started: the HTTP handler answers
	}
	if l.conn != nil {
		_ = l.conn.SetWriteDeadline(time.Now().Add(time.Second))
	}
	switch {
	case l.g.ctx.Err() != nil:
		l.sse.fail(errGatewayGone) //nolint:errcheck // the stream ends either way
	case ctx.Err() != nil:
		// the client is gone: a write or the ping failed
	case errors.Is(err, io.EOF):
		l.sse.fail(errStreamEnded) //nolint:errcheck
	default:
		l.sse.fail(err) //nolint:errcheck
	}
}

// listenResponse is the message a pushed Listen sends: a ListenResponse,
// or a proto message standing for one.
func listenResponse(m any) *tetherv1.ListenResponse {
	if r, ok := m.(*tetherv1.ListenResponse); ok {
		return r
	}
	if p, ok := m.(proto.Message); ok {
		r, _ := p.ProtoReflect().Interface().(*tetherv1.ListenResponse)
		return r
	}
	return nil
}

// listenBatch is how many queued events the core may send the gateway in one
// Listen response; each still becomes an SSE frame of its own, and the
// frames of one batch are flushed together.
const listenBatch = 256

// writeListen writes the frames of one Listen message to a listen stream.
func writeListen(sse *sseWriter, m any) error {
	return sse.raw(func(b []byte) []byte { return appendListen(b, "", m) })
}
