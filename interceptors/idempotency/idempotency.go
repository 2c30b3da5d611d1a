package idempotency

import (
	"bytes"
	"container/list"
	"context"
	"encoding/json"
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
	// DefaultMaxResponseBytes bounds the result kept for one key.
	DefaultMaxResponseBytes = 256 << 10
	// DefaultMaxBytes bounds the results kept in all (memory and durable
	// log; a bucket has its own bound, see KV).
	DefaultMaxBytes = 32 << 20
	// MaxKeyLen bounds a key; longer keys fail with invalid_argument.
	MaxKeyLen = 255
)

// maxAttempts bounds how often a call waits for others with its key whose
// results were not kept, before it gives up with aborted.
const maxAttempts = 4

// entryOverhead is what a kept result costs beyond its key, digest and
// result: the entry, its list element and map slot.
const entryOverhead = 256

// Option configures a Cache.
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

// WithMaxResponseBytes bounds the result kept for one key (default 256
// KiB): the encoded response, or the error's message and details. A larger
// result reaches its caller, but is not kept: a retry with the key gets
// failed_precondition ("its result … was larger than the bytes kept for
// retries; it is not run again", details {"idempotency":
// "result_not_kept"}) — the command ran once and does not run again. n <= 0
// keeps the default.
func WithMaxResponseBytes(n int64) Option {
	return func(c *Cache) {
		if n > 0 {
			c.maxResp = n
		}
	}
}

// WithMaxBytes bounds the bytes of all the results kept (default 32 MiB),
// counting each key, request digest and result; past it the oldest are
// dropped, as past WithMaxEntries. It applies to New and Open (and to the
// durable log, which is compacted before it holds four times as much); a
// bucket of OpenKV has its own bound, KV.MaxBytes. n <= 0 keeps the default.
func WithMaxBytes(n int64) Option {
	return func(c *Cache) {
		if n > 0 {
			c.maxBytes = n
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
	ttl               time.Duration
	max               int
	maxResp, maxBytes int64
	keep              func(tether.Code) bool

	store  *store  // nil unless made by Open
	shared *shared // nil unless made by OpenKV

	mu      sync.Mutex
	entries map[string]*entry
	done    list.List // of *entry, kept results in the order they ended
	bytes   int64     // of the kept results (entry.size)
}

// entry is one key: a call running, or its kept result. Only a digest of
// the request is held, never the request.
type entry struct {
	key   string
	hash  string        // hashRequest of the first call's request
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
	size    int64
}

// New returns an empty Cache in memory.
func New(opts ...Option) *Cache {
	c := &Cache{ttl: DefaultTTL, max: DefaultMaxEntries, maxResp: DefaultMaxResponseBytes, maxBytes: DefaultMaxBytes,
		keep: Keep, entries: map[string]*entry{}}
	for _, o := range opts {
		o(c)
	}
	c.maxResp = min(c.maxResp, c.maxBytes)
	return c
}

// UnaryServerInterceptor returns New(opts...).UnaryServerInterceptor().
func UnaryServerInterceptor(opts ...Option) grpc.UnaryServerInterceptor {
	return New(opts...).UnaryServerInterceptor()
}

// Len returns the number of keys held in this process (kept results and
// calls running).
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Bytes returns the bytes the kept results count (see WithMaxBytes).
func (c *Cache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
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
		hash := hashRequest(req)
		for range maxAttempts {
			e, leader := c.claim(k, hash)
			if leader {
				if c.shared != nil {
					return c.leadShared(ctx, e, req, handler)
				}
				return c.lead(ctx, e, req, handler)
			}
			if e.hash != hash {
				return nil, errOtherArgs(key)
			}
			select {
			case <-e.ready:
			case <-ctx.Done():
				return nil, tether.FromError(ctx.Err())
			}
			if !e.kept {
				continue // the first call's result was not final: run again
			}
			markReplay(ctx)
			return e.resp, e.err
		}
		return nil, tether.Errorf(tether.CodeAborted, "calls with idempotency key %q keep failing: retry later", key)
	}
}

func errOtherArgs(key string) *tether.Error {
	return tether.Errorf(tether.CodeInvalidArgument, "idempotency key %q was used with different arguments", key)
}

// markReplay sets the replay response header (not for in-process calls).
func markReplay(ctx context.Context) {
	if grpc.ServerTransportStreamFromContext(ctx) != nil {
		_ = grpc.SetHeader(ctx, metadata.Pairs(HeaderReplay, "1"))
	}
}

// claim returns the entry of k, making it (and reporting leader) when there
// is none or it has expired.
func (c *Cache) claim(k, hash string) (e *entry, leader bool) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(now)
	if e, ok := c.entries[k]; ok {
		return e, false
	}
	e = &entry{key: k, hash: hash, ready: make(chan struct{})}
	c.entries[k] = e
	return e, true
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
		c.finish(e, resp, err, true)
	} else {
		c.finish(e, nil, nil, false)
	}
	return resp, err
}

