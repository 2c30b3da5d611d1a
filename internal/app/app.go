// Package app assembles `tether serve` from its configuration: the core
// with the demo app, the event bus (in memory or over NATS), the security
// patterns (brownfield, isolation with its key, stage and hooks,
// capabilities) and the HTTP gateway — in one process, or with the gateway
// and its isolation stage in a child process (split mode).
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"

	"github.com/tether-ipc/tether/bus"
	"github.com/tether-ipc/tether/bus/natsbus"
	"github.com/tether-ipc/tether/examples/demo"
	"github.com/tether-ipc/tether/gateway"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	"github.com/tether-ipc/tether/interceptors/capability"
	"github.com/tether-ipc/tether/interceptors/idempotency"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/interceptors/isolation/jshook"
	"github.com/tether-ipc/tether/interceptors/logging"
	"github.com/tether-ipc/tether/interceptors/metrics"
	"github.com/tether-ipc/tether/interceptors/ratelimit"
	"github.com/tether-ipc/tether/interceptors/tracing"
	"github.com/tether-ipc/tether/internal/config"
	"github.com/tether-ipc/tether/internal/netaddr"
	"github.com/tether-ipc/tether/server"
)

// NewLogger returns the logger the configuration asks for, writing to w.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// App is a configured Tether: build it with New, then Run it.
type App struct {
	cfg config.Config
	log *slog.Logger

	core    *server.Server
	metrics *metrics.Metrics
	demo    *demo.App
	bus     bus.Bus
	nc      *nats.Conn
	key     *isolation.Key // isolation only; never logged (it prints as [redacted])
	hooks   []isolation.Hook
	close   []func()

	// ChildBinary is the tether program split mode starts as the gateway
	// process (default: this executable).
	ChildBinary string
	// ChildOutput receives the child's log (default os.Stderr).
	ChildOutput io.Writer

	// KeyForTest, when set before Run, receives the isolation key; tests
	// use it to prove the key appears in no log, argv or environment.
	KeyForTest func(*isolation.Key)
}

// New builds the app; every error names the part of the configuration at
// fault. Nothing listens until Run.
func New(cfg config.Config, log *slog.Logger) (a *App, err error) {
	a = &App{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.cleanup()
		}
	}()
	// The bus: ids start at the launch time so listeners resume across
	// restarts.
	busOpts := []bus.Option{bus.WithQueueSize(cfg.Events.Queue), bus.WithWindowSize(cfg.Events.Window), bus.WithFirstID(server.FirstEventID())}
	if cfg.Events.NATS != "" {
		a.nc, err = nats.Connect(cfg.Events.NATS, nats.Name("tether"), nats.MaxReconnects(-1))
		if err != nil {
			return nil, fmt.Errorf(`field "events.nats": %v`, err)
		}
		nb, err := natsbus.New(a.nc, natsbus.WithBusOptions(busOpts...), natsbus.WithErrorHandler(func(err error) {
			log.Warn("tether: NATS event", "err", err)
		}))
		if err != nil {
			return nil, fmt.Errorf(`field "events.nats": %v`, err)
		}
		a.bus = nb
	} else {
		a.bus = bus.NewMemory(busOpts...)
	}

	// The chain, outermost first: logging and metrics see every call's
	// final code; rate limits refuse before anything else runs; then
	// capabilities; idempotency innermost (refused calls are not kept);
	// the server adds protovalidate after these.
	a.metrics = metrics.New()
	unary := []grpc.UnaryServerInterceptor{logging.UnaryServerInterceptor(log), a.metrics.UnaryServerInterceptor(), tracing.UnaryServerInterceptor()}
	stream := []grpc.StreamServerInterceptor{logging.StreamServerInterceptor(log), a.metrics.StreamServerInterceptor(), tracing.StreamServerInterceptor()}
	l := cfg.Limits
	if l.Rate > 0 || l.MaxListeners > 0 || l.MaxStreamLifetime.Duration > 0 {
		rl, err := ratelimit.New(ratelimit.Limits{Rate: l.Rate, Burst: l.Burst, MaxListeners: l.MaxListeners, MaxStreamLifetime: l.MaxStreamLifetime.Duration})
		if err != nil {
			return nil, fmt.Errorf(`field "limits": %v`, err)
		}
		unary, stream = append(unary, rl.UnaryServerInterceptor()), append(stream, rl.StreamServerInterceptor())
	}
	var caps *capability.Set
	if cfg.Capabilities != "" {
		caps, err = capability.Load(cfg.Capabilities)
		if err != nil {
			return nil, fmt.Errorf(`field "capabilities": %v`, err)
		}
		unary, stream = append(unary, capability.UnaryServerInterceptor(caps)), append(stream, capability.StreamServerInterceptor(caps))
	}
	idem := idempotency.New(idempotency.WithTTL(l.IdempotencyTTL.Duration))
	if l.IdempotencyDir != "" {
		if idem, err = idempotency.Open(l.IdempotencyDir, idempotency.WithTTL(l.IdempotencyTTL.Duration)); err != nil {
			return nil, fmt.Errorf(`field "limits.idempotency_dir": %v`, err)
		}
		a.close = append(a.close, func() { idem.Close() })
	}
	unary = append(unary, idem.UnaryServerInterceptor())
	opts := []server.Option{
		server.WithLogger(log),
		server.WithBus(a.bus),
		server.WithLimits(server.Limits{MaxMessageBytes: cfg.Limits.MaxMessageBytes, MaxDepth: cfg.Limits.MaxDepth}),
		server.WithGRPCOptions(tracing.ServerOption()),
		server.WithInterceptors(unary...),
		server.WithStreamInterceptors(stream...),
		server.WithEventObserver(a.metrics),
	}
	if cfg.App.Security.Pattern.Use == config.IsolationPattern {
		if a.key, err = isolation.NewKey(); err != nil {
			return nil, err
		}
		opener, err := isolation.NewOpener(a.key)
		if err != nil {
			return nil, err
		}
		opts = append(opts, server.WithWireInterceptors(
			countRejections(a.metrics, isolation.UnaryServerInterceptor(opener)),
			countStreamRejections(a.metrics, isolation.StreamServerInterceptor(opener))))
		if !cfg.Isolation.Split {
			if a.hooks, err = a.loadHooks(); err != nil {
				return nil, err
			}
		}
	}
	a.core = server.New(opts...)
	a.demo = demo.New(cfg.Data)
	a.demo.Register(a.core)
	if caps != nil {
		names := make([]string, 0)
		for _, c := range a.core.Commands() {
			names = append(names, c.GetName())
		}
		if err := caps.Validate(names); err != nil {
			return nil, fmt.Errorf(`field "capabilities": %v`, err)
		}
	}
	return a, nil
}

