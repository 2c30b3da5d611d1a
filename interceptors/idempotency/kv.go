package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"google.golang.org/grpc"

	"github.com/tether-ipc/tether"
)

// KV configures the JetStream key-value bucket of OpenKV. Zero fields take
// the defaults.
type KV struct {
	// Bucket is the bucket's name (default "tether_idempotency"). Replicas
	// of one app share it; other apps on the same NATS need their own.
	Bucket string
	// MaxBytes bounds the bucket (default 256 MiB). When it is full a keyed
	// call is refused with unavailable rather than run without a record.
	MaxBytes int64
	// Replicas is the number of copies of the bucket in a NATS cluster
	// (default 1).
	Replicas int
	// Memory keeps the bucket in the NATS servers' memory instead of on
	// their disks.
	Memory bool
	// Lease is how long a call's record may go without a heartbeat before
	// other replicas take its replica for dead and the call for in doubt
	// (default 3s; the replica running it writes a heartbeat every third
	// of it).
	Lease time.Duration
}

// Defaults of KV.
const (
	DefaultBucket   = "tether_idempotency"
	DefaultKVBytes  = 256 << 20
	DefaultKVLease  = 3 * time.Second
	kvRecordHeadway = 8 << 10 // a record's fields beside its result
)

// shared is the bucket of a Cache made by OpenKV.
type shared struct {
	kv      jetstream.KeyValue
	nc      *nats.Conn
	replica string
	lease   time.Duration
}

// OpenKV returns a Cache whose keys live in a JetStream key-value bucket
// (made or updated as cfg says), shared by every replica of an app that
// uses the same bucket: a call retried on another replica — after a load
// balancer moved the caller, or a replica died — gets the first call's
// result, and runs once.
//
// Each key has one record: "running" (with the digest of the request and
// the replica running it), written with an atomic create before the handler
// runs, refreshed every Lease/3 while it runs, and replaced by "done" with
// the bounded result (WithMaxResponseBytes) before the caller gets it. A
// call that finds a running record waits for it to be done, following the
// heartbeats; when none comes for Lease the replica is taken for dead and
// the call is in doubt: failed_precondition, never run again, as with Open.
// A result that is not kept (Keep) deletes the record, so a retry runs. The
// bucket's TTL is the cache's (WithTTL), counted from a record's last
// write. If the bucket cannot be reached, a keyed call fails with
// unavailable and does not run. WithMaxEntries and WithMaxBytes do not
// apply (the bucket has KV.MaxBytes); the connection nc stays the caller's.
func OpenKV(ctx context.Context, nc *nats.Conn, cfg KV, opts ...Option) (*Cache, error) {
	if nc == nil {
		return nil, errors.New("idempotency: OpenKV needs a NATS connection")
	}
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultBucket
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultKVBytes
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultKVLease
	}
	c := New(opts...)
	// A record must fit in one NATS message: a base64'd result and its
	// other fields.
	if mp := nc.MaxPayload(); mp > 0 {
		c.maxResp = min(c.maxResp, (mp-kvRecordHeadway)*3/4)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("idempotency: %v", err)
	}
	storage := jetstream.FileStorage
	if cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:       cfg.Bucket,
		Description:  "Tether idempotency keys",
		MaxValueSize: int32(min(c.maxResp*4/3+kvRecordHeadway, 1<<30)),
		History:      1,
		TTL:          c.ttl,
		MaxBytes:     cfg.MaxBytes,
		Storage:      storage,
		Replicas:     cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("idempotency: bucket %s: %v", cfg.Bucket, err)
	}
	c.shared = &shared{kv: kv, nc: nc, replica: nuid.Next(), lease: cfg.Lease}
	return c, nil
}

// kvRecord is the value of a key in the bucket.
type kvRecord struct {
	S  string        `json:"s"`            // "r" running, "d" done
	H  string        `json:"h"`            // digest of the request
	By string        `json:"by,omitempty"` // the replica that runs (ran) it
	R  *storedResp   `json:"r,omitempty"`  // d: the response
	E  *tether.Error `json:"e,omitempty"`  // d: the error
}