// result is what is kept of a call's result: its response (a copy) and
// error, or — when they are larger than the bound — errNotKept; stored is
// the response's encoding, for the durable log and the bucket.
type result struct {
	resp   any
	err    error
	stored *storedResp
	size   int64
}

// bound measures a call's result and decides what is kept of it. encode
// asks for the stored encoding (durable log, bucket).
func (c *Cache) bound(resp any, err error, encode bool) result {
	var r result
	if err != nil {
		te := tether.FromError(err)
		r.size += int64(len(te.Message()) + len(te.Details()))
		r.err = err
	}
	if encode {
		s, encErr := encodeResp(resp)
		if encErr != nil {
			return result{err: errInDoubt()} // cannot be replayed: treat as in doubt
		}
		r.stored = s
		if s != nil {
			r.size += int64(len(s.Data) + len(s.Type))
		}
	} else {
		n, ok := respSize(resp)
		if !ok {
			return result{err: errInDoubt()}
		}
		r.size += n
	}
	if r.size > c.maxResp {
		ne := errNotKept(r.size, c.maxResp)
		return result{err: ne, size: int64(len(ne.Message()) + len(ne.Details()))}
	}
	r.resp = clone(resp)
	return r
}

// respSize is the size of a response as it would be sent or stored.
func respSize(v any) (int64, bool) {
	switch r := v.(type) {
	case nil:
		return 0, true
	case proto.Message:
		return int64(proto.Size(r)), true
	case []byte:
		return int64(len(r)), true
	case json.RawMessage:
		return int64(len(r)), true
	case string:
		return int64(len(r)) + 2, true
	}
	b, err := json.Marshal(v)
	return int64(len(b)), err == nil
}

// errNotKept is the result replayed for a key whose first call ran but whose
// result was larger than the bound (size 0: unknown).
func errNotKept(size, limit int64) *tether.Error {
	what := "larger than"
	if size > 0 {
		what = "of " + itoa(size) + " bytes, larger than"
	}
	return tether.Errorf(tether.CodeFailedPrecondition,
		"idempotency key: the first call with this key ran, but its result (%s the %d bytes kept for retries) was not kept; it is not run again",
		what, limit).WithDetails(map[string]string{"idempotency": "result_not_kept"})
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func (c *Cache) finish(e *entry, resp any, err error, kept bool) {
	var line []byte
	defer func() {
		// Durable caches: the result is on disk before the caller sees it.
		if c.store != nil && e.begin != nil {
			c.store.append(line, c.snapshot) //nolint:errcheck // the call ran; its result stands
		}
	}()
	var r result
	if kept {
		r = c.bound(resp, err, c.store != nil)
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e.resp, e.err, e.kept = r.resp, r.err, kept
	if c.store != nil && e.begin != nil {
		if kept {
			e.rec = doneRecord(e, r, now)
			line = e.rec
		} else {
			line = forgetRecord(e)
		}
	}
	if kept {
		e.expires = now.Add(c.ttl)
		c.keepLocked(e, r.size)
	} else if c.entries[e.key] == e {
		delete(c.entries, e.key)
	}
	close(e.ready)
}

// keepLocked adds e to the kept results, then drops the oldest while they
// are more than the bounds. Each step drops one entry, so this ends.
func (c *Cache) keepLocked(e *entry, resultSize int64) {
	e.size = int64(len(e.key)+len(e.hash)+entryOverhead) + resultSize
	e.elem = c.done.PushBack(e)
	c.bytes += e.size
	for c.done.Len() > c.max || (c.bytes > c.maxBytes && c.done.Len() > 0) {
		c.dropLocked(c.done.Front().Value.(*entry))
	}
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
	c.bytes -= e.size
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
	case json.RawMessage:
		return json.RawMessage(bytes.Clone(m))
	}
	return v
}
