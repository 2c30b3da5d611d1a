package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/test/bufconn"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/bus"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/interceptors/validate"
	"github.com/tether-ipc/tether/internal/netaddr"
)

// Server is the Tether core: a gRPC server whose registered services double
// as a registry of commands, reachable by their typed gRPC methods, by name
// through the tether.v1.IPC service, through the gateway, and in-process, all
// through one interceptor chain.
//
// Register services and commands before serving. A Server is safe for
// concurrent use once serving.
type Server struct {
	opts   options
	grpc   *grpc.Server
	health *health.Server
	reg    *registry
	log    *slog.Logger

	unary   grpc.UnaryServerInterceptor   // the command chain (never nil)
	unaries []grpc.UnaryServerInterceptor // its interceptors, for bindUnary
	stream  grpc.StreamServerInterceptor  // the channel/listen chain (never nil)

	bus       bus.Bus
	listeners labelSet
	events    sync.Map // event name -> protoreflect.MessageType of declared events
	// backendEvents holds the names backend listeners asked for (KnownEvent).
	backendEvents sync.Map
	validator     *validate.Validator
	// draining is cancelled when shutdown starts: listen streams end with
	// unavailable so that clients reconnect elsewhere and resume.
	draining     context.Context
	stopDraining context.CancelFunc

	// methods and streams are the unary and server-streaming methods of
	// registered services, and wireChain and wireStream the server's full
	// chains, for in-process calls (inprocess.go, push.go).
	methods    map[string]unaryMethod
	streams    map[string]streamMethod
	wireChain  grpc.UnaryServerInterceptor
	wireStream grpc.StreamServerInterceptor

	mu     sync.Mutex
	inproc *bufconn.Listener

	gate  *streamGate
	conns connSet // the connections of Serve's listeners, for sendGuard

	pluginsMu sync.Mutex
	plugins   map[string]*Plugin
	resources *Resources
	onStop    []func()
	kept      keptCalls

	stopBusHealth func() // ends the watch of a bus.Health bus
}

// OnStop registers f to run once the server has stopped (Stop, or the end
// of Shutdown), after its resources are closed: plugins release what they
// hold there.
func (s *Server) OnStop(f func()) {
	s.pluginsMu.Lock()
	s.onStop = append(s.onStop, f)
	s.pluginsMu.Unlock()
}

// DataDir returns the app's data folder (WithDataDir), or "" if none was
// set.
func (s *Server) DataDir() string { return s.opts.dataDir }

// Logger returns the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// New returns a Server. The zero configuration serves brownfield: every
// command is open, commands validate their own input.
func New(opts ...Option) *Server {
	s := &Server{reg: newRegistry()}
	for _, o := range opts {
		o(&s.opts)
	}
	s.bus = s.opts.bus
	if s.bus == nil {
		s.bus = bus.NewMemory(bus.WithFirstID(FirstEventID()))
	}
	s.draining, s.stopDraining = context.WithCancel(context.Background())
	s.opts.limits = s.opts.limits.withDefaults()
	if s.opts.identity == nil {
		s.opts.identity = TrustedFrontIdentity
	}
	s.log = s.opts.logger
	if s.log == nil {
		s.log = slog.Default()
	}
	unary, stream := s.opts.unary, s.opts.stream
	if !s.opts.noValidation {
		v, err := validate.New()
		s.validator = v
		if err != nil {
			// protovalidate fails here only if its CEL environment cannot
			// be built, which no input can cause.
			panic(fmt.Sprintf("tether/server: protovalidate: %v", err))
		}
		unary = append(append([]grpc.UnaryServerInterceptor{}, unary...), v.UnaryServerInterceptor())
		stream = append(append([]grpc.StreamServerInterceptor{}, stream...), v.StreamServerInterceptor())
	}
	s.unary, s.unaries = chainUnary(unary), unary
	s.stream = chainStream(stream)

	wire := append(append([]grpc.UnaryServerInterceptor{}, s.opts.wireUnary...), s.unaryEntry)
	s.wireChain = chainUnary(wire)
	// The transport's chains: the token check first (network peers only),
	// then the write timeout of streams.
	transportUnary := wire
	transportStream := []grpc.StreamServerInterceptor{s.sendGuard}
	if s.opts.token != "" {
		transportUnary = append([]grpc.UnaryServerInterceptor{s.tokenUnary}, wire...)
		transportStream = []grpc.StreamServerInterceptor{s.tokenStream, s.sendGuard}
	}
	// The stream bounds come first on every path (the transport, and the
	// gateway's pushed streams, which run s.wireStream directly); the
	// write timeout only on the transport, where a send can block.
	s.gate = newStreamGate(s.opts.limits)
	wireStream := append(append([]grpc.StreamServerInterceptor{s.gate.intercept}, s.opts.wireStream...), s.streamEntry)
	s.wireStream = chainStream(wireStream)
	gopts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.opts.limits.MaxMessageBytes),
		grpc.MaxSendMsgSize(s.opts.limits.MaxSendBytes),
		grpc.ChainUnaryInterceptor(transportUnary...),
		grpc.ChainStreamInterceptor(append(transportStream, wireStream...)...),
		// The proto codec, with large payload bodies neither copied into
		// a marshal buffer nor out of the received one (internal/bulk), and
		// Listen's pre-encoded frames passed through (listenframe.go). Not
		// one of opts.grpcOpts: in-process unary calls stay direct.
		grpc.ForceServerCodecV2(listenCodec{}),
		// Bulk payloads in few reads and writes, not one per 32 KiB, and a
		// flow-control window that lets a large message through without
		// waiting for the window to grow (see TransportBuffers). The write
		// buffer is shared (grpc-go's default since SharedWriteBuffer was
		// deprecated): idle connections hold none.
		grpc.ReadBufferSize(TransportBuffers),
		grpc.WriteBufferSize(TransportBuffers),
		grpc.InitialWindowSize(TransportWindow),
		grpc.InitialConnWindowSize(TransportWindow),
	}
	s.grpc = grpc.NewServer(append(gopts, s.opts.grpcOpts...)...)
	ipc := &ipcService{s: s}
	tetherv1.RegisterIPCServer(s.grpc, ipc)
	s.addMethods(&tetherv1.IPC_ServiceDesc, ipc)
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	s.watchBusHealth()
	if !s.opts.noReflection {
		reflection.Register(s.grpc)
	}
	return s
}

