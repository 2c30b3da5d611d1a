package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/inproc"
	"github.com/tether-ipc/tether/internal/jsonargs"
)

// Limits on forwarded headers.
const (
	maxForwardHeaders      = 64
	maxIdempotencyKeyLen   = 256
	contentTypeJSON        = "application/json"
	contentTypeOctets      = "application/octet-stream"
	contentTypeForm        = "application/x-www-form-urlencoded"
	contentTypeProtobuf    = "application/x-protobuf"
	contentTypeEventStream = "text/event-stream"
)

// readBody reads the request body as a payload: JSON (checked to be valid),
// or raw bytes for application/octet-stream. An empty body is no payload.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request, allowRaw bool) (*tetherv1.Payload, bool) {
	raw := false
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != contentTypeJSON {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err == nil && mt == contentTypeJSON:
		case err == nil && mt == contentTypeForm && r.Header.Get("Origin") == "":
			// curl -d's default, from a caller that is not a browser page: the
			// body is still read (and checked) as JSON. Pages must say JSON.
		case err == nil && mt == contentTypeOctets && allowRaw:
			raw = true
		default:
			want := contentTypeJSON
			if allowRaw {
				want += " or " + contentTypeOctets
			}
			writeError(w, http.StatusUnsupportedMediaType,
				tether.Errorf(tether.CodeInvalidArgument, "Content-Type %q is not supported: send %s", clip(ct), want))
			return nil, false
		}
	}
	body, err := readAll(r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, tooLarge(g.cfg.maxBody))
		} else {
			writeError(w, 0, tether.Errorf(tether.CodeCanceled, "reading the body: %v", err))
		}
		return nil, false
	}
	if raw {
		return &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: body}}, true
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, true
	}
	if !jsonargs.Valid(body) {
		writeError(w, 0, tether.NewError(tether.CodeInvalidArgument, "body is not valid JSON"))
		return nil, false
	}
	return &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: body}}, true
}

// readAll reads the body. With a declared Content-Length (ServeHTTP has
// checked it against the limit) the buffer grows as the bytes arrive, four
// times at each step and never past that length, and the body is not copied
// again at the end; a caller that declares much and sends little makes the
// gateway hold at most four times what it sent.
func readAll(r *http.Request) ([]byte, error) {
	n := int(r.ContentLength)
	if n <= 0 {
		return io.ReadAll(r.Body)
	}
	buf := make([]byte, 0, min(n, 64<<10))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), min(4*cap(buf), n))
			copy(nb, buf)
			buf = nb
		}
		m, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF && len(buf) < n {
			return nil, io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
	}
	var one [1]byte
	for range 100 { // a reader that keeps answering (0, nil) is broken
		m, err := r.Body.Read(one[:])
		if m > 0 {
			return nil, errors.New("body longer than its Content-Length")
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, io.ErrNoProgress
}

// notForwarded are the request headers an invoke never passes to the
// command: hop-by-hop ones, the body's framing, cookies (the gateway's own
// origin's, its session secret among them), and the gateway's own
// protocol. Authorization is dropped too when the gateway has a token (it
// is the gateway's secret then, not the app's).
var notForwarded = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "proxy-authorization": true,
	"proxy-authenticate": true, "te": true, "trailer": true, "transfer-encoding": true, "upgrade": true,
	"content-length": true, "cookie": true, "host": true,
	"idempotency-key": true, "last-event-id": true,
}

// lowerHeaders are the lower-case forms of the request headers browsers
// and HTTP clients send most, made once.
var lowerHeaders = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control",
		"Connection", "Content-Length", "Content-Type", "Cookie", "Dnt", "Host", "Idempotency-Key", "If-Modified-Since",
		"If-None-Match", "Last-Event-Id", "Origin", "Pragma", "Priority", "Referer", "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile",
		"Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Te", "Traceparent", "Tracestate",
		"Baggage", "Upgrade", "User-Agent", "X-Forwarded-For", "X-Requested-With", "Tether-Client-Label", "Tether-Stream"} {
		m[k] = strings.ToLower(k)
	}
	return m
}()

// forwarded returns the request headers an invoke passes to its command,
// lower-cased, for InvokeRequest.headers (the command reads them in
// tether.Call.Header, as Tauri's Request gives its headers): every header
// but those of notForwarded, tether-* (the gateway's: Tether-Client-Label,
// Tether-Stream, …) and grpc-*; several values of one are joined with ", ".
func (g *Gateway) forwarded(r *http.Request) (map[string]string, *tether.Error) {
	var out map[string]string
	for k, vs := range r.Header {
		lk, ok := lowerHeaders[k]
		if !ok {
			lk = strings.ToLower(k)
		}
		if notForwarded[lk] || (strings.HasPrefix(lk, "tether-")) || strings.HasPrefix(lk, "grpc-") ||
			(lk == "authorization" && g.cfg.token != "") {
			continue
		}
		if out == nil {
			out = make(map[string]string, min(len(r.Header), maxForwardHeaders))
		}
		if len(out) == maxForwardHeaders {
			return nil, tether.Errorf(tether.CodeInvalidArgument, "more than %d request headers", maxForwardHeaders)
		}
		out[lk] = strings.Join(vs, ", ")
	}
	return out, nil
}

// serveInvoke answers POST /ipc/invoke/{command}: a unary command, or a
// channel command streamed as SSE when the caller accepts text/event-stream.
func (g *Gateway) serveInvoke(w http.ResponseWriter, r *http.Request, params map[string]string) {
	g.invoke(w, r, params["command"])
}

