// Package store implements Tauri's store plugin for @tauri-apps/plugin-store
// (unchanged from npm): persistent key-value stores of JSON values, each a
// JSON file in the app's data folder.
//
//	store.Register(srv) // in the folder of (*server.Server).DataDir
//
// A store's path is relative to the data folder and stays inside it (it is
// opened through an os.Root; absolute paths and ".." are refused with
// permission_denied, where Tauri would write anywhere). Writes are atomic: a
// temporary file in the same folder, fsync'd, renamed over the store, then
// the folder fsync'd, so a crash leaves the old file or the new one. Like
// Tauri's, changes are saved 100 ms after the last one (autoSave: a number
// of ms, or false to save only on save()), on close and when the server
// stops; every change emits a store://change event {path, resourceId, key,
// value, exists} for onChange and onKeyChange.
//
// Stores are shared by path: two pages loading "settings.json" see one
// store, and its resource id. A page may use a resource id only once it has
// loaded or got the store. Bounds: WithMaxStores open stores (64), each at
// most WithMaxBytes of keys and values (16 MiB); past them calls fail with
// resource_exhausted. Only the default JSON serialization exists:
// serializeFnName and deserializeFnName fail with not_found.
//
// Its permission ids are Tauri's: store:default (every command),
// store:allow-<command>, store:deny-<command>.
package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/server"
)

// Defaults of the bounds and the autosave delay.
const (
	DefaultMaxStores = 64
	DefaultMaxBytes  = 16 << 20
	DefaultAutoSave  = 100 * time.Millisecond
)

// ChangeEvent is the event every change emits.
const ChangeEvent = "store://change"

// Option configures Register.
type Option func(*config)

type config struct {
	dir       string
	maxStores int
	maxBytes  int
}

// WithDir keeps the stores in dir instead of the server's data folder.
func WithDir(dir string) Option { return func(c *config) { c.dir = dir } }

// WithMaxStores bounds the stores open at once.
func WithMaxStores(n int) Option { return func(c *config) { c.maxStores = n } }

// WithMaxBytes bounds one store: the bytes of its keys and values.
func WithMaxBytes(n int) Option { return func(c *config) { c.maxBytes = n } }

// Register registers the store plugin's commands (plugin:store|load,
// get_store, set, get, has, delete, clear, reset, keys, values, entries,
// length, reload, save) on s. The folder (WithDir, else s.DataDir()) must
// exist. Stores still unsaved are saved when s stops.
func Register(s *server.Server, opts ...Option) error {
	c := config{dir: s.DataDir(), maxStores: DefaultMaxStores, maxBytes: DefaultMaxBytes}
	for _, o := range opts {
		o(&c)
	}
	if c.dir == "" {
		return errors.New("store: no folder: set the server's data folder (server.WithDataDir) or store.WithDir")
	}
	if c.maxStores <= 0 || c.maxBytes <= 0 {
		return errors.New("store: bounds must be positive")
	}
	root, err := os.OpenRoot(c.dir)
	if err != nil {
		return fmt.Errorf("store: %v", err)
	}
	p := &plugin{s: s, root: root, cfg: c, res: s.Resources(), byPath: map[string]*store{}}
	s.OnStop(p.close)
	p.register(s.Plugin("store"))
	return nil
}

type plugin struct {
	s    *server.Server
	root *os.Root
	cfg  config
	res  *server.Resources

	mu     sync.Mutex
	byPath map[string]*store
	closed bool
}

// autoSave is Tauri's autoSave option: a delay in ms, or a bool.
type autoSave struct {
	set   bool
	off   bool
	delay time.Duration
}

