// Command tether-fault runs a Tether core as a child process — this
// program re-executed in core mode, which assembles the core as `tether
// serve` does (package app, config.Default() with HTTP off, logs at warn
// and no trace exporter) plus one test command with a side effect that can
// be counted — and drives it over loopback TCP with keyed
// invokes, emits and listeners while it SIGKILLs the core and restarts it on
// the same address, several times.
//
// The test command, "apply", appends its key to an append-only,
// fsync'd executions file in the data folder before it answers; counting
// the lines per key afterwards gives the number of times each call really
// ran. Clients retry every call that fails with unavailable (the core is
// gone) with the same idempotency key until it gets an answer; listeners
// reconnect and resume by themselves (client.Listen).
//
//	tether-fault [-clients 16] [-calls 4000] [-listeners 20] [-events 3000]
//	             [-kills 3] [-idempotency durable|memory]
//
// Set FAULT_DEBUG=1 to list, per listener, the events it missed.
//
// It prints, and checks: double executions (a key whose command ran twice;
// must be 0 with the durable idempotency log), calls answered OK that did
// not run exactly once, calls "in doubt" (running when the core was killed:
// refused on retry, never run twice), and events lost — split into those
// lost with the killed process (emitted and acknowledged by a core that was
// then killed before it delivered them; its in-memory window died with it)
// and those lost inside the replay window of a living core (must be 0).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/app"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/config"
	"github.com/tether-ipc/tether/internal/stress"
	"github.com/tether-ipc/tether/server"
)

const (
	event      = "fault-event"
	executions = "executions.log"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "core" {
		if err := core(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "tether-fault core:", err)
			os.Exit(1)
		}
		return
	}
	var p params
	flag.IntVar(&p.clients, "clients", 16, "concurrent invoking clients")
	flag.IntVar(&p.calls, "calls", 4000, "keyed invokes in total")
	flag.IntVar(&p.listeners, "listeners", 20, "listeners")
	flag.IntVar(&p.events, "events", 3000, "events emitted in total")
	flag.IntVar(&p.kills, "kills", 3, "how often the core is SIGKILLed and restarted")
	flag.DurationVar(&p.every, "kill-every", 1500*time.Millisecond, "time between kills")
	flag.DurationVar(&p.down, "down", 200*time.Millisecond, "how long the core stays dead before it restarts")
	flag.StringVar(&p.idem, "idempotency", "durable", "durable (the core keeps keys in an fsync'd log) or memory (keys die with the process)")
	flag.StringVar(&p.keep, "keep", "", "keep the data folder here (default: a temporary folder, removed)")
	flag.IntVar(&p.replicas, "replicas", 0, "run this many core replicas on one NATS JetStream server instead of one core (0: one core)")
	flag.Parse()
	if p.replicas > 1 {
		if p.idem == "durable" {
			p.idem = "nats" // the default: the replicas' shared key-value bucket
		}
		if p.idem != "nats" && p.idem != "memory" {
			fmt.Fprintln(os.Stderr, "tether-fault: with -replicas, -idempotency is nats or memory")
			os.Exit(2)
		}
	} else if p.idem != "durable" && p.idem != "memory" {
		fmt.Fprintln(os.Stderr, "tether-fault: -idempotency is durable or memory")
		os.Exit(2)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tether-fault:", err)
		os.Exit(1)
	}
	drv := drive
	if p.replicas > 1 {
		drv = driveReplicas
	}
	ok, err := drv(p, self)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tether-fault:", err)
		os.Exit(1)
	}
	if !ok {
		fmt.Println("tether-fault: FAIL")
		os.Exit(1)
	}
	fmt.Println("tether-fault: PASS")
}

