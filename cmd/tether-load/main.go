// Command tether-load drives a Tether core, assembled with package app as
// `tether serve` assembles it (demo app, metrics, idempotency, validation,
// and in isolation mode the opener; logs at level error, no trace
// exporter, and a pass-through hook in isolation mode), over real
// loopback sockets: concurrent clients invoke a command while one emitter
// publishes events to many listeners. It runs in brownfield mode and in
// isolation mode (every client seals its calls with an isolation stage
// holding the launch key, which stays inside this process) and prints
// throughput, latency, errors, events emitted and received per listener,
// and goroutines and RSS before and after.
//
//	tether-load [-clients 64] [-invokes 100000] [-per-client] [-listeners 100]
//	            [-events 2000] [-event-rate 1000] [-mode both] [-net tcp] [-rounds 1]
//	tether-load -sse 50000 [-sse-events 20] [-sse-interval 100ms] [-sse-sources 4] [-sse-md load-results.md]
//
// With -sse it runs the SSE scenario instead (sse.go): the app on one core
// holding that many idle SSE listeners, one connection each, then fanning
// events out to all of them.
//
// -invokes is the total over all clients unless -per-client is given. It
// exits 1 unless every mode shows 0 errors, 0 lost events and 0 leaked
// goroutines.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/app"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/config"
	"github.com/tether-ipc/tether/examples/demo"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/internal/stress"
)

type params struct {
	clients, invokes, listeners, events int
	perClient                           bool
	eventRate                           float64
	network                             string
	timeout                             time.Duration
}

func main() {
	if os.Getenv(coreEnv) != "" {
		coreMain()
		return
	}
	var p params
	mode := flag.String("mode", "both", "brownfield, isolation or both")
	flag.IntVar(&p.clients, "clients", 64, "concurrent invoking clients, each with its own connection")
	flag.IntVar(&p.invokes, "invokes", 100000, "invokes in total (see -per-client)")
	flag.BoolVar(&p.perClient, "per-client", false, "make -invokes a count per client rather than the total")
	flag.IntVar(&p.listeners, "listeners", 100, "listeners, each with its own connection")
	flag.IntVar(&p.events, "events", 2000, "events emitted during the run")
	flag.Float64Var(&p.eventRate, "event-rate", 1000, "events per second the emitter aims at")
	flag.StringVar(&p.network, "net", "tcp", "tcp (127.0.0.1) or unix (a 0600 socket in a temporary folder)")
	flag.DurationVar(&p.timeout, "timeout", 10*time.Minute, "give up after this long")
	rounds := flag.Int("rounds", 1, "run each mode this many times (later rounds show the steady state, after one-time initialisation)")
	var sp sseParams
	flag.IntVar(&sp.listeners, "sse", 0, "instead of the modes: hold this many idle SSE listeners on a core of its own, then fan events out to all of them")
	flag.IntVar(&sp.events, "sse-events", 20, "events the SSE scenario fans out")
	flag.DurationVar(&sp.interval, "sse-interval", 100*time.Millisecond, "time between the SSE scenario's events")
	flag.BoolVar(&sp.fit, "sse-fit", false, "hold fewer SSE listeners when the open-file limit does not allow -sse (saying so)")
	flag.IntVar(&sp.sources, "sse-sources", 4, "loopback source addresses the SSE listeners connect from (127.0.0.2 and up)")
	flag.StringVar(&sp.markdown, "sse-md", "load-results.md", "file the SSE scenario's figures are written to, for make bench's BENCHMARKS.md (empty: none)")
	flag.Parse()
	if sp.listeners > 0 {
		if sp.events < 1 || sp.sources < 1 || sp.sources > 250 || sp.interval < 0 {
			fmt.Fprintln(os.Stderr, "tether-load: -sse-events and -sse-sources (1..250) must be positive")
			os.Exit(2)
		}
		sp.timeout = p.timeout
		fmt.Printf("tether-load: %s, %d CPUs\n", runtime.Version(), runtime.NumCPU())
		r, err := runSSE(sp)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tether-load: SSE: %v\n", err)
			os.Exit(1)
		}
		r.print(os.Stdout)
		if !r.pass() {
			fmt.Println("tether-load: FAIL")
			os.Exit(1)
		}
		fmt.Println("tether-load: PASS")
		return
	}
	var modes []string
	switch *mode {
	case "both":
		modes = []string{config.Brownfield, config.IsolationPattern}
	case config.Brownfield, config.IsolationPattern:
		modes = []string{*mode}
	default:
		fmt.Fprintf(os.Stderr, "tether-load: -mode %q is not brownfield, isolation or both\n", *mode)
		os.Exit(2)
	}
	if p.clients < 1 || p.invokes < 1 || p.listeners < 0 || p.events < 0 || p.eventRate <= 0 {
		fmt.Fprintln(os.Stderr, "tether-load: -clients and -invokes must be positive, -listeners and -events not negative")
		os.Exit(2)
	}
	fmt.Printf("tether-load: %s, GOMAXPROCS %d, %d CPUs\n", runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())
	ok := true
	for range max(*rounds, 1) {
		for _, m := range modes {
			r, err := run(m, p)
			if err != nil {
				fmt.Fprintf(os.Stderr, "tether-load: %s: %v\n", m, err)
				os.Exit(1)
			}
			r.print(os.Stdout)
			ok = ok && r.pass()
		}
	}
	if !ok {
		fmt.Println("tether-load: FAIL")
		os.Exit(1)
	}
	fmt.Println("tether-load: PASS")
}

