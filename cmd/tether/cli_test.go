package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-ipc/tether"
)

// runEnv runs the CLI with extra environment variables.
func runEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}, {"-v"}} {
		out, errOut, code := runCLI(t, args...)
		want := "tether " + tether.Version + " ("
		if code != 0 || !strings.HasPrefix(out, want) || !strings.Contains(out, runtime.Version()) || strings.Count(out, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want one line starting %q with %s", args, code, out, errOut, want, runtime.Version())
		}
	}
}

// Every command's help has examples and the exit statuses, on stdout, exit 0.
func TestHelpOnEveryCommand(t *testing.T) {
	for _, cmd := range [][]string{{}, {"invoke"}, {"commands"}, {"emit"}, {"listen"}, {"wait"}, {"proto", "export"}, {"gen", "ts"}, {"version"}, {"serve"}} {
		for _, h := range []string{"--help", "-h"} {
			out, errOut, code := runCLI(t, append(cmd, h)...)
			if code != 0 || !strings.Contains(out, "Example") || !strings.Contains(out, "Exit status:") || errOut != "" {
				t.Errorf("%v %s: exit %d, stderr %q, stdout:\n%s", cmd, h, code, errOut, out)
			}
		}
	}
	// serve's help lists app's flags too.
	out, _, _ := runCLI(t, "serve", "--help")
	for _, want := range []string{"tether serve [--config tether.json]", "-grpc", "-console", "-isolation-dir", "shut down gracefully"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --help lacks %q:\n%s", want, out)
		}
	}
}

// A bad command line is one line on stderr naming the help, exit 2.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `tether: unknown command "bogus" for "tether"`},
		{[]string{"invok"}, `did you mean invoke?`},
		{[]string{"invoke"}, `tether invoke: want COMMAND and at most one JSON-ARGS, got 0 argument(s) (see 'tether invoke --help')`},
		{[]string{"invoke", "greet", "--bogus"}, `tether invoke: unknown flag: --bogus`},
		{[]string{"listen"}, `tether listen: want at least one EVENT`},
		{[]string{"serve", "--bogus"}, `tether serve: flag provided but not defined: -bogus (see 'tether serve --help')`},
		{[]string{"serve", "--pattern", "nope"}, `flag --pattern`},
		{[]string{"serve", "extra"}, `unexpected argument "extra"`},
	} {
		_, errOut, code := runCLI(t, tc.args...)
		wantCode := 2
		if tc.args[0] == "serve" && tc.args[1] == "--pattern" {
			wantCode = 1 // a bad value is a bad setting, found by config
		}
		if code != wantCode || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line containing %q", tc.args, code, errOut, wantCode, tc.want)
		}
	}
}

func TestFlagsAfterArguments(t *testing.T) {
	addr := serve(t, "--grpc", "127.0.0.1:0")
	out, errOut, code := runCLI(t, "invoke", "greet", `{"name":"After"}`, "--addr", addr, "--json")
	if code != 0 || out != "\"Hello, After!\"\n" {
		t.Fatalf("flags after the arguments: exit %d, %q, %q", code, out, errOut)
	}
}

// The address comes from --addr, else $TETHER_ADDR, else the client config
// file, else the default.
func TestAddressFromEnvironmentAndConfigFile(t *testing.T) {
	addr := serve(t, "--grpc", "127.0.0.1:0")
	dir := t.TempDir()
	noConfig := "TETHER_CLI_CONFIG=" + filepath.Join(dir, "none.json")
	greet := []string{"invoke", "greet", `{"name":"E"}`}
	if out, errOut, code := runEnv(t, []string{"TETHER_ADDR=" + addr, "XDG_CONFIG_HOME=" + dir}, greet...); code != 0 || out != "Hello, E!\n" {
		t.Fatalf("TETHER_ADDR: exit %d, %q, %q", code, out, errOut)
	}
	cfg := filepath.Join(dir, "cli.json")
	os.WriteFile(cfg, []byte(`{"addr": "`+addr+`"}`), 0o600)
	if out, errOut, code := runEnv(t, []string{"TETHER_CLI_CONFIG=" + cfg}, greet...); code != 0 || out != "Hello, E!\n" {
		t.Fatalf("config file: exit %d, %q, %q", code, out, errOut)
	}
	// the default location, $XDG_CONFIG_HOME/tether/cli.json
	os.MkdirAll(filepath.Join(dir, "tether"), 0o700)
	os.WriteFile(filepath.Join(dir, "tether", "cli.json"), []byte(`{"addr": "`+addr+`"}`), 0o600)
	if out, errOut, code := runEnv(t, []string{"XDG_CONFIG_HOME=" + dir, "HOME=" + dir}, greet...); code != 0 || out != "Hello, E!\n" {
		t.Fatalf("default config file: exit %d, %q, %q", code, out, errOut)
	}
	// the flag wins over the environment, which wins over the file
	if _, errOut, code := runEnv(t, []string{"TETHER_ADDR=" + addr, "TETHER_CLI_CONFIG=" + cfg}, append(greet, "--addr", "127.0.0.1:1")...); code != 3 || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Fatalf("--addr over TETHER_ADDR: exit %d, %q", code, errOut)
	}
	if _, errOut, code := runEnv(t, []string{"TETHER_ADDR=127.0.0.1:1", "TETHER_CLI_CONFIG=" + cfg}, greet...); code != 3 || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Fatalf("TETHER_ADDR over the file: exit %d, %q", code, errOut)
	}
	// a bad file, or a missing one that was named, is an error naming it
	os.WriteFile(cfg, []byte(`{"adr": "x"}`), 0o600)
	if _, errOut, code := runEnv(t, []string{"TETHER_CLI_CONFIG=" + cfg}, greet...); code != 1 || !strings.Contains(errOut, cfg) || !strings.Contains(errOut, `unknown field "adr"`) {
		t.Fatalf("bad config file: exit %d, %q", code, errOut)
	}
	if _, errOut, code := runEnv(t, []string{noConfig}, greet...); code != 1 || !strings.Contains(errOut, "none.json") {
		t.Fatalf("missing named config file: exit %d, %q", code, errOut)
	}
}

