package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// maxListenEvents bounds the event names of one listen request.
const maxListenEvents = 64

// listenRequest builds the ListenRequest of GET /ipc/listen from the event
// query parameters and Last-Event-ID (header, or ?lastEventId= for callers
// that cannot set headers).
func listenRequest(r *http.Request) (*tetherv1.ListenRequest, *tether.Error) {
	q := r.URL.Query()
	events := q["event"]
	if len(events) == 0 {
		return nil, tether.NewError(tether.CodeInvalidArgument, "listen needs at least one ?event=NAME")
	}
	if len(events) > maxListenEvents {
		return nil, tether.Errorf(tether.CodeInvalidArgument, "listen takes at most %d events", maxListenEvents)
	}
	for _, e := range events {
		if err := validName("event", e); err != nil {
			return nil, err
		}
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

// serveListen answers GET /ipc/listen with an SSE stream of the core's
// Listen: one frame per event (event: NAME, id: N, data: payload), lagged
// notices, a ping comment when idle, and an error frame if the stream fails.
// It ends, and ends the upstream call, when the client goes or the gateway
// closes.
func (g *Gateway) serveListen(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	req, rerr := listenRequest(r)
	if rerr != nil {
		writeError(w, 0, rerr)
		return
	}
	ctx, cancel := g.callContext(r)
	defer cancel()
	stream, err := g.ipc.Listen(ctx, req)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	// Answer only once the core has the subscription (its header says so):
	// an emit made after the page's listen resolved is then delivered, and a
	// refused listen gets an ordinary JSON error response.
	md, err := stream.Header()
	if err == nil && len(md.Get(tether.MetadataSubscribed)) == 0 {
		if _, err = stream.Recv(); err == nil || errors.Is(err, io.EOF) {
			err = tether.NewError(tether.CodeUnavailable, "the event stream ended before it started")
		}
	}
	if err != nil {
		writeError(w, 0, err)
		return
	}
	sse, err := startSSE(w, g.cfg.retry)
	if err != nil {
		return
	}
	relay(g, ctx, cancel, sse, stream.Recv, func(m *tetherv1.ListenResponse) (bool, error) {
		return false, writeListen(sse, m)
	}, tether.NewError(tether.CodeUnavailable, "the event stream ended")) // the core is shutting down
}

// listenBatch is how many queued events the core may send the gateway in one
// Listen response; each still becomes an SSE frame of its own, and the
// frames of one batch are flushed together.
const listenBatch = 256

func writeListen(sse *sseWriter, m *tetherv1.ListenResponse) error {
	switch k := m.GetKind().(type) {
	case *tetherv1.ListenResponse_Event:
		addEvent(sse, k.Event)
		return sse.flush()
	case *tetherv1.ListenResponse_Batch:
		for _, ev := range k.Batch.GetEvents() {
			addEvent(sse, ev)
		}
		return sse.flush()
	case *tetherv1.ListenResponse_Lagged:
		return sse.frame("lagged", "", fmt.Appendf(nil, `{"dropped":%d,"resume_after":%d}`,
			k.Lagged.GetDropped(), k.Lagged.GetResumeAfter()))
	}
	return nil
}

// addEvent buffers the SSE frame of one event: event: NAME, id: N and the
// payload as data.
func addEvent(sse *sseWriter, ev *tetherv1.Event) {
	if validName("event", ev.GetName()) != nil {
		return // never let a bad name break the frame syntax
	}
	sse.add(ev.GetName(), strconv.FormatUint(ev.GetId(), 10), payloadJSON(ev.GetPayload()))
}
