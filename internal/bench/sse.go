package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-ipc/tether/internal/stress"
)

// sseClients is how many SSE clients both SSE comparisons hold.
const sseClients = 1000

// sseHub is the minimal SSE server: a handler per client with a channel
// of pre-rendered frames, writing every frame that is waiting in one Write
// and one Flush; the publisher renders each event once.
type sseHub struct {
	mu      sync.Mutex
	clients map[chan []byte]struct{}
	next    uint64
}

func startSSEMin() (*peer, error) {
	h := &sseHub{clients: map[chan []byte]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", h.serve)
	p, err := serveHTTP(kindSSEMin, mux)
	if err != nil {
		return nil, err
	}
	p.hub = h
	return p, nil
}

func (h *sseHub) serve(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "no flusher", 500)
		return
	}
	ch := make(chan []byte, 1024)
	h.mu.Lock()
	h.clients[ch] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.clients, ch)
		h.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(200)
	io.WriteString(w, "retry: 1000\n\n") //nolint:errcheck
	fl.Flush()
	var buf []byte
	for {
		select {
		case <-r.Context().Done():
			return
		case f := <-ch:
			buf = append(buf[:0], f...)
		more:
			for {
				select {
				case f := <-ch:
					buf = append(buf, f...)
				default:
					break more
				}
			}
			if _, err := w.Write(buf); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// publish renders one event and hands it to every client.
func (h *sseHub) publish(name string, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next++
	frame := fmt.Appendf(nil, "event: %s\nid: %d\ndata: %s\n\n", name, h.next, data)
	for ch := range h.clients {
		select {
		case ch <- frame:
		default: // a full client loses the event; the pacing keeps them from filling
		}
	}
}

func (h *sseHub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// sseReader is one SSE client: it counts the events it reads and, when
// lat is set, records emit-to-receive latencies from the payloads' "t".
type sseReader struct {
	got  atomic.Int64
	mu   sync.Mutex
	lat  []time.Duration
	time bool
}

// openSSE opens n SSE clients of url (a connection each, from several
// loopback addresses), waiting for each stream's first bytes; with a token
// (a Tether app's secret) they send it.
func openSSE(ctx context.Context, url, token string, n int, readers []*sseReader) (func(), error) {
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	var wg sync.WaitGroup
	for i := range n {
		d := &net.Dialer{LocalAddr: sourceAddr(i)}
		tr := &http.Transport{DialContext: d.DialContext, DisableCompression: true}
		hc := &http.Client{Transport: tr}
		cctx, cancel := context.WithCancel(ctx)
		req, err := http.NewRequestWithContext(cctx, "GET", url, nil)
		if err != nil {
			cancel()
			closeAll()
			return nil, err
		}
		req.Header.Set("Accept", "text/event-stream")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := hc.Do(req)
		if err != nil {
			cancel()
			closeAll()
			return nil, err
		}
		if res.StatusCode != 200 {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			cancel()
			closeAll()
			return nil, fmt.Errorf("GET %s: %s %s", url, res.Status, b)
		}
		br := bufio.NewReaderSize(res.Body, 16<<10)
		if _, err := br.Peek(1); err != nil {
			res.Body.Close()
			cancel()
			closeAll()
			return nil, err
		}
		r := readers[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.read(br)
		}()
		closers = append(closers, func() { cancel(); res.Body.Close(); tr.CloseIdleConnections() })
	}
	return func() { closeAll(); wg.Wait() }, nil
}

var dataPrefix = []byte("data: ")

func (r *sseReader) read(br *bufio.Reader) {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		if !bytes.HasPrefix(line, dataPrefix) {
			continue
		}
		if r.time {
			if t, ok := stress.StampOf(line[len(dataPrefix):]); ok {
				d := time.Duration(time.Now().UnixNano() - t)
				r.mu.Lock()
				r.lat = append(r.lat, d)
				r.mu.Unlock()
			}
		}
		r.got.Add(1)
	}
}

// sseSide is one server of the SSE comparisons with its clients; emit
// publishes one event on it.
type sseSide struct {
	readers []*sseReader
	emit    func(data []byte) error
	stop    func()
}

// startSSESides starts both servers and their clients: the app's gateway
// with sseClients listeners of GET /ipc/listen, and the minimal hub with
// as many clients.
func startSSESides(ctx context.Context, timed bool) (tether, min *sseSide, err error) {
	mk := func() []*sseReader {
		rs := make([]*sseReader, sseClients)
		for i := range rs {
			rs[i] = &sseReader{time: timed}
		}
		return rs
	}
	t, err := startPeer(kindTether, false)
	if err != nil {
		return nil, nil, err
	}
	tr := mk()
	closeT, err := openSSE(ctx, t.HTTP+"/ipc/listen?event=bench", t.Token, sseClients, tr)
	if err != nil {
		t.stop()
		return nil, nil, err
	}
	srv := t.app.Server()
	tether = &sseSide{readers: tr, stop: func() { closeT(); t.stop() }, emit: func(data []byte) error {
		_, err := srv.Emit(ctx, "bench", json.RawMessage(data))
		return err
	}}
	m, err := startPeer(kindSSEMin, false)
	if err != nil {
		tether.stop()
		return nil, nil, err
	}
	mr := mk()
	closeM, err := openSSE(ctx, m.HTTP+"/events", m.Token, sseClients, mr)
	if err != nil {
		m.stop()
		tether.stop()
		return nil, nil, err
	}
	for m.hub.count() < sseClients { // the handlers register as they start
		time.Sleep(time.Millisecond)
	}
	min = &sseSide{readers: mr, stop: func() { closeM(); m.stop() }, emit: func(data []byte) error {
		m.hub.publish("bench", data)
		return nil
	}}
	return tether, min, nil
}

func runSSEFanout(ctx context.Context, cfg *Config, r *Result) error {
	r.A, r.B = "gateway_sse", "minimal_sse"
	r.SetupA = setup[kindTether] + ", in this process. 1000 clients GET /ipc/listen?event=bench, each on a connection of its own (as 1000 pages' EventSource); the backend emits with a.Server().Emit(ctx, \"bench\", 64 bytes of JSON)"
	r.SetupB = setup[kindSSEMin] + "; 1000 clients GET /events the same way; the publisher renders each event's frame once"
	r.note("Clients on both sides: net/http's Client, a bufio.Reader each, counting the data: lines; the publisher keeps at most %d events ahead of the slowest client, below both sides' queues, so neither drops", paceAhead)
	events := int64(2000)
	if cfg.Quick {
		events = 400
	}
	t, m, err := startSSESides(ctx, false)
	if err != nil {
		return err
	}
	defer m.stop()
	defer t.stop()
	side := func(s *sseSide) side {
		prog := make([]*atomic.Int64, len(s.readers))
		for i, rd := range s.readers {
			prog[i] = &rd.got
		}
		data := stress.Stamp(time.Now())
		return func(ctx context.Context) (values, error) {
			v, err := paceRound(ctx, events, prog, func() error { return s.emit(data) }, nil)
			return values{"rate": v}, err
		}
	}
	def := metricDef{key: "rate", name: "delivery rate", unit: "events/s", goal: Goal{">=", 0.8}}
	return interleave(ctx, cfg, r, "one process, 1000 clients", []metricDef{def}, side(t), side(m))
}

// sseRate is sse_p99_vs_min's emit rate: 100 events per second to 1000
// clients, 100,000 deliveries per second.
const sseRate = 100

func runSSEP99(ctx context.Context, cfg *Config, r *Result) error {
	r.A, r.B = "gateway_sse", "minimal_sse"
	r.SetupA = setup[kindTether] + ", in this process. 1000 clients GET /ipc/listen?event=bench as in sse_fanout_vs_min; the backend emits 100 events per second, each 64 bytes of JSON carrying its emit time"
	r.SetupB = setup[kindSSEMin] + "; 1000 clients; the same events at the same rate"
	r.note("Latency: from just before the emit to the client's reading of the event's data: line, every delivery of the round (100,000 per second)")
	t, m, err := startSSESides(ctx, true)
	if err != nil {
		return err
	}
	defer m.stop()
	defer t.stop()
	dur := max(cfg.Side, time.Second)
	if cfg.Quick {
		dur = 500 * time.Millisecond
	}
	side := func(s *sseSide) side {
		return func(ctx context.Context) (values, error) {
			for _, rd := range s.readers {
				rd.mu.Lock()
				rd.lat = rd.lat[:0]
				rd.mu.Unlock()
			}
			n := int(dur.Seconds() * sseRate)
			tick := time.NewTicker(time.Second / sseRate)
			defer tick.Stop()
			for range n {
				select {
				case <-tick.C:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				if err := s.emit(stress.Stamp(time.Now())); err != nil {
					return nil, err
				}
			}
			want := n * len(s.readers)
			var all []time.Duration
			deadline := time.Now().Add(10 * time.Second)
			for {
				all = all[:0]
				for _, rd := range s.readers {
					rd.mu.Lock()
					all = append(all, rd.lat...)
					rd.mu.Unlock()
				}
				if len(all) >= want || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if len(all) < want {
				return nil, fmt.Errorf("%d of %d deliveries arrived", len(all), want)
			}
			slices.Sort(all)
			return values{"p99": pct(all, 99), "p50": pct(all, 50)}, nil
		}
	}
	defs := []metricDef{{key: "p99", name: "p99 emit → receive", unit: "ns", goal: Goal{"<=", 1.5}}}
	return interleave(ctx, cfg, r, "one process, 1000 clients, 100k deliveries/s", defs, side(t), side(m))
}
