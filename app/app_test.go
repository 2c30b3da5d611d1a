package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/app"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/config"
	"github.com/tether-ipc/tether/examples/demo"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/server"
)

// TestMain runs the tests, or, when split mode starts this test binary as
// its gateway process, serves that.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "--test-impostor" {
		impostor(os.Args[2])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "--tether-split-gateway" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		err := app.Serve(ctx, os.Args[1:], nil)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "gateway process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// impostor is another user's process that took a core's socket path: it
// serves a greet of its own there (anyone may connect) until its standard
// input ends.
func impostor(path string) {
	go func() {
		io.Copy(io.Discard, os.Stdin) //nolint:errcheck // any end: the test is done
		os.Exit(0)
	}()
	l, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "impostor:", err)
		os.Exit(1)
	}
	os.Chmod(path, 0o777)
	srv := server.New(server.WithLogger(slog.New(slog.DiscardHandler)))
	server.Handle(srv, "greet", func(context.Context, struct{ Name string }) (string, error) { return "forged", nil })
	srv.Serve(l) //nolint:errcheck // until the process exits
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// run starts an app with the demo's commands and stops it when the test
// ends.
func run(t *testing.T, cfg config.Config, logs io.Writer, opts ...app.Option) (*app.App, app.Ready) {
	t.Helper()
	ready := make(chan app.Ready, 1)
	opts = append([]app.Option{app.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		app.WithReady(func(r app.Ready) { ready <- r })}, opts...)
	a, err := app.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	demo.New(a.DataDir()).Register(a.Server())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	select {
	case r := <-ready:
		return a, r
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("not ready")
	}
	return nil, app.Ready{}
}

func baseConfig(t *testing.T) config.Config {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir()) // where the app writes its secret
	cfg := config.Default()
	cfg.GRPC = "unix://" + filepath.Join(t.TempDir(), "core.sock")
	cfg.HTTP = "127.0.0.1:0"
	cfg.Data = t.TempDir()
	cfg.ShutdownTimeout.Duration = 5 * time.Second
	return cfg
}

func dial(t *testing.T, addr string, opts ...grpc.DialOption) *client.Client {
	t.Helper()
	c, err := client.Dial(addr, client.WithDialOptions(opts...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Two core replicas on one real NATS server: an event emitted on one
// reaches listeners on the other, targeted events only their target.
func TestReplicasOverNATS(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS not ready")
	}
	// Registered first, so it runs after the apps' cleanups have stopped them.
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })

	var replicas [2]app.Ready
	for i := range replicas {
		cfg := baseConfig(t)
		cfg.HTTP = "off"
		cfg.Events.NATS = ns.ClientURL()
		_, replicas[i] = run(t, cfg, io.Discard)
	}
	a, b := dial(t, replicas[0].GRPC), dial(t, replicas[1].GRPC)
	got := make(chan string, 10)
	for _, label := range []string{"main", "other"} {
		label := label
		sub, err := b.Listen(client.WithClientLabel(context.Background(), label, ""), []string{"news"}, func(e client.Event) {
			var s string
			e.Decode(&s)
			got <- label + ":" + s
		})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unlisten()
	}
	ctx := context.Background()
	a.Emit(ctx, "news", "for all")
	a.EmitTo(ctx, "main", "news", "for main")
	want := map[string]bool{"main:for all": true, "other:for all": true, "main:for main": true}
	deadline := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case s := <-got:
			if !want[s] {
				t.Fatalf("unexpected delivery %q", s)
			}
			delete(want, s)
		case <-deadline:
			t.Fatalf("missing deliveries %v", want)
		}
	}
	select {
	case s := <-got:
		t.Fatalf("extra delivery %q", s)
	case <-time.After(200 * time.Millisecond):
	}
}