// kvKey is the bucket key of a cache key (label, command and key, any
// bytes): its digest in hex, which the bucket's key rules allow.
func kvKey(k string) string {
	sum := sha256.Sum256([]byte(k))
	return hex.EncodeToString(sum[:])
}

// decodeKV decodes a record of the bucket; it is outside input (any
// process with access to the bucket can write it).
func decodeKV(b []byte) (kvRecord, error) {
	var r kvRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return kvRecord{}, err
	}
	if r.S != "r" && r.S != "d" || r.H == "" {
		return kvRecord{}, fmt.Errorf("not a record: state %q", r.S)
	}
	return r, nil
}

// awaited is what waiting on another replica's record gave.
type awaited int

const (
	awaitDone     awaited = iota // the record is done: its result
	awaitGone                    // the record went (not kept, expired): claim again
	awaitMismatch                // other arguments
	awaitInDoubt                 // no heartbeat within the lease
)

// leadShared settles the first local call of a key with the bucket: it
// claims the key and runs the handler, or replays the result another
// replica recorded, or waits for the replica running it.
func (c *Cache) leadShared(ctx context.Context, e *entry, req any, handler grpc.UnaryHandler) (any, error) {
	s := c.shared
	k := kvKey(e.key)
	running, _ := json.Marshal(kvRecord{S: "r", H: e.hash, By: s.replica})
	if s.nc.Status() != nats.CONNECTED {
		return c.finishShared(e, nil, tether.NewError(tether.CodeUnavailable, "idempotency store: the NATS connection is down"), false)
	}
	for range maxAttempts {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		rev, err := s.kv.Create(cctx, k, running)
		cancel()
		if err == nil {
			return c.runShared(ctx, e, req, handler, k, rev)
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return c.finishShared(e, nil, storeErr(ctx, err), false)
		}
		a, rec, err := s.await(ctx, k, e.hash)
		if err != nil {
			return c.finishShared(e, nil, storeErr(ctx, err), false)
		}
		switch a {
		case awaitGone:
			continue
		case awaitMismatch:
			_, _ = c.finishShared(e, nil, nil, false)
			return nil, errOtherArgs(e.key[strings.LastIndexByte(e.key, 0)+1:])
		case awaitInDoubt:
			return c.finishShared(e, nil, errInDoubt(), true)
		}
		resp, derr := decodeResp(rec.R)
		rerr := replayedErr(rec.E)
		if derr != nil {
			resp, rerr = nil, errInDoubt()
		}
		markReplay(ctx)
		return c.finishShared(e, resp, rerr, true)
	}
	return c.finishShared(e, nil, tether.NewError(tether.CodeAborted, "calls with this idempotency key keep failing: retry later"), false)
}

func storeErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return tether.FromError(ctx.Err())
	}
	return tether.Errorf(tether.CodeUnavailable, "idempotency store: %v", err)
}

// runShared runs the handler of a claimed key, with heartbeats, and records
// its result.
func (c *Cache) runShared(ctx context.Context, e *entry, req any, handler grpc.UnaryHandler, k string, rev uint64) (resp any, err error) {
	s := c.shared
	hb := s.heartbeat(k, e.hash, rev)
	finished := false
	defer func() {
		if !finished { // the handler panicked: let retries run it again
			s.forget(k, hb.stop())
			_, _ = c.finishShared(e, nil, tether.NewError(tether.CodeAborted, "panicked"), false)
		}
	}()
	resp, err = handler(ctx, req)
	finished = true
	rev = hb.stop()
	if !c.keep(tether.CodeOf(err)) {
		s.forget(k, rev)
		_, _ = c.finishShared(e, nil, nil, false)
		return resp, err
	}
	r := c.bound(resp, err, true)
	b, _ := json.Marshal(kvRecord{S: "d", H: e.hash, By: s.replica, R: r.stored, E: tether.FromError(r.err)})
	uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// If this fails the call has still run: retries will find the running
	// record without heartbeats, and be in doubt.
	_, _ = s.kv.Update(uctx, k, b, rev)
	_, _ = c.finishShared(e, r.resp, r.err, true)
	return resp, err
}