// core is the child: `tether serve` (brownfield, no gateway) plus "apply".
func core(args []string) error {
	fs := flag.NewFlagSet("core", flag.ContinueOnError)
	addr := fs.String("addr", "", "gRPC address")
	data := fs.String("data", "", "data folder (its file token holds the secret of every run)")
	durable := fs.Bool("durable", true, "durable idempotency log in DATA/idempotency")
	natsURL := fs.String("nats", "", "NATS server URL (replica mode)")
	jetstream := fs.Bool("jetstream", false, "events on JetStream")
	idem := fs.String("idem", "", "idempotency store: memory, file or nats (default: file with -durable, else memory)")
	execs := fs.String("executions", "", "the executions file (default DATA/"+executions+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := config.Default()
	cfg.GRPC, cfg.HTTP, cfg.Data = *addr, "off", *data
	cfg.Gateway.TokenFile = filepath.Join(*data, "token") // the same secret across restarts
	cfg.Log.Level = "warn"
	cfg.ShutdownTimeout.Duration = 5 * time.Second
	if *durable {
		cfg.Limits.IdempotencyDir = filepath.Join(*data, "idempotency")
	}
	cfg.Events.NATS, cfg.Events.JetStream, cfg.Limits.IdempotencyStore = *natsURL, *jetstream, *idem
	if *execs == "" {
		*execs = filepath.Join(*data, executions)
	}
	a, err := app.New(cfg, stress.CoreOptions()...)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*execs, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	var mu sync.Mutex
	type applyArgs struct {
		Key string `json:"key"`
	}
	server.Handle(a.Server(), "apply", func(_ context.Context, x applyArgs) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if _, err := f.WriteString(x.Key + "\n"); err != nil {
			return "", err
		}
		if err := f.Sync(); err != nil {
			return "", err
		}
		return "applied " + x.Key, nil
	})
	// slow holds a call in flight, for the graceful shutdown test.
	type slowArgs struct {
		MS int `json:"ms"`
	}
	server.Handle(a.Server(), "slow", func(ctx context.Context, x slowArgs) (string, error) {
		select {
		case <-time.After(time.Duration(min(x.MS, 60000)) * time.Millisecond):
			return "done", nil
		case <-ctx.Done():
			return "", tether.FromError(ctx.Err())
		}
	})
	return stress.RunCore(a)
}

type params struct {
	clients, calls, listeners, events, kills int
	every, down                              time.Duration
	idem, keep                               string
	replicas                                 int
}

// startChild starts one run of the core (this program in core mode).
func startChild(self, addr, data string, durable bool, logw io.Writer, extra ...string) (*stress.Core, error) {
	cmd := exec.Command(self, append([]string{"core", "-addr", addr, "-data", data, fmt.Sprintf("-durable=%v", durable)}, extra...)...)
	cmd.Stderr = logw
	return stress.StartCore(cmd)
}

// outcome of one keyed call.
type outcome int

const (
	okCall outcome = iota
	inDoubt
	failed
)

// listener records the events one listener received, by payload number.
type listener struct {
	mu     sync.Mutex
	got    map[int]int // payload n -> times received
	ids    map[uint64]bool
	dupIDs int
	lags   atomic.Int64
}

func (l *listener) on(e client.Event) {
	var v struct{ N int }
	_ = e.Decode(&v)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ids[e.ID] {
		l.dupIDs++
	}
	l.ids[e.ID] = true
	l.got[v.N]++
}

// runFolder is the data folder of a run (-keep, or a temporary folder
// that done removes) and its core.log, which the cores write to.
func runFolder(keep string) (data string, logf *os.File, done func(), err error) {
	data = keep
	if data == "" {
		if data, err = os.MkdirTemp("", "tether-fault-"); err != nil {
			return "", nil, nil, err
		}
	} else if err := os.MkdirAll(data, 0o700); err != nil {
		return "", nil, nil, err
	}
	if logf, err = os.Create(filepath.Join(data, "core.log")); err != nil {
		if keep == "" {
			os.RemoveAll(data)
		}
		return "", nil, nil, err
	}
	return data, logf, func() {
		logf.Close()
		if keep == "" {
			os.RemoveAll(data)
		}
	}, nil
}

