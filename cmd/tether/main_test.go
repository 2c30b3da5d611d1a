package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string // TETHER_TEST_BINARY overrides it

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tether-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "tether")
	// One runtime folder for the test's processes, as a user's session has:
	// `tether serve` writes its secret there and the client commands read
	// it. (Tests that run two cores at once give them --token-file.)
	rt := filepath.Join(dir, "run")
	os.Mkdir(rt, 0o700)
	os.Setenv("XDG_RUNTIME_DIR", rt)
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	if b := os.Getenv("TETHER_TEST_BINARY"); b != "" {
		binary = b // to check what a test catches against another build
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// serve starts `tether serve` and returns the gRPC address it printed.
func serve(t *testing.T, args ...string) string {
	t.Helper()
	addr, _ := serveHTTP(t, args...)
	return addr
}

// serveHTTP starts `tether serve` (with the gateway on a free port unless
// args say otherwise) and returns the gRPC address and the gateway's URL.
func serveHTTP(t *testing.T, args ...string) (grpcAddr, httpURL string) {
	t.Helper()
	grpcAddr, httpURL, _ = serveIn(t, "", append([]string{"--data", t.TempDir()}, args...)...)
	return grpcAddr, httpURL
}

// serveIn starts `tether serve --http 127.0.0.1:0 ARGS` in the folder dir
// ("" for the test's), and returns its addresses and process.
func serveIn(t *testing.T, dir string, args ...string) (grpcAddr, httpURL string, proc *os.Process) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, binary, append([]string{"serve", "--http", "127.0.0.1:0"}, args...)...)
	cmd.Dir = dir

	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		// SIGINT is a graceful shutdown: the process exits 0 (unless the
		// test killed it).
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return
		}
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("serve exited %d after SIGINT\n%s", code, stderr.String())
		}
	})
	lines := make(chan string, 1)
	urls := make(chan string, 1)
	opens := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "tether: gRPC on "); ok {
				lines <- addr
			}
			if u, ok := strings.CutPrefix(sc.Text(), "tether: HTTP on "); ok {
				urls <- u
			}
			if u, ok := strings.CutPrefix(sc.Text(), "tether: open "); ok {
				opens <- u
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	timeout := time.After(20 * time.Second)
	var open string
	for grpcAddr == "" || httpURL == "" || open == "" {
		select {
		case grpcAddr = <-lines:
		case httpURL = <-urls:
		case open = <-opens:
		case <-timeout:
			t.Fatalf("serve did not start:\n%s", stderr.String())
		}
	}
	u, err := url.Parse(open)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("the address to open has no token: %q", open)
	}
	served.Store(httpURL, u.Query().Get("token"))
	t.Cleanup(func() { served.Delete(httpURL) })
	return grpcAddr, httpURL, cmd.Process
}

// served maps the gateway URL of each running `tether serve` to its secret.
var served sync.Map

// secretFor is the secret of the served gateway u is under.
func secretFor(u string) string {
	var tok string
	served.Range(func(k, v any) bool {
		if base := k.(string); strings.HasPrefix(u, base+"/") || u == base {
			tok, _ = v.(string)
			return false
		}
		return true
	})
	return tok
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestServeThenInvoke(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "core.sock")
	for _, tc := range []struct{ name, listen string }{
		{"tcp", "127.0.0.1:0"},
		{"unix", "unix://" + sock},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serve(t, "--grpc", tc.listen)
			out, errOut, code := runCLI(t, "invoke", "--addr", addr, "greet", `{"name":"World"}`)
			if code != 0 || out != "Hello, World!\n" {
				t.Fatalf("invoke greet: exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			out, _, _ = runCLI(t, "invoke", "--addr", addr, "process_data", `{"input":"test"}`)
			if out != "Processed: test\n" {
				t.Fatalf("process_data: %q", out)
			}
		})
	}
}

