package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// Gateway is the HTTP handler for web frontends. It is safe for concurrent
// use. The connection given to New stays owned by the caller: close it after
// the HTTP server has shut down.
type Gateway struct {
	cfg     config
	pol     *policy
	auth    *auth // nil without WithToken
	headers respHeaders
	ipc     tetherv1.IPCClient
	health  healthpb.HealthClient
	mux     *runtime.ServeMux
	files   *files
	pages   pages

	// ctx ends every stream when the gateway closes; streams counts the
	// pushed SSE listeners (listen.go), which Close waits for, and hangups
	// watches their clients.
	ctx       context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once
	mu        sync.Mutex
	closed    bool
	streams   sync.WaitGroup
	hangups   hangups
}

// track counts a pushed stream in, unless the gateway is closed.
func (g *Gateway) track() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.streams.Add(1)
	return true
}

// New returns a Gateway that sends every call to the core over conn. Bad
// options are reported here.
func New(conn grpc.ClientConnInterface, opts ...Option) (*Gateway, error) {
	if conn == nil {
		return nil, fmt.Errorf("gateway: nil connection")
	}
	cfg := defaults()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	pol, err := cfg.check()
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, pol: pol, auth: newAuth(cfg.token), headers: cfg.respHeaders(), ipc: tetherv1.NewIPCClient(conn), health: healthpb.NewHealthClient(conn)}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	if g.files, err = newFiles(cfg.frontend); err != nil {
		g.cancel()
		return nil, err
	}
	g.mux = runtime.NewServeMux(
		runtime.WithErrorHandler(g.muxErrorHandler),
		runtime.WithRoutingErrorHandler(g.routingErrorHandler),
		runtime.WithIncomingHeaderMatcher(g.forwardHeader),
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithMetadata(func(ctx context.Context, _ *http.Request) metadata.MD { return identityMD(identityFrom(ctx)) }),
		// Typed routes read JSON bodies only: a body of another type (a
		// page's text/plain "simple request", which skips the CORS
		// preflight) is refused, as on the /ipc/ routes.
		runtime.WithMarshalerOption(contentTypeJSON, jsonPb),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, jsonOut{jsonPb}),
		runtime.WithDisablePathLengthFallback(),
	)
	if err := g.routes(); err != nil {
		g.Close()
		return nil, err
	}
	for _, reg := range cfg.services {
		if err := reg(g.ctx, g.mux, conn); err != nil {
			g.Close()
			return nil, fmt.Errorf("gateway: registering a service: %w", err)
		}
	}
	return g, nil
}

// jsonPb is the JSON form of typed routes.
var jsonPb = &runtime.JSONPb{
	MarshalOptions:   protojson.MarshalOptions{EmitDefaultValues: true},
	UnmarshalOptions: protojson.UnmarshalOptions{},
}

// jsonOut writes JSON but reads nothing: the marshaler of typed routes for
// requests whose Content-Type is not application/json.
type jsonOut struct{ *runtime.JSONPb }

// errNotJSON is the decoding error of jsonOut, which muxErrorHandler
// answers with 415.
const errNotJSON = "send the body as application/json"

func (jsonOut) NewDecoder(io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(any) error { return errors.New(errNotJSON) })
}

// routes registers the gateway's own routes. The frontend is not a route:
// a GET or HEAD that no route matches falls back to it (see
// routingErrorHandler), so typed routes may live anywhere and a wrong method
// on a known path is still 405.
func (g *Gateway) routes() error {
	type route struct {
		method, pattern string
		h               runtime.HandlerFunc
	}
	rs := []route{
		{"POST", "/ipc/invoke/{command=**}", g.serveInvoke},
		{"POST", "/ipc/emit/{event=**}", g.serveEmit},
		{"GET", "/ipc/listen", g.serveListen},
		{"GET", "/ipc/stream", g.serveStream},
		{"POST", "/ipc/stream/{id}/listen", g.serveStreamListen},
		{"POST", "/ipc/stream/{id}/unlisten", g.serveStreamUnlisten},
		{"GET", "/ipc/commands", g.serveCommands},
		{"GET", "/ipc/asset/{path=**}", g.serveAsset},
		{"GET", "/openapi.json", g.serveOpenAPI},
		{"GET", "/healthz", g.serveHealth},
		{"GET", "/readyz", g.serveHealth},
		{"GET", "/livez", g.serveLive},
		{"GET", "/ipc/client.js", g.serveScript("client.js")},
		{"GET", "/ipc/tauri-shim.js", g.serveScript("tauri-shim.js")},
	}
	for _, x := range g.cfg.extra {
		h := x.h
		rs = append(rs, route{x.method, x.pattern, func(w http.ResponseWriter, r *http.Request, _ map[string]string) { h.ServeHTTP(w, r) }})
	}
	for _, r := range rs {
		if err := g.mux.HandlePath(r.method, r.pattern, r.h); err != nil {
			return fmt.Errorf("gateway: route %s %s: %w", r.method, r.pattern, err)
		}
	}
	return nil
}

