package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/config"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/internal/netaddr"
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

// The isolation key and the app's secret appear in no log line (debug
// level, both processes), and in no argv or environment of the core or of
// split mode's gateway process (this test binary, run again; see TestMain).
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
		WithReady(func(r Ready) { ready <- r }))
	if err != nil {
		t.Fatal(err)
	}
	a.key.WriteTo(&key) //nolint:errcheck // a bytes.Buffer
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
		req, _ := http.NewRequest("POST", r.HTTP+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+r.Token)
		res, err := http.DefaultClient.Do(req)
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
	// The app's secret travels the same way (printed only to standard
	// output, as the address to open).
	if len(r.Token) < 32 {
		t.Fatalf("secret %q", r.Token)
	}
	forms["secret"] = []byte(r.Token)
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

// Split mode's gateway process dials only its parent's socket. After the
// core died and its folder went, another user (nobody) takes the socket's
// path and serves a greet of its own there: the gateway process refuses the
// socket (its folder and itself are another user's), and would refuse the
// peer (another user's process) if the checks of the socket were lifted. A
// process of this user that is not the parent is refused too. Run as root
// (to be another user); the last part runs as anyone.
func TestSplitChildRefusesAnImpostorSocket(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// This user, not the parent: a listener in this very process.
	own := filepath.Join(t.TempDir(), "core.sock")
	l, err := netaddr.Listen("unix://" + own)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.WithLogger(slog.New(slog.DiscardHandler)))
	forged := atomic.Int32{}
	server.Handle(srv, "greet", func(context.Context, struct{ Name string }) (string, error) { forged.Add(1); return "forged", nil })
	go srv.Serve(l) //nolint:errcheck // until Stop
	defer srv.Stop()
	conn, err := dialParent("unix://"+own, nil)
	if err != nil {
		t.Fatalf("a socket of this user: %v", err)
	}
	var s string
	err = client.New(conn).Invoke(ctx, "greet", map[string]string{"name": "x"}, &s)
	conn.Close()
	if err == nil || forged.Load() != 0 || !strings.Contains(err.Error(), "is process") {
		t.Fatalf("a process not the parent answered: %q %v (handler ran %d times)", s, err, forged.Load())
	}

	if os.Geteuid() != 0 {
		t.Skip("the other user's part needs root")
	}
	runuser, err := exec.LookPath("runuser")
	if err != nil {
		t.Skip("needs runuser")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	base, err := os.MkdirTemp("", "tether-impostor-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	os.Chmod(base, 0o755)
	bin := filepath.Join(base, "app.test")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bin, b, 0o755)
	dir := filepath.Join(base, "tether-core-x") // where the dead core's folder was
	os.Mkdir(dir, 0o755)
	os.Chown(dir, uid, gid)
	sock := filepath.Join(dir, "core.sock")
	imp := exec.Command(runuser, "-u", "nobody", "--", bin, "--test-impostor", sock)
	var impErr syncBuffer
	imp.Stderr = &impErr
	stdin, err := imp.StdinPipe() // the impostor exits when it closes
	if err != nil {
		t.Fatal(err)
	}
	imp.WaitDelay = 5 * time.Second
	if err := imp.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); imp.Wait() }() //nolint:errcheck
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the impostor did not listen: %s", impErr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The impostor answers whoever dials it without checks.
	plain, err := client.Dial("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	for {
		err = plain.Invoke(ctx, "greet", map[string]string{"name": "x"}, &s)
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	plain.Close()
	if err != nil || s != "forged" {
		t.Fatalf("the impostor does not answer: %q %v", s, err)
	}
	// The gateway process's dial refuses it: the socket is another user's.
	if _, err := dialParent("unix://"+sock, nil); err == nil || !strings.Contains(err.Error(), "belongs to uid "+nobody.Uid) {
		t.Fatalf("dialParent on another user's socket: %v", err)
	}
	// And past that check, the peer is another user's process.
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := netaddr.CheckPeerProcess(c, os.Getuid(), os.Getppid()); err == nil || !strings.Contains(err.Error(), "runs as uid "+nobody.Uid) {
		t.Fatalf("the peer check on another user's process: %v", err)
	}
}
