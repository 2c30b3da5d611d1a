package isolation

import (
	"context"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// ServerOption configures the server interceptors.
type ServerOption func(*serverConfig)

type serverConfig struct {
	trusted func(context.Context) bool
}

// WithTrustedPeer lets the calls for which trusted returns true through
// without a seal: typed methods and unsealed IPC requests. A sealed request
// is still opened and verified, whoever sends it. Use it for in-process or
// Unix-socket peers the core started itself, never for anything a frontend
// can reach.
func WithTrustedPeer(trusted func(ctx context.Context) bool) ServerOption {
	return func(c *serverConfig) { c.trusted = trusted }
}

type sealedKey struct{}

// sealedTrue is the flag of every unary call that arrived sealed: it is
// known before the handler runs and never changes.
var sealedTrue = func() *atomic.Bool {
	f := new(atomic.Bool)
	f.Store(true)
	return f
}()

// FromSealed reports whether the request of the call whose context is ctx
// arrived sealed and was opened and verified. The server sets
// tether.Call.Sealed from it. In a streaming handler it becomes true once
// the request has been received.
func FromSealed(ctx context.Context) bool {
	f, ok := ctx.Value(sealedKey{}).(*atomic.Bool)
	return ok && f.Load()
}

func withSealedFlag(ctx context.Context) (context.Context, *atomic.Bool) {
	f := new(atomic.Bool)
	return context.WithValue(ctx, sealedKey{}, f), f
}

// incomingLabel returns the first tether-client-label of the call, as the
// server's identity functions read it, without copying the whole metadata.
func incomingLabel(ctx context.Context) string {
	if v := metadata.ValueFromIncomingContext(ctx, tether.MetadataClientLabel); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c *serverConfig) isTrusted(ctx context.Context) bool {
	return c.trusted != nil && c.trusted(ctx)
}

func newServerConfig(opts []ServerOption) *serverConfig {
	c := &serverConfig{}
	for _, o := range opts {
		o(c)
	}
	return c
}

// openRequest opens req in place — the request the handler gets becomes
// the opened one — unless it is a trusted peer's unsealed request, which
// passes as it is. It reports whether req was sealed. On failure req's
// content is undefined: the caller must drop it.
func openRequest(ctx context.Context, o *Opener, c *serverConfig, kind tether.Kind, req any) (bool, error) {
	msg, ok := req.(proto.Message)
	if !ok {
		return false, refuse(ReasonMalformed, "request is not a proto message")
	}
	if !hasSealed(msg) && c.isTrusted(ctx) {
		return false, nil
	}
	if err := o.openInPlace(kind, incomingLabel(ctx), msg); err != nil {
		return false, err
	}
	return true, nil
}

func hasSealed(msg proto.Message) bool {
	switch m := msg.(type) {
	case *tetherv1.InvokeRequest:
		return m.GetSealed() != nil
	case *tetherv1.EmitRequest:
		return m.GetSealed() != nil
	case *tetherv1.ListenRequest:
		return m.GetSealed() != nil
	}
	return false
}

// UnaryServerInterceptor returns the core's interceptor for isolation mode.
// Invoke and Emit must carry a seal that opener verifies for the method's
// kind, the routing name in clear and the tether-client-label metadata; the
// request is replaced by the opened one before the handler sees it, and
// FromSealed reports true. ListCommands, health and reflection pass. Every
// other call — typed user methods, IPC requests without a seal — is refused
// with permission_denied unless WithTrustedPeer says the peer is trusted.
func UnaryServerInterceptor(opener *Opener, opts ...ServerOption) grpc.UnaryServerInterceptor {
	c := newServerConfig(opts)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if passes(info.FullMethod) {
			return handler(ctx, req)
		}
		kind, ok := kindOf(info.FullMethod)
		if !ok || kind == tether.KindChannel || kind == tether.KindListen {
			if c.isTrusted(ctx) {
				return handler(ctx, req)
			}
			return nil, refuse(ReasonMethod, "isolation mode accepts only sealed IPC requests: "+info.FullMethod)
		}
		sealed, err := openRequest(ctx, opener, c, kind, req)
		if err != nil {
			return nil, err
		}
		if sealed {
			ctx = context.WithValue(ctx, sealedKey{}, sealedTrue)
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for Channel and Listen:
// the first received message must carry a valid seal and is replaced by the
// opened request; the handler never runs otherwise.
func StreamServerInterceptor(opener *Opener, opts ...ServerOption) grpc.StreamServerInterceptor {
	c := newServerConfig(opts)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if passes(info.FullMethod) {
			return handler(srv, ss)
		}
		kind, ok := kindOf(info.FullMethod)
		if !ok || kind == tether.KindInvoke || kind == tether.KindEmit {
			if c.isTrusted(ss.Context()) {
				return handler(srv, ss)
			}
			return refuse(ReasonMethod, "isolation mode accepts only sealed IPC requests: "+info.FullMethod)
		}
		ctx, flag := withSealedFlag(ss.Context())
		return handler(srv, &openingStream{ServerStream: ss, ctx: ctx, flag: flag, opener: opener, cfg: c, kind: kind})
	}
}

type openingStream struct {
	grpc.ServerStream
	ctx    context.Context
	flag   *atomic.Bool
	opener *Opener
	cfg    *serverConfig
	kind   tether.Kind
	got    bool
}

func (s *openingStream) Context() context.Context { return s.ctx }

func (s *openingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if s.got {
		return refuse(ReasonMethod, "isolation mode accepts one request per stream")
	}
	s.got = true
	sealed, err := openRequest(s.ctx, s.opener, s.cfg, s.kind, m) // m is opened in place
	if err != nil {
		return err
	}
	s.flag.Store(sealed)
	return nil
}