func TestInvokeFailuresAreOneLine(t *testing.T) {
	addr := serve(t, "--grpc", "127.0.0.1:0")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"invoke", "--addr", addr, "nope"}, `tether invoke: not_found: unknown command "nope"`},
		{[]string{"invoke", "--addr", addr, "greet", `{"name":`}, `tether invoke: invalid_argument: args are not valid JSON`},
		{[]string{"invoke", "--addr", addr, "read_file", `{"path":"../x"}`}, `permission_denied`},
	} {
		_, errOut, code := runCLI(t, tc.args...)
		if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want one line containing %q", tc.args, code, errOut, tc.want)
		}
	}
	out, _, code := runCLI(t, "invoke", "--json", "--addr", addr, "fail")
	var body struct {
		Code    string          `json:"code"`
		Details json.RawMessage `json:"details"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &body) != nil || body.Code != "failed_precondition" || len(body.Details) == 0 {
		t.Fatalf("--json fail: exit %d, %q", code, out)
	}
	_, _, code = runCLI(t, "bogus")
	if code != 2 {
		t.Fatalf("unknown subcommand exit %d, want 2", code)
	}
}

func TestCommandsListsShapes(t *testing.T) {
	addr := serve(t, "--grpc", "127.0.0.1:0")
	out, _, code := runCLI(t, "commands", "--addr", addr)
	if code != 0 || !strings.Contains(out, "greet") || !strings.Contains(out, "{name: string}") || !strings.Contains(out, "channel") {
		t.Fatalf("commands: %d\n%s", code, out)
	}
	out, _, _ = runCLI(t, "commands", "--json", "--addr", addr)
	var list []struct {
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) < 6 {
		t.Fatalf("commands --json: %v\n%s", err, out)
	}
}

// The defaults, as the README's tour uses them: `tether serve` with no
// addresses opens its gRPC socket (0600) in the user's runtime folder
// (0700) and writes its secret there (0600); `tether invoke`, `emit`,
// `listen` and `commands` reach it with no flags; `tether token` prints the
// secret that HTTP callers send; without it the gateway answers 401.
func TestDefaultsAsInTheREADME(t *testing.T) {
	grpcAddr, httpURL, proc := serveIn(t, "", "--data", t.TempDir())
	env := os.Environ()
	sock := filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "tether", "dev.tether.app", "grpc.sock")
	if grpcAddr != "unix://"+sock {
		t.Fatalf("gRPC on %s, want the runtime folder's socket %s", grpcAddr, sock)
	}
	for path, want := range map[string]os.FileMode{sock: 0o600, filepath.Dir(sock): 0o700, filepath.Join(filepath.Dir(sock), "token"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v %v, want mode %v", path, fi.Mode(), err, want)
		}
	}
	run := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(binary, args...)
		cmd.Env = env
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return o.String(), e.String(), code
	}
	if out, errOut, code := run("invoke", "greet", `{"name":"World"}`); code != 0 || out != "Hello, World!\n" {
		t.Fatalf("tether invoke greet: %d %q %q", code, out, errOut)
	}
	if out, _, code := run("commands"); code != 0 || !strings.Contains(out, "greet") {
		t.Fatalf("tether commands: %d %q", code, out)
	}
	// tether listen, then tether emit frontend-event: the demo answers with
	// a backend-event.
	lctx, lcancel := context.WithCancel(context.Background())
	defer lcancel()
	lis := exec.CommandContext(lctx, binary, "listen", "backend-event")
	lis.Env = env
	lout, _ := lis.StdoutPipe()
	if err := lis.Start(); err != nil {
		t.Fatal(err)
	}
	defer lis.Wait() //nolint:errcheck
	got := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(lout)
		for sc.Scan() {
			got <- sc.Text()
		}
	}()
	deadline := time.After(10 * time.Second)
emit:
	for {
		if _, errOut, code := run("emit", "frontend-event", `{"message":"hi"}`); code != 0 {
			t.Fatalf("tether emit: %d %s", code, errOut)
		}
		for {
			select {
			case line := <-got:
				if strings.Contains(line, "backend heard: hi") {
					break emit
				}
				continue
			case <-time.After(300 * time.Millisecond): // the listener may not have subscribed yet
			case <-deadline:
				t.Fatal("tether listen printed no reply to tether emit")
			}
			break
		}
	}
	lcancel()
	// HTTP: curl -H "Authorization: Bearer $(tether token)".
	tok, _, code := run("token")
	tok = strings.TrimSpace(tok)
	if code != 0 || tok != secretFor(httpURL) {
		t.Fatalf("tether token: %d %q", code, tok)
	}
	if code, body := postWith(t, httpURL+"/ipc/invoke/greet", `{"name":"World"}`, "Authorization", "Bearer "+tok); code != 200 || body != `"Hello, World!"` {
		t.Fatalf("greet with the token: %d %s", code, body)
	}
	if code, _ := postWith(t, httpURL+"/ipc/invoke/greet", `{"name":"World"}`, "Authorization", "Bearer wrong"); code != 401 {
		t.Fatalf("greet with a wrong token: %d", code)
	}
	// The secret goes at shutdown.
	proc.Signal(os.Interrupt)
	for end := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(filepath.Join(filepath.Dir(sock), "token")); os.IsNotExist(err) {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the token file outlived the app")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
