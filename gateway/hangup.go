package gateway

import (
	"net"
	"sync"
)

// hangups tells when the clients of pushed SSE streams go. An EventSource
// sends nothing after its request, so a connection that becomes readable
// has been closed by the client (or is misused): its stream ends. On Linux
// one goroutine watches every connection with epoll (hangup_linux.go), so
// that an idle listener needs no reader goroutine of its own; elsewhere,
// or if epoll is unavailable, each connection gets a small reader.
type hangups struct {
	once sync.Once
	p    *poller // nil: readers
	wg   sync.WaitGroup
}

// watch calls gone once when conn's client closes it or sends anything.
// stop ends the watch; call it before closing conn. gone may still run
// after stop (a reader sees the close): it must be harmless then.
func (h *hangups) watch(conn net.Conn, gone func()) (stop func()) {
	h.once.Do(func() { h.p = newPoller(&h.wg) })
	if h.p != nil {
		if stop, ok := h.p.watch(conn, gone); ok {
			return stop
		}
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		var b [1]byte
		conn.Read(b[:]) //nolint:errcheck // input or an error: either way the client is done
		gone()
	}()
	return func() {} // the reader ends when conn closes
}

// close stops the watcher; the connections must be closed already or
// closing, so that readers end.
func (h *hangups) close() {
	h.once.Do(func() {})
	if h.p != nil {
		h.p.close()
	}
	h.wg.Wait()
}
