package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tether-ipc/tether/app"
	"github.com/tether-ipc/tether/config"
	"github.com/tether-ipc/tether/examples/demo"
	"github.com/tether-ipc/tether/internal/stress"
)

// The SSE scenario: the app, as `tether serve` runs it, in a process of its
// own on one core (GOMAXPROCS=1, and pinned to CPU 0 with taskset where
// there is one) holds many idle SSE listeners — GET /ipc/listen, one
// connection each, from several loopback source addresses so that there are
// ports enough — then a frontend emits events (POST /ipc/emit/NAME) that fan
// out to every listener. It reports the core's RSS per listener, the
// delivery rate, the emit → receive latency, and whether every listener got
// every event in order.

// coreEnv marks the process started as the scenario's core.
const coreEnv = "TETHER_LOAD_CORE"

type sseParams struct {
	listeners, events int
	interval          time.Duration
	sources           int
	fit               bool // fewer listeners if the open-file limit is lower
	asked             int  // the listeners asked for, when fit made them fewer
	timeout           time.Duration
	markdown          string // a file to write the figures to, as a BENCHMARKS.md section
}

type sseResult struct {
	p                            sseParams
	core                         coreInfo
	rssBefore, rssIdle, rssAfter uint64
	heapBefore, heapIdle         uint64
	openTime                     time.Duration
	deliveries, want             int
	lost, disorder               int
	elapsed                      time.Duration
	lat                          stress.Latencies
	clientRSS                    uint64
}

func (r *sseResult) pass() bool { return r.lost == 0 && r.disorder == 0 && r.deliveries == r.want }

func (r *sseResult) perListener() float64 {
	return (float64(r.rssIdle) - float64(r.rssBefore)) / float64(r.p.listeners)
}

func (r *sseResult) rate() float64 { return float64(r.deliveries) / r.elapsed.Seconds() }

func (r *sseResult) print(w io.Writer) {
	fmt.Fprintf(w, "\nSSE listeners: %d, one connection each, from %d loopback addresses; core on %s\n", r.p.listeners, r.p.sources, r.core.cores)
	fmt.Fprintf(w, "  open        %d listeners in %v\n", r.p.listeners, r.openTime.Round(time.Millisecond))
	fmt.Fprintf(w, "  core RSS    before %s, with the listeners idle %s, after the fan-out %s: %.1f KiB per listener\n",
		stress.MiB(r.rssBefore), stress.MiB(r.rssIdle), stress.MiB(r.rssAfter), r.perListener()/1024)
	fmt.Fprintf(w, "  core heap   before %s, idle %s (HeapInuse+StackInuse after GC): %.1f KiB per listener\n",
		stress.MiB(r.heapBefore), stress.MiB(r.heapIdle), (float64(r.heapIdle)-float64(r.heapBefore))/float64(r.p.listeners)/1024)
	fmt.Fprintf(w, "  fan-out     %d events, one every %v: %d of %d deliveries in %v = %.0f deliveries/s\n",
		r.p.events, r.p.interval, r.deliveries, r.want, r.elapsed.Round(time.Millisecond), r.rate())
	fmt.Fprintf(w, "  latency     emit → receive %s\n", r.lat.Summary())
	fmt.Fprintf(w, "  lost        %d, out of order %d\n", r.lost, r.disorder)
	verdict := "PASS"
	if !r.pass() {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "  result      %s\n", verdict)
}

