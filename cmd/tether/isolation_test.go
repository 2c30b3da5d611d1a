package main

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

	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/internal/app"
	"github.com/tether-ipc/tether/internal/config"
)

func whitelistDir(t *testing.T) string {
	d, err := filepath.Abs("../../examples/isolation/whitelist")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func httpPost(t *testing.T, url, body string) (int, string) {
	t.Helper()
	return postWith(t, url, body)
}

// postWith POSTs JSON with extra header name/value pairs.
func postWith(t *testing.T, url, body string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// `tether serve` in isolation mode, with the gateway in-process and split
// into a child process: the whitelist hook lets greet through (sealed) and
// blocks read_file at once with permission_denied; a process dialing the
// core's gRPC port directly is refused.
func TestServeIsolation(t *testing.T) {
	for _, split := range []bool{false, true} {
		t.Run("split="+strconv.FormatBool(split), func(t *testing.T) {
			args := []string{"--grpc", "127.0.0.1:0", "--pattern", "isolation", "--isolation-dir", whitelistDir(t)}
			if split {
				args = append(args, "--split")
			}
			grpcAddr, url := serveHTTP(t, args...)
			if code, body := httpPost(t, url+"/ipc/invoke/greet", `{"name":"Iso"}`); code != 200 || body != `"Hello, Iso!"` {
				t.Fatalf("greet through the stage: %d %s", code, body)
			}
			code, body := httpPost(t, url+"/ipc/invoke/read_file", `{"path":"x"}`)
			if code != 403 || !strings.Contains(body, `"permission_denied"`) || !strings.Contains(body, "whitelist") {
				t.Fatalf("read_file: %d %s", code, body)
			}
			if code, body := httpPost(t, url+"/ipc/emit/frontend-event", `{"message":"sealed"}`); code != 200 {
				t.Fatalf("emit through the stage: %d %s", code, body)
			}
			_, errOut, exit := runCLI(t, "invoke", "--addr", grpcAddr, "greet", `{"name":"direct"}`)
			if exit != 1 || !strings.Contains(errOut, "permission_denied") {
				t.Fatalf("direct gRPC call: exit %d %q", exit, errOut)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the writers of two processes' logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The isolation key appears in no log line (debug level, both processes),
// and in no argv or environment of the core or the split gateway process.
func TestIsolationKeyNeverLeaks(t *testing.T) {
	fs := newFlags("serve", io.Discard)
	flags := config.BindFlags(fs)
	if err := fs.Parse([]string{"--grpc", "unix://" + filepath.Join(t.TempDir(), "core.sock"), "--http", "127.0.0.1:0",
		"--pattern", "isolation", "--isolation-dir", whitelistDir(t), "--split", "--log-level", "debug", "--data", t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	cfg, err := flags.Resolve("")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a, err := app.New(cfg, app.NewLogger(cfg.Log, logs))
	if err != nil {
		t.Fatal(err)
	}
	a.ChildBinary, a.ChildOutput = binary, logs
	var key bytes.Buffer
	a.KeyForTest = func(k *isolation.Key) { k.WriteTo(&key) } //nolint:errcheck
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan app.Ready, 1)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(r app.Ready) { ready <- r }) }()
	var r app.Ready
	select {
	case r = <-ready:
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("not ready")
	}
	if code, body := httpPost(t, r.HTTP+"/ipc/invoke/greet", `{"name":"K"}`); code != 200 {
		t.Fatalf("greet: %d %s", code, body)
	}
	httpPost(t, r.HTTP+"/ipc/invoke/read_file", `{"path":"x"}`) // a blocked call logs too

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
	if child := childPID(t); child != "" {
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
	if !strings.Contains(logs.String(), "gateway") {
		t.Fatalf("the child's log did not reach the buffer:\n%s", logs.String())
	}
	t.Logf("key absent from %d place×form pairs (logs of both processes, argv and environment of both)", checked)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// childPID finds this process's `tether gateway --from-parent` child.
func childPID(t *testing.T) string {
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
		if bytes.Contains(cmd, []byte("--from-parent")) {
			return e.Name()
		}
	}
	return ""
}
