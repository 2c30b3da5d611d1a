package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/tether-ipc/tether/client"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/stress"
)

// inUse is the memory the process holds for live objects and goroutines
// after a full collection: heap spans in use plus goroutine stacks. Sys is
// not used: it only grows (the runtime keeps freed spans mapped) and counts
// address space reserved in large steps, so it says little per listener.
func inUse() (heap, stack uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.StackInuse
}

// sourceAddrs are the loopback addresses clients dial from, so that many
// connections (and their TIME_WAIT after a round) do not run out of one
// address's ephemeral ports.
func sourceAddr(i int) *net.TCPAddr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+i/250%250), byte(2+i%250))}
}

// runListenerMemory opens idle listeners from a child process (so that
// only the serving side — the app's core and gateway — is in the figure),
// one connection each: gRPC Listen streams, each over its own client.Dial
// connection, and SSE GET /ipc/listen through the gateway, each its own
// HTTP/1.1 connection as a browser's EventSource has. Each round measures
// the growth per listener of each kind.
func runListenerMemory(ctx context.Context, cfg *Config, r *Result) error {
	r.A, r.B = "sse_listen", "grpc_listen"
	r.SetupA = setup[kindTether] + ", in this process. Listeners (in a child process): GET /ipc/listen?event=idle, each on a connection of its own, read until the stream's first bytes"
	r.SetupB = "the same app. Listeners (in the child): client.Dial(the gRPC address) each, IPC().Listen(events: [idle]) until the core's header"
	n := cfg.Listeners
	if n <= 0 {
		n = 10000
	}
	rounds := cfg.Rounds
	if cfg.Quick {
		// The figure hardly moves from round to round (it is memory, not
		// time): quick mode opens fewer listeners, fewer times.
		n, cfg.Rounds = min(n, 2000), 3
		defer func() { cfg.Rounds = rounds }()
	}
	if cfg.ProfileDir != "" {
		// Every allocation of the listeners in the heap profiles.
		old := runtime.MemProfileRate
		runtime.MemProfileRate = 64
		defer func() { runtime.MemProfileRate = old }()
	}
	c, err := startPeer(kindTether, false)
	if err != nil {
		return err
	}
	defer c.stop()

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe)
	cmd.Env = append(os.Environ(), ChildEnv+"=listeners", "TETHER_BENCH_GRPC="+c.GRPC, "TETHER_BENCH_HTTP="+c.HTTP, "TETHER_BENCH_TOKEN="+c.Token)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		stdin.Close()
		cmd.Wait() //nolint:errcheck
	}()
	lines := bufio.NewScanner(stdout)
	ask := func(cmd string) error {
		if _, err := fmt.Fprintln(stdin, cmd); err != nil {
			return err
		}
		if !lines.Scan() {
			return fmt.Errorf("listener child: %v", lines.Err())
		}
		if l := lines.Text(); l != "ok" {
			return fmt.Errorf("listener child: %s: %s", cmd, l)
		}
		return nil
	}
	measure := func(kind string) side {
		return func(context.Context) (values, error) {
			heap0, stack0 := inUse()
			rss0 := stress.RSS()
			if err := ask(fmt.Sprintf("%s %d", kind, n)); err != nil {
				return nil, err
			}
			time.Sleep(500 * time.Millisecond) // let the serving goroutines park
			heap1, stack1 := inUse()
			rss1 := stress.RSS()
			if cfg.ProfileDir != "" {
				writeProfile(cfg.ProfileDir, "listener_memory."+kind+".heap.pprof", "heap")
				writeProfile(cfg.ProfileDir, "listener_memory."+kind+".goroutine.txt", "goroutine")
			}
			dh, ds := (float64(heap1)-float64(heap0))/float64(n), (float64(stack1)-float64(stack0))/float64(n)
			drss := (float64(rss1) - float64(rss0)) / float64(n)
			fmt.Fprintf(cfg.Log, "  listener_memory %s: heap %+.0f + stacks %+.0f bytes/listener (RSS %+.0f)\n", kind, dh, ds, drss)
			if err := ask("close"); err != nil {
				return nil, err
			}
			time.Sleep(500 * time.Millisecond)
			return values{"bytes": dh + ds, "heap": dh, "stack": ds, "rss": drss}, nil
		}
	}
	sse, grpcSide := measure("sse"), measure("grpc")
	// Each kind is its own absolute figure: run them as two sides of one
	// interleaving, then file side B's figures under its own metric.
	if err := interleave(ctx, cfg, r, "", []metricDef{
		{key: "bytes", name: "SSE, heap + stacks", unit: "bytes/listener", goal: Goal{"<=", 16 << 10}, absolute: true},
	}, sse, nil); err != nil {
		return err
	}
	if err := interleave(ctx, cfg, r, "", []metricDef{
		{key: "bytes", name: "gRPC, heap + stacks", unit: "bytes/listener", goal: Goal{"<=", 24 << 10}, absolute: true},
	}, grpcSide, nil); err != nil {
		return err
	}
	r.note("%d listeners of each kind per round; the figure is the growth of HeapInuse+StackInuse of the serving process after a full GC, divided by the listeners (run with -v for heap, stacks and RSS apart)", n)
	return nil
}

