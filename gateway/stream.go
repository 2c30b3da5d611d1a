package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/inproc"
)

// The page stream: one SSE connection per page that carries all of its
// event subscriptions and the messages of its channels, so that a page
// with many listeners and open channels still holds one of the browser's
// six HTTP/1.1 connections per origin.
//
//	GET  /ipc/stream                  SSE; the response's Tether-Stream
//	                                  header (and a first "tether.open"
//	                                  frame) gives the stream's id
//	POST /ipc/stream/{id}/listen      {"id": SUB, "events": [...], "after": "N"}
//	                                  → {"id": SUB} once subscribed
//	POST /ipc/stream/{id}/unlisten    {"id": SUB}
//	POST /ipc/invoke/{command}        with Tether-Stream: ID (and
//	                                  Tether-Channels: 1,2 naming the
//	                                  call's channels): the channels'
//	                                  messages go to the stream
//
// Event frames are those of GET /ipc/listen (event: NAME, id: N, data:),
// encoded once per event for every stream. Other frames have event names
// no user event can have: tether.channel {"id","index","message" | "bytes"
// | "end"} or {"id","gone":true,"error"}; tether.lagged {"id": SUB,
// "dropped", "resume_after"}; tether.unlisten {"id": SUB, "error"} when
// the core ended a subscription; error, when the stream ends.
//
// Only a request with the stream's own client label and origin may use
// it. A stream ends when its client goes (or stops reading for 30 s), and
// with it every subscription and channel call on it; the client opens a
// new one and subscribes again with each subscription's last id ("after"),
// which resumes without loss while the core's window holds the events.

// Headers of the page stream.
const (
	// StreamHeader names the page stream an invoke's channels deliver to.
	StreamHeader = "Tether-Stream"
	// ChannelsHeader lists the ids of an invoke's channels (1,2,3).
	ChannelsHeader = "Tether-Channels"
	// ChannelFramesHeader, on the response of an invoke with channels,
	// counts the frames each channel had before the result ("5=3,6=0"):
	// the client resolves the invoke once it has them all.
	ChannelFramesHeader = "Tether-Channel-Frames"
)

// Bounds of the page streams (the streams of one caller: WithMaxPageStreams).
const (
	maxSubsPerStream  = 256
	maxCallsPerStream = 256
	maxCallChannels   = 64
)

// pages is the gateway's table of page streams.
type pages struct {
	mu       sync.Mutex
	byID     map[string]*pageStream
	byCaller map[string]int // open streams by callerOf
}

type pageStream struct {
	g      *Gateway
	id     string
	who    identity
	ctx    context.Context
	cancel context.CancelFunc
	sse    *sseWriter // set once, before ready is closed
	ready  chan struct{}
	conn   net.Conn // taken over from net/http, or nil
	done   chan struct{}

	mu    sync.Mutex
	subs  map[string]*pageSub
	calls int
	ping  *time.Timer
}

// errNoStream starts with the words clients look for: the stream they
// named is gone, so they open a new one and try again.
var (
	errNoStream   = tether.NewError(tether.CodeNotFound, "no such page stream (it ended, or belongs to another client): open a new one")
	errStreamGone = tether.NewError(tether.CodeUnavailable, "the page stream ended")
)

type pageSub struct {
	cancel     context.CancelFunc
	unlistened bool
}

func (p *pages) open(g *Gateway, who identity) (*pageStream, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, tether.Errorf(tether.CodeInternal, "stream id: %v", err)
	}
	ps := &pageStream{g: g, id: base64.RawURLEncoding.EncodeToString(raw[:]), who: who,
		subs: map[string]*pageSub{}, ready: make(chan struct{}), done: make(chan struct{})}
	ps.ctx, ps.cancel = context.WithCancel(g.ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byID == nil {
		p.byID, p.byCaller = map[string]*pageStream{}, map[string]int{}
	}
	if p.byCaller[callerOf(who)] >= g.cfg.maxPageStreams {
		ps.cancel()
		return nil, tether.Errorf(tether.CodeResourceExhausted, "this caller of client %q has %d page streams open: close one first", who.label, g.cfg.maxPageStreams)
	}
	p.byID[ps.id] = ps
	p.byCaller[callerOf(who)]++
	return ps, nil
}

