package jshook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/interceptors/isolation/jshook"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func invokePayload(cmd, args string) *isolation.Payload {
	return &isolation.Payload{Cmd: isolation.CmdInvoke, Kind: tether.KindInvoke,
		Message: &isolation.Message{Cmd: cmd, Args: json.RawMessage(args)},
		Client:  isolation.Client{Label: "main", Origin: "http://localhost"}}
}

func emitPayload(event, payload string) *isolation.Payload {
	return &isolation.Payload{Cmd: isolation.CmdEmit, Kind: tether.KindEmit, Event: event,
		Payload: json.RawMessage(payload), Client: isolation.Client{Label: "main"}}
}

func newRunner(t *testing.T, code string, opts jshook.Options) *jshook.Runner {
	t.Helper()
	r, err := jshook.New([]jshook.Source{{Name: "hook.js", Code: code}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func wantBlocked(t *testing.T, err error, contains string) {
	t.Helper()
	if err == nil {
		t.Fatalf("not blocked, want %q", contains)
	}
	if tether.CodeOf(err) != tether.CodePermissionDenied || isolation.ReasonOf(err) != isolation.ReasonBlocked {
		t.Fatalf("error %v: want permission_denied / blocked", err)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Fatalf("error %q does not contain %q", err, contains)
	}
}

func TestPassThroughAndChange(t *testing.T) {
	r := newRunner(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => { if (p.message) p.message.args.added = Date.now() > 0; return p; };`, jshook.Options{})
	got, err := r.Run(context.Background(), invokePayload("greet", `{"name":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Message.Cmd != "greet" || string(got.Message.Args) != `{"name":"x","added":true}` || got.Client.Label != "main" {
		t.Fatalf("got %+v args %s", got, got.Message.Args)
	}
}

func TestBlockingForms(t *testing.T) {
	for _, tc := range []struct{ name, code, reason string }{
		{"null", `window.__TAURI_ISOLATION_HOOK__ = () => null`, "returned no payload"},
		{"undefined", `window.__TAURI_ISOLATION_HOOK__ = () => {}`, "returned no payload"},
		{"throw error", `window.__TAURI_ISOLATION_HOOK__ = () => { throw new Error("nope: rm -rf") }`, "nope: rm -rf"},
		{"throw string", `window.__TAURI_ISOLATION_HOOK__ = () => { throw "plain reason" }`, "plain reason"},
		{"throw hostile", `window.__TAURI_ISOLATION_HOOK__ = () => { throw { get message() { for(;;){} } } }`, "exceeded 100ms"},
		{"reject", `window.__TAURI_ISOLATION_HOOK__ = async () => { throw new Error("async no") }`, "async no"},
		{"never settles", `window.__TAURI_ISOLATION_HOOK__ = () => new Promise(() => {})`, "never settles"},
		{"not object", `window.__TAURI_ISOLATION_HOOK__ = () => 42`, "not an object"},
		{"cyclic", `window.__TAURI_ISOLATION_HOOK__ = (p) => { p.self = p; return p }`, "circular"},
		{"hook removed", `window.__TAURI_ISOLATION_HOOK__ = () => { delete window.__TAURI_ISOLATION_HOOK__; return null }`, "returned no payload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRunner(t, tc.code, jshook.Options{})
			_, err := r.Run(context.Background(), invokePayload("greet", `{}`))
			wantBlocked(t, err, tc.reason)
		})
	}
}

func TestAsyncHook(t *testing.T) {
	r := newRunner(t, `
		const check = async (p) => { await null; return p.message.cmd === "greet"; };
		window.__TAURI_ISOLATION_HOOK__ = async (p) => {
			const v = await Promise.resolve(41);
			if (!(await check(p))) return null;
			p.message.args = { v: v + 1 };
			return p;
		};`, jshook.Options{})
	got, err := r.Run(context.Background(), invokePayload("greet", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Message.Args) != `{"v":42}` {
		t.Fatalf("args %s", got.Message.Args)
	}
	_, err = r.Run(context.Background(), invokePayload("other", `{}`))
	wantBlocked(t, err, "no payload")
}

func TestEndlessLoopAndPoolKeepsServing(t *testing.T) {
	r := newRunner(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => { if (p.message.cmd === "spin") { for (;;) {} } return p; };`,
		jshook.Options{PoolSize: 2})
	for i := range 3 {
		start := time.Now()
		_, err := r.Run(context.Background(), invokePayload("spin", `{}`))
		wantBlocked(t, err, "isolation hook exceeded 100ms")
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("loop %d stopped after %v", i, el)
		}
		if _, err := r.Run(context.Background(), invokePayload("greet", `{}`)); err != nil {
			t.Fatalf("pool after abort: %v", err)
		}
	}
}

func TestAsyncEndlessLoop(t *testing.T) {
	r := newRunner(t, `window.__TAURI_ISOLATION_HOOK__ = async (p) => { await null; for (;;) {} };`, jshook.Options{Timeout: 50 * time.Millisecond})
	_, err := r.Run(context.Background(), invokePayload("greet", `{}`))
	wantBlocked(t, err, "exceeded 50ms")
}

func TestContextCancel(t *testing.T) {
	r := newRunner(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => { for (;;) {} };`, jshook.Options{Timeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := r.Run(ctx, invokePayload("greet", `{}`))
	wantBlocked(t, err, "canceled")
}

func TestStackOverflow(t *testing.T) {
	r := newRunner(t, `function f(n) { return f(n + 1) + 1 } window.__TAURI_ISOLATION_HOOK__ = (p) => { if (p.message.cmd === "deep") f(0); return p };`, jshook.Options{})
	_, err := r.Run(context.Background(), invokePayload("deep", `{}`))
	wantBlocked(t, err, "")
	if _, err := r.Run(context.Background(), invokePayload("greet", `{}`)); err != nil {
		t.Fatal(err)
	}
}

func TestNoEscapeHatches(t *testing.T) {
	r := newRunner(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => {
		p.message.args = {
			require: typeof require, fetch: typeof fetch, xhr: typeof XMLHttpRequest, ws: typeof WebSocket,
			setTimeout: typeof setTimeout, setInterval: typeof setInterval, process: typeof process,
			Deno: typeof Deno, importScripts: typeof importScripts, ArrayBuffer: typeof ArrayBuffer,
			Uint8Array: typeof Uint8Array, open: typeof open, readFile: typeof readFile, load: typeof load,
			dateNow: typeof Date.now(), windowIsGlobal: window === globalThis,
		};
		return p;
	};`, jshook.Options{})
	got, err := r.Run(context.Background(), invokePayload("probe", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	var probe map[string]any
	if err := json.Unmarshal(got.Message.Args, &probe); err != nil {
		t.Fatal(err)
	}
	for k, v := range probe {
		switch k {
		case "dateNow":
			if v != "number" {
				t.Errorf("Date.now() is %v", v)
			}
		case "windowIsGlobal":
			if v != true {
				t.Errorf("window is not the global object")
			}
		default:
			if v != "undefined" {
				t.Errorf("%s is %v in the sandbox", k, v)
			}
		}
	}
	// import() of a module or file does not reach the file system either.
	// (goja without a module loader refuses import() at compile time.)
	r2, err := jshook.New([]jshook.Source{{Name: "hook.js", Code: `window.__TAURI_ISOLATION_HOOK__ = async (p) => { await import("/etc/passwd"); return p };`}}, jshook.Options{})
	if err == nil {
		defer r2.Close()
		if _, err := r2.Run(context.Background(), invokePayload("x", `{}`)); err == nil {
			t.Fatal("dynamic import succeeded")
		}
	}
}

func TestHugeAllocationsContained(t *testing.T) {
	for _, tc := range []struct{ name, code string }{
		{"array fill", `new Array(1e9).fill(1)`},
		{"array call", `Array(1e9)`},
		{"array length then fill", `const a = []; a.length = 1e9; a.fill(1)`},
		{"array from", `Array.from({length: 1e9})`},
		{"string doubling", `let s = "x"; for (;;) s += s`},
		{"string repeat", `"x".repeat(1e9)`},
		{"padStart", `"x".padStart(1e9)`},
		{"join of repeated big strings", `const b = "y".repeat(1 << 20); const a = new Array(1 << 20); a.fill(b); a.join("")`},
		{"stringify of repeated refs", `const b = "y".repeat(1 << 20); const a = new Array(1 << 20); a.fill(b); JSON.stringify(a)`},
		{"replaceAll with big replacement", `const b = "y".repeat(1 << 20); b.replaceAll("y", b)`},
		{"flat of repeated refs", `const a = new Array(1 << 20).fill(0); const b = new Array(1 << 20).fill(a); b.flat()`},
		{"push loop", `const a = []; for (;;) a.push({x: a.length})`},
		{"object growth", `const o = {}; for (let i = 0;; i++) o["k" + i] = "v".repeat(100) + i`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRunner(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => { if (p.message.cmd === "boom") { `+tc.code+` } return p };`,
				jshook.Options{Timeout: 2 * time.Second, PoolSize: 1})
			start := time.Now()
			_, err := r.Run(context.Background(), invokePayload("boom", `{}`))
			if err == nil {
				t.Fatal("huge allocation passed")
			}
			msg := err.Error()
			if !strings.Contains(msg, "limit") && !strings.Contains(msg, "exceeded") {
				t.Fatalf("unclear error: %v", err)
			}
			t.Logf("%s: %v after %v", tc.name, err, time.Since(start).Round(time.Millisecond))
			if _, err := r.Run(context.Background(), invokePayload("greet", `{}`)); err != nil {
				t.Fatalf("runner after abort: %v", err)
			}
		})
	}
}

func TestConsoleGoesToSlog(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := newRunner(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => { console.log("saw", p.message.cmd, {a: 1}); console.warn("w"); console.error("e"); return p };`,
		jshook.Options{Logger: logger})
	if _, err := r.Run(context.Background(), invokePayload("greet", `{}`)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{`"level":"INFO","msg":"saw greet {\"a\":1}"`, `"level":"WARN","msg":"w"`, `"level":"ERROR","msg":"e"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct{ name, code, want string }{
		{"syntax", `window.__TAURI_ISOLATION_HOOK__ = (`, "jshook"},
		{"no hook", `var x = 1`, "do not set"},
		{"throws", `throw new Error("bad init")`, "bad init"},
		{"loops", `for (;;) {}`, "exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := jshook.New([]jshook.Source{{Name: "hook.js", Code: tc.code}}, jshook.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := jshook.Load(t.TempDir(), jshook.Options{}); err == nil {
		t.Fatal("empty dir loaded")
	}
}

func TestConcurrentRuns(t *testing.T) {
	r := newRunner(t, `let n = 0; window.__TAURI_ISOLATION_HOOK__ = (p) => { n++; p.message.args = {n: n >= 1}; return p };`, jshook.Options{PoolSize: 3})
	errs := make(chan error, 50)
	for range 50 {
		go func() {
			_, err := r.Run(context.Background(), invokePayload("greet", `{}`))
			errs <- err
		}()
	}
	for range 50 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// The example hook folders, run through the runner.
func TestExampleHooks(t *testing.T) {
	dir := func(name string) string { return filepath.Join("..", "..", "..", "examples", "isolation", name) }
	type call struct {
		p    *isolation.Payload
		pass bool
	}
	listen := &isolation.Payload{Cmd: isolation.CmdListen, Kind: tether.KindListen, Event: "chat"}
	for _, tc := range []struct {
		dir   string
		calls []call
	}{
		{"whitelist", []call{
			{invokePayload("greet", `{"name":"a"}`), true},
			{invokePayload("count", `{}`), true},
			{invokePayload("read_file", `{"path":"x"}`), false},
			{invokePayload("greet2", `{}`), false},
			{emitPayload("chat", `{}`), true},
			{listen, true},
		}},
		{"block-paths", []call{
			{invokePayload("read_file", `{"path":"docs/readme.md"}`), true},
			{invokePayload("read_file", `{"path":"/etc/passwd"}`), false},
			{invokePayload("read_file", `{"path":"/etc"}`), false},
			{invokePayload("read_file", `{"path":"/root/.ssh/id_rsa"}`), false},
			{invokePayload("read_file", `{"path":"~/.bashrc"}`), false},
			{invokePayload("read_file", `{"path":"a/../../x"}`), false},
			{invokePayload("read_file", `{"path":"..\\secret"}`), false},
			{invokePayload("copy", `{"opts":{"from":{"path":"/etc/shadow"}}}`), false},
			{invokePayload("read_file", `{"path":"/etcetera/x"}`), true},
			{invokePayload("greet", `{"name":"/etc/passwd"}`), true},
		}},
		{"validate-events", []call{
			{emitPayload("chat:message", `{"text":"hi"}`), true},
			{emitPayload("Chat Message", `{"text":"hi"}`), false},
			{emitPayload("chat", `"a string"`), false},
			{emitPayload("chat", `[1,2]`), false},
			{emitPayload("chat", `{"text":"`+strings.Repeat("x", 5000)+`"}`), false},
			{invokePayload("anything", `{}`), true},
		}},
		{"logger", []call{
			{invokePayload("greet", `{"name":"a"}`), true},
			{emitPayload("x", `1`), true},
			{listen, true},
		}},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			var buf bytes.Buffer
			r, err := jshook.Load(dir(tc.dir), jshook.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for i, c := range tc.calls {
				got, err := r.Run(context.Background(), c.p)
				if c.pass && err != nil {
					t.Errorf("call %d (%s %s): blocked: %v", i, c.p.Cmd, c.p.Name(), err)
				}
				if !c.pass && err == nil {
					t.Errorf("call %d (%s %s): passed", i, c.p.Cmd, c.p.Name())
				}
				if c.pass && err == nil && got.Name() != c.p.Name() {
					t.Errorf("call %d: name changed to %q", i, got.Name())
				}
			}
			if tc.dir == "logger" && strings.Count(buf.String(), "isolation") < len(tc.calls) {
				t.Errorf("logger hook logged:\n%s", buf.String())
			}
		})
	}
}

// FuzzPayloadFromJS makes a hook return arbitrary JSON (parsed in JS, then
// serialized back) and applies it to an invoke request: no panic, and
// anything accepted keeps the command name.
func FuzzPayloadFromJS(f *testing.F) {
	r, err := jshook.New([]jshook.Source{{Name: "fuzz.js", Code: `window.__TAURI_ISOLATION_HOOK__ = (p) => JSON.parse(p.message.args.out);`}}, jshook.Options{PoolSize: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(r.Close)
	f.Add(`{"cmd":"invoke","message":{"cmd":"greet","args":{"a":1}},"client":{"label":"main","origin":"o"}}`)
	f.Add(`{"cmd":"invoke","message":{"cmd":"greet","args":{"$bytes":"AAE="}},"client":{"label":"main","origin":"o"}}`)
	f.Add(`null`)
	f.Add(`[1,2]`)
	f.Add(`{"cmd":"emit"}`)
	f.Fuzz(func(t *testing.T, out string) {
		args, _ := json.Marshal(map[string]string{"out": out})
		orig := invokePayload("greet", string(args))
		got, err := r.Run(context.Background(), orig)
		if err != nil {
			if tether.CodeOf(err) != tether.CodePermissionDenied {
				t.Fatalf("code %v", err)
			}
			return
		}
		req := &tetherv1.InvokeRequest{Command: "greet"}
		if err := isolation.ApplyPayload(req, orig, got); err == nil && req.Command != "greet" {
			t.Fatalf("command changed to %q", req.Command)
		}
	})
}

// BenchmarkJSHook1KiB runs a 1 KiB invoke payload through a JS hook that
// checks args.path (the block-paths example).
func BenchmarkJSHook1KiB(b *testing.B) {
	r, err := jshook.Load(filepath.Join("..", "..", "..", "examples", "isolation", "block-paths"), jshook.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	args, _ := json.Marshal(map[string]string{"path": "docs/readme.md", "text": strings.Repeat("x", 960)})
	p := invokePayload("save", string(args))
	b.SetBytes(int64(len(args)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Run(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
}

// slowWriter blocks every write for d: a call waiting on it runs no code.
type slowWriter struct{ d time.Duration }

func (w slowWriter) Write(p []byte) (int, error) { time.Sleep(w.d); return len(p), nil }

// The time limit counts the time a call runs, not the time it waits: a hook
// whose console write blocks for longer than the limit (as a call waiting
// for a core on a busy machine) passes; a loop is still stopped, and the
// wall time of a call that never runs out of CPU is bounded too.
func TestTimeLimitCountsRunningTime(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the limit is wall time outside Linux")
	}
	log := slog.New(slog.NewTextHandler(slowWriter{150 * time.Millisecond}, nil))
	r := newRunner(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => { console.log("waits"); return p; };`, jshook.Options{Timeout: 100 * time.Millisecond, Logger: log})
	if _, err := r.Run(context.Background(), invokePayload("greet", `{}`)); err != nil {
		t.Fatalf("a hook that waited 150 ms but ran for less than 100 ms: %v", err)
	}
	loop := newRunner(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => { for (;;) {} };`, jshook.Options{Timeout: 50 * time.Millisecond})
	start := time.Now()
	_, err := loop.Run(context.Background(), invokePayload("greet", `{}`))
	wantBlocked(t, err, "exceeded 50ms")
	if el := time.Since(start); el > 20*50*time.Millisecond+time.Second {
		t.Fatalf("a loop ran %v", el)
	}
	never := newRunner(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => { for (;;) { console.log("waits"); } };`,
		jshook.Options{Timeout: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(slowWriter{20 * time.Millisecond}, nil))})
	start = time.Now()
	_, err = never.Run(context.Background(), invokePayload("greet", `{}`))
	wantBlocked(t, err, "exceeded 10ms")
	if el := time.Since(start); el < 200*time.Millisecond || el > 2*time.Second {
		t.Fatalf("a call waiting forever ended after %v, want about 20 times the limit", el)
	}
}