func TestInvokeChannelPrintsEachMessage(t *testing.T) {
	addr := serve(t, "--grpc", "127.0.0.1:0")
	out, errOut, code := runCLI(t, "invoke", "--addr", addr, "count", `{"to":3}`)
	if code != 0 || out != "{\"n\":1,\"of\":3}\n{\"n\":2,\"of\":3}\n{\"n\":3,\"of\":3}\n" {
		t.Fatalf("invoke count: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, _, code = runCLI(t, "invoke", "--addr", addr, "--json", "count", `{"to":2}`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("--json count: exit %d, %q", code, out)
	}
	for i, l := range lines {
		var m struct{ N, Of int }
		if err := json.Unmarshal([]byte(l), &m); err != nil || m.N != i+1 || m.Of != 2 {
			t.Fatalf("NDJSON line %d: %q (%v)", i, l, err)
		}
	}
	// a refused channel: the structured error, exit 1
	out, errOut, code = runCLI(t, "invoke", "--addr", addr, "--json", "count", `{"to":4000000000}`)
	if code != 1 || !strings.Contains(out, `"code":"invalid_argument"`) || !strings.HasPrefix(errOut, "tether invoke: invalid_argument: ") {
		t.Fatalf("refused channel: exit %d, %q, %q", code, out, errOut)
	}
	// args on standard input
	cmd := exec.Command(binary, "invoke", "--addr", addr, "greet", "-")
	cmd.Stdin = strings.NewReader(`{"name":"stdin"}`)
	if b, err := cmd.Output(); err != nil || string(b) != "Hello, stdin!\n" {
		t.Fatalf("args on stdin: %q, %v", b, err)
	}
}

// lineReader reads a process's stdout lines into a channel.
func lineReader(t *testing.T, cmd *exec.Cmd) <-chan string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

// emitUntil emits event with payload until a line mentioning marker comes,
// or fails after a bound.
func emitUntil(t *testing.T, addr string, lines <-chan string, marker string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		runCLI(t, "emit", "--addr", addr, "restart-test", `{"phase":"`+marker+`"}`) // fails while the core is down
		wait := time.After(300 * time.Millisecond)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("tether listen exited while waiting for %q", marker) // its stdout closed
				}
				if strings.Contains(l, marker) {
					return l
				}
				continue
			case <-wait:
			}
			break
		}
	}
	t.Fatalf("no event %q reached tether listen", marker)
	return ""
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// tether listen outlives a crash and restart of the core, and prints the
// events emitted after it.
func TestListenOutlivesCoreRestart(t *testing.T) {
	addr := freePort(t)
	_, _, core := serveIn(t, "", "--grpc", addr, "--data", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	listen := exec.CommandContext(ctx, binary, "listen", "--addr", addr, "restart-test")
	var stderr strings.Builder
	listen.Stderr = &stderr
	lines := lineReader(t, listen)
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	before := emitUntil(t, addr, lines, "before")
	var ev struct {
		ID    uint64
		Event string
	}
	if err := json.Unmarshal([]byte(before), &ev); err != nil || ev.Event != "restart-test" || ev.ID == 0 {
		t.Fatalf("line %q: %v", before, err)
	}

	core.Signal(syscall.SIGKILL)
	for i := 0; i < 100; i++ { // until the dead core's port is closed
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // tether listen sees the connection go
	serveIn(t, "", "--grpc", addr, "--data", t.TempDir())
	after := emitUntil(t, addr, lines, "after")
	if err := json.Unmarshal([]byte(after), &ev); err != nil || ev.Event != "restart-test" {
		t.Fatalf("line after the restart %q: %v", after, err)
	}
	listen.Process.Signal(os.Interrupt)
	if err := listen.Wait(); err != nil {
		t.Fatalf("tether listen after SIGINT: %v\n%s", err, stderr.String())
	}
}

func TestListenCount(t *testing.T) {
	addr := serve(t, "--grpc", "127.0.0.1:0")
	listen := exec.Command(binary, "listen", "--addr", addr, "--count", "1", "counted")
	lines := lineReader(t, listen)
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for listen.ProcessState == nil && time.Now().Before(deadline) {
		runCLI(t, "emit", "--addr", addr, "counted", `{"x":1}`)
		select {
		case l := <-lines:
			if !strings.Contains(l, `"payload":{"x":1}`) {
				t.Fatalf("line %q", l)
			}
			if err := listen.Wait(); err != nil {
				t.Fatalf("listen --count 1 exit: %v", err)
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatal("listen --count 1 printed nothing")
}

// The messages for a core that cannot be reached say why and what to do,
// with exit status 3.
func TestUnreachableCore(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		addr, want string
	}{
		{"127.0.0.1:1", "cannot reach the core at 127.0.0.1:1: connection refused (is it running?"},
		{"unix://" + filepath.Join(dir, "none.sock"), "no socket there (is it running?"},
	} {
		for _, args := range [][]string{{"invoke", "greet"}, {"commands"}, {"emit", "e"}, {"listen", "e"}} {
			_, errOut, code := runCLI(t, append(args, "--addr", tc.addr)...)
			if code != 3 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("%v at %s: exit %d, stderr %q; want exit 3 and %q", args, tc.addr, code, errOut, tc.want)
			}
		}
	}
	_, errOut, code := runCLI(t, "wait", "--addr", "127.0.0.1:1", "--timeout", "300ms")
	if code != 3 || !strings.Contains(errOut, "not ready after 300ms") {
		t.Errorf("wait: exit %d, %q", code, errOut)
	}
}

// A socket this user may not open: permission denied, with a hint.
func TestUnreachablePermissionDenied(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "core.sock")
	serve(t, "--grpc", "unix://"+sock)
	args := []string{"invoke", "greet", "--addr", "unix://" + sock}
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		// root opens anything: run the CLI as nobody, from a folder it can read.
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			t.Skip("running as root without runuser")
		}
		binDir, err := os.MkdirTemp("", "tether-cli-nobody")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(binDir) })
		os.Chmod(binDir, 0o755)
		bin := filepath.Join(binDir, "tether")
		b, _ := os.ReadFile(binary)
		os.WriteFile(bin, b, 0o755)
		cmd = exec.Command(runuser, append([]string{"-u", "nobody", "--", bin}, args...)...)
	} else {
		os.Chmod(sock, 0)
		cmd = exec.Command(binary, args...)
	}
	var errOut strings.Builder
	cmd.Stderr = &errOut
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 3 || !strings.Contains(errOut.String(), "permission denied (the socket, or a folder on its path, belongs to another user") {
		t.Fatalf("exit %v, stderr %q", err, errOut.String())
	}
}

// An address in use: the message says so and what to do.
func TestServePortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, errOut, code := runCLI(t, "serve", "--grpc", l.Addr().String(), "--http", "off", "--data", t.TempDir())
	if code != 1 || !strings.Contains(errOut, "address already in use") || !strings.Contains(errOut, "another program listens there") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestWaitAndCompletion(t *testing.T) {
	addr, url := serveHTTP(t, "--grpc", "127.0.0.1:0")
	if _, errOut, code := runCLI(t, "wait", "--addr", addr, "--http", url, "--timeout", "10s"); code != 0 {
		t.Fatalf("wait: exit %d, %q", code, errOut)
	}
	out, _, code := runCLI(t, "completion", "bash")
	if code != 0 || !strings.Contains(out, "__start_tether") {
		t.Fatalf("completion bash: exit %d, %.200q", code, out)
	}
	// completing a command name asks the core
	out, _, code = runCLI(t, "__complete", "invoke", "--addr", addr, "gr")
	if code != 0 || !strings.Contains(out, "greet") {
		t.Fatalf("completion of invoke's COMMAND: exit %d, %q", code, out)
	}
}