// forget deletes a record whose result is not kept.
func (s *shared) forget(k string, rev uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.kv.Delete(ctx, k, jetstream.LastRevision(rev))
}

// finishShared ends the local entry of a key of a shared cache: waiters in
// this process get the result if kept; later calls ask the bucket again.
func (c *Cache) finishShared(e *entry, resp any, err error, kept bool) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.resp, e.err, e.kept = resp, err, kept
	if c.entries[e.key] == e {
		delete(c.entries, e.key)
	}
	close(e.ready)
	return resp, err
}

// heartbeat refreshes a running record every lease/3 until stop, which
// returns the record's last revision.
type heartbeat struct {
	done chan struct{}
	rev  chan uint64
	once sync.Once
	last uint64
}

func (s *shared) heartbeat(k, hash string, rev uint64) *heartbeat {
	h := &heartbeat{done: make(chan struct{}), rev: make(chan uint64, 1)}
	val, _ := json.Marshal(kvRecord{S: "r", H: hash, By: s.replica})
	go func() {
		t := time.NewTicker(s.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-h.done:
				h.rev <- rev
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), s.lease/3)
				if r, err := s.kv.Update(ctx, k, val, rev); err == nil {
					rev = r
				}
				cancel()
			}
		}
	}()
	return h
}

func (h *heartbeat) stop() uint64 {
	h.once.Do(func() {
		close(h.done)
		h.last = <-h.rev
	})
	return h.last
}

// await follows another replica's record of k until it is done, goes, or
// shows no heartbeat for a lease.
func (s *shared) await(ctx context.Context, k, hash string) (awaited, kvRecord, error) {
	// A done record is the common case (a retry): read it first.
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	en, err := s.kv.Get(gctx, k)
	cancel()
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return awaitGone, kvRecord{}, nil
	case err != nil:
		return 0, kvRecord{}, err
	}
	if a, rec, final := s.judge(en, hash); final {
		return a, rec, nil
	}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	w, err := s.kv.Watch(wctx, k)
	if err != nil {
		return 0, kvRecord{}, err
	}
	defer w.Stop() //nolint:errcheck
	timer := time.NewTimer(s.lease)
	defer timer.Stop()
	for {
		select {
		case en, ok := <-w.Updates():
			if !ok {
				return 0, kvRecord{}, errors.New("watch ended")
			}
			if en == nil {
				continue // the end of the current values
			}
			if a, rec, final := s.judge(en, hash); final {
				return a, rec, nil
			}
			timer.Reset(s.lease) // a heartbeat (or the current value, judged young)
		case <-timer.C:
			return awaitInDoubt, kvRecord{}, nil
		case <-ctx.Done():
			return 0, kvRecord{}, ctx.Err()
		}
	}
}

// judge reads a record: final unless it is a call still running (with a
// heartbeat younger than two leases, by the server's clock against ours; a
// clock skew larger than a lease only makes a call in doubt sooner).
func (s *shared) judge(en jetstream.KeyValueEntry, hash string) (awaited, kvRecord, bool) {
	if en.Operation() != jetstream.KeyValuePut {
		return awaitGone, kvRecord{}, true
	}
	rec, err := decodeKV(en.Value())
	switch {
	case err != nil:
		return awaitInDoubt, kvRecord{}, true // unreadable: never run it again
	case rec.H != hash:
		return awaitMismatch, rec, true
	case rec.S == "d":
		return awaitDone, rec, true
	case time.Since(en.Created()) > 2*s.lease:
		return awaitInDoubt, rec, true
	}
	return 0, rec, false
}