// invoke is serveInvoke of the command name.
func (g *Gateway) invoke(w http.ResponseWriter, r *http.Request, name string) {
	if err := tether.CheckCommandName(name); err != nil {
		writeError(w, 0, err)
		return
	}
	headers, herr := g.forwarded(r)
	if herr != nil {
		writeError(w, 0, herr)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKeyLen {
		writeError(w, 0, tether.Errorf(tether.CodeInvalidArgument, "Idempotency-Key longer than %d bytes", maxIdempotencyKeyLen))
		return
	}
	args, ok := g.readBody(w, r, true)
	if !ok {
		return
	}
	req := &tetherv1.InvokeRequest{Command: name, Args: args, Headers: headers, IdempotencyKey: key}
	if sid := r.Header.Get(StreamHeader); sid != "" {
		g.serveStreamCall(w, r, req, sid)
		return
	}
	if acceptsEventStream(r) {
		g.serveChannel(w, r, req)
		return
	}
	ctx, cancel := g.callContext(r, false)
	defer cancel()
	res, err := g.ipc.Invoke(ctx, req, inproc.HandOff{})
	if err != nil {
		writeError(w, 0, err)
		return
	}
	writePayload(w, res.GetResult())
}

func acceptsEventStream(r *http.Request) bool {
	for _, a := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(a, ",") {
			if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == contentTypeEventStream {
				return true
			}
		}
	}
	return false
}

func writePayload(w http.ResponseWriter, p *tetherv1.Payload) {
	h := w.Header()
	setShared(h, "Cache-Control", hvNoStore)
	setShared(h, "X-Content-Type-Options", hvNoSniff)
	var body []byte
	switch b := p.GetBody().(type) {
	case *tetherv1.Payload_Raw:
		setShared(h, "Content-Type", hvOctets)
		body = b.Raw
	case *tetherv1.Payload_Proto:
		setShared(h, "Content-Type", hvProtobuf)
		body = b.Proto
	case *tetherv1.Payload_Json:
		setShared(h, "Content-Type", hvJSON)
		body = b.Json
	default:
		setShared(h, "Content-Type", hvJSON)
		body = []byte("null")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body) //nolint:errcheck // the client may be gone
}

// payloadJSON renders a payload as a JSON value for an SSE frame: JSON as it
// is, raw and proto bytes as a base64 string, none as null.
func payloadJSON(p *tetherv1.Payload) []byte {
	switch b := p.GetBody().(type) {
	case *tetherv1.Payload_Json:
		if len(b.Json) > 0 && jsonargs.Valid(b.Json) {
			return b.Json
		}
	case *tetherv1.Payload_Raw:
		s, _ := json.Marshal(base64.StdEncoding.EncodeToString(b.Raw))
		return s
	case *tetherv1.Payload_Proto:
		s, _ := json.Marshal(base64.StdEncoding.EncodeToString(b.Proto))
		return s
	}
	return []byte("null")
}

// serveChannel streams a channel command as SSE. Errors before the first
// message are ordinary error responses; after it, an error frame.
func (g *Gateway) serveChannel(w http.ResponseWriter, r *http.Request, req *tetherv1.InvokeRequest) {
	ctx, cancel := g.callContext(r, true)
	defer cancel()
	stream, err := g.ipc.Channel(ctx, req)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	first, err := stream.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = tether.NewError(tether.CodeInternal, "channel ended without an end message")
		}
		writeError(w, 0, err)
		return
	}
	sse, err := startSSE(w, 0)
	if err != nil {
		return
	}
	// A channel command ends with its end (and an empty result, not
	// written); a command with channels in its args sends its result as an
	// "event: result" frame and ends when its channels have.
	sawResult := false
	write := func(m *tetherv1.ChannelMessage) (bool, error) {
		if r := m.GetResult(); r != nil {
			sawResult = true
			return false, sse.frame("result", "", payloadJSON(r.GetResult()))
		}
		return m.GetEnd() && m.GetChannel() == 0, sse.frame("", "", channelFrame(m))
	}
	if done, err := write(first); done || err != nil {
		return
	}
	relay(g, ctx, cancel, sse, stream.Recv, write, func() error {
		if sawResult {
			return nil
		}
		return tether.NewError(tether.CodeInternal, "channel ended without an end message")
	})
}

func channelFrame(m *tetherv1.ChannelMessage) []byte {
	var b []byte
	if ch := m.GetChannel(); ch != 0 {
		b = fmt.Appendf(b, `{"channel":%d,`, ch)
	} else {
		b = append(b, '{')
	}
	if m.GetEnd() {
		return fmt.Appendf(b, `"index":%d,"end":true}`, m.GetIndex())
	}
	return fmt.Appendf(b, `"index":%d,"message":%s}`, m.GetIndex(), payloadJSON(m.GetMessage()))
}

// serveEmit answers POST /ipc/emit/{event}?target=LABEL with {"id":N}.
func (g *Gateway) serveEmit(w http.ResponseWriter, r *http.Request, params map[string]string) {
	name := params["event"]
	if err := validName("event", name); err != nil {
		writeError(w, 0, err)
		return
	}
	target := r.URL.Query().Get("target")
	if target != "" {
		if err := validName("target label", target); err != nil {
			writeError(w, 0, err)
			return
		}
	}
	p, ok := g.readBody(w, r, false)
	if !ok {
		return
	}
	if p == nil {
		p = &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte("null")}}
	}
	ctx, cancel := g.callContext(r, false)
	defer cancel()
	res, err := g.ipc.Emit(ctx, &tetherv1.EmitRequest{Event: name, Payload: p, Target: target})
	if err != nil {
		writeError(w, 0, err)
		return
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "{\"id\":%d}\n", res.GetId())
}
