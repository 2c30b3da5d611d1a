package idempotency

import (
	"bytes"
	"container/list"
	"context"
	"reflect"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether"
)

// Headers: the request header that carries a key on calls that have no key
// field (typed gRPC calls), and the response header of a replayed result.
const (
	HeaderKey    = "tether-idempotency-key"
	HeaderReplay = "tether-idempotent-replay"
)

// Defaults.
const (
	DefaultTTL        = 10 * time.Minute
	DefaultMaxEntries = 10000
	// MaxKeyLen bounds a key; longer keys fail with invalid_argument.
	MaxKeyLen = 255
)

// maxAttempts bounds how often a call waits for others with its key whose
// results were not kept, before it gives up with aborted.
const maxAttempts = 4

// Option configures New.
type Option func(*Cache)

// WithTTL sets how long a result is kept after its call ended (default 10
// minutes). d <= 0 keeps the default.
func WithTTL(d time.Duration) Option {
	return func(c *Cache) {
		if d > 0 {
			c.ttl = d
		}
	}
}

// WithMaxEntries bounds the results kept (default 10000); past it the oldest
// are dropped. n <= 0 keeps the default.
func WithMaxEntries(n int) Option {
	return func(c *Cache) {
		if n > 0 {
			c.max = n
		}
	}
}

// WithKeep sets which results are kept, by code. The default is Keep.
func WithKeep(f func(tether.Code) bool) Option {
	return func(c *Cache) {
		if f != nil {
			c.keep = f
		}
	}
}

// Keep reports whether a result with the code is final, and so kept: every
// code but canceled, deadline_exceeded, unavailable, resource_exhausted and
// aborted.
func Keep(code tether.Code) bool {
	switch code {
	case tether.CodeCanceled, tether.CodeDeadlineExceeded, tether.CodeUnavailable,
		tether.CodeResourceExhausted, tether.CodeAborted:
		return false
	}
	return true
}

// Cache holds the results of idempotent calls. It is safe for concurrent
// use; one Cache serves one server.
type Cache struct {
	ttl  time.Duration
	max  int
	keep func(tether.Code) bool

	store *store // nil unless made by Open

	mu      sync.Mutex
	entries map[string]*entry
	done    list.List // of *entry, kept results in the order they ended
}

type entry struct {
	key   string
	req   any
	hash  string        // hashRequest(req), for durable caches
	ready chan struct{} // closed when the first call ended

	// Durable caches only: the log lines of the start and of the kept
	// result (guarded by Cache.mu).
	begin, rec []byte

	// Set before ready is closed, read-only after.
	kept    bool
	resp    any
	err     error
	expires time.Time
	elem    *list.Element
}

// New returns an empty Cache.
func New(opts ...Option) *Cache {
	c := &Cache{ttl: DefaultTTL, max: DefaultMaxEntries, keep: Keep, entries: map[string]*entry{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// UnaryServerInterceptor returns New(opts...).UnaryServerInterceptor().
func UnaryServerInterceptor(opts ...Option) grpc.UnaryServerInterceptor {
	return New(opts...).UnaryServerInterceptor()
}

// Len returns the number of keys held (kept results and calls running).
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// UnaryServerInterceptor runs each keyed unary command once per key.
func (c *Cache) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		call, ok := tether.CallFromContext(ctx)
		if !ok || call.Kind != tether.KindInvoke {
			return handler(ctx, req)
		}
		key := call.IdempotencyKey
		if key == "" {
			if v := call.Header.Get(HeaderKey); len(v) > 0 {
				key = v[0]
			}
		}
		if key == "" {
			return handler(ctx, req)
		}
		if len(key) > MaxKeyLen {
			return nil, tether.Errorf(tether.CodeInvalidArgument, "idempotency key is %d bytes, the most is %d", len(key), MaxKeyLen)
		}
		name := call.Name
		if name == "" {
			name = info.FullMethod
		}
		k := call.ClientLabel + "\x00" + name + "\x00" + key
		for range maxAttempts {
			e, leader := c.claim(k, req)
			if leader {
				return c.lead(ctx, e, req, handler)
			}
			if !e.same(req) {
				return nil, tether.Errorf(tether.CodeInvalidArgument, "idempotency key %q was used with different arguments", key)
			}
			select {
			case <-e.ready:
			case <-ctx.Done():
				return nil, tether.FromError(ctx.Err())
			}
			if !e.kept {
				continue // the first call's result was not final: run again
			}
			if grpc.ServerTransportStreamFromContext(ctx) != nil { // not for in-process calls
				_ = grpc.SetHeader(ctx, metadata.Pairs(HeaderReplay, "1"))
			}
			return e.resp, e.err
		}
		return nil, tether.Errorf(tether.CodeAborted, "calls with idempotency key %q keep failing: retry later", key)
	}
}

// claim returns the entry of k, making it (and reporting leader) when there
// is none or it has expired.
func (c *Cache) claim(k string, req any) (e *entry, leader bool) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(now)
	if e, ok := c.entries[k]; ok {
		return e, false
	}
	e = &entry{key: k, req: clone(req), ready: make(chan struct{})}
	if c.store != nil {
		e.hash = hashRequest(req) // set before the entry is shared
	}
	c.entries[k] = e
	return e, true
}