func (p *pages) remove(ps *pageStream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byID[ps.id] == ps {
		delete(p.byID, ps.id)
		if k := callerOf(ps.who); p.byCaller[k] > 1 {
			p.byCaller[k]--
		} else {
			delete(p.byCaller, k)
		}
	}
}

// get returns the stream id if who may use it, once its writer is in
// place: the id reaches the page in the response's headers, and the page may
// use it before the gateway has taken the connection over.
func (p *pages) get(id string, who identity) (*pageStream, error) {
	p.mu.Lock()
	ps := p.byID[id]
	p.mu.Unlock()
	if ps == nil || ps.who.label != who.label || crossOrigin(ps.who) != crossOrigin(who) {
		return nil, errNoStream
	}
	select {
	case <-ps.ready:
	case <-ps.ctx.Done():
	}
	if ps.ctx.Err() != nil {
		return nil, errNoStream
	}
	return ps, nil
}

// callerOf is who the page-stream bound counts: the caller within the
// label (a browser session, a bearer's host), or the label if none is known.
func callerOf(who identity) string {
	if who.caller != "" {
		return who.caller
	}
	return who.label
}

// crossOrigin is the origin of a cross-origin caller, "" for the gateway's
// own pages and callers without an Origin (a same-origin GET sends none, a
// same-origin POST does: they are the same page).
func crossOrigin(who identity) string {
	if who.cross {
		return who.origin
	}
	return ""
}

// serveStream answers GET /ipc/stream: the page's stream. Over HTTP/1.x
// the connection is taken over from net/http, as pushed listen streams
// are; otherwise this handler stays until the stream ends.
func (g *Gateway) serveStream(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	who := identityFrom(r.Context())
	if !g.track() {
		writeError(w, 0, errGatewayGone)
		return
	}
	ps, err := g.pages.open(g, who)
	if err != nil {
		g.streams.Done()
		writeError(w, 0, err)
		return
	}
	h := w.Header()
	sseHeaders(h)
	h.Set(StreamHeader, ps.id)
	if who.cross {
		h.Set("Access-Control-Expose-Headers", StreamHeader)
	}
	var hijacked bool
	if r.ProtoMajor == 1 {
		h.Set("Transfer-Encoding", "identity")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		if err := rc.Flush(); err == nil {
			if conn, _, err := rc.Hijack(); err == nil {
				hijacked = true
				ps.conn = conn
				unwatch := g.hangups.watch(conn, ps.cancel)
				ps.sse = connSSE(conn, ps.cancel)
				context.AfterFunc(ps.ctx, func() {
					ps.finish()
					unwatch()
					conn.Close()
					close(ps.done)
					g.streams.Done()
				})
			}
		}
	} else {
		w.WriteHeader(http.StatusOK)
	}
	if !hijacked {
		ps.sse = responseSSE(w)
		stop := context.AfterFunc(r.Context(), ps.cancel)
		defer stop()
	}
	close(ps.ready)
	err = ps.sse.raw(func(b []byte) []byte {
		return fmt.Appendf(appendRetry(b, g.cfg.retry), "event: tether.open\ndata: {\"stream\":%q}\n\n", ps.id)
	})
	if err != nil {
		ps.cancel()
	}
	ps.armPing()
	if !hijacked {
		<-ps.ctx.Done()
		ps.finish()
		close(ps.done)
		g.streams.Done()
	}
}

// finish ends the stream: its subscriptions and calls end with its
// context; a gateway shutting down says so in a last frame.
func (ps *pageStream) finish() {
	ps.g.pages.remove(ps)
	ps.mu.Lock()
	if ps.ping != nil {
		ps.ping.Stop()
		ps.ping = nil
	}
	ps.mu.Unlock()
	if ps.g.ctx.Err() != nil {
		if ps.conn != nil {
			_ = ps.conn.SetWriteDeadline(time.Now().Add(time.Second))
		}
		ps.sse.fail(errGatewayGone) //nolint:errcheck // the stream ends either way
	}
	ps.sse.shut(errClientGone)
}

