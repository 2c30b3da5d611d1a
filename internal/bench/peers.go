package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tether-ipc/tether/app"
	"github.com/tether-ipc/tether/config"
	"github.com/tether-ipc/tether/examples/demo"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	"github.com/tether-ipc/tether/internal/stress"
)

// ChildEnv marks a process the bench started as one of its peers (a server
// in a process of its own, or the listener-opening child).
const ChildEnv = "TETHER_BENCH_CHILD"

// Peer kinds: the servers the comparisons measure.
const (
	kindTether    = "tether"           // the app as shipped: gRPC on 127.0.0.1, gateway on 127.0.0.1
	kindTetherUDS = "tether-unix"      // the same with gRPC on a Unix socket
	kindIsolation = "tether-isolation" // isolation with the example whitelist hook; gRPC on a Unix socket
	kindBulk      = "tether-bulk"      // gRPC on a Unix socket, limits.max_message_bytes 128 MiB
	kindGRPC      = "grpc"             // a plain grpc-go server with the demo's service, Unix socket
	kindConnect   = "connect"          // connect-go handlers of the demo's Greet and ProcessData, HTTP/1.1
	kindRawUDS    = "raw-uds"          // a Unix-socket echo of 64 MiB messages
	kindSSEMin    = "sse-min"          // the minimal write-coalescing SSE handler
)

// setup describes how each kind of peer is assembled, for BENCHMARKS.md.
var setup = map[string]string{
	kindTether:    "app.New(config.Default()) with the demo's commands registered, as `tether serve` runs: gRPC on 127.0.0.1 (TCP), gateway on 127.0.0.1 (HTTP/1.1), per-call logs at info (text, written to /dev/null), Prometheus metrics, tracing on (OTLP/HTTP exporter to a local sink, SDK defaults: every call sampled)",
	kindTetherUDS: "the same app with its gRPC address a Unix socket (unix:///…)",
	kindIsolation: "the same app with app.security.pattern {use: isolation, options.dir: examples/isolation/whitelist}: every gateway call passes the whitelist JS hook, is sealed with AES-256-GCM and opened by the core",
	kindBulk:      "the same app on a Unix socket with limits.max_message_bytes 128 MiB (the default, 4 MiB, refuses 64 MiB)",
	kindGRPC:      "grpc.NewServer() with default options and demov1.RegisterDemoServer(the same demo handler), on a Unix socket; grpc.NewClient with insecure credentials and default options",
	kindConnect:   "connect.NewUnaryHandler for the demo's Greet and ProcessData with default options (proto and JSON codecs, gzip only when asked for) on net/http's server, HTTP/1.1 over TCP loopback",
	kindRawUDS:    "net.Listen(\"unix\"): read 64 MiB into a reused buffer, write it back; the client writes 64 MiB and reads it back into a reused buffer",
	kindSSEMin:    "a minimal net/http SSE handler: one goroutine per client with a channel of pre-rendered frames, writing every frame waiting in one Write and one Flush",
}

// peer is a server under test, in this process or in a child process.
type peer struct {
	Kind string `json:"kind"`
	GRPC string `json:"grpc,omitempty"` // host:port or unix:///path
	HTTP string `json:"http,omitempty"` // http://host:port
	Raw  string `json:"raw,omitempty"`  // a Unix socket path
	// Token is a Tether app's secret: callers over HTTP and TCP gRPC send it.
	Token string `json:"token,omitempty"`

	app  *app.App // a Tether app running in this process
	hub  *sseHub  // the minimal SSE server running in this process
	stop func()
}

// startPeer starts a peer of kind, here or, with cross, in a child process.
func startPeer(kind string, cross bool) (*peer, error) {
	if cross {
		return startChildPeer(kind)
	}
	return servePeer(kind)
}

// servePeer starts a peer of kind in this process.
func servePeer(kind string) (*peer, error) {
	switch kind {
	case kindTether, kindTetherUDS, kindIsolation, kindBulk:
		return startApp(kind)
	case kindGRPC:
		return startGRPC()
	case kindConnect:
		return startConnect()
	case kindRawUDS:
		return startRawUDS()
	case kindSSEMin:
		return startSSEMin()
	}
	return nil, fmt.Errorf("unknown peer kind %q", kind)
}

// appConfig is config.Default() with the addresses and folders a bench run
// needs, and what kind asks for.
func appConfig(kind, dir string) (config.Config, error) {
	cfg := config.Default()
	cfg.GRPC = "127.0.0.1:0"
	cfg.HTTP = "127.0.0.1:0"
	cfg.Data = filepath.Join(dir, "data")
	cfg.ShutdownTimeout.Duration = 5 * time.Second
	switch kind {
	case kindTetherUDS:
		cfg.GRPC = "unix://" + filepath.Join(dir, "core.sock")
	case kindIsolation:
		cfg.GRPC = "unix://" + filepath.Join(dir, "core.sock")
		hooks, err := repoPath("examples/isolation/whitelist")
		if err != nil {
			return cfg, err
		}
		cfg.App.Security.Pattern = config.Pattern{Use: config.IsolationPattern, Options: config.PatternOptions{Dir: hooks}}
	case kindBulk:
		cfg.GRPC = "unix://" + filepath.Join(dir, "core.sock")
		cfg.Limits.MaxMessageBytes = 128 << 20
	}
	return cfg, nil
}

// Variables that change the Tether sides from the app as shipped, for
// finding out what the figures owe to tracing and logging (tether-bench
// -untraced, -log-level); children inherit them.
const (
	untracedEnv = "TETHER_BENCH_UNTRACED"
	logLevelEnv = "TETHER_BENCH_LOG_LEVEL"
)

