// Package app is the one assembly of a Tether app: the core with your
// commands, the event bus (in memory or over NATS), the interceptor chain,
// the security patterns (brownfield; isolation with its key, stage and
// hooks, in-process or in a child process; capabilities), trusted endpoints
// for Go services, the HTTP gateway, metrics, tracing, health and graceful
// shutdown — all from a config.Config. `tether serve` is the demo app
// registered through this package; your own binary is another:
//
//	func main() {
//		app.Main(func(s *server.Server) error {
//			notesv1.RegisterNotesServer(s, notes.New())
//			return nil
//		})
//	}
//
// Main takes tether serve's flags (--config tether.json, --grpc, --http,
// --split, --capabilities, --frontend, …), handles SIGINT and SIGTERM, re-runs
// its own binary as the split-mode gateway when asked, and exits non-zero
// with a one-line error. Programs that own their main use New, Server and
// Run.
//
// # The chain
//
// Every call, on every path (typed gRPC, Invoke by name, the gateway,
// in-process), passes the same interceptors, outermost first:
//
//  1. wire: tracing (joins the caller's trace), then in isolation mode the
//     open-and-verify of the seal (unsealed calls refused, except through
//     trusted endpoints);
//  2. logging (one record per call, never payloads), metrics, the command's
//     span;
//  3. rate limits and listener bounds (limits.*);
//  4. capabilities (deny-by-default once configured);
//  5. the interceptors given with WithServerOptions(server.WithInterceptors(…));
//  6. idempotency (keyed calls run once; innermost, so refused calls are not
//     kept);
//  7. protovalidate rules of proto arguments, then the handler.
//
// In isolation mode the gateway's calls first pass the isolation stage on
// the gateway's side: the declarative policy, the Go hooks of WithHooks, and
// the JavaScript hooks of the pattern's folder, then the seal.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/tether-ipc/tether/bus"
	"github.com/tether-ipc/tether/bus/natsbus"
	"github.com/tether-ipc/tether/config"
	"github.com/tether-ipc/tether/gateway"
	"github.com/tether-ipc/tether/interceptors/capability"
	"github.com/tether-ipc/tether/interceptors/idempotency"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/interceptors/isolation/jshook"
	"github.com/tether-ipc/tether/interceptors/logging"
	"github.com/tether-ipc/tether/interceptors/metrics"
	"github.com/tether-ipc/tether/interceptors/ratelimit"
	"github.com/tether-ipc/tether/interceptors/tracing"
	"github.com/tether-ipc/tether/plugins/core"
	"github.com/tether-ipc/tether/server"
)

// App is a configured Tether app: build it with New, register commands on
// Server, then Run it. An App runs once.
type App struct {
	cfg  config.Config
	o    options
	log  *slog.Logger
	data string

	grpcAddr string // cfg.GRPCAddr()
	secret   string // the gateway's and TCP callers' secret; "" with gateway.auth "none"

	core    *server.Server
	metrics *metrics.Metrics
	bus     bus.Bus
	nc      *nats.Conn
	caps    *capability.Set
	key     *isolation.Key // isolation only; never logged (it prints as [redacted])
	hooks   []isolation.Hook
	tp      trace.TracerProvider // nil unless OTLP export is configured
	close   []func()

	innermost grpc.UnaryServerInterceptor // idempotency
}

// Option configures New (and Main, Serve).
type Option func(*options)

type options struct {
	logger      *slog.Logger
	logOut      io.Writer
	stdout      io.Writer
	serverOpts  []server.Option
	gatewayOpts []gateway.Option
	hooks       []isolation.Hook
	ready       func(Ready)
	childCmd    []string // the program and leading arguments of split mode's gateway process
	childOut    io.Writer
	name        string // the program's name in usage and errors
	console     bool   // the console's default when the config does not say
}

// WithLogger sets the logger (default: the one the config's log block
// asks for, on standard error).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithOutput sets where Main and Serve print the addresses they serve on
// (default standard output) and where the default logger writes (default
// standard error).
func WithOutput(stdout, log io.Writer) Option {
	return func(o *options) { o.stdout, o.logOut = stdout, log }
}

