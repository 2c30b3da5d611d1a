package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/bulk"
	"github.com/tether-ipc/tether/internal/netaddr"
	"github.com/tether-ipc/tether/internal/payload"
)

// Client calls a Tether core over gRPC. It is safe for concurrent use. Its
// connection also serves the typed clients generated for the core's
// services: demov1.NewDemoClient(c.Conn()).
type Client struct {
	conn  grpc.ClientConnInterface
	owned *grpc.ClientConn
	ipc   tetherv1.IPCClient
}

// ReconnectBackoff is how Dial's connections wait between attempts to
// reach a core that went away: 100ms, growing 1.6 times, at most 1s (±20%).
// Pass grpc.WithConnectParams in WithDialOptions to change it.
var ReconnectBackoff = backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second}

// Option configures Dial.
type Option func(*dialOptions)

type dialOptions struct {
	grpc []grpc.DialOption
}

// WithDialOptions passes options to grpc.NewClient, e.g. transport
// credentials or interceptors (an isolation stage is a pair of client
// interceptors).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *dialOptions) { o.grpc = append(o.grpc, opts...) }
}

// WithToken sends the app's secret with every call, as gRPC metadata
// "authorization: Bearer TOKEN": a core reached over TCP requires it (see
// server.WithToken; Unix sockets need none). The token travels in
// plaintext unless the connection has transport security, which suits
// loopback.
func WithToken(token string) Option {
	return WithDialOptions(grpc.WithPerRPCCredentials(bearer(token)))
}

// WithTokenFile sends the secret kept in the file at path — the token file
// an app writes to its runtime folder at each launch — with every call,
// reading the file at the call: a client that reconnects after the core
// restarted with a new secret sends the new one. While the file is missing
// no secret is sent (a core with gateway.auth "none" wants none); an empty
// or unreadable file fails the call.
func WithTokenFile(path string) Option {
	return WithDialOptions(grpc.WithPerRPCCredentials(tokenFile(path)))
}

// ReadTokenFile reads the secret in the token file at path, trimmed of
// white space; an empty file is an error.
func ReadTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return tok, nil
}

type tokenFile string

func (f tokenFile) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	tok, err := ReadTokenFile(string(f))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

func (tokenFile) RequireTransportSecurity() bool { return false }

// bearer is a token as per-call credentials.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

// Dial returns a client for the core at addr: "host:port" or
// "unix:///path". The connection is made lazily and re-established after a
// core restart. Without transport credentials in the options it connects in
// plaintext, which suits loopback and Unix sockets.
func Dial(addr string, opts ...Option) (*Client, error) {
	target, err := netaddr.GRPCTarget(addr)
	if err != nil {
		return nil, tether.NewError(tether.CodeInvalidArgument, err.Error())
	}
	var o dialOptions
	for _, opt := range opts {
		opt(&o)
	}
	gopts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20), grpc.ForceCodecV2(bulk.Codec{})),
		// As the server (server.TransportBuffers, TransportWindow).
		grpc.WithReadBufferSize(256 << 10),
		grpc.WithWriteBufferSize(256 << 10),
		grpc.WithSharedWriteBuffer(true),
		grpc.WithInitialWindowSize(16 << 20),
		grpc.WithInitialConnWindowSize(16 << 20),
		// grpc-go's default reconnect backoff grows to 120s: after a few
		// restarts of the core, calls and listeners would fail fast with
		// unavailable for minutes while the core is back. Keep it short.
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: ReconnectBackoff, MinConnectTimeout: 5 * time.Second}),
		// Every call on the connection, generated typed clients' too, fails
		// with a *tether.Error.
		grpc.WithChainUnaryInterceptor(unaryErrors),
		grpc.WithChainStreamInterceptor(streamErrors),
	}, o.grpc...)
	conn, err := grpc.NewClient(target, gopts...)
	if err != nil {
		return nil, tether.Errorf(tether.CodeInvalidArgument, "dial %s: %v", addr, err)
	}
	c := New(conn)
	c.owned = conn
	return c, nil
}

// New returns a client on an existing connection, which the caller keeps
// owning.
func New(conn grpc.ClientConnInterface) *Client {
	return &Client{conn: conn, ipc: tetherv1.NewIPCClient(conn)}
}

// Conn returns the connection, for generated typed clients.
func (c *Client) Conn() grpc.ClientConnInterface { return c.conn }

// IPC returns the raw tether.v1.IPC client.
func (c *Client) IPC() tetherv1.IPCClient { return c.ipc }

// Close closes the connection if Dial made it.
func (c *Client) Close() error {
	if c.owned == nil {
		return nil
	}
	return c.owned.Close()
}

// CallOption configures one call.
type CallOption func(*tetherv1.InvokeRequest, *[]grpc.CallOption)

// WithHeaders sends headers with an invoke, as Tauri's invoke options do.
func WithHeaders(h map[string]string) CallOption {
	return func(r *tetherv1.InvokeRequest, _ *[]grpc.CallOption) {
		if r.Headers == nil {
			r.Headers = map[string]string{}
		}
		for k, v := range h {
			r.Headers[k] = v
		}
	}
}

// WithIdempotencyKey makes a retried invoke with the same key return the
// first result instead of running the command again.
func WithIdempotencyKey(key string) CallOption {
	return func(r *tetherv1.InvokeRequest, _ *[]grpc.CallOption) { r.IdempotencyKey = key }
}

// WithGRPCCallOptions passes options to the gRPC call.
func WithGRPCCallOptions(opts ...grpc.CallOption) CallOption {
	return func(_ *tetherv1.InvokeRequest, o *[]grpc.CallOption) { *o = append(*o, opts...) }
}

// Invoke runs a command by name. args may be a proto message (sent as
// proto), []byte (raw), json.RawMessage, nil, or any value encoding/json
// accepts; result may be a proto message, *[]byte, *json.RawMessage, a
// pointer encoding/json decodes into, or nil to discard. Errors are
// *tether.Error with the code, message and details the command returned.
func (c *Client) Invoke(ctx context.Context, command string, args, result any, opts ...CallOption) error {
	p, err := payload.Of(args)
	if err != nil {
		return err
	}
	req := &tetherv1.InvokeRequest{Command: command, Args: p}
	var copts []grpc.CallOption
	for _, o := range opts {
		o(req, &copts)
	}
	res, err := c.ipc.Invoke(ctx, req, copts...)
	if err != nil {
		return tether.FromError(err)
	}
	if err := payload.Decode(res.GetResult(), result); err != nil {
		// The command ran: this is not the caller's argument at fault.
		return tether.Errorf(tether.CodeInternal, "%s ran, but its result does not fit %T: %s", command, result, tether.FromError(err).Message())
	}
	return nil
}

// WithClientLabel returns a context whose calls carry a client label and
// origin. The core believes them only from trusted fronts (see
// server.TrustedFrontIdentity), e.g. over its Unix socket.
func WithClientLabel(ctx context.Context, label, origin string) context.Context {
	kv := []string{tether.MetadataClientLabel, label}
	if origin != "" {
		kv = append(kv, tether.MetadataOrigin, origin)
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}