// ServeHTTP checks the request against the gateway's boundaries, decides
// who is calling, and routes it.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	addShared(h, "Vary", hvOrigin)
	g.securityHeaders(h, r.URL.Path)
	if g.ctx.Err() != nil {
		writeError(w, 0, errGatewayGone)
		return
	}
	if n := headerSize(r); n > g.cfg.maxHeader {
		writeError(w, http.StatusRequestHeaderFieldsTooLarge,
			tether.Errorf(tether.CodeResourceExhausted, "request headers larger than %d bytes", g.cfg.maxHeader))
		return
	}
	if err := g.pol.checkHost(r.Host, localPort(r.Context())); err != nil {
		writeError(w, 0, err)
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	origin := r.Header.Get("Origin")
	asked := r.Header.Get(LabelHeader)
	if asked == "" && r.URL.RawQuery != "" {
		asked = r.URL.Query().Get("label")
	}
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if preflight {
		asked = "" // a preflight carries no headers' values; the real request is checked
	}
	id, err := g.pol.resolve(origin, scheme+"://"+r.Host, asked)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	if id.cross {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if preflight {
		g.preflight(w, r)
		return
	}
	id.caller, id.connNum, id.remote = "http:"+remoteHost(r), connNum(r), r.RemoteAddr
	if g.auth != nil && !public(r) {
		if tok, ok := r.URL.Query()[TokenParam]; ok && (r.Method == http.MethodGet || r.Method == http.MethodHead) && !strings.HasPrefix(r.URL.Path, "/ipc/") {
			g.auth.openWithToken(w, r, tok[0])
			return
		}
		if id.caller, err = g.auth.authenticate(r); err != nil {
			h.Set("WWW-Authenticate", `Bearer realm="tether"`)
			writeError(w, 0, err)
			return
		}
	}
	if r.ContentLength > g.cfg.maxBody {
		writeError(w, http.StatusRequestEntityTooLarge, tooLarge(g.cfg.maxBody))
		return
	}
	rs := &requestState{id: id}
	if r.Body != nil && r.Body != http.NoBody {
		rs.body = limitedBody{rc: http.MaxBytesReader(w, r.Body, g.cfg.maxBody), st: &rs.limit}
		r.Body = &rs.body
	}
	ctx := context.WithValue(r.Context(), requestStateKey{}, rs)
	if g.cfg.tracer != nil {
		var span trace.Span
		ctx, span = g.startSpan(ctx, r)
		defer span.End()
	}
	r = r.WithContext(ctx)
	// POST /ipc/invoke/{command=**} before grpc-gateway's router, which
	// would match it the same way (its default unescaping leaves the path as
	// net/http decoded it): the gateway's own route comes first.
	if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, invokePrefix) {
		g.invoke(w, r, r.URL.Path[len(invokePrefix):])
		return
	}
	g.mux.ServeHTTP(w, r)
}

const invokePrefix = "/ipc/invoke/"

// requestState is what ServeHTTP decided about a request, in its context:
// the caller's identity and the state of its body.
type requestState struct {
	id    identity
	limit bodyState
	body  limitedBody
}

type requestStateKey struct{}

// startSpan starts the request's server span, named by its route.
func (g *Gateway) startSpan(ctx context.Context, r *http.Request) (context.Context, trace.Span) {
	ctx = otel.GetTextMapPropagator().Extract(ctx, headerCarrier(r.Header))
	route := routeOf(r.URL.Path)
	name := spanName(r.Method, route)
	return g.cfg.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
}

// spanName is method+" "+route, made once for the usual methods of the
// gateway's routes.
func spanName(method, route string) string {
	if names, ok := spanNames[route]; ok {
		switch method {
		case http.MethodGet:
			return names[0]
		case http.MethodPost:
			return names[1]
		}
	}
	return method + " " + route
}

// routes are the names routeOf gives; spanNames their span names for GET
// and POST.
var (
	routeNames = []string{"/ipc/invoke/{name}", "/ipc/emit/{name}", "/ipc/asset/{name}",
		"/ipc/stream/{id}/listen", "/ipc/stream/{id}/unlisten",
		"/ipc/listen", "/ipc/stream", "/ipc/commands", "/ipc/client.js", "/ipc/tauri-shim.js", "/healthz", "/readyz", "/livez", "/metrics", "/openapi.json", "/*"}
	spanNames = func() map[string][2]string {
		m := map[string][2]string{}
		for _, r := range routeNames {
			m[r] = [2]string{"GET " + r, "POST " + r}
		}
		return m
	}()
)