type result struct {
	mode, addr                 string
	p                          params
	total                      int
	elapsed                    time.Duration
	lat                        stress.Latencies
	errs                       map[tether.Code]int
	wrong                      int // answers with the wrong content
	emitted                    int
	emitErrs                   int
	recvMin, recvMax           int
	lost, dups, disorder, lags int
	unsealed                   tether.Code // isolation: the code an unsealed call got
	before, during, after      stress.Snapshot
	peakRSS                    uint64
}

func (r *result) errors() int {
	n := r.wrong
	for _, c := range r.errs {
		n += c
	}
	return n + r.emitErrs
}

func (r *result) leaked() int { return r.after.Goroutines - r.before.Goroutines }

func (r *result) pass() bool {
	if r.mode == config.IsolationPattern && r.unsealed != tether.CodePermissionDenied {
		return false
	}
	return r.errors() == 0 && r.lost == 0 && r.dups == 0 && r.disorder == 0 && r.leaked() <= 0
}

func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "\nmode %s over %s (%s): %d clients, %d listeners\n", r.mode, r.p.network, r.addr, r.p.clients, r.p.listeners)
	if r.mode == config.IsolationPattern {
		fmt.Fprintf(w, "  isolation   every connection seals through its own stage; a call without one got %s\n", r.unsealed)
	}
	fmt.Fprintf(w, "  invokes     %d in %v = %.0f/s\n", r.total, r.elapsed.Round(time.Millisecond), float64(r.total)/r.elapsed.Seconds())
	fmt.Fprintf(w, "  latency     %s\n", r.lat.Summary())
	fmt.Fprintf(w, "  errors      %d (by code %v, wrong answers %d, failed emits %d)\n", r.errors(), r.errs, r.wrong, r.emitErrs)
	fmt.Fprintf(w, "  events      emitted %d; per listener received min %d max %d; lost %d, duplicates %d, out of order %d, lag notices %d\n",
		r.emitted, r.recvMin, r.recvMax, r.lost, r.dups, r.disorder, r.lags)
	fmt.Fprintf(w, "  goroutines  before %d, during %d, after %d: leaked %d\n", r.before.Goroutines, r.during.Goroutines, r.after.Goroutines, max(r.leaked(), 0))
	fmt.Fprintf(w, "  memory      RSS before %s, peak %s, after %s; heap in use before %s, after %s\n",
		stress.MiB(r.before.RSS), stress.MiB(r.peakRSS), stress.MiB(r.after.RSS), stress.MiB(r.before.HeapInuse), stress.MiB(r.after.HeapInuse))
	verdict := "PASS"
	if !r.pass() {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "  result      %s\n", verdict)
}

// listener records what one listener received.
type listener struct {
	mu       sync.Mutex
	last     uint64
	n        int
	dups     int
	disorder int
	lags     atomic.Int64
	seen     map[uint64]bool
}

func (l *listener) on(e client.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.seen[e.ID]:
		l.dups++
	case e.ID < l.last:
		l.disorder++
	}
	l.seen[e.ID] = true
	l.last = max(l.last, e.ID)
	l.n++
}

