package logging

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/internal/inproc"
)

// HeaderRequestID is the response header (and, from trusted fronts, the
// request header) that carries a call's request id.
const HeaderRequestID = "tether-request-id"

// maxErrorLen bounds the error message a record carries.
const maxErrorLen = 256

// Option configures the interceptors.
type Option func(*config)

type config struct {
	argSizes bool
	level    func(tether.Code) slog.Level
	newID    func() string
}

// WithArgSizes adds an args_bytes attribute: the size of the decoded
// arguments when they are a proto message or raw bytes (other argument
// types are not measured). The arguments themselves are never logged.
func WithArgSizes() Option { return func(c *config) { c.argSizes = true } }

// WithLevels sets the level of a call's record from its code. The default is
// DefaultLevel.
func WithLevels(f func(tether.Code) slog.Level) Option {
	return func(c *config) {
		if f != nil {
			c.level = f
		}
	}
}

// WithRequestIDs sets how request ids are made (the default is 16 hex
// characters from crypto/rand). f must be safe for concurrent use.
func WithRequestIDs(f func() string) Option {
	return func(c *config) {
		if f != nil {
			c.newID = f
		}
	}
}

// DefaultLevel is info for ok and canceled, error for unknown, internal,
// data_loss and unimplemented, and warn for every other code.
func DefaultLevel(c tether.Code) slog.Level {
	switch c {
	case tether.CodeOK, tether.CodeCanceled:
		return slog.LevelInfo
	case tether.CodeUnknown, tether.CodeInternal, tether.CodeDataLoss, tether.CodeUnimplemented:
		return slog.LevelError
	}
	return slog.LevelWarn
}

// NewRequestID returns 16 random hex characters.
func NewRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

type idKey struct{}

// RequestID returns the request id of the call ctx belongs to, or "" when
// the call did not pass through these interceptors.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(idKey{}).(string)
	return id
}

// ContextWithRequestID returns ctx carrying id as its request id.
func ContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, idKey{}, id)
}

func newConfig(opts []Option) *config {
	c := &config{level: DefaultLevel, newID: NewRequestID}
	for _, o := range opts {
		o(c)
	}
	return c
}

// UnaryServerInterceptor logs unary commands and emits. A nil logger means
// slog.Default().
func UnaryServerInterceptor(l *slog.Logger, opts ...Option) grpc.UnaryServerInterceptor {
	c := newConfig(opts)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		ctx, id := c.begin(ctx)
		resp, err := handler(ctx, req)
		c.end(ctx, logger(l), id, info.FullMethod, tether.KindInvoke, start, err, req)
		return resp, err
	}
}

// StreamServerInterceptor logs channel commands and listen streams, once
// each, when they end. A nil logger means slog.Default().
func StreamServerInterceptor(l *slog.Logger, opts ...Option) grpc.StreamServerInterceptor {
	c := newConfig(opts)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		ctx, id := c.begin(ss.Context())
		err := handler(srv, &stream{ServerStream: ss, ctx: ctx})
		c.end(ctx, logger(l), id, info.FullMethod, tether.KindChannel, start, err, nil)
		return err
	}
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *stream) Context() context.Context { return s.ctx }

// begin picks the call's request id, puts it in the context and sends it
// back as a response header. Setting the header fails harmlessly for calls
// that have no gRPC stream (in-process invokes).
func (c *config) begin(ctx context.Context) (context.Context, string) {
	id := incomingID(ctx)
	if id == "" {
		id = c.newID()
	}
	if st := grpc.ServerTransportStreamFromContext(ctx); st != nil {
		if hs, ok := st.(inproc.HeaderSink); !ok || !hs.DiscardsHeader() {
			_ = grpc.SetHeader(ctx, metadata.Pairs(HeaderRequestID, id))
		}
	}
	return ContextWithRequestID(ctx, id), id
}

func incomingID(ctx context.Context) string {
	var vs []string
	if call, ok := tether.CallFromContext(ctx); ok {
		vs = call.Header.Get(HeaderRequestID)
	} else if md, ok := metadata.FromIncomingContext(ctx); ok {
		vs = md.Get(HeaderRequestID)
	}
	if len(vs) == 0 || !validID(vs[0]) {
		return ""
	}
	return vs[0]
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_' || b == '.') {
			return false
		}
	}
	return true
}

func (c *config) end(ctx context.Context, l *slog.Logger, id, method string, kind tether.Kind, start time.Time, err error, req any) {
	code := tether.CodeOf(err)
	level := c.level(code)
	if !l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs, slog.String("request_id", id))
	name, label, peer := "", "", ""
	if call, ok := tether.CallFromContext(ctx); ok {
		kind, name, label = call.Kind, call.Name, call.ClientLabel
		if call.Peer != nil {
			peer = call.Peer.String()
		}
		if call.Method != "" {
			method = call.Method
		}
	}
	attrs = append(attrs,
		slog.String("kind", kind.String()),
		slog.String("name", name),
		slog.String("method", method),
		slog.String("client_label", label),
		slog.String("peer", peer),
		slog.String("code", code.String()),
		slog.Duration("duration", time.Since(start)),
	)
	if c.argSizes {
		switch r := req.(type) {
		case proto.Message:
			attrs = append(attrs, slog.Int("args_bytes", proto.Size(r)))
		case []byte:
			attrs = append(attrs, slog.Int("args_bytes", len(r)))
		}
	}
	if err != nil {
		// The message may quote the caller's input (a name, a path): it is
		// logged as the error the caller receives, never the arguments.
		msg := tether.FromError(err).Message()
		if len(msg) > maxErrorLen {
			msg = msg[:maxErrorLen] + "…"
		}
		attrs = append(attrs, slog.String("error", msg))
	}
	// The record is made here rather than by l.LogAttrs, which would look
	// up its caller's source location at each call: a location in this
	// package, which says nothing of the call logged.
	r := slog.NewRecord(time.Now(), level, "tether call", 0)
	r.AddAttrs(attrs...)
	_ = l.Handler().Handle(ctx, r)
}