// routeOf names the route of a path, without the names it carries (a span
// name must not hold caller input of unbounded variety).
func routeOf(path string) string {
	switch {
	case strings.HasPrefix(path, invokePrefix):
		return "/ipc/invoke/{name}"
	case strings.HasPrefix(path, "/ipc/emit/"):
		return "/ipc/emit/{name}"
	case strings.HasPrefix(path, "/ipc/asset/"):
		return "/ipc/asset/{name}"
	case strings.HasPrefix(path, "/ipc/stream/"):
		switch last := path[strings.LastIndexByte(path, '/')+1:]; last {
		case "listen":
			return "/ipc/stream/{id}/listen"
		case "unlisten":
			return "/ipc/stream/{id}/unlisten"
		default:
			return "/ipc/stream/{id}/" + last
		}
	}
	switch path {
	case "/ipc/listen", "/ipc/stream", "/ipc/commands", "/ipc/client.js", "/ipc/tauri-shim.js", "/healthz", "/readyz", "/livez", "/metrics", "/openapi.json":
		return path
	}
	return "/*"
}

// headerCarrier reads W3C trace context from HTTP headers as
// propagation.HeaderCarrier does, without canonicalizing the keys the
// propagators ask for at each request.
type headerCarrier http.Header

func (c headerCarrier) Get(key string) string {
	var ck string
	switch key {
	case "traceparent":
		ck = "Traceparent"
	case "tracestate":
		ck = "Tracestate"
	case "baggage":
		ck = "Baggage"
	default:
		return http.Header(c).Get(key)
	}
	if v := c[ck]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c headerCarrier) Set(key, value string) { http.Header(c).Set(key, value) }

func (c headerCarrier) Keys() []string { return propagation.HeaderCarrier(c).Keys() }

func (g *Gateway) preflight(w http.ResponseWriter, r *http.Request) {
	if !g.cfg.preflightOK(r.Header.Get("Access-Control-Request-Method"), r.Header.Get("Access-Control-Request-Headers")) {
		w.Header().Del("Access-Control-Allow-Origin")
		writeError(w, http.StatusForbidden, tether.NewError(tether.CodePermissionDenied, "preflight asks for a method or header the gateway does not accept"))
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST, HEAD")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
	}
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// forwardHeader lets only X-Tether-* headers reach the core as metadata
// on typed routes; nothing can set tether-client-label or tether-origin.
func (g *Gateway) forwardHeader(key string) (string, bool) {
	k := strings.ToLower(key)
	if strings.HasPrefix(k, g.cfg.forwardPrefix) {
		return k, true
	}
	return "", false
}

// identityMD is the metadata that tells the core who calls: label,
// origin and caller.
func identityMD(id identity) metadata.MD {
	md := make(metadata.MD, 4)
	if id.label != "" {
		md[tether.MetadataClientLabel] = []string{id.label}
	}
	if id.origin != "" {
		md[tether.MetadataOrigin] = []string{id.origin}
	}
	if id.caller != "" {
		md[tether.MetadataCaller] = []string{id.caller}
	}
	return md
}

// streamMD is identityMD and, for the core's bounds of streams per
// connection, the caller's HTTP connection.
func streamMD(id identity) metadata.MD {
	md := identityMD(id)
	md[tether.MetadataConn] = []string{id.conn()}
	return md
}

// callContext is the context of a call to the core: the request's, ended
// also when the gateway closes, carrying the identity as metadata (with
// the connection, for a stream).
func (g *Gateway) callContext(r *http.Request, stream bool) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(g.ctx, cancel)
	md := identityMD
	if stream {
		md = streamMD
	}
	ctx = metadata.NewOutgoingContext(ctx, md(identityFrom(r.Context())))
	return ctx, func() { stop(); cancel() }
}

// Close ends every SSE stream in progress (they end cleanly, so that an
// http.Server's Shutdown can finish), waits for the streams it took over
// from net/http to close, and releases the frontend folder. It
// does not close the connection to the core. Server registers it to run on
// Shutdown.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		g.mu.Lock()
		g.closed = true
		g.mu.Unlock()
		g.cancel()
		g.streams.Wait()
		g.hangups.close()
		g.files.close()
	})
	return nil
}

// Server returns an http.Server for the gateway with its limits: header
// size, read and write timeouts (lifted for SSE streams), and Close on
// Shutdown.
//
// Shutdown also closes connections that have not sent a request yet.
// net/http counts such a connection as active for its first 5 seconds, and
// browsers open them ahead of need (preconnects, spare sockets), so without
// this a Ctrl-C of `tether serve` with a browser page open waited ~5 s.
func (g *Gateway) Server(addr string) *http.Server {
	var mu sync.Mutex
	fresh := map[net.Conn]struct{}{} // connections in http.StateNew
	s := &http.Server{
		Addr:              addr,
		Handler:           g,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       g.cfg.readTimeout,
		WriteTimeout:      g.cfg.writeTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    g.cfg.maxHeader + 4096,
		ConnContext:       withConnID,
		ConnState: func(c net.Conn, st http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			if st == http.StateNew {
				fresh[c] = struct{}{}
			} else {
				delete(fresh, c)
			}
		},
	}
	s.RegisterOnShutdown(func() {
		g.Close()
		mu.Lock()
		defer mu.Unlock()
		for c := range fresh {
			c.Close()
		}
	})
	return s
}
