package ratelimit

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"

	"github.com/tether-ipc/tether"
)

// Defaults of Limits' memory bounds.
const (
	DefaultMaxClients  = 10000
	DefaultIdleTimeout = 10 * time.Minute
)

// Limits configures a Limiter. Zero fields are off, except the memory
// bounds, which take the defaults.
type Limits struct {
	// Rate is the sustained number of calls per second each client (see
	// Key) may make; each unary command, emit, channel and listen call takes one
	// token. 0 means no rate limit.
	Rate float64
	// Burst is how many calls a client may make at once (the bucket's
	// size). Required when Rate is set.
	Burst int
	// MaxListeners bounds each client's concurrent listen streams (a
	// client is what Key returns: by default a label and one caller of it).
	// 0 means no bound. The server bounds every caller's streams besides
	// (server.Limits).
	MaxListeners int
	// MaxStreamLifetime ends every stream (channel or listen) after this
	// long, give or take 10% so that clients do not all reconnect at once.
	// 0 means no bound.
	MaxStreamLifetime time.Duration
	// MaxClients bounds the token buckets kept (default 10000).
	MaxClients int
	// IdleTimeout drops the bucket of a client idle this long (default 10m).
	IdleTimeout time.Duration
	// Key returns the client a call counts against. The default is
	// DefaultKey.
	Key func(ctx context.Context, call *tether.Call) string
}

// DefaultKey is the client a call counts against: its client label and
// its caller ("main@session:…", "main@pid:4242"; see tether.Call.Caller),
// so that callers sharing a label — a page and a local process both
// labelled "main" — each have their own rate and listeners; or the label
// alone when the caller is unknown; or else "peer:" and the host of its
// peer address, or else "".
func DefaultKey(_ context.Context, call *tether.Call) string {
	if call == nil {
		return ""
	}
	if call.ClientLabel != "" {
		if call.Caller != "" {
			return call.ClientLabel + "@" + call.Caller
		}
		return call.ClientLabel
	}
	if call.Caller != "" {
		return "peer:" + call.Caller
	}
	if call.Peer != nil {
		host := call.Peer.String()
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		return "peer:" + host
	}
	return ""
}

// Limiter enforces Limits. It is safe for concurrent use.
type Limiter struct {
	lim Limits

	mu        sync.Mutex
	buckets   map[string]*list.Element // of *bucket
	lru       list.List                // front: most recently used
	listeners map[string]int           // live listen streams per client; only clients with some
}

type bucket struct {
	key  string
	tb   *rate.Limiter
	seen time.Time
}