// Every example isolation hook, through the gateway (HTTP) and through gRPC
// (a Go client with an isolation stage holding the key): each blocks what
// it should, at once, with permission_denied, and lets the rest through.
func TestExampleHooks(t *testing.T) {
	type call struct {
		kind       string // "invoke" or "emit"
		name, body string
		blocked    bool
	}
	examples := map[string][]call{
		"whitelist": {
			{"invoke", "greet", `{"name":"W"}`, false},
			{"invoke", "process_data", `{"input":"x"}`, false},
			{"invoke", "read_file", `{"path":"hello.txt"}`, true},
			{"emit", "frontend-event", `{"message":"m"}`, false},
		},
		"block-paths": {
			{"invoke", "read_file", `{"path":"hello.txt"}`, false},
			{"invoke", "read_file", `{"path":"/etc/passwd"}`, true},
			{"invoke", "read_file", `{"path":"a/../../x"}`, true},
			{"invoke", "read_file", `{"path":"~/x"}`, true},
			{"invoke", "greet", `{"name":"B"}`, false},
		},
		"validate-events": {
			{"emit", "frontend-event", `{"message":"m"}`, false},
			{"emit", "frontend-event", `[1,2]`, true},
			{"emit", "Bad_Name", `{}`, true},
			{"invoke", "greet", `{"name":"V"}`, false},
		},
		"logger": {
			{"invoke", "greet", `{"name":"L"}`, false},
			{"emit", "frontend-event", `{"message":"m"}`, false},
		},
	}
	for name, calls := range examples {
		t.Run(name, func(t *testing.T) {
			dir, _ := filepath.Abs(filepath.Join("..", "examples", "isolation", name))
			cfg := baseConfig(t)
			cfg.App.Security.Pattern = config.Pattern{Use: config.IsolationPattern, Options: config.PatternOptions{Dir: dir}}
			os.WriteFile(filepath.Join(cfg.Data, "hello.txt"), []byte("hi"), 0o600)
			logs := &logBuf{}
			a, r := run(t, cfg, logs)
			stage, err := a.NewStage()
			if err != nil {
				t.Fatal(err)
			}
			sealed := dial(t, r.GRPC, append(isolation.DialOptions(stage), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
			ctx := client.WithClientLabel(context.Background(), "main", "")
			for _, c := range calls {
				// Through the gateway.
				path := "/ipc/invoke/" + c.name
				if c.kind == "emit" {
					path = "/ipc/emit/" + c.name
				}
				res, err := bearerClient(r.Token).Post(r.HTTP+path, "application/json", strings.NewReader(c.body))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if c.blocked != (res.StatusCode == 403) || (c.blocked && !strings.Contains(string(b), `"permission_denied"`)) {
					t.Errorf("HTTP %s %s %s: %d %s (blocked=%v)", c.kind, c.name, c.body, res.StatusCode, b, c.blocked)
				}
				// Through gRPC with the stage.
				if c.kind == "invoke" {
					err = sealed.Invoke(ctx, c.name, json.RawMessage(c.body), nil)
				} else {
					_, err = sealed.Emit(ctx, c.name, json.RawMessage(c.body))
				}
				if blocked := tether.CodeOf(err) == tether.CodePermissionDenied; blocked != c.blocked || (!c.blocked && err != nil) {
					t.Errorf("gRPC %s %s %s: %v (blocked=%v)", c.kind, c.name, c.body, err, c.blocked)
				}
			}
			if name == "logger" && !strings.Contains(logs.String(), "greet") {
				t.Errorf("the logger hook's console.log did not reach the log:\n%s", logs.String())
			}
		})
	}
}

// events.max_subscribers bounds the app's bus: past it, a listener is
// refused with resource_exhausted; one leaving makes room again.
func TestMaxSubscribers(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Events.MaxSubscribers = 3 // the demo's backend listener takes one
	_, r := run(t, cfg, io.Discard)
	c := dial(t, r.GRPC)
	ctx := context.Background()
	var subs []*client.Subscription
	for range 2 {
		s, err := c.Listen(ctx, []string{"tick"}, func(client.Event) {})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	if _, err := c.Listen(ctx, []string{"tick"}, func(client.Event) {}); tether.CodeOf(err) != tether.CodeResourceExhausted {
		t.Fatalf("listener past the cap: %v, want resource_exhausted", err)
	}
	subs[0].Unlisten()
	<-subs[0].Done()
	var err error
	for range 100 { // the core sees the stream end a moment later
		var s *client.Subscription
		if s, err = c.Listen(ctx, []string{"tick"}, func(client.Event) {}); err == nil {
			s.Unlisten()
			<-s.Done()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("after one left: %v", err)
	}
	subs[1].Unlisten()
	<-subs[1].Done()
}

// The console is off for an app unless its config or WithConsole turns it
// on; the config wins over WithConsole.
func TestConsoleIsOffUnlessConfigured(t *testing.T) {
	on, off := true, false
	for _, tc := range []struct {
		name    string
		setting *bool
		opts    []app.Option
		want    int
	}{
		{"default", nil, nil, http.StatusNotFound},
		{"WithConsole", nil, []app.Option{app.WithConsole(true)}, http.StatusOK},
		{"config on", &on, nil, http.StatusOK},
		{"config off over WithConsole", &off, []app.Option{app.WithConsole(true)}, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t)
			cfg.Gateway.Console = tc.setting
			_, r := run(t, cfg, io.Discard, tc.opts...)
			res, err := bearerClient(r.Token).Get(r.HTTP + "/_tether/")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Fatalf("GET /_tether/: %d, want %d", res.StatusCode, tc.want)
			}
		})
	}
}

// Finding: a listen to every event ("*") over gRPC got the events a deny
// rule refuses. On the assembled app, through a trusted endpoint (gRPC,
// a label capabilities apply to), it is refused while a deny applies;
// listens by name work, and the denied event never arrives.
func TestWildcardListenRespectsDenies(t *testing.T) {
	cfg := baseConfig(t)
	caps := t.TempDir()
	os.WriteFile(filepath.Join(caps, "backend.json"), []byte(`{"identifier":"backend","windows":["backend"],"permissions":[
		"core:event:default", {"identifier":"deny-listen","allow":[{"event":"secret-*"}]}]}`), 0o600)
	cfg.Capabilities = caps
	sock := "unix://" + filepath.Join(t.TempDir(), "backend.sock")
	cfg.Trusted = map[string]string{sock: "backend"}
	a, _ := run(t, cfg, io.Discard)
	c := dial(t, sock)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := c.IPC().Listen(ctx, &tetherv1.ListenRequest{Events: []string{"*"}})
	if err == nil {
		_, err = stream.Recv()
	}
	if tether.CodeOf(tether.FromError(err)) != tether.CodePermissionDenied {
		t.Fatalf("listen to * past a deny-listen: %v, want permission_denied", err)
	}
	got := make(chan string, 4)
	sub, err := c.Listen(ctx, []string{"public"}, func(e client.Event) { got <- e.Name })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unlisten()
	a.Server().Emit(ctx, "secret-plan", "x") //nolint:errcheck
	a.Server().Emit(ctx, "public", "y")      //nolint:errcheck
	if name := <-got; name != "public" {
		t.Fatalf("got %q", name)
	}
}
