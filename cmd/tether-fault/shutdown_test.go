package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/stress"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tether-fault-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "tether-fault")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString(err.Error())
			code = 1
		}
	}
	os.Exit(code)
}

// SIGTERM to a serving core (app.Run, as `tether serve` runs it): new calls
// are refused, the call in flight finishes, listen streams end with
// unavailable "reconnect and resume", the process exits 0; a listener then
// reconnects by itself to a new core on the same address and resumes.
func TestGracefulShutdownOnSIGTERM(t *testing.T) {
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	token, err := stress.NewSecret(data)
	if err != nil {
		t.Fatal(err)
	}
	first, err := startChild(binary, addr, data, true, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { first.Cmd.Process.Kill() }()

	c, err := client.Dial(addr, client.WithToken(token))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	// A raw listen stream, to see how it ends.
	raw, err := c.IPC().Listen(ctx, &tetherv1.ListenRequest{Events: []string{"e"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Header(); err != nil {
		t.Fatal(err)
	}
	// A client listener, which reconnects by itself.
	var got atomic.Value
	var lags atomic.Int32
	sub, err := c.Listen(ctx, []string{"e"}, func(e client.Event) {
		var s string
		e.Decode(&s)
		got.Store(s)
	}, client.OnLag(func(uint64, uint64) { lags.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unlisten()

	if _, err := c.Emit(ctx, "e", "before"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); got.Load() != "before"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the listener did not get the first event")
		}
	}

	// A call in flight when SIGTERM arrives.
	slow := make(chan error, 1)
	var out string
	go func() { slow <- c.Invoke(ctx, "slow", map[string]int{"ms": 1500}, &out) }()
	time.Sleep(300 * time.Millisecond)
	if err := first.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// The listen stream ends at once with unavailable, telling to resume.
	for err == nil { // the "before" event first
		_, err = raw.Recv()
	}
	if te := tether.FromError(err); te.Code() != tether.CodeUnavailable || !strings.Contains(te.Message(), "reconnect and resume") {
		t.Fatalf("listen stream ended with %v, want unavailable: reconnect and resume", err)
	}
	// New calls are refused while the old one finishes.
	time.Sleep(100 * time.Millisecond)
	if err := c.Invoke(ctx, "greet", map[string]string{"name": "x"}, nil); tether.CodeOf(err) != tether.CodeUnavailable {
		t.Fatalf("a new call during shutdown: %v, want unavailable", err)
	}
	select {
	case err := <-slow:
		if err != nil || out != "done" {
			t.Fatalf("the call in flight: %q, %v; want it to finish", out, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call in flight did not finish")
	}
	select {
	case err := <-first.Done():
		if err != nil {
			t.Fatalf("the core exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the core did not exit")
	}

	// A new core on the same address: the listener comes back to it.
	second, err := startChild(binary, addr, data, true, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Term()
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() != "after restart" {
		if time.Now().After(deadline) {
			t.Fatal("the listener did not reconnect to the new core")
		}
		if _, err := c.Emit(ctx, "e", "after restart"); err != nil && tether.CodeOf(err) != tether.CodeUnavailable {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if lags.Load() != 1 {
		t.Fatalf("%d lag notices, want 1 (the restart's unknown gap)", lags.Load())
	}
	if err := sub.Err(); err != nil {
		t.Fatal(err)
	}
}

// A short fault run: one kill, durable idempotency; it must pass.
func TestFaultRunShort(t *testing.T) {
	ok, err := drive(params{clients: 4, calls: 300, listeners: 3, events: 300, kills: 1,
		every: 700 * time.Millisecond, down: 100 * time.Millisecond, idem: "durable"}, binary)
	if err != nil || !ok {
		t.Fatalf("fault run: ok %v, %v", ok, err)
	}
}

// A short fault run with three replicas on JetStream: two kills (of two
// replicas), clients moving; it must pass (no lost event, no double
// execution).
func TestFaultRunReplicasShort(t *testing.T) {
	ok, err := driveReplicas(params{clients: 4, calls: 300, listeners: 3, events: 300, kills: 2, replicas: 3,
		every: 700 * time.Millisecond, down: 100 * time.Millisecond, idem: "nats"}, binary)
	if err != nil || !ok {
		t.Fatalf("fault run with replicas: ok %v, %v", ok, err)
	}
}