func (a *autoSave) UnmarshalJSON(b []byte) error {
	var flag bool
	if err := json.Unmarshal(b, &flag); err == nil {
		*a = autoSave{set: true, off: !flag, delay: DefaultAutoSave}
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil || ms < 0 || ms > float64(time.Hour/time.Millisecond) {
		return tether.NewError(tether.CodeInvalidArgument, "autoSave is a number of milliseconds (at most an hour) or a boolean")
	}
	*a = autoSave{set: true, delay: time.Duration(ms * float64(time.Millisecond))}
	return nil
}

type loadOptions struct {
	Defaults          map[string]json.RawMessage `json:"defaults,omitempty"`
	AutoSave          *autoSave                  `json:"autoSave,omitempty"`
	SerializeFnName   *string                    `json:"serializeFnName,omitempty"`
	DeserializeFnName *string                    `json:"deserializeFnName,omitempty"`
	CreateNew         bool                       `json:"createNew,omitempty"`
	OverrideDefaults  bool                       `json:"overrideDefaults,omitempty"`
}

// loadArgs takes both forms plugin-store has sent: options nested (2.2 and
// later) or spread beside the path (2.0, 2.1).
type loadArgs struct {
	Path    string       `json:"path"`
	Options *loadOptions `json:"options,omitempty"`

	Defaults          map[string]json.RawMessage `json:"defaults,omitempty"`
	AutoSave          *autoSave                  `json:"autoSave,omitempty"`
	SerializeFnName   *string                    `json:"serializeFnName,omitempty"`
	DeserializeFnName *string                    `json:"deserializeFnName,omitempty"`
	CreateNew         bool                       `json:"createNew,omitempty"`
	OverrideDefaults  bool                       `json:"overrideDefaults,omitempty"`
}

type ridArgs struct {
	RID uint32 `json:"rid"`
}

type keyArgs struct {
	RID uint32 `json:"rid"`
	Key string `json:"key"`
}

type setArgs struct {
	RID   uint32          `json:"rid"`
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value,omitempty"`
}

type reloadArgs struct {
	RID            uint32 `json:"rid"`
	IgnoreDefaults bool   `json:"ignoreDefaults,omitempty"`
}

func (p *plugin) register(pl *server.Plugin) {
	server.Handle(pl, "load", p.load)
	server.Handle(pl, "get_store", func(ctx context.Context, a struct {
		Path string `json:"path"`
	}) (*uint32, error) {
		clean, err := storePath(a.Path)
		if err != nil {
			return nil, err
		}
		p.mu.Lock()
		st := p.byPath[clean]
		p.mu.Unlock()
		if st == nil {
			return nil, nil
		}
		if err := p.res.Grant(ctx, st.rid); err != nil {
			return nil, nil // closed meanwhile
		}
		return &st.rid, nil
	})
	server.Handle(pl, "set", func(ctx context.Context, a setArgs) (any, error) {
		st, err := p.get(ctx, a.RID)
		if err != nil {
			return nil, err
		}
		return nil, st.set(ctx, a.Key, a.Value)
	})
	server.Handle(pl, "get", func(ctx context.Context, a keyArgs) ([2]any, error) {
		st, err := p.get(ctx, a.RID)
		if err != nil {
			return [2]any{}, err
		}
		v, ok := st.value(a.Key)
		if !ok {
			return [2]any{nil, false}, nil
		}
		return [2]any{v, true}, nil
	})
	server.Handle(pl, "has", func(ctx context.Context, a keyArgs) (bool, error) {
		st, err := p.get(ctx, a.RID)
		if err != nil {
			return false, err
		}
		_, ok := st.value(a.Key)
		return ok, nil
	})
	server.Handle(pl, "delete", func(ctx context.Context, a keyArgs) (bool, error) {
		st, err := p.get(ctx, a.RID)
		if err != nil {
			return false, err
		}
		return st.delete(ctx, a.Key), nil
	})
	server.Handle(pl, "clear", func(ctx context.Context, a ridArgs) (any, error) {
		st, err := p.get(ctx, a.RID)
		if err != nil {
			return nil, err
		}
		st.replace(ctx, map[string]json.RawMessage{})
		return nil, nil
	})
	server.Handle(pl, "reset", func(ctx context.Context, a ridArgs) (any, error) {
		st, err := p.get(ctx, a.RID)
		if err != nil {
			return nil, err
		}
		st.replace(ctx, clone(st.defaults))
		return nil, nil
	})
	server.Handle(pl, "keys", func(ctx context.Context, a ridArgs) ([]string, error) {
		st, err := p.get(ctx, a.RID)
		if err != nil {
			return nil, err
		}
		keys, _ := st.snapshot()
		return keys, nil
	})
	server.Handle(pl, "values", func(ctx context.Context, a ridArgs) ([]json.RawMessage, error) {
		st, err := p.get(ctx, a.RID)
		if err != nil {
			return nil, err
		}
		_, vals := st.snapshot()
		return vals, nil
	})
	server.Handle(pl, "entries", func(ctx context.Context, a ridArgs) ([][2]any, error) {
		st, err := p.get(ctx, a.RID)
		if err != nil {
			return nil, err
		}
		keys, vals := st.snapshot()
		out := make([][2]any, len(keys))
		for i := range keys {
			out[i] = [2]any{keys[i], vals[i]}
		}
		return out, nil
	})
	server.Handle(pl, "length", func(ctx context.Context, a ridArgs) (int, error) {
		st, err := p.get(ctx, a.RID)
		if err != nil {
			return 0, err
		}
		keys, _ := st.snapshot()
		return len(keys), nil
	})
	server.Handle(pl, "reload", func(ctx context.Context, a reloadArgs) (any, error) {
		st, err := p.get(ctx, a.RID)
		if err != nil {
			return nil, err
		}
		return nil, st.reload(a.IgnoreDefaults)
	})
	server.Handle(pl, "save", func(ctx context.Context, a ridArgs) (any, error) {
		st, err := p.get(ctx, a.RID)
		if err != nil {
			return nil, err
		}
		return nil, st.save()
	})
}

// storePath checks a store's path: relative, inside the folder, a file.
func storePath(path string) (string, error) {
	if path == "" {
		return "", tether.NewError(tether.CodeInvalidArgument, "store path is empty")
	}
	clean := filepath.Clean(filepath.FromSlash(path))
	if !filepath.IsLocal(clean) {
		return "", tether.Errorf(tether.CodePermissionDenied, "store path %q must stay inside the app's data folder", path)
	}
	return clean, nil
}

func (p *plugin) load(ctx context.Context, a loadArgs) (uint32, error) {
	o := loadOptions{Defaults: a.Defaults, AutoSave: a.AutoSave, SerializeFnName: a.SerializeFnName,
		DeserializeFnName: a.DeserializeFnName, CreateNew: a.CreateNew, OverrideDefaults: a.OverrideDefaults}
	if a.Options != nil {
		o = *a.Options
	}
	if o.SerializeFnName != nil || o.DeserializeFnName != nil {
		return 0, tether.NewError(tether.CodeNotFound, "store: only the default JSON serialization exists here (no serializeFnName / deserializeFnName)")
	}
	clean, err := storePath(a.Path)
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, tether.NewError(tether.CodeUnavailable, "server is shutting down")
	}
	if st := p.byPath[clean]; st != nil {
		if !o.CreateNew {
			return st.rid, p.res.Grant(ctx, st.rid)
		}
		delete(p.byPath, clean)
		p.res.Remove(st.rid)
		st.stopTimer()
	}
	if len(p.byPath) >= p.cfg.maxStores {
		return 0, tether.Errorf(tether.CodeResourceExhausted, "store: %d stores are open: close some first", p.cfg.maxStores)
	}
	defaults := map[string]json.RawMessage{}
	for k, v := range o.Defaults {
		c, err := compact(v)
		if err != nil {
			return 0, err
		}
		defaults[k] = c
	}
	st := &store{p: p, path: clean, defaults: defaults, delay: DefaultAutoSave}
	if o.AutoSave != nil && o.AutoSave.set {
		st.delay, st.noAuto = o.AutoSave.delay, o.AutoSave.off
	}
	st.data = clone(defaults)
	if !o.CreateNew {
		disk, err := p.read(clean)
		if err != nil {
			return 0, err
		}
		if o.OverrideDefaults && disk != nil {
			st.data = disk
		} else {
			for k, v := range disk {
				st.data[k] = v
			}
		}
	}
	if st.size() > p.cfg.maxBytes {
		return 0, tether.Errorf(tether.CodeResourceExhausted, "store %q holds more than %d bytes", a.Path, p.cfg.maxBytes)
	}
	rid, err := p.res.Add(ctx, st)
	if err != nil {
		return 0, err
	}
	st.rid = rid
	p.byPath[clean] = st
	return rid, nil
}

