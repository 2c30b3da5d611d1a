package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tether-ipc/tether"
)

// sseWriteTimeout bounds each write to an SSE stream, pushed or relayed: a
// client that stops reading for this long is dropped, and its stream ends.
var sseWriteTimeout = 30 * time.Second // a variable for tests

// sseWriter writes Server-Sent Events frames, each written out at once.
// Its methods may be called from several goroutines.
type sseWriter struct {
	mu  sync.Mutex
	out func([]byte) error // writes and flushes
	buf bytes.Buffer
	err error // the first failure, or why the stream was shut: later writes fail with it
}

// raw writes out what fill appends (frames encoded already). The frames
// are put together in a buffer lent for the write (out never keeps it), so
// that neither an idle stream nor a busy one holds or makes a buffer of its
// own per write.
func (s *sseWriter) raw(fill func([]byte) []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if s.buf.Len() > 0 { // not the case: every write empties it
		b := fill(s.buf.AvailableBuffer())
		s.buf.Write(b)
		return s.flush()
	}
	bp := rawBufs.Get().(*[]byte)
	b := fill((*bp)[:0])
	var err error
	if len(b) > 0 {
		if err = s.out(b); err != nil {
			s.err = err
		}
	}
	if cap(b) <= maxRawBuf {
		*bp = b[:0]
		rawBufs.Put(bp)
	}
	return err
}

// rawBufs lends raw its buffers; those grown past maxRawBuf by a large
// batch are not kept.
var rawBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxRawBuf = 64 << 10

// shut makes every later write fail with err (the stream is ending).
func (s *sseWriter) shut(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// startSSE writes the stream's headers and returns a writer for the stream
// (see responseSSE for its deadlines).
func startSSE(w http.ResponseWriter, retry time.Duration) (*sseWriter, error) {
	s := responseSSE(w)
	sseHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	return s, s.start(retry)
}

// responseSSE is an sseWriter on w. It lifts the server's read deadline,
// which must not cut a long-lived stream, and gives each write its own
// deadline (sseWriteTimeout) in place of the server's.
func responseSSE(w http.ResponseWriter) *sseWriter {
	rc := http.NewResponseController(w)
	// Errors mean the writer has no deadlines to set (e.g. a recorder).
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	return &sseWriter{out: func(b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return err
		}
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return nil
	}}
}

// connSSE is an sseWriter on a connection taken over from net/http (a
// pushed listen stream, a page stream). Each write has its own deadline
// (sseWriteTimeout); a failed one calls cancel: the client is gone, or not
// reading.
func connSSE(conn net.Conn, cancel context.CancelFunc) *sseWriter {
	return &sseWriter{out: func(b []byte) error {
		err := conn.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
		if err == nil {
			_, err = conn.Write(b)
		}
		if err != nil {
			cancel()
		}
		return err
	}}
}

// pingTimer returns a timer that writes a ping comment to sse every d (a
// failed one calls cancel instead) for a stream that keeps it in *slot
// under mu: the caller stores it there, and sets *slot to nil (after Stop)
// when the stream ends, which ends the pings. A timer in place of a ticker
// and a goroutine: an idle stream holds no goroutine for its pings.
func pingTimer(mu *sync.Mutex, slot **time.Timer, d time.Duration, sse *sseWriter, cancel context.CancelFunc) *time.Timer {
	return time.AfterFunc(d, func() {
		if sse.comment("ping") != nil {
			cancel()
			return
		}
		mu.Lock()
		if *slot != nil {
			(*slot).Reset(d)
		}
		mu.Unlock()
	})
}

func sseHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
}

// start writes the retry line, or nothing but the headers' flush.
func (s *sseWriter) start(retry time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(appendRetry(s.buf.AvailableBuffer(), retry))
	return s.flush()
}

// appendRetry appends the retry line that tells an EventSource how long
// to wait before it reconnects (nothing for 0).
func appendRetry(b []byte, retry time.Duration) []byte {
	if retry <= 0 {
		return b
	}
	b = append(b, "retry: "...)
	b = strconv.AppendInt(b, retry.Milliseconds(), 10)
	return append(b, "\n\n"...)
}

// frame writes one event. event and id must be single-line (they are
// validated names and numbers); data may span lines.
func (s *sseWriter) frame(event, id string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.add(event, id, data)
	return s.flush()
}