// loadHooks builds the isolation hook chain: the declarative policy (if
// configured), then the JavaScript hooks of the pattern's folder.
func (a *App) loadHooks() ([]isolation.Hook, error) {
	return LoadHooks(a.cfg, a.log, &a.close)
}

// LoadHooks builds the isolation hook chain of cfg; closers of what it
// started are appended to *closers.
func LoadHooks(cfg config.Config, log *slog.Logger, closers *[]func()) ([]isolation.Hook, error) {
	var hooks []isolation.Hook
	if cfg.Isolation.Policy != "" {
		data, err := os.ReadFile(cfg.Isolation.Policy)
		if err != nil {
			return nil, fmt.Errorf(`field "isolation.policy": %v`, err)
		}
		p, err := isolation.LoadPolicy(data)
		if err != nil {
			return nil, fmt.Errorf(`field "isolation.policy": %v`, err)
		}
		h, err := p.Hook()
		if err != nil {
			return nil, fmt.Errorf(`field "isolation.policy": %v`, err)
		}
		hooks = append(hooks, h)
	}
	runner, err := jshook.Load(cfg.App.Security.Pattern.Options.Dir, jshook.Options{
		Logger:  log.With("isolation_hook", cfg.App.Security.Pattern.Options.Dir),
		Timeout: cfg.Isolation.HookTimeout.Duration,
	})
	if err != nil {
		return nil, fmt.Errorf(`field "app.security.pattern.options.dir": %v`, err)
	}
	*closers = append(*closers, runner.Close)
	return append(hooks, runner.Hook()), nil
}

// countRejections counts the calls isolation refuses, by reason (a fixed
// set of constants, never caller input).
func countRejections(m *metrics.Metrics, next grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		res, err := next(ctx, req, info, h)
		if r := isolation.ReasonOf(err); r != "" {
			m.IsolationRejected(string(r))
		}
		return res, err
	}
}

func countStreamRejections(m *metrics.Metrics, next grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		err := next(srv, ss, info, h)
		if r := isolation.ReasonOf(err); r != "" {
			m.IsolationRejected(string(r))
		}
		return err
	}
}

// Core returns the core server.
func (a *App) Core() *server.Server { return a.core }

func (a *App) cleanup() {
	for i := len(a.close) - 1; i >= 0; i-- {
		a.close[i]()
	}
	a.close = nil
	if a.bus != nil {
		a.bus.Close()
	}
	if a.nc != nil {
		a.nc.Close()
	}
}

// Ready reports the addresses an app serves on, once it listens.
type Ready struct {
	GRPC string // host:port or unix:///path
	HTTP string // http://host:port, or "" without a gateway
}