func (ps *pageStream) armPing() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.ctx.Err() != nil {
		return
	}
	ps.ping = pingTimer(&ps.mu, &ps.ping, ps.g.cfg.ping, ps.sse, ps.cancel)
}

// callContext is the context of a call made for the stream: it carries
// the request's values (its trace) and the stream's identity, and ends
// with the stream.
func (ps *pageStream) callContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	stop := context.AfterFunc(ps.ctx, cancel)
	ctx = metadata.NewOutgoingContext(ctx, streamMD(ps.who))
	return ctx, func() { stop(); cancel() }
}

type subRequest struct {
	ID     string   `json:"id"`
	Events []string `json:"events"`
	After  string   `json:"after,omitempty"`
}

// readJSONBody decodes a small JSON request body into v.
func readJSONBody(r *http.Request, v any) error {
	if r.Body == nil {
		return tether.NewError(tether.CodeInvalidArgument, "missing body")
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return tether.Errorf(tether.CodeInvalidArgument, "invalid body: %v", err)
	}
	return nil
}

func validSubID(id string) error {
	if id == "" || len(id) > 64 {
		return tether.NewError(tether.CodeInvalidArgument, "a subscription id is 1 to 64 letters, digits, '-' or '_'")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return tether.NewError(tether.CodeInvalidArgument, "a subscription id is 1 to 64 letters, digits, '-' or '_'")
		}
	}
	return nil
}

// serveStreamListen answers POST /ipc/stream/{id}/listen: it subscribes
// the stream to events through the core's Listen (its interceptor chain
// decides, as for GET /ipc/listen) and answers once the subscription
// exists.
func (g *Gateway) serveStreamListen(w http.ResponseWriter, r *http.Request, params map[string]string) {
	ps, err := g.pages.get(params["id"], identityFrom(r.Context()))
	if err != nil {
		writeError(w, 0, err)
		return
	}
	var body subRequest
	if err := readJSONBody(r, &body); err != nil {
		writeError(w, 0, err)
		return
	}
	if err := validSubID(body.ID); err != nil {
		writeError(w, 0, err)
		return
	}
	if err := checkEvents(body.Events, "a subscription names at least one event"); err != nil {
		writeError(w, 0, err)
		return
	}
	after, err := ParseLastEventID(body.After)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	// A subscription's context holds nothing of its request (it lasts as
	// long as the stream): the identity, as metadata.
	ctx, cancel := context.WithCancel(ps.ctx)
	ctx = metadata.NewOutgoingContext(ctx, streamMD(ps.who))
	sub := &pageSub{cancel: cancel}
	ps.mu.Lock()
	switch {
	case ps.subs[body.ID] != nil:
		err = tether.Errorf(tether.CodeAlreadyExists, "subscription %q exists on this stream", body.ID)
	case len(ps.subs) >= maxSubsPerStream:
		err = tether.Errorf(tether.CodeResourceExhausted, "a page stream holds at most %d subscriptions", maxSubsPerStream)
	default:
		ps.subs[body.ID] = sub
	}
	ps.mu.Unlock()
	if err != nil {
		cancel()
		writeError(w, 0, err)
		return
	}
	ready := make(chan error, 1)
	subID := body.ID
	push := &inproc.Push{
		Header: func(md metadata.MD) error {
			if len(md.Get(tether.MetadataSubscribed)) == 0 {
				ready <- errNotStarted
				return errNotStarted
			}
			ready <- nil
			return nil
		},
		Send: func(m any) error {
			return ps.sse.raw(func(b []byte) []byte { return appendListen(b, subID, m) })
		},
	}
	req := &tetherv1.ListenRequest{Events: body.Events, AfterId: after, MaxBatch: listenBatch}
	stream, err := g.ipc.Listen(ctx, req, push)
	if err != nil {
		ps.endSub(subID, sub, err)
		writeError(w, 0, err)
		return
	}
	if !g.track() {
		ps.endSub(subID, sub, errGatewayGone)
		writeError(w, 0, errGatewayGone)
		return
	}
	if push.Taken {
		go func() {
			defer g.streams.Done()
			err := stream.RecvMsg(new(tetherv1.ListenResponse))
			select {
			case ready <- err:
			default:
			}
			ps.endSub(subID, sub, err)
		}()
	} else {
		go func() {
			defer g.streams.Done()
			err := g.relaySub(ps, subID, stream, ready)
			ps.endSub(subID, sub, err)
		}()
	}
	select {
	case err = <-ready:
	case <-r.Context().Done():
		err = tether.FromError(r.Context().Err())
	}
	if err != nil {
		sub.cancel()
		if errors.Is(err, io.EOF) {
			err = errNotStarted
		}
		writeError(w, 0, err)
		return
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, "{\"id\":%q}\n", subID)
}

