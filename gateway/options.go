package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// Defaults for the limits a Gateway applies.
const (
	DefaultMaxBodyBytes   = 4 << 20
	DefaultMaxHeaderBytes = 64 << 10
	DefaultPingInterval   = 15 * time.Second
	DefaultReadTimeout    = 30 * time.Second
	DefaultWriteTimeout   = 30 * time.Second
	// DefaultMaxPageStreams bounds the page streams (GET /ipc/stream) one
	// caller holds open at once — a browser session (every tab of a page
	// has one), or a caller outside a browser —, so that no caller can take
	// the streams of others who share its client label.
	DefaultMaxPageStreams = 256
	// DefaultLabel is the label of same-origin pages and non-browser callers.
	DefaultLabel = "main"
)

// RegisterFunc registers typed REST routes on the gateway's mux, calling
// through conn. Generated grpc-gateway code fits it as
//
//	func(ctx context.Context, mux *runtime.ServeMux, conn grpc.ClientConnInterface) error {
//		return demov1.RegisterDemoHandlerClient(ctx, mux, demov1.NewDemoClient(conn))
//	}
//
// Never register the generated RegisterXHandlerServer: it skips the core's
// interceptors and cannot stream.
type RegisterFunc func(ctx context.Context, mux *runtime.ServeMux, conn grpc.ClientConnInterface) error

// Option configures a Gateway. Options are checked by New; a bad one makes
// New fail.
type Option func(*config)

type config struct {
	frontend       string
	origins        map[string][]string // raw, as given
	sameLabels     []string
	hosts          []string
	token          string
	maxBody        int64
	maxHeader      int
	ping           time.Duration
	retry          time.Duration
	readTimeout    time.Duration
	writeTimeout   time.Duration
	services       []RegisterFunc
	log            *slog.Logger
	forwardPrefix  string
	extra          []extraRoute
	tracer         trace.Tracer
	assets         *assetConfig
	globalTauri    bool
	maxPageStreams int
	console        bool

	frameAncestors []string
	csp            string
}

type extraRoute struct {
	method, pattern string
	h               http.Handler
}

func defaults() config {
	return config{
		sameLabels:     []string{DefaultLabel},
		maxBody:        DefaultMaxBodyBytes,
		maxHeader:      DefaultMaxHeaderBytes,
		ping:           DefaultPingInterval,
		retry:          3 * time.Second,
		readTimeout:    DefaultReadTimeout,
		writeTimeout:   DefaultWriteTimeout,
		log:            slog.Default(),
		forwardPrefix:  "x-tether-",
		maxPageStreams: DefaultMaxPageStreams,
	}
}

// WithFrontend serves the static files of dir at / (index.html for a
// folder; never a listing; nothing outside dir), as Tauri serves its
// frontendDist. Without it the gateway serves its embedded demo page.
func WithFrontend(dir string) Option { return func(c *config) { c.frontend = dir } }

// ConsolePath is where WithConsole serves the developer console.
const ConsolePath = "/_tether/"

// WithConsole serves the developer console at ConsolePath: a page built
// from GET /ipc/commands with every command, a form from its argument
// schema, results and structured errors, channel messages as they stream,
// a live event monitor and emit, each call's latency. It is a page like
// any other (it calls the gateway's own routes, with the same Host, origin,
// token and capability checks), and it is off by default.
func WithConsole() Option { return func(c *config) { c.console = true } }

// WithOrigins allows browser pages from other origins ("http://localhost:5173")
// and gives each the client labels it may use; the first is its default. An
// origin with no labels gets DefaultLabel. Origins are compared after
// lower-casing and dropping default ports. Calls can accumulate.
func WithOrigins(origins map[string][]string) Option {
	return func(c *config) {
		if c.origins == nil {
			c.origins = map[string][]string{}
		}
		for o, ls := range origins {
			c.origins[o] = append(c.origins[o], ls...)
		}
	}
}

// WithSameOriginLabels sets the labels of same-origin pages and of callers
// that send no Origin header; the first is the default. The default is
// just DefaultLabel.
func WithSameOriginLabels(labels ...string) Option {
	return func(c *config) { c.sameLabels = append([]string(nil), labels...) }
}

// WithHosts adds Host names the gateway serves, besides localhost,
// 127.0.0.1 and [::1]: "app.internal" (on the gateway's own port) or
// "app.internal:8443" (that port only).
func WithHosts(hosts ...string) Option {
	return func(c *config) { c.hosts = append(c.hosts, hosts...) }
}

// WithToken makes every route but the health checks (/healthz, /readyz,
// /livez) and the two scripts (/ipc/client.js, /ipc/tauri-shim.js) need
// the secret token — the frontend's files too. Callers send it as
// "Authorization: Bearer TOKEN". A browser opens the address once with
// ?token=TOKEN (see TokenParam): the gateway answers with a session cookie
// (HttpOnly, SameSite=Strict, signed with a key derived from the token)
// and sends it on to the address without the token; the page's own calls
// then carry the cookie. Without WithToken anyone who can reach the
// gateway may use it: package app always gives one (a secret made at each
// launch, unless configured).
func WithToken(token string) Option { return func(c *config) { c.token = token } }