// section is the scenario's figures as a BENCHMARKS.md section.
func (r *sseResult) section() string {
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	w("## %d idle SSE listeners on one core\n\n", r.p.listeners)
	if r.p.asked > 0 {
		w("Asked for %d listeners; each process here may hold %d open files (the hard limit, which only a process with\n", r.p.asked, r.p.listeners+fdHeadroom)
		w("CAP_SYS_RESOURCE may raise), so this run holds %d. Rerun with a higher `ulimit -n` for the full count.\n\n", r.p.listeners)
	}
	asked := r.p.listeners
	if r.p.asked > 0 {
		asked = r.p.asked
	}
	w("`make load SSE_LISTENERS=%d` (`tether-load -sse %d -sse-fit`): the app as `tether serve` runs it (`config.Default()`,\n", asked, asked)
	w("demo commands, per-call logs, metrics, tracing exported over OTLP/HTTP to a sink in the core's process), in a process of its own on %s, holds %d listeners of\n", r.core.cores, r.p.listeners)
	w("`GET /ipc/listen` — each its own TCP connection, opened from %d loopback addresses (127.0.0.2 and up) so that\n", r.p.sources)
	w("there are ephemeral ports enough — then a client emits %d events through `POST /ipc/emit/load`, one every %v,\n", r.p.events, r.p.interval)
	w("each carrying its emit time; every listener must get every event, in order. The listeners are raw HTTP/1.1\n")
	w("clients in the load program's process (a goroutine and a 4 KiB buffer each). They are all one caller of the app (the\n")
	w("program, sending the bearer secret), so the core runs with `limits.max_streams_per_caller` raised from its default 512.\n\n")
	w("| | |\n|---|---|\n")
	w("| date (UTC) | %s |\n", time.Now().UTC().Format(time.RFC3339))
	w("| listeners opened in | %v |\n", r.openTime.Round(time.Millisecond))
	w("| core RSS before / idle / after the fan-out | %s / %s / %s |\n", stress.MiB(r.rssBefore), stress.MiB(r.rssIdle), stress.MiB(r.rssAfter))
	w("| **RSS per idle listener** | **%.1f KiB** |\n", r.perListener()/1024)
	w("| heap + stacks per idle listener (after GC) | %.1f KiB |\n", (float64(r.heapIdle)-float64(r.heapBefore))/float64(r.p.listeners)/1024)
	w("| deliveries | %d of %d |\n", r.deliveries, r.want)
	w("| **delivery rate** | **%.0f deliveries/s** (first emit to last delivery: %v) |\n", r.rate(), r.elapsed.Round(time.Millisecond))
	w("| emit → receive p50 / p99 / max | %v / %v / %v |\n", round(r.lat.Percentile(50)), round(r.lat.Percentile(99)), round(r.lat.Percentile(100)))
	w("| lost, out of order | %d, %d |\n", r.lost, r.disorder)
	verdict := "PASS"
	if !r.pass() {
		verdict = "FAIL"
	}
	w("| result | %s |\n\n", verdict)
	w("The latency of a fan-out this wide is mostly the fan-out itself: one core writes each event to %d sockets, so\n", r.p.listeners)
	w("the last listener of an event gets it about listeners / delivery rate after the first.\n\n")
	return b.String()
}

func round(d time.Duration) time.Duration {
	switch {
	case d > 10*time.Millisecond:
		return d.Round(time.Millisecond)
	case d > 10*time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d
}

// coreInfo is what the core process reports when it is ready.
type coreInfo struct {
	HTTP  string `json:"http"`
	Token string `json:"token"` // the app's secret, which callers send
	PID   int    `json:"pid"`
	cores string
}

// raiseNoFile lifts the open-file limit to n, as root may (soft and hard).
func raiseNoFile(n uint64) {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil || l.Cur >= n {
		return
	}
	want := syscall.Rlimit{Cur: n, Max: max(n, l.Max)}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) != nil {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l) //nolint:errcheck // as much as allowed
	}
}

// coreMain is the scenario's core process: the app as tether serve runs
// it, its addresses printed as a JSON line; it answers "mem" with its
// memory figures after a full collection, until standard input ends.
func coreMain() {
	raiseNoFile(1 << 20)
	tmp, err := os.MkdirTemp("", "tether-load-core-")
	if err != nil {
		fmt.Println(`{"error":"` + err.Error() + `"}`)
		os.Exit(1)
	}
	defer os.RemoveAll(tmp)
	// Tracing on, as an app with a collector has it: the spans go over
	// OTLP/HTTP to a sink in this process.
	if err := stress.StartTraceSink(); err != nil {
		fmt.Printf("{\"error\":%q}\n", err.Error())
		os.Exit(1)
	}
	cfg := config.Default()
	cfg.GRPC = "127.0.0.1:0"
	cfg.HTTP = "127.0.0.1:0"
	cfg.Data = tmp
	cfg.ShutdownTimeout.Duration = 5 * time.Second
	// Every listener here is one caller (this program, with the bearer
	// secret), where 50,000 browsers would be 50,000 page sessions: the
	// per-caller stream bound (512 by default) is raised as an app serving
	// that many listeners from one relay would raise it.
	cfg.Limits.MaxStreamsPerCaller = 1 << 20
	ready := make(chan app.Ready, 1)
	a, err := app.New(cfg, app.WithOutput(io.Discard, io.Discard), app.WithReady(func(r app.Ready) { ready <- r }))
	if err != nil {
		fmt.Printf("{\"error\":%q}\n", err.Error())
		os.Exit(1)
	}
	demo.New(a.DataDir()).Register(a.Server())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var r app.Ready
	select {
	case r = <-ready:
	case err := <-done:
		fmt.Printf("{\"error\":%q}\n", fmt.Sprint(err))
		os.Exit(1)
	}
	b, _ := json.Marshal(coreInfo{HTTP: r.HTTP, Token: r.Token, PID: os.Getpid()})
	fmt.Println(string(b))
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "mem" {
			runtime.GC()
			debug.FreeOSMemory()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Println(stress.RSS(), ms.HeapInuse+ms.StackInuse)
		}
	}
	cancel()
	<-done
}