// read loads a store's file: nil, nil when there is none.
func (p *plugin) read(path string) (map[string]json.RawMessage, error) {
	f, err := p.root.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, tether.Errorf(tether.CodePermissionDenied, "store %q: %v", path, cause(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(4*p.cfg.maxBytes)+1))
	if err != nil {
		return nil, tether.Errorf(tether.CodeInternal, "store %q: %v", path, cause(err))
	}
	if len(b) > 4*p.cfg.maxBytes {
		return nil, tether.Errorf(tether.CodeResourceExhausted, "store file %q is too large", path)
	}
	var m map[string]json.RawMessage
	if len(bytes.TrimSpace(b)) == 0 {
		return map[string]json.RawMessage{}, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, tether.Errorf(tether.CodeDataLoss, "store file %q is not a JSON object: %v", path, err)
	}
	for k, v := range m {
		if m[k], err = compact(v); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// write replaces a store's file atomically.
func (p *plugin) write(path string, data []byte) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := p.root.MkdirAll(dir, 0o700); err != nil {
			return tether.Errorf(tether.CodeInternal, "store %q: %v", path, cause(err))
		}
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path + ".tmp-" + hex.EncodeToString(rnd[:])
	f, err := p.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return tether.Errorf(tether.CodeInternal, "store %q: %v", path, cause(err))
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = p.root.Rename(tmp, path)
	}
	if err != nil {
		_ = p.root.Remove(tmp)
		return tether.Errorf(tether.CodeInternal, "saving store %q: %v", path, cause(err))
	}
	if d, err := p.root.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

func (p *plugin) get(ctx context.Context, rid uint32) (*store, error) {
	r, err := p.res.Get(ctx, rid)
	if err != nil {
		return nil, err
	}
	st, ok := r.(*store)
	if !ok {
		return nil, tether.Errorf(tether.CodeInvalidArgument, "resource %d is not a store", rid)
	}
	return st, nil
}

// close saves what is unsaved and releases the folder, when the server
// stops (after the resource table closed the stores).
func (p *plugin) close() {
	p.mu.Lock()
	p.closed = true
	stores := p.byPath
	p.byPath = map[string]*store{}
	p.mu.Unlock()
	for _, st := range stores {
		st.flush()
	}
	p.root.Close()
}

func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func compact(v json.RawMessage) (json.RawMessage, error) {
	if len(v) == 0 {
		return json.RawMessage("null"), nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return nil, tether.NewError(tether.CodeInvalidArgument, "store value is not JSON")
	}
	return b.Bytes(), nil
}

func clone(m map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// store is one open store: a server.Resource.
type store struct {
	p        *plugin
	path     string
	rid      uint32
	defaults map[string]json.RawMessage
	delay    time.Duration
	noAuto   bool

	mu    sync.Mutex
	data  map[string]json.RawMessage
	dirty bool
	timer *time.Timer
}

type change struct {
	Path       string          `json:"path"`
	ResourceID uint32          `json:"resourceId"`
	Key        string          `json:"key"`
	Value      json.RawMessage `json:"value"`
	Exists     bool            `json:"exists"`
}

func (st *store) emit(ctx context.Context, key string, v json.RawMessage, exists bool) {
	if v == nil {
		v = json.RawMessage("null")
	}
	_, err := st.p.s.Emit(ctx, ChangeEvent, change{Path: filepath.ToSlash(st.path), ResourceID: st.rid, Key: key, Value: v, Exists: exists})
	if err != nil {
		st.p.s.Logger().Warn("store: change event", "err", err)
	}
}

// size is the bytes of keys and values; st.mu held or st unshared.
func (st *store) size() int {
	n := 0
	for k, v := range st.data {
		n += len(k) + len(v)
	}
	return n
}

func (st *store) value(key string) (json.RawMessage, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	v, ok := st.data[key]
	return v, ok
}

func (st *store) set(ctx context.Context, key string, raw json.RawMessage) error {
	v, err := compact(raw)
	if err != nil {
		return err
	}
	st.mu.Lock()
	old, had := st.data[key]
	grow := len(v) - len(old)
	if !had {
		grow += len(key)
	}
	if st.size()+grow > st.p.cfg.maxBytes {
		st.mu.Unlock()
		return tether.Errorf(tether.CodeResourceExhausted, "store %q would hold more than %d bytes", st.path, st.p.cfg.maxBytes)
	}
	st.data[key] = v
	st.changedLocked()
	st.mu.Unlock()
	st.emit(ctx, key, v, true)
	return nil
}

func (st *store) delete(ctx context.Context, key string) bool {
	st.mu.Lock()
	_, had := st.data[key]
	if had {
		delete(st.data, key)
		st.changedLocked()
	}
	st.mu.Unlock()
	if had {
		st.emit(ctx, key, nil, false)
	}
	return had
}

// replace sets the whole content (clear, reset), telling of each key that
// changed.
func (st *store) replace(ctx context.Context, next map[string]json.RawMessage) {
	st.mu.Lock()
	prev := st.data
	st.data = next
	st.changedLocked()
	st.mu.Unlock()
	keys := map[string]bool{}
	for k := range prev {
		keys[k] = true
	}
	for k := range next {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		a, had := prev[k]
		b, has := next[k]
		if had == has && bytes.Equal(a, b) {
			continue
		}
		st.emit(ctx, k, b, has)
	}
}

func (st *store) snapshot() ([]string, []json.RawMessage) {
	st.mu.Lock()
	defer st.mu.Unlock()
	keys := slices.Sorted(maps.Keys(st.data))
	vals := make([]json.RawMessage, len(keys))
	for i, k := range keys {
		vals[i] = st.data[k]
	}
	return keys, vals
}

func (st *store) reload(ignoreDefaults bool) error {
	disk, err := st.p.read(st.path)
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	next := clone(st.defaults)
	if ignoreDefaults {
		next = map[string]json.RawMessage{}
	}
	for k, v := range disk {
		next[k] = v
	}
	st.data = next
	st.dirty = false
	st.stopTimerLocked()
	return nil
}

// changedLocked marks the store changed and schedules the autosave.
func (st *store) changedLocked() {
	st.dirty = true
	if st.noAuto {
		return
	}
	if st.timer == nil {
		st.timer = time.AfterFunc(st.delay, func() {
			if err := st.save(); err != nil {
				st.p.s.Logger().Warn("store: autosave", "path", st.path, "err", err)
			}
		})
		return
	}
	st.timer.Reset(st.delay)
}

func (st *store) stopTimer() {
	st.mu.Lock()
	st.stopTimerLocked()
	st.mu.Unlock()
}

func (st *store) stopTimerLocked() {
	if st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
}

// save writes the store now.
func (st *store) save() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.stopTimerLocked()
	b, err := json.MarshalIndent(st.data, "", "  ")
	if err != nil {
		return tether.Errorf(tether.CodeInternal, "store %q: %v", st.path, err)
	}
	if err := st.p.write(st.path, b); err != nil {
		return err
	}
	st.dirty = false
	return nil
}

// flush saves the store if a change is unsaved.
func (st *store) flush() {
	st.mu.Lock()
	dirty := st.dirty
	st.mu.Unlock()
	if dirty {
		if err := st.save(); err != nil {
			st.p.s.Logger().Warn("store: saving at close", "path", st.path, "err", err)
		}
	}
}

// Close is the resource's close (plugin:resources|close): the store saves
// what is pending and is forgotten, as in Tauri.
func (st *store) Close() error {
	st.p.mu.Lock()
	if st.p.byPath[st.path] == st {
		delete(st.p.byPath, st.path)
	}
	st.p.mu.Unlock()
	st.flush()
	return nil
}