// watchBusHealth makes the health service follow a bus that depends on
// something outside the process (natsbus: its NATS connection): NOT_SERVING
// while the bus is unhealthy, so that load balancers and the gateway's
// /readyz send clients elsewhere. The bus itself ends its listen streams
// with unavailable then, and they resume on another replica.
func (s *Server) watchBusHealth() {
	h, ok := s.bus.(bus.Health)
	if !ok {
		s.stopBusHealth = func() {}
		return
	}
	// Each change re-reads the bus's health, one at a time, so that the
	// last status set is the latest health, whichever call came last.
	var mu sync.Mutex
	set := func(error) {
		mu.Lock()
		defer mu.Unlock()
		if err := h.Healthy(); err != nil {
			s.log.Warn("tether: the event bus is down: not serving until it is back", "err", err)
			s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
			return
		}
		s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	}
	s.stopBusHealth = h.NotifyHealth(set)
	set(nil)
}

// TransportBuffers is the most a gRPC connection of the server or of
// client.Dial reads or writes at once. grpc-go takes these buffers from a
// pool only while data moves (reads wait for readiness before taking one,
// on the server's own connection wrappers too: internal/readyconn; writes
// use a shared write buffer), so idle connections do not hold them;
// busy ones do. 256 KiB gave a 64 MiB echo over a Unix socket the same
// throughput as 1 MiB (within noise) with far less memory under load: in
// `make load` (164 busy connections, clients in the same process) peak RSS
// was 134–142 MiB, against 254–274 MiB with 1 MiB (and 91–102 MiB with
// grpc-go's 32 KiB in the runs recorded in RELIABILITY.md).
//
// TransportWindow is the HTTP/2 flow-control window of each stream and
// connection, fixed rather than grown by bandwidth estimation from 64 KiB:
// the most a peer may send ahead of what the receiver has read. 16 MiB is
// where grpc-go's estimation stops growing it anyway.
const (
	TransportBuffers = 256 << 10
	TransportWindow  = 16 << 20
)

// FirstEventID is a first event id for a bus made now: the time in
// microseconds, so that each run of a process numbers its events above the
// previous run's and listeners resume across restarts (see bus.WithFirstID).
// It stays below 2^53, so JavaScript numbers hold it exactly.
func FirstEventID() uint64 { return uint64(time.Now().UnixMicro()) }