// core is the running core process.
type core struct {
	info  coreInfo
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func startCore(timeout time.Duration) (*core, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	cores := "one core (GOMAXPROCS=1)"
	if ts, err := exec.LookPath("taskset"); err == nil && runtime.NumCPU() > 1 {
		cmd = exec.Command(ts, "-c", "0", exe)
		cores = "one core (GOMAXPROCS=1, pinned to CPU 0)"
	} else {
		cmd = exec.Command(exe)
	}
	cmd.Env = append(os.Environ(), coreEnv+"=1", "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &core{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	if !c.out.Scan() {
		c.stop()
		return nil, fmt.Errorf("core: %v", c.out.Err())
	}
	var info struct {
		coreInfo
		Error string `json:"error"`
	}
	if err := json.Unmarshal(c.out.Bytes(), &info); err != nil || info.Error != "" {
		c.stop()
		return nil, fmt.Errorf("core: %s%v", info.Error, err)
	}
	c.info = info.coreInfo
	c.info.cores = cores
	return c, nil
}

// mem asks the core for its RSS and heap + stacks.
func (c *core) mem() (rss, heap uint64, err error) {
	if _, err := fmt.Fprintln(c.stdin, "mem"); err != nil {
		return 0, 0, err
	}
	if !c.out.Scan() {
		return 0, 0, fmt.Errorf("core: %v", c.out.Err())
	}
	_, err = fmt.Sscan(c.out.Text(), &rss, &heap)
	return rss, heap, err
}

func (c *core) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }() //nolint:errcheck
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill() //nolint:errcheck
		<-done
	}
}

// sseListener is one raw SSE client.
type sseListener struct {
	conn    net.Conn
	got     int
	last    uint64
	disord  int
	lat     []time.Duration
	mu      sync.Mutex
	started chan struct{}
}

// open connects from src and sends the GET; the stream is read by read.
func (l *sseListener) open(ctx context.Context, src net.IP, addr, host, token string) error {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	l.conn = conn
	_, err = fmt.Fprintf(conn, "GET /ipc/listen?event=load HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nAuthorization: Bearer %s\r\n\r\n", host, token)
	if err != nil {
		conn.Close()
	}
	return err
}

// read reads the response until the connection closes: it must be 200;
// then it counts the events and their latency.
func (l *sseListener) read() error {
	res, err := http.ReadResponse(bufio.NewReaderSize(l.conn, 4096), nil)
	if err != nil {
		close(l.started)
		return err
	}
	if res.StatusCode != 200 {
		close(l.started)
		return fmt.Errorf("listen: %s", res.Status)
	}
	br := bufio.NewReaderSize(res.Body, 1024)
	first := true
	var id uint64
	for {
		line, err := br.ReadSlice('\n')
		if first {
			first = false
			close(l.started) // the stream's first line (its retry)
		}
		if err != nil {
			return nil
		}
		switch {
		case bytes.HasPrefix(line, []byte("id: ")):
			id, _ = strconv.ParseUint(string(bytes.TrimSpace(line[4:])), 10, 64)
		case bytes.HasPrefix(line, []byte("data: ")):
			t, ok := stress.StampOf(line[6:])
			now := time.Now()
			l.mu.Lock()
			if id <= l.last {
				l.disord++
			}
			l.last = id
			if ok {
				l.got++
				l.lat = append(l.lat, time.Duration(now.UnixNano()-t))
			}
			l.mu.Unlock()
		}
	}
}

// fdHeadroom is what the core and the load program need besides one
// descriptor per listener.
const fdHeadroom = 512

