package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-ipc/tether/config"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/server"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// The isolation key appears in no log line (debug level, both processes),
// and in no argv or environment of the core or of split mode's gateway
// process (this test binary, run again; see TestMain).
func TestIsolationKeyNeverLeaks(t *testing.T) {
	hooks, _ := filepath.Abs("../examples/isolation/whitelist")
	cfg := config.Default()
	cfg.GRPC = "unix://" + filepath.Join(t.TempDir(), "core.sock")
	cfg.HTTP = "127.0.0.1:0"
	cfg.Data = t.TempDir()
	cfg.Log.Level = "debug"
	cfg.Isolation.Split = true
	cfg.App.Security.Pattern = config.Pattern{Use: config.IsolationPattern, Options: config.PatternOptions{Dir: hooks}}
	logs := &syncBuffer{}
	var key bytes.Buffer
	ready := make(chan Ready, 1)
	a, err := New(cfg, WithLogger(NewLogger(cfg.Log, logs)), WithChildCommand(os.Args[0]), WithChildOutput(logs),
		WithReady(func(r Ready) { ready <- r }),
		func(o *options) { o.keyObserver = func(k *isolation.Key) { k.WriteTo(&key) } }) //nolint:errcheck
	if err != nil {
		t.Fatal(err)
	}
	server.Handle(a.Server(), "greet", func(_ context.Context, x struct{ Name string }) (string, error) { return "Hello, " + x.Name + "!", nil })
	server.Handle(a.Server(), "read_file", func(_ context.Context, x struct{ Path string }) (string, error) { return "", nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var r Ready
	select {
	case r = <-ready:
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("not ready")
	}
	post := func(path, body string) int {
		res, err := http.Post(r.HTTP+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if code := post("/ipc/invoke/greet", `{"name":"K"}`); code != 200 {
		t.Fatalf("greet: %d\n%s", code, logs.String())
	}
	if code := post("/ipc/invoke/read_file", `{"path":"x"}`); code != 403 { // a blocked call logs too
		t.Fatalf("read_file: %d", code)
	}

	// The gateway process's log reaches the buffer through a pipe: wait for
	// the block's line before reading the logs.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "isolation hook blocked"); {
		if time.Now().After(deadline) {
			t.Fatalf("the child's log (with the block) did not reach the buffer:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	k := key.Bytes()
	if len(k) != isolation.KeySize {
		t.Fatalf("key of %d bytes", len(k))
	}
	forms := map[string][]byte{
		"raw": k, "hex": []byte(hex.EncodeToString(k)), "HEX": []byte(strings.ToUpper(hex.EncodeToString(k))),
		"base64": []byte(base64.StdEncoding.EncodeToString(k)), "base64url": []byte(base64.RawURLEncoding.EncodeToString(k)),
	}
	places := map[string][]byte{"logs": []byte(logs.String())}
	pids := []string{"self"}
	if child := childPID(); child != "" {
		pids = append(pids, child)
	} else {
		t.Fatal("no gateway child process found")
	}
	for _, pid := range pids {
		for _, f := range []string{"cmdline", "environ"} {
			b, err := os.ReadFile("/proc/" + pid + "/" + f)
			if err != nil {
				t.Fatal(err)
			}
			places[pid+"/"+f] = b
		}
	}
	checked := 0
	for where, content := range places {
		for form, needle := range forms {
			checked++
			if bytes.Contains(content, needle) {
				t.Errorf("the key (%s) appears in %s", form, where)
			}
		}
	}
	if !strings.Contains(logs.String(), "process=gateway") {
		t.Fatalf("the child's log did not reach the buffer:\n%s", logs.String())
	}
	t.Logf("key absent from %d place×form pairs (logs of both processes, argv and environment of both)", checked)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// childPID finds this process's split-mode gateway child.
func childPID() string {
	ents, _ := os.ReadDir("/proc")
	self := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 || f[1] != self {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if bytes.Contains(cmd, []byte(splitChildArg)) {
			return e.Name()
		}
	}
	return ""
}
