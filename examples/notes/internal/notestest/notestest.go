// Package notestest starts the notes app for tests, from its own
// tether.json with the addresses moved to a temporary folder.
package notestest

import (
	"context"
	"io"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/tether-ipc/tether/app"
	"github.com/tether-ipc/tether/config"
	notesv1 "github.com/tether-ipc/tether/examples/notes/gen/notes/v1"
	"github.com/tether-ipc/tether/examples/notes/notes"
)

// Dir is the notes module's folder.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Start runs the notes app as main.go does, until the test ends.
func Start(t testing.TB) app.Ready {
	t.Helper()
	cfg, err := config.Load(filepath.Join(Dir(), "tether.json"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", tmp) // where the app writes its secret
	cfg.GRPC = "unix://" + filepath.Join(tmp, "notes.sock")
	cfg.HTTP = "127.0.0.1:0"
	cfg.Trusted = map[string]string{"unix://" + filepath.Join(tmp, "backend.sock"): "backend"}
	cfg.Data = tmp
	ready := make(chan app.Ready, 1)
	a, err := app.New(cfg, app.WithOutput(io.Discard, io.Discard), app.WithReady(func(r app.Ready) { ready <- r }))
	if err != nil {
		t.Fatal(err)
	}
	notesv1.RegisterNotesServer(a.Server(), notes.New(a.Server()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("notes app: %v", err)
		}
	})
	select {
	case r := <-ready:
		return r
	case err := <-done:
		t.Fatalf("notes app: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("notes app not ready")
	}
	return app.Ready{}
}