// writeProfile writes the named runtime profile to dir/file (goroutines
// as text, one stack per group).
func writeProfile(dir, file, name string) {
	f, err := os.Create(filepath.Join(dir, file))
	if err != nil {
		return
	}
	defer f.Close()
	debug := 0
	if name == "goroutine" {
		debug = 1
	}
	pprof.Lookup(name).WriteTo(f, debug) //nolint:errcheck
}

// listenerChild is the listener child: it reads commands on stdin ("grpc
// N", "sse N", "close") and answers "ok" once done, until stdin ends.
func listenerChild() {
	grpcAddr, httpURL := os.Getenv("TETHER_BENCH_GRPC"), os.Getenv("TETHER_BENCH_HTTP")
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
		closers = nil
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		var err error
		switch {
		case len(f) == 2 && f[0] == "grpc":
			n, _ := strconv.Atoi(f[1])
			for i := 0; i < n && err == nil; i++ {
				var c func()
				c, err = openGRPCListener(grpcAddr, i)
				if err == nil {
					closers = append(closers, c)
				}
			}
		case len(f) == 2 && f[0] == "sse":
			n, _ := strconv.Atoi(f[1])
			for i := 0; i < n && err == nil; i++ {
				var c func()
				c, err = openSSEListener(httpURL, i)
				if err == nil {
					closers = append(closers, c)
				}
			}
		case len(f) == 1 && f[0] == "close":
			closeAll()
		default:
			err = fmt.Errorf("unknown command %q", in.Text())
		}
		if err != nil {
			fmt.Println("err", err)
		} else {
			fmt.Println("ok")
		}
	}
	closeAll()
}

// openGRPCListener dials the core (a connection of its own), opens a Listen
// stream and waits for the core's "subscribed" header; it reads nothing
// more, as an idle listener.
func openGRPCListener(addr string, i int) (func(), error) {
	d := &net.Dialer{LocalAddr: sourceAddr(i)}
	cli, err := client.Dial(addr, client.WithToken(os.Getenv("TETHER_BENCH_TOKEN")), client.WithDialOptions(grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", a)
	})))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := cli.IPC().Listen(ctx, &tetherv1.ListenRequest{Events: []string{"idle"}})
	if err == nil {
		_, err = stream.Header()
	}
	if err != nil {
		cancel()
		cli.Close()
		return nil, err
	}
	return func() { cancel(); cli.Close() }, nil
}

// openSSEListener opens GET /ipc/listen on a connection of its own and
// waits for the stream's first bytes (its retry line).
func openSSEListener(base string, i int) (func(), error) {
	d := &net.Dialer{LocalAddr: sourceAddr(i)}
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	hc := &http.Client{Transport: tr}
	req, err := http.NewRequest("GET", base+"/ipc/listen?event=idle", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+os.Getenv("TETHER_BENCH_TOKEN"))
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return nil, fmt.Errorf("listen: %s %s", res.Status, b)
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(res.Body, buf); err != nil {
		res.Body.Close()
		return nil, err
	}
	return func() { res.Body.Close(); tr.CloseIdleConnections() }, nil
}