// RegisterService registers a gRPC service, as any grpc.ServiceRegistrar
// does, so generated registrations work unchanged:
//
//	demov1.RegisterDemoServer(srv, impl)
//
// Every unary method also becomes a command, named by the tether.v1.command
// method option or else by the method name in snake_case (Greet → greet);
// every server-streaming method becomes a channel command. Registering two
// commands with one name panics, as registering a service twice does.
func (s *Server) RegisterService(desc *grpc.ServiceDesc, impl any) {
	s.grpc.RegisterService(desc, impl)
	s.addMethods(desc, impl)
	svc := serviceDescriptor(desc)
	if svc != nil {
		s.declareEvents(svc.ParentFile())
	}
	for i := range desc.Methods {
		md := &desc.Methods[i]
		name, mdesc := commandName(svc, md.MethodName)
		s.reg.add(s.protoUnaryCommand(desc.ServiceName, name, md, mdesc, impl))
	}
	for i := range desc.Streams {
		sd := &desc.Streams[i]
		if !sd.ServerStreams || sd.ClientStreams {
			continue // client and bidi streams are gRPC-only
		}
		name, mdesc := commandName(svc, sd.StreamName)
		s.reg.add(s.protoChannelCommand(desc.ServiceName, name, sd, mdesc, impl))
	}
}

// GetServiceInfo reports the registered gRPC services (grpc.ServiceInfoProvider).
func (s *Server) GetServiceInfo() map[string]grpc.ServiceInfo { return s.grpc.GetServiceInfo() }

