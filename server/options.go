package server

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/bus"
)

// Option configures a Server.
type Option func(*options)

type options struct {
	unary        []grpc.UnaryServerInterceptor
	stream       []grpc.StreamServerInterceptor
	wireUnary    []grpc.UnaryServerInterceptor
	wireStream   []grpc.StreamServerInterceptor
	grpcOpts     []grpc.ServerOption
	identity     IdentityFunc
	logger       *slog.Logger
	limits       Limits
	noReflection bool
	noValidation bool
	bus          bus.Bus
	events       EventObserver
	token        string
	dataDir      string
	strictAll    bool
	strict       map[string]bool
}

func (o *options) strictArgs(command string) bool { return o.strictAll || o.strict[command] }

// WithStrictArgs makes the named commands — every command when none is
// named — refuse JSON arguments with a key their handler does not bind
// (invalid_argument "unknown argument …"). By default such keys are
// ignored, as serde and grpc-gateway ignore them: they are dropped before
// anything reads the arguments, so neither a handler nor an isolation hook
// sees them, under any spelling. Either way a key the handler binds given
// under two spellings is refused.
func WithStrictArgs(commands ...string) Option {
	return func(o *options) {
		if len(commands) == 0 {
			o.strictAll = true
			return
		}
		if o.strict == nil {
			o.strict = map[string]bool{}
		}
		for _, c := range commands {
			o.strict[c] = true
		}
	}
}

// WithDataDir sets the app's data folder, where plugins keep their files
// (the store plugin's stores); see (*Server).DataDir. Package app sets it
// from the configuration.
func WithDataDir(dir string) Option {
	return func(o *options) { o.dataDir = dir }
}

// Limits bound what one call may carry. Zero fields take the defaults.
type Limits struct {
	// MaxMessageBytes bounds one received gRPC message (default 4 MiB, as
	// grpc-go); larger ones fail with resource_exhausted.
	MaxMessageBytes int
	// MaxSendBytes bounds one sent message (default 256 MiB, so commands may
	// return large raw results).
	MaxSendBytes int
	// MaxDepth bounds the nesting of JSON args (default 64).
	MaxDepth int
	// MaxStreamsPerConn bounds the open server streams (listen, channel)
	// of one connection, and MaxStreamsPerCaller those of one caller
	// (tether.Call's Conn and Caller: for the gateway's callers, each HTTP
	// connection and each page session or HTTP client); defaults 256 and
	// 512. A stream beyond either is refused with resource_exhausted, so
	// that no caller can take the slots others need.
	MaxStreamsPerConn, MaxStreamsPerCaller int
	// StreamWriteTimeout ends a gRPC server stream whose send has waited
	// this long for the client to read (default 60 s; negative: never),
	// with resource_exhausted; unless the connection is in-process, the
	// connection is closed too (every stream on it ends; clients reconnect
	// and resume), which frees what the transport held for the client.
	StreamWriteTimeout time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxStreamsPerConn <= 0 {
		l.MaxStreamsPerConn = DefaultMaxStreamsPerConn
	}
	if l.MaxStreamsPerCaller <= 0 {
		l.MaxStreamsPerCaller = DefaultMaxStreamsPerCaller
	}
	if l.StreamWriteTimeout == 0 {
		l.StreamWriteTimeout = DefaultStreamWriteTimeout
	}
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = 4 << 20
	}
	if l.MaxSendBytes <= 0 {
		l.MaxSendBytes = 256 << 20
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 64
	}
	return l
}

// WithInterceptors appends unary interceptors to the command chain. The chain
// runs once for every unary command call, however it arrived — a typed gRPC
// call, Invoke by name with JSON or proto args, the gateway, or in-process —
// with info.FullMethod set to the command's method and the request already
// decoded to the command's argument type. It also runs for Emit. The first
// interceptor is outermost.
func WithInterceptors(i ...grpc.UnaryServerInterceptor) Option {
	return func(o *options) { o.unary = append(o.unary, i...) }
}

// WithStreamInterceptors appends stream interceptors to the chain that runs
// for channel commands (typed server-streaming calls and Channel by name) and
// for Listen.
func WithStreamInterceptors(i ...grpc.StreamServerInterceptor) Option {
	return func(o *options) { o.stream = append(o.stream, i...) }
}

// WithWireInterceptors adds interceptors that run on each gRPC call as it
// arrives, before the command is resolved or its arguments decoded: the
// place for transport-level gates such as isolation's open-and-verify. They
// see the IPC method itself ("/tether.v1.IPC/Invoke") and its raw request.
// In-process calls (Server.Invoke) do not pass through them.
func WithWireInterceptors(unary grpc.UnaryServerInterceptor, stream grpc.StreamServerInterceptor) Option {
	return func(o *options) {
		if unary != nil {
			o.wireUnary = append(o.wireUnary, unary)
		}
		if stream != nil {
			o.wireStream = append(o.wireStream, stream)
		}
	}
}

// WithGRPCOptions passes options to the underlying grpc.Server.
func WithGRPCOptions(opts ...grpc.ServerOption) Option {
	return func(o *options) { o.grpcOpts = append(o.grpcOpts, opts...) }
}

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithLimits sets message and argument limits.
func WithLimits(l Limits) Option {
	return func(o *options) { o.limits = l }
}

// WithoutReflection turns off the gRPC reflection service, which is on by
// default so that grpcurl can list and call every command.
func WithoutReflection() Option {
	return func(o *options) { o.noReflection = true }
}

// WithoutValidation turns off the protovalidate rules of proto arguments,
// which are otherwise enforced as the innermost link of the chain, after
// the interceptors given with WithInterceptors.
func WithoutValidation() Option {
	return func(o *options) { o.noValidation = true }
}

// IdentityFunc establishes who is calling: the client label and the origin
// the core believes. It runs once per call, before the chain; an error
// refuses the call.
type IdentityFunc func(ctx context.Context) (label, origin string, err error)

// WithIdentity replaces how the client label and origin of a call are
// established. The default is TrustedFrontIdentity.
func WithIdentity(f IdentityFunc) Option {
	return func(o *options) { o.identity = f }
}

// TrustedFrontIdentity believes the tether-client-label and tether-origin
// metadata only from peers that are as trusted as the core itself: Unix
// socket peers (the socket is mode 0600, and peers of another user are
// refused, so only the same user can connect) and in-process connections.
// Calls through a trusted endpoint (ListenTrusted) get the endpoint's label,
// whatever they claim. Calls from TCP peers carry no label; give such
// callers one with a token-aware IdentityFunc.
func TrustedFrontIdentity(ctx context.Context) (label, origin string, err error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", "", nil
	}
	if t, ok := p.Addr.(TrustedAddr); ok {
		return t.Label, "", nil
	}
	if !trustedPeer(p.Addr) {
		return "", "", nil
	}
	return firstValue(ctx, tether.MetadataClientLabel), firstValue(ctx, tether.MetadataOrigin), nil
}

// firstValue is the first incoming metadata value of key, trimmed, read
// without copying the metadata.
func firstValue(ctx context.Context, key string) string {
	if v := metadata.ValueFromIncomingContext(ctx, key); len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

// InProcessAddr is the address of in-process connections (see
// Server.DialInProcess), which TrustedFrontIdentity trusts.
type InProcessAddr struct{}

func (InProcessAddr) Network() string { return "tether-inprocess" }
func (InProcessAddr) String() string  { return "in-process" }

func trustedPeer(a net.Addr) bool {
	if a == nil {
		return false
	}
	switch a.Network() {
	case "unix", "tether-inprocess":
		return true
	}
	return false
}