// WithMaxBodyBytes bounds request bodies (default 4 MiB); larger ones get
// 413 resource_exhausted.
func WithMaxBodyBytes(n int64) Option { return func(c *config) { c.maxBody = n } }

// WithMaxHeaderBytes bounds the request line and headers (default 64 KiB);
// larger ones get 431 resource_exhausted. Server sets http.Server's
// MaxHeaderBytes a little above it as a hard stop.
func WithMaxHeaderBytes(n int) Option { return func(c *config) { c.maxHeader = n } }

// WithPingInterval sets how often an idle SSE stream gets a ": ping"
// comment (default 15 s).
func WithPingInterval(d time.Duration) Option { return func(c *config) { c.ping = d } }

// WithTimeouts sets the read and write timeouts of Server (default 30 s
// each). SSE streams clear them once they start.
func WithTimeouts(read, write time.Duration) Option {
	return func(c *config) { c.readTimeout, c.writeTimeout = read, write }
}

// WithServices registers typed REST routes (see RegisterFunc). POST
// /ipc/invoke/… is the gateway's own: it is matched before any of them.
func WithServices(fns ...RegisterFunc) Option {
	return func(c *config) { c.services = append(c.services, fns...) }
}

// WithHandler serves h at method and pattern (e.g. "GET", "/metrics")
// behind the gateway's Host, Origin and token checks. POST /ipc/invoke/… is
// the gateway's own: it is matched before any such handler.
func WithHandler(method, pattern string, h http.Handler) Option {
	return func(c *config) { c.extra = append(c.extra, extraRoute{method, pattern, h}) }
}

// WithTracerProvider starts a server span, from tp, for every request the
// gateway serves, joined to the trace context the request carries (W3C
// traceparent, read with otel's global propagator); the span's context
// reaches the core, so one trace runs from the gateway through the core to
// the command.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) {
		if tp != nil {
			c.tracer = tp.Tracer("github.com/tether-ipc/tether/gateway")
		}
	}
}

// WithGlobalTauri makes the shim (GET /ipc/tauri-shim.js) define
// window.__TAURI__ (core, event and app), as Tauri's app.withGlobalTauri.
func WithGlobalTauri() Option { return func(c *config) { c.globalTauri = true } }

// WithMaxPageStreams bounds the page streams one caller may hold open
// (default DefaultMaxPageStreams); past it, GET /ipc/stream answers 429
// resource_exhausted. Each stream's subscriptions also count against
// the core's listener bounds (limits.max_listeners).
func WithMaxPageStreams(n int) Option { return func(c *config) { c.maxPageStreams = n } }

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// check validates the configuration and builds the origin table.
func (c *config) check() (*policy, error) {
	if c.frontend != "" {
		fi, err := os.Stat(c.frontend)
		if err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("gateway: frontend %q is not a folder", c.frontend)
		}
	}
	if c.maxBody <= 0 || c.maxHeader <= 0 || c.ping <= 0 || c.readTimeout < 0 || c.writeTimeout < 0 || c.maxPageStreams <= 0 {
		return nil, fmt.Errorf("gateway: limits, ping interval and timeouts must be positive")
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.assets != nil {
		if err := c.assets.build(); err != nil {
			return nil, fmt.Errorf("gateway: asset protocol: %v", err)
		}
	}
	for i := 0; i < len(c.token); i++ {
		if c.token[i] <= ' ' || c.token[i] > '~' {
			return nil, fmt.Errorf("gateway: the token must be printable ASCII without spaces")
		}
	}
	if err := c.checkHeaders(); err != nil {
		return nil, err
	}
	p := &policy{origins: map[string][]string{}, hosts: map[string]bool{}, hostPorts: map[string]bool{}}
	var err error
	if p.same, err = checkLabels("same-origin", c.sameLabels); err != nil {
		return nil, err
	}
	for o, ls := range c.origins {
		n, ok := normalizeOrigin(o)
		if !ok || n == "null" {
			return nil, fmt.Errorf("gateway: origin %q is not scheme://host[:port]", o)
		}
		if len(ls) == 0 {
			ls = []string{DefaultLabel}
		}
		if ls, err = checkLabels(o, ls); err != nil {
			return nil, err
		}
		p.origins[n] = append(p.origins[n], ls...)
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		p.hosts[h] = true
	}
	for _, h := range c.hosts {
		name, port, ok := splitHost(h)
		if !ok {
			return nil, fmt.Errorf("gateway: host %q is not a host name", h)
		}
		if port == "" {
			p.hosts[name] = true
		} else {
			p.hostPorts[name+":"+port] = true
		}
	}
	return p, nil
}

func checkLabels(who string, ls []string) ([]string, error) {
	if len(ls) == 0 {
		return nil, fmt.Errorf("gateway: %s: no labels", who)
	}
	for _, l := range ls {
		if err := validName("label", l); err != nil {
			return nil, fmt.Errorf("gateway: %s: %v", who, err.Message())
		}
	}
	return append([]string(nil), ls...), nil
}