// same reports whether req has the arguments of the entry's first call.
func (e *entry) same(req any) bool {
	if e.req == nil && e.hash != "" { // loaded from the durable log
		return hashRequest(req) == e.hash
	}
	return sameRequest(e.req, req)
}

// lead runs the handler for the first call of a key and publishes its result.
func (c *Cache) lead(ctx context.Context, e *entry, req any, handler grpc.UnaryHandler) (resp any, err error) {
	if c.store != nil {
		if err := c.beginDurable(e); err != nil {
			c.finish(e, nil, nil, false)
			return nil, tether.Errorf(tether.CodeUnavailable, "idempotency log: %v", err)
		}
	}
	finished := false
	defer func() {
		if !finished { // the handler panicked: let waiters run it again
			c.finish(e, nil, tether.NewError(tether.CodeAborted, "panicked"), false)
		}
	}()
	resp, err = handler(ctx, req)
	finished = true
	if c.keep(tether.CodeOf(err)) {
		c.finish(e, clone(resp), err, true)
	} else {
		c.finish(e, nil, nil, false)
	}
	return resp, err
}

func (c *Cache) finish(e *entry, resp any, err error, kept bool) {
	var line []byte
	defer func() {
		// Durable caches: the result is on disk before the caller sees it.
		if c.store != nil && e.begin != nil {
			c.store.append(line, c.snapshot) //nolint:errcheck // the call ran; its result stands
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	e.resp, e.err, e.kept = resp, err, kept
	if c.store != nil && e.begin != nil {
		if kept {
			e.rec = doneRecord(e, resp, err, time.Now())
			line = e.rec
		} else {
			line = forgetRecord(e)
		}
	}
	if kept {
		e.expires = time.Now().Add(c.ttl)
		e.elem = c.done.PushBack(e)
		// Each step drops one entry, so this ends.
		for c.done.Len() > c.max {
			c.dropLocked(c.done.Front().Value.(*entry))
		}
	} else if c.entries[e.key] == e {
		delete(c.entries, e.key)
	}
	close(e.ready)
}

// sweepLocked drops expired results; they are in order of expiry.
func (c *Cache) sweepLocked(now time.Time) {
	for f := c.done.Front(); f != nil; f = c.done.Front() {
		e := f.Value.(*entry)
		if now.Before(e.expires) {
			return
		}
		c.dropLocked(e)
	}
}

func (c *Cache) dropLocked(e *entry) {
	c.done.Remove(e.elem)
	if c.entries[e.key] == e {
		delete(c.entries, e.key)
	}
}

// clone copies proto messages and byte slices, which a handler might change
// after returning them; other values are kept as they are.
func clone(v any) any {
	switch m := v.(type) {
	case proto.Message:
		return proto.Clone(m)
	case []byte:
		return bytes.Clone(m)
	}
	return v
}

func sameRequest(a, b any) bool {
	if ma, ok := a.(proto.Message); ok {
		mb, ok := b.(proto.Message)
		return ok && proto.Equal(ma, mb)
	}
	return reflect.DeepEqual(a, b)
}
