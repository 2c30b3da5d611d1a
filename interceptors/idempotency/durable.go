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
// result, before the caller gets it. Open loads the log, drops what is
// older than the TTL or beyond WithMaxEntries, and rewrites it compacted;
// while serving, the log is compacted again whenever it holds four times
// WithMaxEntries records, so it stays bounded.
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
	st := &store{path: filepath.Join(dir, LogFile), dir: dir, limit: 4 * c.max}
	recs, err := st.load(c, time.Now())
	if err != nil {
		return nil, err
	}
	if err := st.rewrite(recs); err != nil {
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
		"idempotency key: the first call with this key was running when the core stopped; its outcome is unknown, so it is not run again")
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
	limit     int // records before a compaction

	mu      sync.Mutex
	f       *os.File
	records int
	closed  bool
}

// load reads the log into c and returns the records to keep.
func (s *store) load(c *Cache, now time.Time) ([]record, error) {
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("idempotency: %v", err)
	}
	defer f.Close()
	recs, err := loadLog(c, f, now)
	if err != nil {
		return nil, fmt.Errorf("idempotency: reading %s: %v", s.path, err)
	}
	return recs, nil
}

// loadLog reads a log into c and returns the records to keep.
func loadLog(c *Cache, rd io.Reader, now time.Time) ([]record, error) {
	last := map[string]record{}
	r := bufio.NewReader(rd)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			var rec record
			// A line that does not parse was torn by a crash: skip it.
			if json.Unmarshal(line, &rec) == nil && rec.K != "" {
				switch rec.T {
				case "b", "d":
					last[rec.K] = rec
				case "f": // not kept: a retry runs again
					delete(last, rec.K)
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	keep := make([]record, 0, len(last))
	for _, rec := range last {
		if rec.T == "b" {
			// Begun, never finished: in doubt for the TTL from its start.
			rec = record{T: "d", K: rec.K, H: rec.H, At: rec.At, Err: errInDoubt()}
		}
		if time.Unix(0, rec.At).Add(c.ttl).After(now) {
			keep = append(keep, rec)
		}
	}
	slices.SortFunc(keep, func(a, b record) int { return cmpInt64(a.At, b.At) })
	if len(keep) > c.max {
		keep = keep[len(keep)-c.max:]
	}
	for _, rec := range keep {
		resp, err := decodeResp(rec.Resp)
		if err != nil {
			// The result's type is gone from the program: treat as in doubt.
			resp, rec.Err, rec.Resp = nil, errInDoubt(), nil
		}
		var rerr error
		if rec.Err != nil {
			rerr = rec.Err
		}
		line, _ := json.Marshal(rec)
		e := &entry{key: rec.K, hash: rec.H, ready: make(chan struct{}), kept: true, resp: resp, err: rerr,
			expires: time.Unix(0, rec.At).Add(c.ttl), rec: append(line, '\n')}
		close(e.ready)
		e.elem = c.done.PushBack(e)
		c.entries[rec.K] = e
	}
	return keep, nil
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

// rewrite replaces the log with recs, atomically, and opens it for
// appending.
func (s *store) rewrite(recs []record) error {
	lines := make([][]byte, len(recs))
	for i, rec := range recs {
		b, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("idempotency: %v", err)
		}
		lines[i] = append(b, '\n')
	}
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
	for _, l := range lines {
		w.Write(l) //nolint:errcheck // Flush reports it
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
	s.f, s.records = nf, len(lines)
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
	if s.records > s.limit {
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

// snapshotLocked returns the log lines of the keys held: kept results and
// calls still running. c.mu is held.
func (c *Cache) snapshotLocked() [][]byte {
	lines := make([][]byte, 0, len(c.entries))
	for _, e := range c.entries {
		if e.rec != nil {
			lines = append(lines, e.rec)
		} else if e.begin != nil {
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
func doneRecord(e *entry, resp any, err error, end time.Time) []byte {
	rec := record{T: "d", K: e.key, H: e.hash, At: end.UnixNano()}
	r, encErr := encodeResp(resp)
	if encErr != nil {
		rec.Err = errInDoubt()
	} else {
		rec.Resp = r
		if err != nil {
			rec.Err = tether.FromError(err)
		}
	}
	b, _ := json.Marshal(rec)
	return append(b, '\n')
}