// untilAvailable runs f until it returns something other than
// unavailable (the core is away), for at most a minute, counting the
// retries; move, when set, runs before each retry.
func untilAvailable(retries *atomic.Int64, f func() error, move func()) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := f()
		if tether.CodeOf(err) != tether.CodeUnavailable || time.Now().After(deadline) {
			return err
		}
		retries.Add(1)
		if move != nil {
			move()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeAddr is a free loopback port, for every run of one core.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// drive runs the fault scenario against self (this program) in core mode.
func drive(p params, self string) (bool, error) {
	data, logf, done, err := runFolder(p.keep)
	if err != nil {
		return false, err
	}
	defer done()
	token, err := stress.NewSecret(data)
	if err != nil {
		return false, err
	}
	addr, err := freeAddr()
	if err != nil {
		return false, err
	}

	durable := p.idem == "durable"
	// starts[e] is when run e of the core was started, in microseconds:
	// its event ids (see server.FirstEventID) are above it.
	var starts []uint64
	start := func() (*stress.Core, error) {
		starts = append(starts, uint64(time.Now().UnixMicro()))
		return startChild(self, addr, data, durable, logf)
	}
	cur, err := start()
	if err != nil {
		return false, err
	}
	fmt.Printf("tether-fault: core at %s (child process, pid %d), idempotency %s, %d clients x %d keyed calls, %d listeners, %d events, %d kills every %v\n",
		addr, cur.Cmd.Process.Pid, p.idem, p.clients, p.calls, p.listeners, p.events, p.kills, p.every)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var conns []*client.Client
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	dial := func() (*client.Client, error) {
		c, err := client.Dial(addr, client.WithToken(token))
		if err == nil {
			conns = append(conns, c)
		}
		return c, err
	}

	ls := make([]*listener, p.listeners)
	subs := make([]*client.Subscription, p.listeners)
	for i := range ls {
		c, err := dial()
		if err != nil {
			return false, err
		}
		ls[i] = &listener{got: map[int]int{}, ids: map[uint64]bool{}}
		l := ls[i]
		if subs[i], err = c.Listen(ctx, []string{event}, l.on, client.OnLag(func(uint64, uint64) { l.lags.Add(1) })); err != nil {
			return false, fmt.Errorf("listen: %v", err)
		}
	}

	// retry runs f until it returns something other than unavailable (the
	// core is away), for at most a minute.
	var retries atomic.Int64
	retry := func(f func() error) error { return untilAvailable(&retries, f, nil) }

	outcomes := make([]outcome, p.calls)
	var otherErrs sync.Map
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range p.clients {
		c, err := dial()
		if err != nil {
			return false, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= p.calls {
					return
				}
				key := fmt.Sprint("k", i)
				var out string
				err := retry(func() error {
					return c.Invoke(ctx, "apply", map[string]string{"key": key}, &out, client.WithIdempotencyKey(key))
				})
				outcomes[i] = classify(key, out, err, &otherErrs)
				time.Sleep(callPause(p)) // spread the calls over the kills
			}
		}()
	}

	// The emitter: event n is retried until acknowledged; acked[n] is the
	// id the core gave it.
	emitter, err := dial()
	if err != nil {
		return false, err
	}
	acked := make([]uint64, p.events)
	var emitFailed int
	emitDone := make(chan struct{})
	go func() {
		defer close(emitDone)
		every := emitEvery(p)
		for n := range p.events {
			if d := time.Until(t0.Add(time.Duration(n) * every)); d > 0 {
				time.Sleep(d)
			}
			err := retry(func() error {
				id, err := emitter.Emit(ctx, event, map[string]int{"n": n})
				acked[n] = id
				return err
			})
			if err != nil {
				emitFailed++
			}
		}
	}()

	// The kills.
	var downFor []time.Duration
	for k := range p.kills {
		time.Sleep(time.Until(t0.Add(time.Duration(k+1) * p.every)))
		cur.Kill()
		t := time.Now()
		time.Sleep(p.down)
		if cur, err = start(); err != nil {
			return false, fmt.Errorf("restart %d: %v", k+1, err)
		}
		downFor = append(downFor, time.Since(t))
	}
	wg.Wait()
	<-emitDone
	elapsed := time.Since(t0)

	// Wait (bounded) for the listeners to catch up with the last core.
	deadline := time.Now().Add(30 * time.Second)
	lastStart := starts[len(starts)-1]
	for _, l := range ls {
		for time.Now().Before(deadline) {
			missing := 0
			l.mu.Lock()
			for n, id := range acked {
				if id >= lastStart && l.got[n] == 0 {
					missing++
				}
			}
			l.mu.Unlock()
			if missing == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, s := range subs {
		s.Unlisten()
		<-s.Done()
	}
	termErr := cur.Term()

	// Executions per key, from the file the command appends to.
	calls, err := countCalls(filepath.Join(data, executions), outcomes)
	if err != nil {
		return false, err
	}

	// Events, by the run of the core that acknowledged them.
	epoch := func(id uint64) int {
		e := sort.Search(len(starts), func(i int) bool { return starts[i] > id }) - 1
		return max(e, 0)
	}
	last := len(starts) - 1
	var ackedN, lostKilled, lostWindow, dupPayload, dupIDs, lags int
	perKill := make([]int, len(starts))
	for _, l := range ls {
		l.mu.Lock()
		for n, id := range acked {
			if id == 0 {
				continue
			}
			switch e := epoch(id); {
			case l.got[n] > 0:
			case e < last:
				lostKilled++
				perKill[e]++
			default:
				lostWindow++
			}
			if l.got[n] > 1 {
				dupPayload += l.got[n] - 1
			}
		}
		dupIDs += l.dupIDs
		l.mu.Unlock()
		lags += int(l.lags.Load())
	}
	for _, id := range acked {
		if id != 0 {
			ackedN++
		}
	}
	if os.Getenv("FAULT_DEBUG") != "" {
		for i, l := range ls {
			var miss []string
			for n, id := range acked {
				if l.got[n] == 0 {
					miss = append(miss, fmt.Sprintf("%d@e%d", n, epoch(id)))
				}
			}
			fmt.Println("listener", i, "missing", len(miss), miss)
		}
	}

	fmt.Printf("  ran         %v; core down %v after each kill (kill, %v pause, restart until ready)\n", elapsed.Round(time.Millisecond), roundAll(downFor), p.down)
	calls.print(p.calls, retries.Load(), "after unavailable")
	fmt.Printf("  events      %d emitted and acknowledged (%d never acknowledged); %d listeners; lost with a killed core %d (per killed run %v), lost inside the replay window %d\n",
		ackedN, p.events-ackedN, p.listeners, lostKilled, perKill[:last], lostWindow)
	fmt.Printf("              duplicate deliveries: by id %d, by payload %d (an emit retried after its first try was published unacknowledged); lag notices %d\n", dupIDs, dupPayload, lags)
	fmt.Printf("  shutdown    SIGTERM to the last core: %v\n", errString(termErr))
	otherErrs.Range(func(k, _ any) bool { fmt.Printf("  error       %v\n", k); return true })
	fmt.Printf("  figures     process RSS %s\n", stress.MiB(stress.RSS()))

	pass := calls.okNotOnce == 0 && calls.failed == 0 && lostWindow == 0 && dupIDs == 0 && termErr == nil && emitFailed == 0
	if durable {
		pass = pass && calls.doubles == 0
	}
	return pass, nil
}

func errString(err error) string {
	if err == nil {
		return "exited 0"
	}
	return err.Error()
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