// Run listens, serves until ctx ends, then shuts down gracefully: the
// gateway first (its streams end), then the core (listen streams end with
// unavailable, in-flight commands finish within the shutdown timeout).
func (a *App) Run(ctx context.Context, ready func(Ready)) error {
	defer a.cleanup()
	lis, err := server.Listen(a.cfg.GRPC)
	if err != nil {
		return fmt.Errorf(`field "grpc": %v`, err)
	}
	var r Ready
	r.GRPC = addrString(lis.Addr())
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); errc <- a.core.Serve(lis) }()

	hbCtx, stopHB := context.WithCancel(context.Background())
	wg.Add(1)
	go func() { defer wg.Done(); a.demo.Heartbeat(hbCtx, a.core, 5*time.Second) }()

	var front *Front
	var child *child
	if a.cfg.HTTP != "" && a.cfg.HTTP != "off" {
		if a.cfg.App.Security.Pattern.Use == config.IsolationPattern && a.cfg.Isolation.Split {
			child, r.HTTP, err = a.startChild(ctx)
		} else {
			front, err = a.startFront()
			if front != nil {
				r.HTTP = front.URL
			}
		}
		if err != nil {
			stopHB()
			a.core.Stop()
			wg.Wait()
			return err
		}
	}
	if a.KeyForTest != nil && a.key != nil {
		a.KeyForTest(a.key)
	}
	a.log.Info("tether: serving", "grpc", r.GRPC, "http", r.HTTP, "pattern", a.cfg.App.Security.Pattern.Use)
	if ready != nil {
		ready(r)
	}
	var runErr error
	select {
	case runErr = <-errc:
	case <-ctx.Done():
	}
	a.log.Info("tether: shutting down", "grace", a.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout.Duration)
	defer cancel()
	stopHB()
	if front != nil {
		front.Shutdown(sctx)
	}
	if child != nil {
		child.stop(sctx)
	}
	if err := a.core.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) && runErr == nil {
		runErr = err
	}
	wg.Wait()
	return runErr
}

// Front is the gateway with, in isolation mode, its isolation stage, on a
// connection to the core.
type Front struct {
	URL  string
	gw   *gateway.Gateway
	web  *http.Server
	conn *grpc.ClientConn
	done chan struct{}
}

// startFront runs the gateway in this process over an in-process
// connection to the core (sealed by the stage in isolation mode).
func (a *App) startFront() (*Front, error) {
	var dial []grpc.DialOption
	if a.key != nil {
		stage, err := isolation.NewStage(a.key, a.hooks...)
		if err != nil {
			return nil, err
		}
		dial = isolation.DialOptions(stage)
	}
	conn, err := a.core.DialInProcess(dial...)
	if err != nil {
		return nil, err
	}
	f, err := StartFront(a.cfg, a.log, conn, gateway.WithHandler("GET", "/metrics", a.metrics.Handler()))
	if err != nil {
		conn.Close()
		return nil, err
	}
	return f, nil
}

// StartFront serves the gateway of cfg over conn (which it then owns).
func StartFront(cfg config.Config, log *slog.Logger, conn *grpc.ClientConn, extra ...gateway.Option) (*Front, error) {
	opts := []gateway.Option{
		gateway.WithLogger(log),
		gateway.WithMaxBodyBytes(cfg.Gateway.MaxBodyBytes),
		gateway.WithServices(func(ctx context.Context, mux *runtime.ServeMux, cc grpc.ClientConnInterface) error {
			return demov1.RegisterDemoHandlerClient(ctx, mux, demov1.NewDemoClient(cc))
		}),
	}
	if cfg.Frontend != "" {
		opts = append(opts, gateway.WithFrontend(cfg.Frontend))
	}
	if cfg.Gateway.TokenFile != "" {
		b, err := os.ReadFile(cfg.Gateway.TokenFile)
		if err != nil {
			return nil, fmt.Errorf(`field "gateway.token_file": %v`, err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return nil, errors.New(`field "gateway.token_file": the file is empty`)
		}
		opts = append(opts, gateway.WithToken(tok))
	}
	if len(cfg.Gateway.Origins) > 0 {
		opts = append(opts, gateway.WithOrigins(cfg.Gateway.Origins))
	}
	if len(cfg.Gateway.Hosts) > 0 {
		opts = append(opts, gateway.WithHosts(cfg.Gateway.Hosts...))
	}
	gw, err := gateway.New(conn, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("gateway: %v", err)
	}
	l, err := netaddr.Listen(cfg.HTTP)
	if err != nil {
		gw.Close()
		return nil, fmt.Errorf(`field "http": %v`, err)
	}
	f := &Front{gw: gw, conn: conn, web: gw.Server(cfg.HTTP), done: make(chan struct{})}
	f.URL = "http://" + l.Addr().String()
	if l.Addr().Network() == "unix" {
		f.URL = "unix://" + l.Addr().String()
	}
	go func() {
		defer close(f.done)
		if err := f.web.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("tether: HTTP server", "err", err)
		}
	}()
	return f, nil
}

// Shutdown stops the gateway (ending its streams) and closes its connection.
func (f *Front) Shutdown(ctx context.Context) {
	f.web.Shutdown(ctx) //nolint:errcheck // best effort within the grace period
	<-f.done
	f.conn.Close()
}

func addrString(a net.Addr) string {
	if a.Network() == "unix" {
		return "unix://" + a.String()
	}
	return a.String()
}
