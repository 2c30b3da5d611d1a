package idempotency

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/tether-ipc/tether"
)

// LogFile is the name of the durable log inside the directory given to Open.
const LogFile = "idempotency.log"

// Open returns a Cache whose keys survive a restart of the process: every
// keyed call is written to dir/idempotency.log, and fsync'd, twice — a
// "begin" record before the handler runs and a "done" record, with the
// result (bounded by WithMaxResponseBytes), before the caller gets it. Only
// a digest of the request is written, never the request.
//
// Open reads the log line by line into the bounded cache — what it holds in
// memory at any time is the cache's bound (WithMaxEntries, WithMaxBytes)
// plus one line, never the whole log — drops what is older than the TTL or
// beyond the bounds, and rewrites it compacted. While serving, the log is
// compacted again whenever it holds four times WithMaxEntries records or
// four times WithMaxBytes bytes, so its size stays bounded.
//
// A call that had begun but not finished when the process died is "in
// doubt": its side effects may or may not have happened. A retry of such a
// key within the TTL is refused with failed_precondition ("outcome
// unknown") instead of running the command a second time, so a command runs
// at most once per key across restarts, and exactly once for every key whose
// first call finished. Results are replayed as they were encoded: proto
// messages by their type (which must be linked into the program), []byte as
// raw bytes, other Go values as their JSON, which the server sends as they
// are.
//
// One directory serves one process at a time. Close the Cache when done.
func Open(dir string, opts ...Option) (*Cache, error) {
	if dir == "" {
		return nil, errors.New("idempotency: Open needs a directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("idempotency: %v", err)
	}
	c := New(opts...)
	st := &store{path: filepath.Join(dir, LogFile), dir: dir, limit: 4 * c.max, byteLimit: 4*c.maxBytes + maxLine(c.maxResp)}
	if err := st.load(c, time.Now()); err != nil {
		return nil, err
	}
	if err := st.rewrite(c.snapshot()); err != nil {
		return nil, err
	}
	c.store = st
	return c, nil
}

// Close closes the durable log of a Cache made by Open; it does nothing for
// one made by New. Calls after Close still work but are no longer recorded.
func (c *Cache) Close() error {
	if c.store == nil {
		return nil
	}
	return c.store.close()
}

// record is one line of the log.
type record struct {
	T    string        `json:"t"`           // "b" begin, "d" done, "f" forget
	K    string        `json:"k"`           // label \0 command \0 key
	H    string        `json:"h"`           // hash of the request
	At   int64         `json:"at"`          // b: start, d: end (Unix ns)
	Resp *storedResp   `json:"r,omitempty"` // d: the response
	Err  *tether.Error `json:"e,omitempty"` // d: the error
}

type storedResp struct {
	Kind string `json:"k"` // "proto", "raw", "json"
	Type string `json:"t,omitempty"`
	Data []byte `json:"d,omitempty"`
}

// errInDoubt is the result replayed for a key whose call was running when
// the process stopped.
func errInDoubt() *tether.Error {
	return tether.NewError(tether.CodeFailedPrecondition,
		"idempotency key: the first call with this key was running when the core stopped; its outcome is unknown, so it is not run again").
		WithDetails(map[string]string{"idempotency": "in_doubt"})
}

// hashRequest identifies a request's content for "same arguments" checks
// across restarts.
func hashRequest(req any) string {
	var b []byte
	switch m := req.(type) {
	case proto.Message:
		b, _ = proto.MarshalOptions{Deterministic: true}.Marshal(m)
		b = append([]byte("p"), b...)
	case []byte:
		b = append([]byte("r"), m...)
	default:
		j, err := json.Marshal(m)
		if err != nil {
			j = []byte(fmt.Sprintf("%#v", m))
		}
		b = append([]byte("j"), j...)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func encodeResp(v any) (*storedResp, error) {
	switch r := v.(type) {
	case nil:
		return nil, nil
	case proto.Message:
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
		if err != nil {
			return nil, err
		}
		return &storedResp{Kind: "proto", Type: string(r.ProtoReflect().Descriptor().FullName()), Data: b}, nil
	case []byte:
		return &storedResp{Kind: "raw", Data: r}, nil
	case json.RawMessage:
		return &storedResp{Kind: "json", Data: r}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &storedResp{Kind: "json", Data: b}, nil
}

func decodeResp(s *storedResp) (any, error) {
	if s == nil {
		return nil, nil
	}
	switch s.Kind {
	case "raw":
		return bytes.Clone(s.Data), nil
	case "json":
		return json.RawMessage(s.Data), nil
	case "proto":
		mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(s.Type))
		if err != nil {
			return nil, err
		}
		m := mt.New().Interface()
		if err := proto.Unmarshal(s.Data, m); err != nil {
			return nil, err
		}
		return m, nil
	}
	return nil, fmt.Errorf("unknown result kind %q", s.Kind)
}

// store is the append-only log.
type store struct {
	path, dir string
	limit     int   // records before a compaction
	byteLimit int64 // bytes before a compaction

	mu      sync.Mutex
	f       *os.File
	records int
	bytes   int64
	closed  bool
}

// load reads the log into c.
func (s *store) load(c *Cache, now time.Time) error {
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("idempotency: %v", err)
	}
	defer f.Close()
	if err := loadLog(c, f, now); err != nil {
		return fmt.Errorf("idempotency: reading %s: %v", s.path, err)
	}
	return nil
}

// maxLine bounds a log line worth reading whole: a done record with the
// largest result kept, base64'd, its error's message JSON-escaped.
func maxLine(maxResp int64) int64 { return 8*maxResp + 64<<10 }

// linePrefix is how much of a longer line is read: enough for the fields
// before the result (kind, key, digest, time).
const linePrefix = 16 << 10

// loadLog reads a log into c, one line at a time, keeping in c what the
// bounds allow: the latest record of each key, the newest keys.
func loadLog(c *Cache, rd io.Reader, now time.Time) error {
	r := bufio.NewReaderSize(rd, 64<<10)
	limit := maxLine(c.maxResp)
	var buf []byte
	for {
		line, long, err := readLine(r, &buf, limit)
		if len(line) > 0 {
			c.loadLine(line, long, now)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	// Keys now in expiry order, so that sweeping works; drop the expired.
	c.mu.Lock()
	defer c.mu.Unlock()
	es := make([]*entry, 0, c.done.Len())
	for f := c.done.Front(); f != nil; f = f.Next() {
		es = append(es, f.Value.(*entry))
	}
	slices.SortStableFunc(es, func(a, b *entry) int { return a.expires.Compare(b.expires) })
	c.done.Init()
	for _, e := range es {
		e.elem = c.done.PushBack(e)
	}
	c.sweepLocked(now)
	return nil
}

// readLine returns the next line of r, without its newline, reading at most
// limit bytes of it; long reports a longer line, of which the first
// linePrefix bytes are returned (the rest is skipped). A last line without
// a newline, torn by a crash, is returned empty.
func readLine(r *bufio.Reader, buf *[]byte, limit int64) (line []byte, long bool, err error) {
	b := (*buf)[:0]
	defer func() { *buf = b[:0] }()
	for {
		frag, err := r.ReadSlice('\n')
		if int64(len(b)+len(frag)) <= limit {
			b = append(b, frag...)
		} else {
			if !long && len(b) < linePrefix {
				b = append(b, frag[:min(len(frag), linePrefix-len(b))]...)
			}
			long = true
		}
		switch {
		case err == nil:
			if long {
				return b, true, nil
			}
			return b[:len(b)-1], false, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF:
			return nil, false, io.EOF // a torn last line
		default:
			return nil, false, err
		}
	}
}

// loadLine applies one line of the log to c.
func (c *Cache) loadLine(line []byte, long bool, now time.Time) {
	var rec record
	if long {
		// Too long to keep: a result larger than the bound kept now. Its
		// key still ran: read the fields before the result.
		rec = recordHead(line)
		if rec.T != "d" {
			return
		}
		rec.Resp, rec.Err = nil, errNotKept(0, c.maxResp)
	} else if json.Unmarshal(line, &rec) != nil {
		return // torn by a crash, or corrupt: skip it
	}
	if rec.K == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[rec.K]; old != nil {
		c.dropLocked(old)
	}
	switch rec.T {
	case "b":
		// Begun, never finished (unless a later line says so): in doubt for
		// the TTL from its start.
		rec = record{T: "d", K: rec.K, H: rec.H, At: rec.At, Err: errInDoubt()}
	case "d":
	default: // "f", not kept: a retry runs again
		return
	}
	expires := time.Unix(0, rec.At).Add(c.ttl)
	if !expires.After(now) {
		return
	}
	if rec.Resp != nil && int64(len(rec.Resp.Data)) > c.maxResp {
		// Kept under a larger bound than today's.
		rec.Resp, rec.Err = nil, errNotKept(int64(len(rec.Resp.Data)), c.maxResp)
	}
	resp, err := decodeResp(rec.Resp)
	if err != nil {
		// The result's type is gone from the program: treat as in doubt.
		resp, rec.Err, rec.Resp = nil, errInDoubt(), nil
	}
	size := int64(0)
	if rec.Err != nil {
		size += int64(len(rec.Err.Message()) + len(rec.Err.Details()))
	}
	if rec.Resp != nil {
		size += int64(len(rec.Resp.Data) + len(rec.Resp.Type))
	}
	b, _ := json.Marshal(rec)
	e := &entry{key: rec.K, hash: rec.H, ready: make(chan struct{}), kept: true, resp: resp, err: replayedErr(rec.Err),
		expires: expires, rec: append(b, '\n')}
	close(e.ready)
	c.entries[rec.K] = e
	c.keepLocked(e, size)
}

// recordHead reads the kind, key, digest and time of a record from the
// start of its line.
func recordHead(prefix []byte) record {
	var rec record
	dec := json.NewDecoder(bytes.NewReader(prefix))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return record{}
	}
	for {
		kt, err := dec.Token()
		if err != nil {
			return rec
		}
		k, _ := kt.(string)
		switch k {
		case "t", "k", "h":
			vt, err := dec.Token()
			v, ok := vt.(string)
			if err != nil || !ok {
				return record{}
			}
			switch k {
			case "t":
				rec.T = v
			case "k":
				rec.K = v
			default:
				rec.H = v
			}
		case "at":
			var at int64
			if dec.Decode(&at) != nil {
				return record{}
			}
			rec.At = at
		default:
			return rec // the result: what comes before it is read
		}
	}
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// rewrite replaces the log with lines, atomically, and opens it for
// appending.
func (s *store) rewrite(lines [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rewriteLocked(lines)
}

func (s *store) rewriteLocked(lines [][]byte) error {
	tmp := s.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("idempotency: %v", err)
	}
	w := bufio.NewWriter(f)
	var n int64
	for _, l := range lines {
		w.Write(l) //nolint:errcheck // Flush reports it
		n += int64(len(l))
	}
	if err := errors.Join(w.Flush(), f.Sync(), f.Close()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("idempotency: %v", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("idempotency: %v", err)
	}
	if d, err := os.Open(s.dir); err == nil {
		d.Sync() //nolint:errcheck // best effort: the rename is durable on most filesystems
		d.Close()
	}
	nf, err := os.OpenFile(s.path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("idempotency: %v", err)
	}
	if s.f != nil {
		s.f.Close()
	}
	s.f, s.records, s.bytes = nf, len(lines), n
	return nil
}

// append writes one record and syncs it. snapshot, called with the log
// locked when the log is due for compaction, returns the lines to keep.
func (s *store) append(line []byte, snapshot func() [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if _, err := s.f.Write(line); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		return err
	}
	s.records++
	s.bytes += int64(len(line))
	if s.records > s.limit || s.bytes > s.byteLimit {
		return s.rewriteLocked(snapshot())
	}
	return nil
}

func (s *store) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.f.Close()
}

// snapshotLocked returns the log lines of the keys held, oldest result
// first, then the calls still running. c.mu is held.
func (c *Cache) snapshotLocked() [][]byte {
	lines := make([][]byte, 0, len(c.entries))
	for f := c.done.Front(); f != nil; f = f.Next() {
		if e := f.Value.(*entry); e.rec != nil {
			lines = append(lines, e.rec)
		}
	}
	for _, e := range c.entries {
		if e.elem == nil && e.begin != nil {
			lines = append(lines, e.begin)
		}
	}
	return lines
}

func (c *Cache) snapshot() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snapshotLocked()
}

// beginDurable records that the call of e starts.
func (c *Cache) beginDurable(e *entry) error {
	b, err := json.Marshal(record{T: "b", K: e.key, H: e.hash, At: time.Now().UnixNano()})
	if err != nil {
		return err
	}
	line := append(b, '\n')
	c.mu.Lock()
	e.begin = line
	c.mu.Unlock()
	return c.store.append(line, c.snapshot)
}

// forgetRecord is the log line of a finished call whose result is not kept.
func forgetRecord(e *entry) []byte {
	b, _ := json.Marshal(record{T: "f", K: e.key})
	return append(b, '\n')
}

// doneRecord is the log line of a finished call whose result is kept.
func doneRecord(e *entry, r result, end time.Time) []byte {
	b, _ := json.Marshal(record{T: "d", K: e.key, H: e.hash, At: end.UnixNano(), Resp: r.stored, Err: tether.FromError(r.err)})
	return append(b, '\n')
}

// replayedErr is the error a stored one replays (nil stays an untyped nil).
func replayedErr(e *tether.Error) error {
	if e == nil {
		return nil
	}
	return e
}