// startApp runs the app of kind in this process, tracing to this process's
// OTLP sink.
func startApp(kind string) (*peer, error) {
	if err := stress.StartTraceSink(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tether-bench-")
	if err != nil {
		return nil, err
	}
	cfg, err := appConfig(kind, dir)
	if err == nil {
		err = os.Mkdir(cfg.Data, 0o700)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if os.Getenv(untracedEnv) != "" {
		os.Unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if l := os.Getenv(logLevelEnv); l != "" {
		cfg.Log.Level = l
	}
	readyc := make(chan app.Ready, 1)
	a, err := app.New(cfg, app.WithOutput(io.Discard, devnull), app.WithReady(func(r app.Ready) { readyc <- r }))
	if err != nil {
		devnull.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	demo.New(a.DataDir()).Register(a.Server())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	p := &peer{Kind: kind, app: a}
	p.stop = func() {
		cancel()
		<-done
		devnull.Close()
		os.RemoveAll(dir)
	}
	select {
	case r := <-readyc:
		p.GRPC, p.HTTP, p.Token = r.GRPC, r.HTTP, r.Token
		return p, nil
	case err := <-done:
		cancel()
		devnull.Close()
		os.RemoveAll(dir)
		return nil, err
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, errors.New("the app did not start in 30s")
	}
}

// repoPath finds rel in the repository this program runs in (make bench
// runs at its root; tests run in internal/bench).
func repoPath(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module github.com/tether-ipc/tether\n") {
			return filepath.Join(dir, rel), nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("%s: run the bench inside the Tether repository", rel)
		}
		dir = up
	}
}

func startGRPC() (*peer, error) {
	dir, err := os.MkdirTemp("", "tether-bench-grpc-")
	if err != nil {
		return nil, err
	}
	gs := grpc.NewServer()
	demov1.RegisterDemoServer(gs, demo.New(dir))
	sock := filepath.Join(dir, "grpc.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	done := make(chan struct{})
	go func() { defer close(done); gs.Serve(lis) }() //nolint:errcheck
	return &peer{Kind: kindGRPC, GRPC: "unix://" + sock, stop: func() { gs.Stop(); <-done; os.RemoveAll(dir) }}, nil
}

func startConnect() (*peer, error) {
	d := demo.New(os.TempDir())
	mux := http.NewServeMux()
	mux.Handle("/demo.v1.Demo/Greet", connect.NewUnaryHandler("/demo.v1.Demo/Greet",
		func(ctx context.Context, req *connect.Request[demov1.GreetRequest]) (*connect.Response[wrapperspb.StringValue], error) {
			res, err := d.Greet(ctx, req.Msg)
			if err != nil {
				return nil, err
			}
			return connect.NewResponse(res), nil
		}))
	mux.Handle("/demo.v1.Demo/ProcessData", connect.NewUnaryHandler("/demo.v1.Demo/ProcessData",
		func(ctx context.Context, req *connect.Request[demov1.ProcessDataRequest]) (*connect.Response[wrapperspb.StringValue], error) {
			res, err := d.ProcessData(ctx, req.Msg)
			if err != nil {
				return nil, err
			}
			return connect.NewResponse(res), nil
		}))
	return serveHTTP(kindConnect, mux)
}

func serveHTTP(kind string, h http.Handler) (*peer, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); hs.Serve(lis) }() //nolint:errcheck
	return &peer{Kind: kind, HTTP: "http://" + lis.Addr().String(), stop: func() { hs.Close(); <-done }}, nil
}

func startRawUDS() (*peer, error) {
	dir, err := os.MkdirTemp("", "tether-bench-uds-")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "raw.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				buf := make([]byte, bytesSize)
				for {
					if _, err := io.ReadFull(conn, buf); err != nil {
						return
					}
					if _, err := conn.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return &peer{Kind: kindRawUDS, Raw: sock, stop: func() { lis.Close(); wg.Wait(); os.RemoveAll(dir) }}, nil
}

// childPeer runs in a child process: it serves kind, prints the peer as
// one JSON line, and stops when its standard input ends.
func childPeer(kind string) {
	p, err := servePeer(kind)
	if err != nil {
		fmt.Println(`{"error":` + quoteJSON(err.Error()) + `}`)
		os.Exit(1)
	}
	b, _ := json.Marshal(p)
	fmt.Println(string(b))
	io.Copy(io.Discard, os.Stdin) //nolint:errcheck
	p.stop()
}

func quoteJSON(s string) string { b, _ := json.Marshal(s); return string(b) }

// startChildPeer starts this program again as a peer of kind.
func startChildPeer(kind string) (*peer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), ChildEnv+"=serve", "TETHER_BENCH_KIND="+kind)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }() //nolint:errcheck
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill() //nolint:errcheck
			<-done
		}
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return nil, fmt.Errorf("peer %s: %v", kind, err)
	}
	var p struct {
		peer
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(line), &p); err != nil || p.Error != "" {
		stop()
		return nil, fmt.Errorf("peer %s: %s%v", kind, p.Error, err)
	}
	p.peer.stop = stop
	return &p.peer, nil
}

// ChildMain runs the process as the child ChildEnv names.
func ChildMain() {
	switch os.Getenv(ChildEnv) {
	case "serve":
		childPeer(os.Getenv("TETHER_BENCH_KIND"))
	case "listeners":
		listenerChild()
	default:
		fmt.Fprintln(os.Stderr, "tether-bench: unknown child", os.Getenv(ChildEnv))
		os.Exit(2)
	}
}
