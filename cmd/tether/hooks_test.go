package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookDir writes a hook folder: Tauri's isolation "dir".
func hookDir(t *testing.T, code string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.js"), []byte(code), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The seed's shape and Tauri v2's, each pasted as the isolation dir of
// `tether serve`, in-process and split: the same rules let through, rewrite,
// rename and block the same calls.
func TestServeHookShapes(t *testing.T) {
	hooks := map[string]string{
		"seed": `
const ALLOWED = ["greet", "read_file", "hello"];
window.__TAURI_ISOLATION_HOOK__ = async (payload) => {
  if (payload.cmd === "invoke") {
    const m = payload.message;
    if (!ALLOWED.includes(m.cmd)) return null;
    if (m.cmd === "read_file" && String(m.path).startsWith("/etc")) return null;
    if (m.cmd === "hello") m.cmd = "greet";
    if (m.cmd === "greet") m.args.name = m.args.name + " (checked)";
  }
  if (payload.cmd === "emit" && payload.event !== "frontend-event") return null;
  return payload;
};`,
		"tauri-v2": `
const ALLOWED = ["greet", "read_file", "hello", "plugin:event|emit", "plugin:event|listen"];
window.__TAURI_ISOLATION_HOOK__ = (payload, options) => {
  if (!ALLOWED.includes(payload.cmd)) return null;
  if (payload.cmd === "read_file" && String(payload.payload.path).startsWith("/etc")) return null;
  if (payload.cmd === "hello") payload.cmd = "greet";
  if (payload.cmd === "greet") payload.payload.name = payload.payload.name + " (checked)";
  if (payload.cmd === "plugin:event|emit" && payload.payload.event !== "frontend-event") return null;
  return payload;
};`,
	}
	for _, split := range []bool{false, true} {
		for shape, code := range hooks {
			t.Run(shape+" split="+strconv.FormatBool(split), func(t *testing.T) {
				args := []string{"--grpc", "127.0.0.1:0", "--pattern", "isolation", "--isolation-dir", hookDir(t, code), "--hook-timeout", "500ms"}
				if split {
					args = append(args, "--split")
				}
				_, url := serveHTTP(t, args...)
				for _, c := range []struct {
					path, body string
					code       int
					want       string
				}{
					{"/ipc/invoke/greet", `{"name":"Ada"}`, 200, `"Hello, Ada (checked)!"`},
					{"/ipc/invoke/hello", `{"name":"Bo"}`, 200, `"Hello, Bo (checked)!"`},
					{"/ipc/invoke/process_data", `{"input":"x"}`, 403, "permission_denied"},
					{"/ipc/invoke/read_file", `{"path":"/etc/passwd"}`, 403, "permission_denied"},
					{"/ipc/invoke/read_file", `{"Path":"/etc/passwd","path":"nope.txt"}`, 404, "not_found"}, // Path never reaches read_file
					{"/ipc/emit/frontend-event", `{"message":"hi"}`, 200, ""},
					{"/ipc/emit/other-event", `{"message":"hi"}`, 403, "permission_denied"},
				} {
					code, body := httpPost(t, url+c.path, c.body)
					if code != c.code || !strings.Contains(body, c.want) {
						t.Errorf("%s %s: %d %s, want %d %s", c.path, c.body, code, body, c.code, c.want)
					}
				}
			})
		}
	}
}

// Finding 1 of the adversarial review, through `tether serve`: a hook whose
// regular expression backtracks for tens of seconds on a 40-byte request
// answers within the limit, and 100 greet calls made meanwhile all succeed.
func TestServeHostileRegexp(t *testing.T) {
	const limit = 200 * time.Millisecond
	code := `
const EMAIL = /^(?=.{1,254}$)([a-z0-9]+)*@x$/;
window.__TAURI_ISOLATION_HOOK__ = (payload) => {
  if (payload.cmd === "invoke" && payload.message.cmd === "process_data" && !EMAIL.test(payload.message.args.input)) return null;
  return payload;
};`
	for _, split := range []bool{false, true} {
		t.Run("split="+strconv.FormatBool(split), func(t *testing.T) {
			args := []string{"--grpc", "127.0.0.1:0", "--pattern", "isolation", "--isolation-dir", hookDir(t, code), "--hook-timeout", limit.String()}
			if split {
				args = append(args, "--split")
			}
			_, url := serveHTTP(t, args...)
			if code, body := httpPost(t, url+"/ipc/invoke/process_data", `{"input":"abc@x"}`); code != 200 {
				t.Fatalf("a valid input: %d %s", code, body)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			var errs []string
			for i := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					input := strings.Repeat("a", 30+i*3) + "!"
					start := time.Now()
					code, body := httpPost(t, url+"/ipc/invoke/process_data", fmt.Sprintf(`{"input":%q}`, input))
					el := time.Since(start)
					mu.Lock()
					defer mu.Unlock()
					if code != 403 {
						errs = append(errs, fmt.Sprintf("hostile input %d: %d %s", i, code, body))
					}
					// The limit, the slack, and what the HTTP round trips of a
					// loaded machine take: far from the tens of seconds the
					// match would run.
					if el > limit+time.Second {
						errs = append(errs, fmt.Sprintf("hostile input %d answered after %v", i, el))
					}
				}()
			}
			for i := range 100 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					code, body := httpPost(t, url+"/ipc/invoke/greet", fmt.Sprintf(`{"name":"g%d"}`, i))
					if code != 200 {
						mu.Lock()
						errs = append(errs, fmt.Sprintf("greet %d: %d %s", i, code, body))
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			for _, e := range errs {
				t.Error(e)
			}
		})
	}
}

// limits.strict_args (--strict-args) makes the named commands refuse keys
// their handler does not bind; the others ignore them. A name no command
// has fails the start, naming the field.
func TestServeStrictArgs(t *testing.T) {
	_, url := serveHTTP(t, "--grpc", "127.0.0.1:0", "--strict-args", "greet")
	if code, body := httpPost(t, url+"/ipc/invoke/greet", `{"name":"x","nme":"y"}`); code != 400 || !strings.Contains(body, `unknown argument \"nme\"`) {
		t.Errorf("strict greet: %d %s", code, body)
	}
	if code, body := httpPost(t, url+"/ipc/invoke/process_data", `{"input":"x","z":1}`); code != 200 {
		t.Errorf("process_data: %d %s", code, body)
	}
	_, errOut, code := runCLI(t, "serve", "--grpc", "127.0.0.1:0", "--http", "off", "--data", t.TempDir(), "--strict-args", "no_such_command")
	if code == 0 || !strings.Contains(errOut, `limits.strict_args`) || !strings.Contains(errOut, "no_such_command") {
		t.Errorf("unknown strict command: exit %d, %s", code, errOut)
	}
}

// app.security.freezePrototype (--freeze-prototype) reaches the hooks'
// sandbox: on by default, off when set to false.
func TestServeFreezePrototype(t *testing.T) {
	dir := hookDir(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => Object.isFrozen(Object.prototype) ? p : null;`)
	for _, tc := range []struct {
		flags []string
		code  int
	}{{nil, 200}, {[]string{"--freeze-prototype", "false"}, 403}, {[]string{"--freeze-prototype", "true"}, 200}} {
		_, url := serveHTTP(t, append([]string{"--grpc", "127.0.0.1:0", "--isolation-dir", dir}, tc.flags...)...)
		if code, body := httpPost(t, url+"/ipc/invoke/greet", `{"name":"x"}`); code != tc.code {
			t.Errorf("%v: %d %s, want %d", tc.flags, code, body, tc.code)
		}
	}
}