// relaySub relays a gRPC Listen stream (a core in another process) to the
// page stream.
func (g *Gateway) relaySub(ps *pageStream, subID string, stream grpc.ClientStream, ready chan<- error) error {
	md, err := stream.Header()
	if err == nil && len(md.Get(tether.MetadataSubscribed)) == 0 {
		err = errNotStarted
	}
	ready <- err
	if err != nil {
		return err
	}
	for {
		m := new(tetherv1.ListenResponse)
		if err := stream.RecvMsg(m); err != nil {
			return err
		}
		if err := ps.sse.raw(func(b []byte) []byte { return appendListen(b, subID, m) }); err != nil {
			return err
		}
	}
}

// endSub forgets a subscription the core has ended; unless the page asked
// for it (or the stream is gone), it tells the page why, so that it can
// subscribe again.
func (ps *pageStream) endSub(id string, sub *pageSub, err error) {
	sub.cancel()
	ps.mu.Lock()
	if ps.subs[id] == sub {
		delete(ps.subs, id)
	}
	told := sub.unlistened
	sub.unlistened = true
	ps.mu.Unlock()
	if told || ps.ctx.Err() != nil {
		return
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = errStreamEnded
	}
	body, mErr := json.Marshal(publicError(err))
	if mErr != nil {
		return
	}
	ps.sse.raw(func(b []byte) []byte { //nolint:errcheck // the stream may be gone
		return fmt.Appendf(b, "event: tether.unlisten\ndata: {\"id\":%q,\"error\":%s}\n\n", id, body)
	})
}

