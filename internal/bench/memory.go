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
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/tether-ipc/tether/client"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/server"
)

// ChildEnv marks the process started as the listener-opening child of
// listener_memory.
const ChildEnv = "TETHER_BENCH_CHILD"

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

// runListenerMemory opens idle listeners from a child process (so that
// only the serving side — core and gateway — is in the figure): gRPC Listen
// streams over one Unix-socket connection, and SSE GET /ipc/listen through
// the gateway, one HTTP/1.1 connection each as a browser's EventSource uses.
// Each round measures the growth per listener of each kind; the value is the
// larger of the two medians.
func runListenerMemory(ctx context.Context, cfg *Config, r *Result) error {
	r.A, r.B, r.Unit = "grpc_listen", "sse_listen", "bytes/listener"
	n := cfg.Listeners
	if n <= 0 {
		n = 2000
	}
	// One process opens every listener, over one gRPC connection and from
	// one HTTP host: the server's per-connection and per-caller stream
	// bounds are raised to let it.
	c, err := startCore("unix", server.WithLimits(server.Limits{MaxStreamsPerConn: n + 64, MaxStreamsPerCaller: n + 64}))
	if err != nil {
		return err
	}
	defer c.stop()
	f, err := startFront(c)
	if err != nil {
		return err
	}
	defer f.stop()

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe)
	cmd.Env = append(os.Environ(), ChildEnv+"=1", "TETHER_BENCH_GRPC="+c.addr, "TETHER_BENCH_HTTP="+f.url)
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
		return func(context.Context) (float64, error) {
			heap0, stack0 := inUse()
			if err := ask(fmt.Sprintf("%s %d", kind, n)); err != nil {
				return 0, err
			}
			time.Sleep(200 * time.Millisecond) // let the serving goroutines park
			heap1, stack1 := inUse()
			dh, ds := (float64(heap1)-float64(heap0))/float64(n), (float64(stack1)-float64(stack0))/float64(n)
			fmt.Fprintf(cfg.Log, "  listener_memory %s: heap %+.0f + stacks %+.0f bytes/listener\n", kind, dh, ds)
			if err := ask("close"); err != nil {
				return 0, err
			}
			time.Sleep(200 * time.Millisecond)
			return dh + ds, nil
		}
	}
	if err := interleave(ctx, cfg, r, measure("grpc"), measure("sse"), div); err != nil {
		return err
	}
	r.Value = max(r.AMedian, r.BMedian)
	r.Ratios = nil
	r.Note = fmt.Sprintf("%d listeners of each kind per round; HeapInuse+StackInuse of the serving process after GC", n)
	return nil
}

// ChildMain is the listener child: it reads commands on stdin ("grpc N",
// "sse N", "close") and answers "ok" once done, until stdin ends.
func ChildMain() {
	grpcAddr, httpURL := os.Getenv("TETHER_BENCH_GRPC"), os.Getenv("TETHER_BENCH_HTTP")
	cli, err := client.Dial(grpcAddr)
	if err != nil {
		fmt.Println("err", err)
		return
	}
	defer cli.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1, DisableKeepAlives: true,
		DialContext: (&net.Dialer{}).DialContext}}
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
				var cancel context.CancelFunc
				cancel, err = openGRPCListener(cli)
				if err == nil {
					closers = append(closers, cancel)
				}
			}
		case len(f) == 2 && f[0] == "sse":
			n, _ := strconv.Atoi(f[1])
			for i := 0; i < n && err == nil; i++ {
				var c func()
				c, err = openSSEListener(hc, httpURL)
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

// openGRPCListener opens a Listen stream and waits for the core's
// "subscribed" header; it reads nothing more, as an idle listener.
func openGRPCListener(cli *client.Client) (context.CancelFunc, error) {
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := cli.IPC().Listen(ctx, &tetherv1.ListenRequest{Events: []string{"idle"}})
	if err != nil {
		cancel()
		return nil, err
	}
	if _, err := stream.Header(); err != nil {
		cancel()
		return nil, err
	}
	return cancel, nil
}

// openSSEListener opens GET /ipc/listen and waits for the stream's first
// bytes (its retry line).
func openSSEListener(hc *http.Client, base string) (func(), error) {
	req, err := http.NewRequest("GET", base+"/ipc/listen?event=idle", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
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
	return func() { res.Body.Close() }, nil
}