// WithServerOptions passes options to server.New, after the app's own:
// interceptors given here run inside the app's (after capabilities, before
// idempotency and protovalidate).
func WithServerOptions(opts ...server.Option) Option {
	return func(o *options) { o.serverOpts = append(o.serverOpts, opts...) }
}

// WithGatewayOptions passes options to gateway.New, after the app's own —
// for example gateway.WithServices to serve the typed REST routes of your
// proto services, or gateway.WithHandler for routes of your own.
func WithGatewayOptions(opts ...gateway.Option) Option {
	return func(o *options) { o.gatewayOpts = append(o.gatewayOpts, opts...) }
}

// WithHooks adds Go isolation hooks, run after the declarative policy and
// before the JavaScript hooks (isolation mode only; in split mode they run
// in the gateway process, which is this same binary).
func WithHooks(hooks ...isolation.Hook) Option {
	return func(o *options) { o.hooks = append(o.hooks, hooks...) }
}

// WithName sets the program's name that usage text and Main's errors
// begin with (default: the executable's base name); `tether serve` passes
// "tether serve".
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithConsole sets whether the gateway serves the developer console at
// /_tether/ when the configuration does not say (gateway.console in
// tether.json, or --console). The default is off; `tether serve` turns it
// on. The console is a page like any other: it calls the gateway's routes
// with the same origin, token and capability checks.
func WithConsole(on bool) Option { return func(o *options) { o.console = on } }

// WithReady calls f once the app serves, with the addresses it serves on.
func WithReady(f func(Ready)) Option { return func(o *options) { o.ready = f } }

// WithChildCommand sets the program split mode starts as its gateway
// process, and the arguments before the app's own (default: this
// executable, no arguments). `tether serve` passes ("/path/to/tether",
// "serve"). The program must hand its arguments to Serve (Main does).
func WithChildCommand(program string, args ...string) Option {
	return func(o *options) { o.childCmd = append([]string{program}, args...) }
}

// WithChildOutput sets where split mode's gateway process writes its log
// (default standard error).
func WithChildOutput(w io.Writer) Option { return func(o *options) { o.childOut = w } }

// Ready reports the addresses an app serves on, and its secret.
type Ready struct {
	GRPC    string   // host:port or unix:///path
	HTTP    string   // http://host:port, or "" without a gateway
	Trusted []string // the trusted endpoints, unix:///path
	// Token is the app's secret ("" with gateway.auth "none"): HTTP callers
	// send it as a bearer token, TCP gRPC callers as metadata
	// (client.WithToken). TokenFile is the file that holds it.
	Token, TokenFile string
	// OpenURL is the address a browser opens to get the session cookie:
	// HTTP with ?token=… (HTTP itself without a secret).
	OpenURL string
}

