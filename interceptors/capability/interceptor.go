package capability

import (
	"context"

	"google.golang.org/grpc"

	"github.com/tether-ipc/tether"
)

// errNoCall is returned when the context carries no *tether.Call: the
// interceptor was installed where nothing describes the call, so it cannot
// decide, and it fails closed.
var errNoCall = tether.NewError(tether.CodePermissionDenied,
	"capability: no call information in the context (install the interceptor in a tether server's command chain)")

// authorize checks the call in ctx against set and attaches the granted
// scopes to it.
func authorize(ctx context.Context, set *Set) error {
	call, ok := tether.CallFromContext(ctx)
	if !ok || call == nil {
		return errNoCall
	}
	d, err := set.Check(call)
	if err != nil {
		return err
	}
	if d.Configured {
		call.Scopes = d.Scopes
	}
	return nil
}

// UnaryServerInterceptor returns an interceptor that checks every unary call
// against set before the handler runs. It reads the call from the context
// (tether.CallFromContext), so it belongs in a tether server's command
// chain, after whatever establishes the client's label. A call with no
// *tether.Call in its context is refused, whatever set holds. A denied
// call's handler never runs; an allowed call's scopes are put in
// call.Scopes for the handler. A nil or empty set allows every call.
func UnaryServerInterceptor(set *Set) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := authorize(ctx, set); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streaming calls
// (channels, listen). The check happens before the handler runs, so a denied
// stream ends at once with permission_denied.
func StreamServerInterceptor(set *Set) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := authorize(ss.Context(), set); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}