// add buffers one event frame; s.mu is held.
func (s *sseWriter) add(event, id string, data []byte) {
	if event != "" {
		s.buf.WriteString("event: " + event + "\n")
	}
	if id != "" {
		s.buf.WriteString("id: " + id + "\n")
	}
	writeData(&s.buf, data)
	s.buf.WriteByte('\n')
}

// comment writes a comment line (": ping"), which keeps proxies and
// browsers from timing the stream out.
func (s *sseWriter) comment(text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.WriteString(": " + text + "\n\n")
	return s.flush()
}

// fail writes the error frame that ends a failed stream.
func (s *sseWriter) fail(err error) error {
	body, mErr := json.Marshal(publicError(err))
	if mErr != nil {
		body = []byte(`{"code":"internal","message":"error not encodable"}`)
	}
	return s.frame("error", "", body)
}

// flush writes out the buffer; s.mu is held. A buffer grown by a large
// frame is let go, so that an idle stream holds little.
func (s *sseWriter) flush() error {
	if s.err != nil {
		s.buf.Reset()
		return s.err
	}
	err := s.out(s.buf.Bytes())
	if err != nil {
		s.err = err
	}
	if s.buf.Cap() > 4096 {
		s.buf = bytes.Buffer{}
	}
	s.buf.Reset()
	return err
}

// writeData writes data as "data:" lines: compact JSON stays on one line;
// anything else is split at line breaks, which SSE joins back with "\n".
func writeData(b *bytes.Buffer, data []byte) {
	var c bytes.Buffer
	if json.Valid(data) && json.Compact(&c, data) == nil {
		data = c.Bytes()
	}
	text := strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\r", "\n")
	for line := range strings.SplitSeq(text, "\n") {
		b.WriteString("data: ")
		b.WriteString(line)
		b.WriteByte('\n')
	}
}

// ParseLastEventID parses the id a reconnecting EventSource sends in
// Last-Event-ID: a decimal uint64 (surrounding spaces allowed). "" is 0,
// meaning "from now".
func ParseLastEventID(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if len(s) > 20 {
		return 0, tether.NewError(tether.CodeInvalidArgument, "Last-Event-ID is not an event id")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, tether.Errorf(tether.CodeInvalidArgument, "Last-Event-ID %q is not an event id", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, tether.Errorf(tether.CodeInvalidArgument, "Last-Event-ID %q is out of range", s)
	}
	return n, nil
}

// receive reads a gRPC stream on a goroutine of its own, so that the
// caller can wait on messages, pings and its context at once. msgs closes
// after the stream ends; errc then holds why (io.EOF at a clean end). The
// caller cancels ctx and drains msgs to end the goroutine.
func receive[T any](ctx context.Context, recv func() (T, error)) (msgs <-chan T, errc <-chan error) {
	out := make(chan T)
	ec := make(chan error, 1)
	go func() {
		defer close(out)
		for {
			m, err := recv()
			if err != nil {
				ec <- err
				return
			}
			select {
			case out <- m:
			case <-ctx.Done():
				ec <- ctx.Err()
				return
			}
		}
	}()
	return out, ec
}

// relay writes what recv gives to sse with write, until write reports the
// end, the stream fails (an error frame; a clean end of the stream before
// write said so is reported as ended), the client goes, or the gateway shuts
// down. A ping comment keeps idle streams alive. It cancels ctx and waits for
// the receiving goroutine before it returns.
func relay[T any](g *Gateway, ctx context.Context, cancel context.CancelFunc, sse *sseWriter,
	recv func() (T, error), write func(T) (done bool, err error), ended func() error) {
	msgs, errc := receive(ctx, recv)
	defer func() {
		cancel()
		for range msgs { // let the receiver end before returning
		}
	}()
	ping := time.NewTicker(g.cfg.ping)
	defer ping.Stop()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				err := <-errc
				if errors.Is(err, io.EOF) {
					if err = ended(); err == nil {
						return // a clean end
					}
				}
				if ctx.Err() == nil || g.ctx.Err() != nil {
					sse.fail(err) //nolint:errcheck // the stream ends either way
				}
				return
			}
			if done, err := write(m); done || err != nil {
				return // finished, or the client is gone
			}
		case <-ping.C:
			if err := sse.comment("ping"); err != nil {
				return
			}
		case <-ctx.Done():
			if g.ctx.Err() != nil {
				sse.fail(errGatewayGone) //nolint:errcheck
			}
			return
		}
	}
}