// New returns a Limiter. It fails when no limit is set or a limit is
// negative, or when Rate is set without a positive Burst.
func New(l Limits) (*Limiter, error) {
	switch {
	case l.Rate < 0 || l.Burst < 0 || l.MaxListeners < 0 || l.MaxStreamLifetime < 0 || l.MaxClients < 0 || l.IdleTimeout < 0:
		return nil, tether.NewError(tether.CodeInvalidArgument, "ratelimit: limits must not be negative")
	case l.Rate == 0 && l.MaxListeners == 0 && l.MaxStreamLifetime == 0:
		return nil, tether.NewError(tether.CodeInvalidArgument, "ratelimit: no limit set (Rate, MaxListeners or MaxStreamLifetime)")
	case l.Rate > 0 && l.Burst == 0:
		return nil, tether.NewError(tether.CodeInvalidArgument, "ratelimit: Rate needs a positive Burst")
	}
	if l.MaxClients == 0 {
		l.MaxClients = DefaultMaxClients
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.Key == nil {
		l.Key = DefaultKey
	}
	return &Limiter{lim: l, buckets: map[string]*list.Element{}, listeners: map[string]int{}}, nil
}

// Clients returns how many token buckets are held.
func (l *Limiter) Clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// allow takes a token for key, or returns a resource_exhausted error.
func (l *Limiter) allow(key string) error {
	if l.lim.Rate == 0 {
		return nil
	}
	now := time.Now()
	l.mu.Lock()
	b := l.bucketLocked(key, now)
	r := b.tb.ReserveN(now, 1)
	var delay time.Duration
	if r.OK() {
		if delay = r.DelayFrom(now); delay > 0 {
			r.CancelAt(now)
		}
	}
	l.mu.Unlock()
	if delay <= 0 {
		return nil
	}
	ms := max(delay.Milliseconds(), 1)
	return tether.Errorf(tether.CodeResourceExhausted, "rate limit exceeded for client %q: retry after %dms", key, ms).
		WithDetails(map[string]int64{"retry_after_ms": ms})
}

// bucketLocked returns key's bucket, making it if need be, and drops idle
// buckets and those beyond MaxClients.
func (l *Limiter) bucketLocked(key string, now time.Time) *bucket {
	if e, ok := l.buckets[key]; ok {
		b := e.Value.(*bucket)
		b.seen = now
		l.lru.MoveToFront(e)
		return b
	}
	// Drop the idle, then the least recently used while over the bound.
	// Each step removes one bucket, so this ends.
	for e := l.lru.Back(); e != nil; e = l.lru.Back() {
		b := e.Value.(*bucket)
		if len(l.buckets) < l.lim.MaxClients && now.Sub(b.seen) < l.lim.IdleTimeout {
			break
		}
		l.lru.Remove(e)
		delete(l.buckets, b.key)
	}
	b := &bucket{key: key, tb: rate.NewLimiter(rate.Limit(l.lim.Rate), l.lim.Burst), seen: now}
	l.buckets[key] = l.lru.PushFront(b)
	return b
}

// UnaryServerInterceptor rate-limits unary commands and emits.
func (l *Limiter) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		call, _ := tether.CallFromContext(ctx)
		if err := l.allow(l.lim.Key(ctx, call)); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// errLifetime is the cause of a stream's end at MaxStreamLifetime.
var errLifetime = errors.New("stream lifetime exceeded")

// StreamServerInterceptor rate-limits the opening of channel and listen
// streams, bounds each client's listen streams, and ends streams that reach
// MaxStreamLifetime.
func (l *Limiter) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx := ss.Context()
		call, _ := tether.CallFromContext(ctx)
		key := l.lim.Key(ctx, call)
		if err := l.allow(key); err != nil {
			return err
		}
		if call != nil && call.Kind == tether.KindListen && l.lim.MaxListeners > 0 {
			if err := l.addListener(key); err != nil {
				return err
			}
			defer l.removeListener(key)
		}
		if l.lim.MaxStreamLifetime <= 0 {
			return handler(srv, ss)
		}
		sctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		t := time.AfterFunc(jitter(l.lim.MaxStreamLifetime), func() { cancel(errLifetime) })
		defer t.Stop()
		err := handler(srv, &stream{ServerStream: ss, ctx: sctx})
		if ctx.Err() == nil && errors.Is(context.Cause(sctx), errLifetime) {
			return tether.NewError(tether.CodeUnavailable, "stream lifetime exceeded, reconnect")
		}
		return err
	}
}

// jitter returns d give or take 10%.
func jitter(d time.Duration) time.Duration {
	j := int64(d / 10)
	if j <= 0 {
		return d
	}
	return d - time.Duration(j) + time.Duration(rand.Int64N(2*j+1))
}

func (l *Limiter) addListener(key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.listeners[key] >= l.lim.MaxListeners {
		return tether.NewError(tether.CodeResourceExhausted,
			fmt.Sprintf("client %q has %d listen streams open, the most allowed: close one first", key, l.lim.MaxListeners))
	}
	l.listeners[key]++
	return nil
}

func (l *Limiter) removeListener(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.listeners[key]--; l.listeners[key] <= 0 {
		delete(l.listeners, key)
	}
}

type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *stream) Context() context.Context { return s.ctx }
