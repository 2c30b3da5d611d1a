package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/bus"
	"github.com/tether-ipc/tether/plugins/store"
	"github.com/tether-ipc/tether/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newServer(t *testing.T, dir string, opts ...store.Option) *server.Server {
	t.Helper()
	s := server.New(server.WithDataDir(dir))
	if err := store.Register(s, opts...); err != nil {
		t.Fatal(err)
	}
	return s
}

func call(t *testing.T, s *server.Server, cmd string, args, out any) {
	t.Helper()
	if err := s.Invoke(context.Background(), "plugin:store|"+cmd, args, out); err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
}

func TestSetSaveReload(t *testing.T) {
	dir := t.TempDir()
	s := newServer(t, dir)
	var rid uint32
	call(t, s, "load", map[string]any{"path": "settings.json", "options": map[string]any{"autoSave": false}}, &rid)
	call(t, s, "set", map[string]any{"rid": rid, "key": "theme", "value": map[string]any{"dark": true}}, nil)
	var got [2]json.RawMessage
	call(t, s, "get", map[string]any{"rid": rid, "key": "theme"}, &got)
	if string(got[0]) != `{"dark":true}` || string(got[1]) != "true" {
		t.Fatalf("get = %s", got)
	}
	call(t, s, "get", map[string]any{"rid": rid, "key": "missing"}, &got)
	if string(got[0]) != "null" || string(got[1]) != "false" {
		t.Fatalf("get missing = %s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "settings.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("autoSave false wrote the file before save: %v", err)
	}
	call(t, s, "save", map[string]any{"rid": rid}, nil)
	b, err := os.ReadFile(filepath.Join(dir, "settings.json"))
	if err != nil || !strings.Contains(string(b), `"theme": {`) {
		t.Fatalf("file after save: %q, %v", b, err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.tmp-*")); len(m) > 0 {
		t.Fatalf("temporary files left: %v", m)
	}
	s.Stop()

	// A new server (a restart) reads the file back.
	s2 := newServer(t, dir)
	defer s2.Stop()
	call(t, s2, "load", map[string]any{"path": "settings.json"}, &rid)
	call(t, s2, "get", map[string]any{"rid": rid, "key": "theme"}, &got)
	if string(got[0]) != `{"dark":true}` {
		t.Fatalf("after restart: %s", got)
	}
	var n int
	call(t, s2, "length", map[string]any{"rid": rid}, &n)
	if n != 1 {
		t.Fatalf("length = %d", n)
	}
}

func TestAutoSaveAndShutdownFlush(t *testing.T) {
	dir := t.TempDir()
	s := newServer(t, dir)
	var rid uint32
	call(t, s, "load", map[string]any{"path": "a/b.json", "autoSave": 20}, &rid) // 2.0's flat options, a subfolder
	call(t, s, "set", map[string]any{"rid": rid, "key": "k", "value": 1}, nil)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "a", "b.json")); err == nil && strings.Contains(string(b), `"k": 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("autosave never wrote the store")
		}
		time.Sleep(10 * time.Millisecond)
	}
	call(t, s, "load", map[string]any{"path": "late.json", "options": map[string]any{"autoSave": 60000}}, &rid)
	call(t, s, "set", map[string]any{"rid": rid, "key": "x", "value": "y"}, nil)
	s.Stop() // saves what the long autosave delay had not
	if b, err := os.ReadFile(filepath.Join(dir, "late.json")); err != nil || !strings.Contains(string(b), `"x": "y"`) {
		t.Fatalf("not saved at stop: %q, %v", b, err)
	}
}

func TestDefaultsResetAndEvents(t *testing.T) {
	s := newServer(t, t.TempDir())
	defer s.Stop()
	changes := make(chan bus.Event, 16)
	unlisten, err := s.Listen(store.ChangeEvent, func(e bus.Event) { changes <- e })
	if err != nil {
		t.Fatal(err)
	}
	defer unlisten()
	var rid uint32
	call(t, s, "load", map[string]any{"path": "d.json", "options": map[string]any{"defaults": map[string]any{"a": 1}}}, &rid)
	call(t, s, "set", map[string]any{"rid": rid, "key": "a", "value": 2}, nil)
	call(t, s, "reset", map[string]any{"rid": rid}, nil)
	var keys []string
	call(t, s, "keys", map[string]any{"rid": rid}, &keys)
	var got [2]json.RawMessage
	call(t, s, "get", map[string]any{"rid": rid, "key": "a"}, &got)
	if len(keys) != 1 || string(got[0]) != "1" {
		t.Fatalf("after reset: keys %v, a = %s", keys, got[0])
	}
	want := []string{`"key":"a","value":2,"exists":true`, `"key":"a","value":1,"exists":true`}
	for _, w := range want {
		select {
		case e := <-changes:
			if !strings.Contains(string(e.Payload.GetJson()), w) || !strings.Contains(string(e.Payload.GetJson()), `"path":"d.json"`) {
				t.Fatalf("change %s, want %s", e.Payload.GetJson(), w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no change event %s", w)
		}
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	s := newServer(t, filepath.Join(dir), store.WithMaxBytes(64), store.WithMaxStores(2))
	defer s.Stop()
	for _, p := range []string{"../x.json", "/etc/passwd", "a/../../x"} {
		err := s.Invoke(context.Background(), "plugin:store|load", map[string]any{"path": p}, nil)
		if tether.FromError(err).Code() != tether.CodePermissionDenied {
			t.Errorf("load %q: %v, want permission_denied", p, err)
		}
	}
	var rid uint32
	call(t, s, "load", map[string]any{"path": "one.json"}, &rid)
	err := s.Invoke(context.Background(), "plugin:store|set", map[string]any{"rid": rid, "key": "k", "value": strings.Repeat("x", 100)}, nil)
	if tether.FromError(err).Code() != tether.CodeResourceExhausted {
		t.Errorf("a value over the store's bound: %v", err)
	}
	call(t, s, "load", map[string]any{"path": "two.json"}, nil)
	if err := s.Invoke(context.Background(), "plugin:store|load", map[string]any{"path": "three.json"}, nil); tether.FromError(err).Code() != tether.CodeResourceExhausted {
		t.Errorf("a third store past WithMaxStores(2): %v", err)
	}
	if err := s.Invoke(context.Background(), "plugin:store|get", map[string]any{"rid": rid + 100, "key": "k"}, nil); tether.FromError(err).Code() != tether.CodeNotFound {
		t.Errorf("an unknown rid: %v", err)
	}
	// Closing the resource (Resource.close() in the page) forgets the store.
	call(t, s, "load", map[string]any{"path": "one.json"}, &rid)
	if err := s.Invoke(context.Background(), "plugin:resources|close", map[string]any{"rid": rid}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Invoke(context.Background(), "plugin:store|get", map[string]any{"rid": rid, "key": "k"}, nil); tether.FromError(err).Code() != tether.CodeNotFound {
		t.Errorf("a closed rid: %v", err)
	}
	var none *uint32
	call(t, s, "get_store", map[string]any{"path": "one.json"}, &none)
	if none != nil {
		t.Errorf("get_store of a closed store = %d", *none)
	}
	if err := s.Invoke(context.Background(), "plugin:store|load", map[string]any{"path": "x.json", "options": map[string]any{"serializeFnName": "toml"}}, nil); tether.FromError(err).Code() != tether.CodeNotFound {
		t.Errorf("a serialize function: %v", err)
	}
}
