package server

import (
	"context"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/tether-ipc/tether"
)

// WithToken makes callers that reach the core over the network (TCP) send
// the secret token as gRPC metadata "authorization: Bearer TOKEN"
// (client.WithToken does); others are refused with unauthenticated before
// anything else runs. Callers on a Unix socket (mode 0600, peers of this
// user only), on a trusted endpoint and in-process need none; nor does the
// health service. Package app gives the gateway's secret.
func WithToken(token string) Option {
	return func(o *options) { o.token = token }
}

var (
	errNoToken    = tether.NewError(tether.CodeUnauthenticated, "missing bearer token: callers over TCP send the app's secret as the metadata authorization: Bearer TOKEN")
	errWrongToken = tether.NewError(tether.CodeUnauthenticated, "wrong bearer token")
)

// checkToken refuses a call from a network peer without the token.
func (s *Server) checkToken(ctx context.Context, method string) error {
	p, ok := peer.FromContext(ctx)
	if ok && p.Addr != nil {
		switch p.Addr.Network() {
		case "unix", "tether-inprocess", "tether-trusted":
			return nil
		}
	}
	if strings.HasPrefix(method, "/grpc.health.v1.Health/") {
		return nil
	}
	v := metadata.ValueFromIncomingContext(ctx, "authorization")
	if len(v) == 0 {
		return errNoToken
	}
	got, ok := strings.CutPrefix(v[0], "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.token)) != 1 {
		return errWrongToken
	}
	return nil
}

func (s *Server) tokenUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := s.checkToken(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (s *Server) tokenStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := s.checkToken(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}