// New builds the app from cfg (validated here too); every error names the
// part of the configuration at fault. Nothing listens until Run.
func New(cfg config.Config, opts ...Option) (a *App, err error) {
	a = &App{cfg: cfg}
	for _, o := range opts {
		o(&a.o)
	}
	if err := a.cfg.Validate(); err != nil {
		return nil, err
	}
	if a.cfg.Gateway.Console == nil {
		// Settled here, so that split mode's gateway process (which gets
		// the config) serves what this one decided.
		on := a.o.console
		a.cfg.Gateway.Console = &on
	}
	a.log = a.o.logger
	if a.log == nil {
		out := a.o.logOut
		if out == nil {
			out = os.Stderr
		}
		a.log = NewLogger(a.cfg.Log, out)
	}
	defer func() {
		if err != nil {
			a.cleanup()
			a = nil
		}
	}()
	for _, w := range a.cfg.Warnings {
		a.log.Warn("tether: config: " + w)
	}
	if a.data, err = a.cfg.DataDir(); err != nil {
		return nil, err
	}
	if a.grpcAddr, err = a.cfg.GRPCAddr(); err != nil {
		return nil, &config.FieldError{Field: "grpc", Err: err}
	}
	if a.cfg.Authenticated() {
		if a.secret, err = loadSecret(a.cfg); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(a.data, 0o700); err != nil {
		return nil, &config.FieldError{Field: "data", Err: err}
	}
	if a.tp, err = a.setupTracing(); err != nil {
		return nil, err
	}
	if err := a.newBus(); err != nil {
		return nil, err
	}
	if a.caps, err = loadCapabilities(a.cfg); err != nil {
		return nil, err
	}
	sopts, err := a.chain()
	if err != nil {
		return nil, err
	}
	// The user's interceptors run inside the app's, and idempotency inside
	// them all, so that refused calls are not kept.
	sopts = append(append(sopts, a.o.serverOpts...), server.WithInterceptors(a.innermost))
	a.core = server.New(append([]server.Option{server.WithDataDir(a.data)}, sopts...)...)
	// Tauri's core app plugin (getName, getVersion, …), from the config.
	core.RegisterApp(a.core, core.AppInfo{Name: a.cfg.ProductName, Version: a.cfg.Version, Identifier: a.cfg.IdentifierOrDefault()})
	return a, nil
}

// NewLogger returns the logger the log block asks for, writing to w.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Server returns the core, for registering proto services
// (xv1.RegisterXServer(a.Server(), impl)), Go-function commands
// (server.Handle), events and backend listeners. Register before Run.
func (a *App) Server() *server.Server { return a.core }

// Config returns the app's configuration.
func (a *App) Config() config.Config { return a.cfg }

// DataDir returns the app's data folder (created mode 0700 if it was
// missing): config's data, or $XDG_DATA_HOME/<identifier>.
func (a *App) DataDir() string { return a.data }

// Logger returns the app's logger.
func (a *App) Logger() *slog.Logger { return a.log }

// Metrics returns the app's metrics, served at /metrics; register your own
// collectors on its Registry.
func (a *App) Metrics() *metrics.Metrics { return a.metrics }

func (a *App) isolated() bool { return a.cfg.App.Security.Pattern.Use == config.IsolationPattern }

// newBus makes the event bus: in memory, with ids from the launch time so
// that listeners resume across restarts; over NATS core (live across
// replicas); or on a JetStream stream (ids the stream's, the same on every
// replica; resume on any replica).
func (a *App) newBus() error {
	e := a.cfg.Events
	busOpts := []bus.Option{bus.WithQueueSize(e.Queue), bus.WithWindowSize(e.Window), bus.WithFirstID(server.FirstEventID())}
	if e.QueueBytes > 0 {
		busOpts = append(busOpts, bus.WithQueueBytes(e.QueueBytes))
	}
	if e.WindowBytes > 0 {
		busOpts = append(busOpts, bus.WithWindowBytes(e.WindowBytes))
	}
	if e.MaxSubscribers > 0 {
		busOpts = append(busOpts, bus.WithMaxSubscribers(e.MaxSubscribers))
	}
	if e.NATS == "" {
		a.bus = bus.NewMemory(busOpts...)
		return nil
	}
	var err error
	a.nc, err = nats.Connect(e.NATS, nats.Name("tether"), nats.MaxReconnects(-1), nats.ReconnectWait(500*time.Millisecond))
	if err != nil {
		return &config.FieldError{Field: "events.nats", Err: err}
	}
	nopts := []natsbus.Option{natsbus.WithBusOptions(busOpts...), natsbus.WithErrorHandler(func(err error) {
		a.log.Warn("tether: NATS event", "err", err)
	})}
	if e.SubjectPrefix != "" {
		nopts = append(nopts, natsbus.WithSubjectPrefix(e.SubjectPrefix))
	}
	field := "events.nats"
	if e.JetStream {
		field = "events.jetstream"
		nopts = append(nopts, natsbus.WithJetStream(natsbus.Stream{Name: e.Stream.Name, MaxAge: e.Stream.MaxAge.Duration,
			MaxBytes: e.Stream.MaxBytes, Replicas: e.Stream.Replicas, Memory: e.Stream.Memory}))
	}
	nb, err := natsbus.New(a.nc, nopts...)
	if err != nil {
		return &config.FieldError{Field: field, Err: err}
	}
	a.bus = nb
	return nil
}

// newIdempotency makes the idempotency cache limits.idempotency_store names.
func (a *App) newIdempotency() (*idempotency.Cache, error) {
	l := a.cfg.Limits
	opts := []idempotency.Option{idempotency.WithTTL(l.IdempotencyTTL.Duration),
		idempotency.WithMaxResponseBytes(l.IdempotencyMaxResponseBytes), idempotency.WithMaxBytes(l.IdempotencyMaxBytes)}
	switch l.IdempotencyStoreName() {
	case config.IdempotencyFile:
		idem, err := idempotency.Open(l.IdempotencyDir, opts...)
		if err != nil {
			return nil, &config.FieldError{Field: "limits.idempotency_dir", Err: err}
		}
		a.close = append(a.close, func() { idem.Close() })
		return idem, nil
	case config.IdempotencyNATS:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		idem, err := idempotency.OpenKV(ctx, a.nc, idempotency.KV{Bucket: l.IdempotencyBucket, MaxBytes: l.IdempotencyMaxBytes}, opts...)
		if err != nil {
			return nil, &config.FieldError{Field: "limits.idempotency_store", Err: err}
		}
		return idem, nil
	}
	return idempotency.New(opts...), nil
}

// chain builds the server's options: the interceptor chain in the order the
// package doc gives, and isolation's wire gate.
func (a *App) chain() ([]server.Option, error) {
	cfg, log := a.cfg, a.log
	// The app's own events keep their metric labels whatever names callers
	// make up (a.core is set before any call).
	a.metrics = metrics.New(metrics.WithKnownEvents(func(name string) bool { return a.core != nil && a.core.KnownEvent(name) }))
	var topts []tracing.Option
	if a.tp != nil {
		topts = append(topts, tracing.WithTracerProvider(a.tp))
	}
	unary := []grpc.UnaryServerInterceptor{logging.UnaryServerInterceptor(log), a.metrics.UnaryServerInterceptor(), tracing.UnaryServerInterceptor(topts...)}
	stream := []grpc.StreamServerInterceptor{logging.StreamServerInterceptor(log), a.metrics.StreamServerInterceptor(), tracing.StreamServerInterceptor(topts...)}
	l := cfg.Limits
	if l.Rate > 0 || l.MaxListeners > 0 || l.MaxStreamLifetime.Duration > 0 {
		rl, err := ratelimit.New(ratelimit.Limits{Rate: l.Rate, Burst: l.Burst, MaxListeners: l.MaxListeners, MaxStreamLifetime: l.MaxStreamLifetime.Duration})
		if err != nil {
			return nil, &config.FieldError{Field: "limits", Err: err}
		}
		unary, stream = append(unary, rl.UnaryServerInterceptor()), append(stream, rl.StreamServerInterceptor())
	}
	if a.caps != nil {
		unary, stream = append(unary, capability.UnaryServerInterceptor(a.caps)), append(stream, capability.StreamServerInterceptor(a.caps))
	}
	idem, err := a.newIdempotency()
	if err != nil {
		return nil, err
	}
	wireUnary, wireStream := tracing.WireServerInterceptors(topts...)
	opts := []server.Option{
		server.WithLogger(log),
		server.WithBus(a.bus),
		server.WithLimits(server.Limits{MaxMessageBytes: cfg.Limits.MaxMessageBytes, MaxDepth: cfg.Limits.MaxDepth,
			MaxStreamsPerConn: cfg.Limits.MaxStreamsPerConn, MaxStreamsPerCaller: cfg.Limits.MaxStreamsPerCaller,
			StreamWriteTimeout: cfg.Limits.StreamWriteTimeout.Duration}),
		server.WithToken(a.secret),
		server.WithInterceptors(unary...),
		server.WithStreamInterceptors(stream...),
		server.WithEventObserver(a.metrics),
		server.WithWireInterceptors(wireUnary, wireStream),
	}
	opts = append(opts, strictArgs(cfg.Limits.StrictArgs)...)
	a.innermost = idem.UnaryServerInterceptor()
	if a.isolated() {
		var err error
		if a.key, err = isolation.NewKey(); err != nil {
			return nil, err
		}
		opener, err := isolation.NewOpener(a.key)
		if err != nil {
			return nil, err
		}
		trusted := isolation.WithTrustedPeer(func(ctx context.Context) bool {
			_, ok := server.TrustedEndpoint(ctx)
			return ok
		})
		opts = append(opts, server.WithWireInterceptors(
			countRejections(a.metrics, isolation.UnaryServerInterceptor(opener, trusted)),
			countStreamRejections(a.metrics, isolation.StreamServerInterceptor(opener, trusted))))
		if !cfg.Isolation.Split {
			if a.hooks, err = loadHooks(cfg, log, a.o.hooks, &a.close); err != nil {
				return nil, err
			}
		}
	}
	return opts, nil
}

// loadCapabilities reads the capability folder and the inline capabilities
// of app.security.capabilities: objects are capabilities of their own;
// identifiers choose which capabilities are enabled (Tauri v2's rule).
func loadCapabilities(cfg config.Config) (*capability.Set, error) {
	inline := cfg.App.Security.Capabilities
	if cfg.Capabilities == "" && len(inline) == 0 {
		return nil, nil
	}
	files := map[string][]byte{}
	if cfg.Capabilities != "" {
		var err error
		if files, err = capability.ReadFiles(cfg.Capabilities); err != nil {
			return nil, &config.FieldError{Field: "capabilities", Err: err}
		}
	}
	var enabled []string
	for i, raw := range inline {
		var id string
		if err := jsonString(raw, &id); err == nil {
			enabled = append(enabled, id)
			continue
		}
		files[fmt.Sprintf("tether.json#app.security.capabilities[%d]", i)] = raw
	}
	field := "capabilities"
	if len(inline) > 0 {
		field = "app.security.capabilities"
	}
	if len(enabled) > 0 {
		var err error
		if files, err = capability.Enable(files, enabled); err != nil {
			return nil, &config.FieldError{Field: "app.security.capabilities", Err: err}
		}
	}
	set, err := capability.Parse(files)
	if err != nil {
		return nil, &config.FieldError{Field: field, Err: err}
	}
	if !set.Configured() {
		return nil, &config.FieldError{Field: field, Err: fmt.Errorf("no capability is enabled (%s)", strings.Join(enabled, ", "))}
	}
	return set, nil
}

// loadHooks builds the isolation hook chain: the declarative policy (if
// configured), the Go hooks, then the JavaScript hooks of the pattern's
// folder. Closers of what it started are appended to *closers.
func loadHooks(cfg config.Config, log *slog.Logger, goHooks []isolation.Hook, closers *[]func()) ([]isolation.Hook, error) {
	var hooks []isolation.Hook
	if cfg.Isolation.Policy != "" {
		data, err := os.ReadFile(cfg.Isolation.Policy)
		if err != nil {
			return nil, &config.FieldError{Field: "isolation.policy", Err: err}
		}
		p, err := isolation.LoadPolicy(data)
		if err != nil {
			return nil, &config.FieldError{Field: "isolation.policy", Err: err}
		}
		h, err := p.Hook()
		if err != nil {
			return nil, &config.FieldError{Field: "isolation.policy", Err: err}
		}
		hooks = append(hooks, h)
	}
	hooks = append(hooks, goHooks...)
	h, closeHooks, err := jsHooks(cfg, log)
	if err != nil {
		return nil, err
	}
	*closers = append(*closers, closeHooks)
	return append(hooks, h), nil
}

// cleanup releases what New made, last first.
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

// jsonString decodes raw as a JSON string.
func jsonString(raw []byte, s *string) error { return json.Unmarshal(raw, s) }

// jsHooks loads the JavaScript hooks of the isolation folder.
func jsHooks(cfg config.Config, log *slog.Logger) (isolation.Hook, func(), error) {
	dir := cfg.App.Security.Pattern.Options.Dir
	freeze := cfg.FreezePrototype()
	log = log.With("isolation_hook", dir)
	runner, err := jshook.Load(dir, jshook.Options{
		Logger:          log,
		Timeout:         cfg.Isolation.HookTimeout.Duration,
		FreezePrototype: &freeze,
	})
	if err != nil {
		return nil, nil, &config.FieldError{Field: "app.security.pattern.options.dir", Err: err}
	}
	log.Debug("tether: isolation hook loaded", "payload", runner.Shape().String(), "freeze_prototype", freeze)
	return runner.Hook(), runner.Close, nil
}

// strictArgs is server.WithStrictArgs for limits.strict_args: "*" makes
// every command strict.
func strictArgs(names []string) []server.Option {
	if len(names) == 0 {
		return nil
	}
	if slices.Contains(names, "*") {
		return []server.Option{server.WithStrictArgs()}
	}
	return []server.Option{server.WithStrictArgs(names...)}
}

// countRejections counts the calls the core's isolation gate refuses, by
// reason (a fixed set of constants, never caller input).
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