// serveStreamUnlisten answers POST /ipc/stream/{id}/unlisten.
func (g *Gateway) serveStreamUnlisten(w http.ResponseWriter, r *http.Request, params map[string]string) {
	ps, err := g.pages.get(params["id"], identityFrom(r.Context()))
	if err != nil {
		writeError(w, 0, err)
		return
	}
	var body struct {
		ID string `json:"id"`
	}
	if err := readJSONBody(r, &body); err != nil {
		writeError(w, 0, err)
		return
	}
	ps.mu.Lock()
	sub := ps.subs[body.ID]
	if sub != nil {
		sub.unlistened = true
		delete(ps.subs, body.ID)
	}
	ps.mu.Unlock()
	if sub != nil {
		sub.cancel()
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Cache-Control", "no-store")
	io.WriteString(w, "{}\n") //nolint:errcheck
}

// parseChannels reads the Tether-Channels header: the call's channel ids.
func parseChannels(h string) ([]uint64, error) {
	var ids []uint64
	for part := range strings.SplitSeq(h, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, err := strconv.ParseUint(part, 10, 53)
		if err != nil {
			return nil, tether.Errorf(tether.CodeInvalidArgument, "%s: %q is not a channel id", ChannelsHeader, clip(part))
		}
		if len(ids) == maxCallChannels {
			return nil, tether.Errorf(tether.CodeInvalidArgument, "at most %d channels per call", maxCallChannels)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// serveStreamCall runs an invoke whose channels deliver to a page stream:
// their messages go to the stream as they come, the result is the
// response (with the count of frames each channel had before it), and the
// call goes on after the response until its channels are closed or the
// stream ends.
func (g *Gateway) serveStreamCall(w http.ResponseWriter, r *http.Request, req *tetherv1.InvokeRequest, streamID string) {
	ps, err := g.pages.get(streamID, identityFrom(r.Context()))
	if err != nil {
		writeError(w, 0, err)
		return
	}
	ids, err := parseChannels(r.Header.Get(ChannelsHeader))
	if err != nil {
		writeError(w, 0, err)
		return
	}
	ctx, cancel := ps.callContext(r)
	c := &streamCall{ps: ps, ids: ids, counts: map[uint64]int{}, ended: map[uint64]bool{}, cancel: cancel}
	ps.mu.Lock()
	full := ps.calls >= maxCallsPerStream
	ps.calls++
	ps.mu.Unlock()
	if full {
		err := tether.Errorf(tether.CodeResourceExhausted, "a page stream carries at most %d calls with open channels", maxCallsPerStream)
		c.finish(err)
		writeError(w, 0, err)
		return
	}
	stream, err := g.ipc.Channel(ctx, req)
	if err != nil {
		c.finish(err)
		writeError(w, 0, err)
		return
	}
	for {
		m, err := stream.Recv()
		if err != nil {
			switch {
			case ps.ctx.Err() != nil:
				err = errStreamGone
			case errors.Is(err, io.EOF):
				err = tether.NewError(tether.CodeInternal, "the call ended without a result")
			}
			c.finish(err)
			writeError(w, 0, err)
			return
		}
		if res := m.GetResult(); res != nil {
			w.Header().Set(ChannelFramesHeader, c.frames())
			if identityFrom(r.Context()).cross {
				w.Header().Set("Access-Control-Expose-Headers", ChannelFramesHeader)
			}
			writePayload(w, res.GetResult())
			break
		}
		if err := c.write(m); err != nil {
			c.finish(err)
			writeError(w, 0, err)
			return
		}
	}
	if !g.track() {
		c.finish(errGatewayGone)
		return
	}
	go func() {
		defer g.streams.Done()
		for {
			m, err := stream.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				c.finish(err)
				return
			}
			if err := c.write(m); err != nil {
				c.finish(err)
				return
			}
		}
	}()
}

// streamCall is an invoke with channels on a page stream.
type streamCall struct {
	ps     *pageStream
	ids    []uint64
	counts map[uint64]int
	ended  map[uint64]bool
	cancel context.CancelFunc
	once   sync.Once
}

func (c *streamCall) write(m *tetherv1.ChannelMessage) error {
	if m.GetResult() != nil {
		return nil
	}
	c.counts[m.GetChannel()]++
	if m.GetEnd() {
		c.ended[m.GetChannel()] = true
	}
	return c.ps.sse.raw(func(b []byte) []byte { return appendChannel(b, m) })
}

// frames is the Tether-Channel-Frames value: frames per channel so far.
func (c *streamCall) frames() string {
	var sb strings.Builder
	for ch, n := range c.counts {
		if sb.Len() > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatUint(ch, 10))
		sb.WriteByte('=')
		sb.WriteString(strconv.Itoa(n))
	}
	return sb.String()
}

// finish ends the call: the channels that got no end are told they are
// gone (with why, if the call failed).
func (c *streamCall) finish(err error) {
	c.once.Do(func() {
		c.cancel()
		c.ps.mu.Lock()
		c.ps.calls--
		c.ps.mu.Unlock()
		if c.ps.ctx.Err() != nil {
			return
		}
		var body []byte
		if err != nil {
			body, _ = json.Marshal(publicError(err))
		}
		c.ps.sse.raw(func(b []byte) []byte { //nolint:errcheck // the stream may be gone
			for _, id := range c.ids {
				if c.ended[id] {
					continue
				}
				if body != nil {
					b = fmt.Appendf(b, "event: tether.channel\ndata: {\"id\":%d,\"gone\":true,\"error\":%s}\n\n", id, body)
				} else {
					b = fmt.Appendf(b, "event: tether.channel\ndata: {\"id\":%d,\"gone\":true}\n\n", id)
				}
			}
			return b
		})
	})
}
