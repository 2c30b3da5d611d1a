package server

import (
	"context"
	"sync"

	"github.com/tether-ipc/tether"
)

// Resource is something a plugin keeps for its callers between calls and
// names to them by a resource id (Tauri's Resource: a store, a file handle).
// Close releases it; the table calls it once, when a caller closes the
// resource (plugin:resources|close) or the server stops.
type Resource interface {
	Close() error
}

// MaxResourcesPerClient bounds the resources one client label may hold at
// once; Add fails with resource_exhausted past it.
const MaxResourcesPerClient = 1024

// Resources is the server's resource table (Tauri's resources_table): the
// resources plugins hand out, by id, each usable only by the client labels
// that were given it (Add, Grant). The command plugin:resources|close, which
// @tauri-apps/api's Resource.close() invokes, closes one. It is safe for
// concurrent use.
type Resources struct {
	mu      sync.Mutex
	next    uint32
	byID    map[uint32]*resourceEntry
	perUser map[string]int
	closed  bool
}

type resourceEntry struct {
	r      Resource
	labels map[string]bool
}

// Resources returns the server's resource table, registering
// plugin:resources|close on first use. Call it while registering.
func (s *Server) Resources() *Resources {
	s.pluginsMu.Lock()
	t := s.resources
	if t == nil {
		t = &Resources{byID: map[uint32]*resourceEntry{}, perUser: map[string]int{}}
		s.resources = t
	}
	s.pluginsMu.Unlock()
	if _, ok := s.reg.lookup("plugin:resources|close"); !ok {
		Handle(s.Plugin("resources"), "close", func(ctx context.Context, a struct {
			RID uint32 `json:"rid"`
		}) (any, error) {
			return nil, t.Close(ctx, a.RID)
		})
	}
	return t
}

func labelOf(ctx context.Context) string {
	if c, ok := tether.CallFromContext(ctx); ok {
		return c.ClientLabel
	}
	return ""
}

// Add puts r in the table for the caller of ctx and returns its id.
func (t *Resources) Add(ctx context.Context, r Resource) (uint32, error) {
	label := labelOf(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0, tether.NewError(tether.CodeUnavailable, "server is shutting down")
	}
	if t.perUser[label] >= MaxResourcesPerClient {
		return 0, tether.Errorf(tether.CodeResourceExhausted, "client holds %d resources: close some first", MaxResourcesPerClient)
	}
	// Past 2^32-1 the ids wrap: skip 0 and the ids still held, so that no
	// resource is overwritten (and never closed).
	for t.next++; t.next == 0 || t.byID[t.next] != nil; t.next++ {
	}
	t.byID[t.next] = &resourceEntry{r: r, labels: map[string]bool{label: true}}
	t.perUser[label]++
	return t.next, nil
}

// Grant lets the caller of ctx use the resource rid too (a second page
// that loads the same store). It fails with not_found if rid is not in the
// table.
func (t *Resources) Grant(ctx context.Context, rid uint32) error {
	label := labelOf(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.byID[rid]
	if !ok {
		return errNoResource(rid)
	}
	if e.labels[label] {
		return nil
	}
	if t.perUser[label] >= MaxResourcesPerClient {
		return tether.Errorf(tether.CodeResourceExhausted, "client holds %d resources: close some first", MaxResourcesPerClient)
	}
	e.labels[label] = true
	t.perUser[label]++
	return nil
}

// Get returns the resource rid if the caller of ctx may use it.
func (t *Resources) Get(ctx context.Context, rid uint32) (Resource, error) {
	label := labelOf(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.byID[rid]
	if !ok || !e.labels[label] {
		return nil, errNoResource(rid)
	}
	return e.r, nil
}

// Close removes the resource rid, if the caller of ctx may use it, and
// closes it.
func (t *Resources) Close(ctx context.Context, rid uint32) error {
	label := labelOf(ctx)
	t.mu.Lock()
	e, ok := t.byID[rid]
	if !ok || !e.labels[label] {
		t.mu.Unlock()
		return errNoResource(rid)
	}
	t.removeLocked(rid, e)
	t.mu.Unlock()
	return e.r.Close()
}

// Remove takes rid out of the table without closing it (its owner replaced
// it), whoever holds it.
func (t *Resources) Remove(rid uint32) {
	t.mu.Lock()
	if e, ok := t.byID[rid]; ok {
		t.removeLocked(rid, e)
	}
	t.mu.Unlock()
}

func (t *Resources) removeLocked(rid uint32, e *resourceEntry) {
	delete(t.byID, rid)
	for l := range e.labels {
		if t.perUser[l]--; t.perUser[l] <= 0 {
			delete(t.perUser, l)
		}
	}
}

func errNoResource(rid uint32) error {
	return tether.Errorf(tether.CodeNotFound, "no resource with id %d", rid)
}

// closeResources closes every resource, when the server stops.
func (s *Server) closeResources() {
	s.pluginsMu.Lock()
	t := s.resources
	stops := s.onStop
	s.onStop = nil
	s.pluginsMu.Unlock()
	defer func() {
		for _, f := range stops {
			f()
		}
	}()
	if t == nil {
		return
	}
	t.mu.Lock()
	entries := t.byID
	t.byID, t.perUser, t.closed = map[uint32]*resourceEntry{}, map[string]int{}, true
	t.mu.Unlock()
	for _, e := range entries {
		if err := e.r.Close(); err != nil {
			s.log.Warn("tether: closing a resource at shutdown", "err", err)
		}
	}
}