func runSSE(p sseParams) (*sseResult, error) {
	// Both processes hold one descriptor per listener: this program the
	// client end of each connection, the core the server end.
	raiseNoFile(uint64(p.listeners) + fdHeadroom)
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil && l.Cur < uint64(p.listeners)+fdHeadroom {
		if p.fit && l.Cur > 2*fdHeadroom {
			p.asked, p.listeners = p.listeners, int(l.Cur)-fdHeadroom
			fmt.Printf("tether-load: %d listeners need %d open files per process; this machine allows %d (ulimit -Hn; raising it needs CAP_SYS_RESOURCE): holding %d instead\n",
				p.asked, p.asked+fdHeadroom, l.Cur, p.listeners)
			return runSSE(p)
		}
		return nil, fmt.Errorf("%d listeners need %d open files per process, and this machine allows %d (ulimit -Hn; raising it needs CAP_SYS_RESOURCE): run with -sse %d at most, or raise the limit",
			p.listeners, p.listeners+fdHeadroom, l.Cur, int(l.Cur)-fdHeadroom)
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	c, err := startCore(p.timeout)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	r := &sseResult{p: p, core: c.info, want: p.listeners * p.events}
	if r.rssBefore, r.heapBefore, err = c.mem(); err != nil {
		return nil, err
	}
	addr := strings.TrimPrefix(c.info.HTTP, "http://")

	// Open the listeners, 64 at a time, each waiting for its stream's
	// first line.
	ls := make([]*sseListener, p.listeners)
	var readers sync.WaitGroup
	var readErr atomic.Value
	defer func() {
		for _, l := range ls {
			if l != nil && l.conn != nil {
				l.conn.Close()
			}
		}
		readers.Wait()
	}()
	start := time.Now()
	sem := make(chan struct{}, 64)
	var openErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range ls {
		l := &sseListener{started: make(chan struct{}), lat: make([]time.Duration, 0, p.events)}
		ls[i] = l
		src := net.IPv4(127, 0, 0, byte(2+i%p.sources))
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := l.open(ctx, src, addr, addr, c.info.Token); err != nil {
				mu.Lock()
				openErr = errors.Join(openErr, err)
				mu.Unlock()
				close(l.started)
				return
			}
			readers.Add(1)
			go func() {
				defer readers.Done()
				if err := l.read(); err != nil {
					readErr.Store(err)
				}
			}()
			select {
			case <-l.started:
			case <-ctx.Done():
			}
		}()
		mu.Lock()
		failed := openErr != nil
		mu.Unlock()
		if failed {
			break
		}
	}
	wg.Wait()
	if openErr != nil {
		return nil, fmt.Errorf("opening listeners: %w", openErr)
	}
	if err, _ := readErr.Load().(error); err != nil {
		return nil, err
	}
	r.openTime = time.Since(start)
	time.Sleep(2 * time.Second) // let the core's goroutines park
	if r.rssIdle, r.heapIdle, err = c.mem(); err != nil {
		return nil, err
	}

	// Fan out.
	hc := &http.Client{Timeout: p.timeout}
	first := time.Now()
	for k := range p.events {
		if d := time.Until(first.Add(time.Duration(k) * p.interval)); d > 0 {
			time.Sleep(d)
		}
		body := fmt.Sprintf(`{"t":%d,"n":%d}`, time.Now().UnixNano(), k)
		req, err := http.NewRequest(http.MethodPost, c.info.HTTP+"/ipc/emit/load", strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+c.info.Token)
		res, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return nil, fmt.Errorf("emit: %s %s", res.Status, b)
		}
	}
	// Wait for every delivery (bounded), noting when the last arrived.
	deadline := time.Now().Add(max(60*time.Second, time.Duration(p.events)*p.interval))
	var last time.Time
	for {
		n := 0
		for _, l := range ls {
			l.mu.Lock()
			n += l.got
			l.mu.Unlock()
		}
		if n > r.deliveries {
			r.deliveries, last = n, time.Now()
		}
		if n >= r.want || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.elapsed = last.Sub(first)
	for _, l := range ls {
		l.mu.Lock()
		r.lat = append(r.lat, l.lat...)
		r.lost += p.events - l.got
		r.disorder += l.disord
		l.mu.Unlock()
	}
	slices.Sort(r.lat)
	r.rssAfter, _, _ = c.mem()
	if p.markdown != "" {
		if err := os.WriteFile(p.markdown, []byte(r.section()), 0o644); err != nil {
			return nil, err
		}
	}
	return r, nil
}
