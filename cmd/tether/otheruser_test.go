package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// asNobody returns a command running name as the user nobody (from a copy
// in a folder nobody can read when name is this test's tether binary), or
// skips the test when this process is not root or runuser is missing.
func asNobody(t *testing.T) func(name string, args ...string) *exec.Cmd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run commands as another user (nobody)")
	}
	runuser, err := exec.LookPath("runuser")
	if err != nil {
		t.Skip("needs runuser")
	}
	binDir, err := os.MkdirTemp("", "tether-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(binDir) })
	os.Chmod(binDir, 0o755)
	bin := filepath.Join(binDir, "tether")
	b, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return func(name string, args ...string) *exec.Cmd {
		if name == "tether" {
			name = bin
		}
		cmd := exec.Command(runuser, append([]string{"-u", "nobody", "--", name}, args...)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent"}
		return cmd
	}
}

// Another local user (nobody, while the app runs as root, the owner) can
// neither invoke, nor listen, nor read a static file — over the gateway
// without the secret, over the default gRPC socket (0600, in a 0700
// folder), nor over gRPC on TCP (which wants the secret); and the secret's
// file and the data folder are out of its reach. The owner, with the
// secret, can do each of them (so the refusals are not something else).
func TestAnotherLocalUserGetsNothing(t *testing.T) {
	nobody := asNobody(t)
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("needs curl, to call the gateway as nobody")
	}
	front := t.TempDir()
	os.WriteFile(filepath.Join(front, "index.html"), []byte("<p>the owner's page</p>"), 0o644)
	os.WriteFile(filepath.Join(front, "notes.txt"), []byte("the owner's notes"), 0o644)
	data := t.TempDir()
	os.WriteFile(filepath.Join(data, "secret.txt"), []byte("root only"), 0o600)
	sockAddr, httpURL, _ := serveIn(t, "", "--frontend", front, "--data", data)
	tcpAddr, tcpURL, _ := serveIn(t, "", "--grpc", "127.0.0.1:0", "--frontend", front, "--data", data)
	if !strings.HasPrefix(sockAddr, "unix://") {
		t.Fatalf("the default gRPC address is %s, not a socket", sockAddr)
	}

	status := func(cmd *exec.Cmd) string {
		t.Helper()
		out, err := cmd.Output()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 28 { // 28: curl's timeout, after a listen's headers
				t.Fatalf("%v: %v %s", cmd.Args, err, out)
			}
		}
		return strings.TrimSpace(string(out))
	}
	code := func(hdr []string, method, u string, body ...string) []string {
		args := []string{"-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3", "-X", method}
		for _, h := range hdr {
			args = append(args, "-H", h)
		}
		for _, b := range body {
			args = append(args, "-H", "Content-Type: application/json", "-d", b)
		}
		return append(args, u)
	}
	for _, u := range []string{httpURL, tcpURL} {
		for _, r := range []struct{ method, path, body string }{
			{"POST", "/ipc/invoke/greet", `{"name":"x"}`},
			{"POST", "/ipc/invoke/read_file", `{"path":"secret.txt"}`},
			{"GET", "/ipc/listen?event=backend-event", ""},
			{"POST", "/ipc/emit/frontend-event", `{"message":"x"}`},
			{"GET", "/", ""},
			{"GET", "/notes.txt", ""},
			{"GET", "/ipc/commands", ""},
		} {
			var body []string
			if r.body != "" {
				body = []string{r.body}
			}
			if got := status(nobody(curl, code(nil, r.method, u+r.path, body...)...)); got != "401" {
				t.Errorf("nobody: %s %s%s: %s, want 401", r.method, u, r.path, got)
			}
			auth := []string{"Authorization: Bearer " + secretFor(u)}
			if got := status(exec.Command(curl, code(auth, r.method, u+r.path, body...)...)); got != "200" {
				t.Errorf("the owner: %s %s%s: %s, want 200", r.method, u, r.path, got)
			}
		}
	}
	// gRPC: the socket is closed to nobody; TCP wants the secret.
	for _, args := range [][]string{{"invoke", "greet", `{"name":"x"}`}, {"listen", "--count", "1", "backend-event"}, {"commands"}} {
		out, err := nobody("tether", append(args, "--addr", sockAddr)...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || !strings.Contains(string(out), "permission denied") {
			t.Errorf("nobody: tether %v on the socket: %v %s", args, err, out)
		}
		out, err = nobody("tether", append(args, "--addr", tcpAddr)...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "unauthenticated") {
			t.Errorf("nobody: tether %v over TCP: %v %s", args, err, out)
		}
	}
	if out, code := runCLIOut(t, "invoke", "greet", `{"name":"owner"}`, "--addr", sockAddr); code != 0 || out != "Hello, owner!\n" {
		t.Errorf("the owner on the socket: %d %q", code, out)
	}
	if out, code := runCLIOut(t, "invoke", "greet", `{"name":"owner"}`, "--addr", tcpAddr); code != 0 || out != "Hello, owner!\n" {
		t.Errorf("the owner over TCP: %d %q", code, out)
	}
	// The secret's file, and the data.
	for _, p := range []string{filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "tether", "dev.tether.app", "token"), filepath.Join(data, "secret.txt")} {
		if out, err := nobody("cat", p).CombinedOutput(); err == nil {
			t.Errorf("nobody read %s: %s", p, out)
		}
	}
}

func runCLIOut(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, _, code := runCLI(t, args...)
	return out, code
}