// Serve accepts connections on l until Stop or Shutdown.
//
// An idle connection holds no read buffer when l's connections are the
// standard library's *net.TCPConn or *net.UnixConn (as Listen's are), or
// have grpc-go's method ReadOnReady(int, mem.BufferPool). Any other
// net.Conn — a wrapper such as netutil.LimitListener's, or TLS — is read
// through a buffer of TransportBuffers bytes taken from a pool: it is held
// while a read waits, so for an idle connection for its whole life.
func (s *Server) Serve(l net.Listener) error {
	err := s.grpc.Serve(trackedListener{Listener: l, set: &s.conns})
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Listen opens addr ("host:port" or "unix:///path"; Unix sockets are created
// mode 0600 and removed on close) and returns the listener, for Serve.
func Listen(addr string) (net.Listener, error) { return netaddr.Listen(addr) }

// ListenAndServe listens on addr and serves until Stop or Shutdown.
func (s *Server) ListenAndServe(addr string) error {
	l, err := Listen(addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// inProcess returns the listener served in memory, started on first use;
// DialInProcess connects to it. Peers on it are trusted fronts (see
// TrustedFrontIdentity): this is how a gateway in the same process reaches
// the core without a socket.
func (s *Server) inProcess() *bufconn.Listener {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inproc == nil {
		s.inproc = bufconn.Listen(1 << 20)
		go s.grpc.Serve(inprocListener{s.inproc}) //nolint:errcheck // ends with the server
	}
	return s.inproc
}

// DialInProcess returns a connection to the server that needs no socket.
// Close it before stopping the server. Unary calls of registered services
// run directly through the server's interceptor chain and handler, after
// the client interceptors in opts; streams use an in-memory connection,
// except server streams asked for with the gateway's push option, which
// also run directly (push.go).
func (s *Server) DialInProcess(opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	l := s.inProcess()
	base := []grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return l.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecureCreds()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(s.opts.limits.MaxSendBytes)),
	}
	all := append(append(base, opts...), grpc.WithChainUnaryInterceptor(s.directUnary), grpc.WithChainStreamInterceptor(s.directStream))
	return grpc.NewClient("passthrough:///"+inProcessAuthority, all...)
}

type inprocListener struct{ *bufconn.Listener }

func (l inprocListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return inprocConn{c}, nil
}

type inprocConn struct{ net.Conn }

func (inprocConn) RemoteAddr() net.Addr { return InProcessAddr{} }
func (inprocConn) LocalAddr() net.Addr  { return InProcessAddr{} }

// Shutdown stops accepting calls, marks the health service NOT_SERVING,
// ends listen streams with unavailable (clients reconnect and resume), and
// waits for in-flight commands to finish until ctx is done; then it cancels
// what is left and closes the event bus.
func (s *Server) Shutdown(ctx context.Context) error {
	s.health.Shutdown()
	s.stopBusHealth()
	s.stopDraining()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
		err = ctx.Err()
	}
	s.closeResources()
	s.bus.Close()
	return err
}

// Context returns a context that ends when the server starts shutting down
// (Shutdown or Stop). Background work of an app — a ticker that emits
// events, a task that keeps sending on a channel — should end with it.
func (s *Server) Context() context.Context { return s.draining }

// Stop stops the server at once, cancelling calls in flight, and closes the
// event bus.
func (s *Server) Stop() {
	s.health.Shutdown()
	s.stopBusHealth()
	s.stopDraining()
	s.grpc.Stop()
	s.closeResources()
	s.bus.Close()
}

// GRPCServer returns the underlying grpc.Server, for registering services
// that must not become commands.
func (s *Server) GRPCServer() *grpc.Server { return s.grpc }

// Health returns the gRPC health service, for reporting readiness. With a
// bus that implements bus.Health (natsbus), the server sets the overall
// status ("") from the bus's health; Shutdown sets NOT_SERVING for good.
func (s *Server) Health() *health.Server { return s.health }

// newCall builds the Call for ctx and establishes the caller's identity.
func (s *Server) newCall(ctx context.Context, kind tether.Kind, name, method string) (*tether.Call, error) {
	c := &tether.Call{Kind: kind, Name: name, Method: method}
	if p, ok := peer.FromContext(ctx); ok {
		c.Peer = p.Addr
	}
	c.Conn, c.Caller = callerIDs(ctx)
	if md, ok := incomingMetadata(ctx); ok {
		c.Header = md
	}
	label, origin, err := s.opts.identity(ctx)
	if err != nil {
		return nil, tether.FromError(err)
	}
	c.ClientLabel, c.Origin = label, origin
	c.Sealed = isolation.FromSealed(ctx)
	return c, nil
}

// recoverTo turns a panic into an internal error in *err and logs it.
func (s *Server) recoverTo(err *error, what string) {
	if r := recover(); r != nil {
		s.log.Error("tether: panic in "+what, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*err = tether.Errorf(tether.CodeInternal, "%s panicked", what)
	}
}

// unaryEntry is the innermost wire interceptor. Typed calls of registered
// services go through the command chain here; IPC calls resolve their
// command themselves and run the same chain in ipcService.
func (s *Server) unaryEntry(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	if bypassChain(info.FullMethod) {
		return handler(ctx, req)
	}
	defer s.recoverTo(&err, "command "+info.FullMethod)
	call, err := s.typedCall(ctx, tether.KindInvoke, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return s.unary(tether.WithCall(ctx, call), req, info, handler)
}

func (s *Server) streamEntry(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	if bypassChain(info.FullMethod) {
		return handler(srv, ss)
	}
	defer s.recoverTo(&err, "stream "+info.FullMethod)
	call, err := s.typedCall(ss.Context(), tether.KindChannel, info.FullMethod)
	if err != nil {
		return err
	}
	return s.stream(srv, &ctxStream{ServerStream: ss, ctx: tether.WithCall(ss.Context(), call)}, info, handler)
}

// typedCall builds the Call of a typed gRPC call: the command the method
// is registered as, or no name for a method that is not a command.
func (s *Server) typedCall(ctx context.Context, kind tether.Kind, method string) (*tether.Call, error) {
	name := ""
	if cmd, ok := s.reg.lookupMethod(method); ok {
		name = cmd.name
	}
	return s.newCall(ctx, kind, name, method)
}

// bypassChain reports the methods that carry no command: the IPC methods
// (which run the chain per command), health and reflection.
func bypassChain(method string) bool {
	return strings.HasPrefix(method, "/tether.v1.IPC/") ||
		strings.HasPrefix(method, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(method, "/grpc.reflection.")
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// chainUnary builds the chain once, first interceptor outermost; an empty
// chain just calls the handler.
func chainUnary(is []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	switch len(is) {
	case 0:
		return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			return h(ctx, req)
		}
	case 1:
		return is[0]
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return is[0](ctx, req, info, unaryNext(is, 1, info, handler))
	}
}

// bindUnary is the chain of is for one method (info) and handler, built
// once: calls through it make no function per interceptor, as the chain of
// chainUnary does for the handler of each call.
func bindUnary(is []grpc.UnaryServerInterceptor, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) grpc.UnaryHandler {
	h := handler
	for i := len(is) - 1; i >= 0; i-- {
		in, next := is[i], h
		h = func(ctx context.Context, req any) (any, error) { return in(ctx, req, info, next) }
	}
	return h
}

func unaryNext(is []grpc.UnaryServerInterceptor, i int, info *grpc.UnaryServerInfo, final grpc.UnaryHandler) grpc.UnaryHandler {
	if i == len(is) {
		return final
	}
	return func(ctx context.Context, req any) (any, error) {
		return is[i](ctx, req, info, unaryNext(is, i+1, info, final))
	}
}

func chainStream(is []grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	switch len(is) {
	case 0:
		return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return h(srv, ss)
		}
	case 1:
		return is[0]
	}
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return is[0](srv, ss, info, streamNext(is, 1, info, handler))
	}
}

func streamNext(is []grpc.StreamServerInterceptor, i int, info *grpc.StreamServerInfo, final grpc.StreamHandler) grpc.StreamHandler {
	if i == len(is) {
		return final
	}
	return func(srv any, ss grpc.ServerStream) error {
		return is[i](srv, ss, info, streamNext(is, i+1, info, final))
	}
}