func (l *listener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

func run(mode string, p params) (*result, error) {
	r := &result{mode: mode, p: p, errs: map[tether.Code]int{}}
	r.before = stress.Take()
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()

	tmp, err := os.MkdirTemp("", "tether-load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	cfg := config.Default()
	cfg.GRPC = "127.0.0.1:0"
	if p.network == "unix" {
		cfg.GRPC = "unix://" + filepath.Join(tmp, "core.sock")
	} else if p.network != "tcp" {
		return nil, fmt.Errorf("-net %q is not tcp or unix", p.network)
	}
	cfg.HTTP = "off"
	cfg.Data = tmp
	cfg.Log.Level = "error"
	cfg.App.Security.Pattern.Use = mode
	if mode == config.IsolationPattern {
		// The pattern's folder holds the hook every stage runs.
		dir := filepath.Join(tmp, "isolation")
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "hook.js"), []byte("window.__TAURI_ISOLATION_HOOK__ = (payload) => payload\n"), 0o600); err != nil {
			return nil, err
		}
		cfg.App.Security.Pattern.Options.Dir = dir
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	readyc := make(chan app.Ready, 1)
	a, err := app.New(cfg, app.WithLogger(log), app.WithReady(func(rd app.Ready) { readyc <- rd }))
	if err != nil {
		return nil, err
	}
	demo.New(a.DataDir()).Register(a.Server()) // the commands tether serve has
	runCtx, stopCore := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(runCtx) }()
	var rd app.Ready
	select {
	case rd = <-readyc:
	case err := <-runErr:
		stopCore()
		return nil, err
	}
	r.addr = rd.GRPC
	coreDone := false
	defer func() {
		if !coreDone {
			stopCore()
			<-runErr
		}
	}()

	// Every connection gets its own stage (its own session) in isolation
	// mode, running the same JS hook chain as the gateway's stage.
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	dial := func() (*client.Client, error) {
		opts := []client.Option{client.WithToken(rd.Token)} // TCP callers send the secret
		if mode == config.IsolationPattern {
			stage, err := a.NewStage()
			if err != nil {
				return nil, err
			}
			opts = append(opts, client.WithDialOptions(isolation.DialOptions(stage)...))
		}
		c, err := client.Dial(rd.GRPC, opts...)
		if err != nil {
			return nil, err
		}
		closers = append(closers, func() { c.Close() })
		return c, nil
	}

	// In isolation mode, a call without the stage must be refused.
	if mode == config.IsolationPattern {
		plain, err := client.Dial(rd.GRPC, client.WithToken(rd.Token))
		if err != nil {
			return nil, err
		}
		err = plain.Invoke(ctx, "greet", map[string]string{"name": "x"}, nil)
		plain.Close()
		r.unsealed = tether.CodeOf(err)
	}

	// Listeners first, so that every event emitted reaches them.
	const event = "load-event"
	ls := make([]*listener, p.listeners)
	subs := make([]*client.Subscription, 0, p.listeners)
	for i := range ls {
		c, err := dial()
		if err != nil {
			return nil, err
		}
		l := &listener{seen: make(map[uint64]bool, p.events)}
		ls[i] = l
		sub, err := c.Listen(ctx, []string{event}, l.on, client.OnLag(func(uint64, uint64) { l.lags.Add(1) }))
		if err != nil {
			return nil, fmt.Errorf("listener %d: %v", i, err)
		}
		subs = append(subs, sub)
	}
	invokers := make([]*client.Client, p.clients)
	for i := range invokers {
		if invokers[i], err = dial(); err != nil {
			return nil, err
		}
	}
	emitter, err := dial()
	if err != nil {
		return nil, err
	}

	total := p.invokes
	if p.perClient {
		total = p.invokes * p.clients
	}
	r.total = total
	var next atomic.Int64
	lats := make([]stress.Latencies, p.clients)
	errs := make([]map[tether.Code]int, p.clients)
	wrong := make([]int, p.clients)
	var wg sync.WaitGroup
	start := time.Now()
	// The emitter runs alongside the invokes, paced at -event-rate.
	var emitted, emitErrs int
	emitDone := make(chan struct{})
	go func() {
		defer close(emitDone)
		every := time.Duration(float64(time.Second) / p.eventRate)
		for i := range p.events {
			if d := time.Until(start.Add(time.Duration(i) * every)); d > 0 {
				time.Sleep(d)
			}
			if _, err := emitter.Emit(ctx, event, map[string]int{"n": i}); err != nil {
				emitErrs++
				continue
			}
			emitted++
		}
	}()
	for i := range p.clients {
		wg.Add(1)
		errs[i] = map[tether.Code]int{}
		go func() {
			defer wg.Done()
			c := invokers[i]
			lat := make(stress.Latencies, 0, total/p.clients+1)
			name := fmt.Sprint("client-", i)
			want := "Hello, " + name + "!"
			args := map[string]string{"name": name}
			for next.Add(1) <= int64(total) {
				var out string
				t0 := time.Now()
				err := c.Invoke(ctx, "greet", args, &out)
				lat = append(lat, time.Since(t0))
				if err != nil {
					errs[i][tether.CodeOf(err)]++
				} else if out != want {
					wrong[i]++
				}
			}
			lats[i] = lat
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.during = stress.Snapshot{Goroutines: runtime.NumGoroutine(), RSS: stress.RSS()}
	<-emitDone
	r.emitted, r.emitErrs = emitted, emitErrs
	for i := range p.clients {
		r.lat = append(r.lat, lats[i]...)
		r.wrong += wrong[i]
		for c, n := range errs[i] {
			r.errs[c] += n
		}
	}

	// Wait (bounded) for every listener to have every event.
	deadline := time.Now().Add(30 * time.Second)
	for _, l := range ls {
		for l.count() < emitted && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	r.recvMin = emitted
	if len(ls) == 0 {
		r.recvMin = 0
	}
	for _, l := range ls {
		l.mu.Lock()
		got := len(l.seen)
		r.recvMin, r.recvMax = min(r.recvMin, got), max(r.recvMax, got)
		r.lost += emitted - got
		r.dups += l.dups
		r.disorder += l.disorder
		l.mu.Unlock()
		r.lags += int(l.lags.Load())
	}
	r.peakRSS = stress.PeakRSS()

	// Close everything, then see what is left.
	for _, s := range subs {
		s.Unlisten()
		<-s.Done()
	}
	for _, c := range closers {
		c()
	}
	closers = nil
	stopCore()
	if err := <-runErr; err != nil && !errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("core: %v", err)
	}
	coreDone = true
	ls, subs, invokers, lats, emitter = nil, nil, nil, nil, nil
	r.after = stress.Settle(r.before.Goroutines, 5*time.Second)
	return r, nil
}
