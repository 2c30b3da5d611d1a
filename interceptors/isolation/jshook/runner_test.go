package jshook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/interceptors/isolation/jshook"
)

// regexp2's match clock, which a hook's regular expressions start, stops by
// itself a second after the last match with a time limit.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/dlclark/regexp2/v2.runClock"))
}

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
		{"cyclic", `window.__TAURI_ISOLATION_HOOK__ = (p) => { p.message.args.self = p.message.args; return p }`, "circular"},
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
		// The reason of a throw is read under the load's time limit too.
		{"throws hostile", `throw { get message() { for (;;) {} } }`, "loading hook: isolation hook threw an error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := jshook.New([]jshook.Source{{Name: "hook.js", Code: tc.code}}, jshook.Options{Timeout: 100 * time.Millisecond})
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("New did not return")
			}
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
		{"tauri-v2", []call{
			{invokePayload("greet", `{"name":"a"}`), true},
			{invokePayload("read_file", `{"path":"docs/readme.md"}`), true},
			{invokePayload("read_file", `{"path":"/etc/passwd"}`), false},
			{invokePayload("read_file", `{"path":"a/../../x"}`), false},
			{invokePayload("delete_all", `{}`), false},
			{emitPayload("chat:message", `{"text":"hi"}`), true},
			{emitPayload("Chat Message", `{}`), false},
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

// FuzzApply decodes arbitrary driver results into a payload: never a panic;
// anything accepted keeps the kind and the client, names a string, and, for
// two shapes that disagree, is refused.
func FuzzApply(f *testing.F) {
	f.Add(`[{"ok":true,"name":"greet","args":{"a":1}}]`, `{"a":1}`)
	f.Add(`[{"ok":true,"name":"other","args":{"a":2},"headers":{"h":"v"}}]`, `{"a":1}`)
	f.Add(`[{"ok":true},{"ok":true,"name":"x"}]`, ``)
	f.Add(`[{"ok":true,"args":{"a":1}},{"ok":true,"args":{"a":2}}]`, `{"a":0}`)
	f.Add(`[{"ok":false,"reason":"no"}]`, `{}`)
	f.Add(`[{"ok":true,"same":true}]`, `{"x":1}`)
	f.Add(`[{"ok":true,"args":{"n":12345678901234567890}}]`, `{"n":12345678901234567891}`)
	f.Add(`{}`, `{}`)
	f.Fuzz(func(t *testing.T, out, args string) {
		orig := invokePayload("greet", args)
		got, err := jshook.ApplyForTest(orig, out)
		if err != nil {
			if tether.CodeOf(err) != tether.CodePermissionDenied || isolation.ReasonOf(err) != isolation.ReasonBlocked {
				t.Fatalf("error %v", err)
			}
			return
		}
		if got.Cmd != orig.Cmd || got.Client != orig.Client || got.Message == nil {
			t.Fatalf("kind or client changed: %+v", got)
		}
		req := &tetherv1.InvokeRequest{Command: "greet"}
		_ = isolation.ApplyPayload(req, orig, got)
	})
}

// FuzzHookReturns makes a hook return arbitrary values (parsed from JSON in
// the sandbox) for an invoke, in each shape: no panic, a blocked call is
// permission_denied, and anything let through keeps its kind and client.
func FuzzHookReturns(f *testing.F) {
	var runners []*jshook.Runner
	for _, shape := range []jshook.Shape{jshook.ShapeSeed, jshook.ShapeV2} {
		r, err := jshook.New([]jshook.Source{{Name: "fuzz.js", Code: `window.__TAURI_ISOLATION_HOOK__ = (p) => JSON.parse(p.message.args.out);`}},
			jshook.Options{PoolSize: 1, Shape: shape})
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(r.Close)
		runners = append(runners, r)
	}
	f.Add(`{"cmd":"invoke","message":{"cmd":"greet","args":{"a":1}},"client":{"label":"main","origin":"o"}}`)
	f.Add(`{"cmd":"invoke","message":{"cmd":"other","args":{"$bytes":"AAE="}}}`)
	f.Add(`{"cmd":"greet","payload":{"a":[1,2]},"options":{"headers":{"h":"v"}}}`)
	f.Add(`{"cmd":"plugin:event|emit","payload":{"event":"x"}}`)
	f.Add(`{"cmd":7,"payload":null,"options":{"headers":{"h":1}}}`)
	f.Add(`null`)
	f.Add(`[1,2]`)
	f.Fuzz(func(t *testing.T, out string) {
		args, _ := json.Marshal(map[string]string{"out": out})
		for _, r := range runners {
			orig := invokePayload("greet", string(args))
			got, err := r.Run(context.Background(), orig)
			if err != nil {
				if tether.CodeOf(err) != tether.CodePermissionDenied {
					t.Fatalf("code %v", err)
				}
				continue
			}
			if got.Cmd != orig.Cmd || got.Client != orig.Client || got.Message == nil {
				t.Fatalf("kind or client changed: %+v", got)
			}
		}
	})
}

// BenchmarkHook1KiB runs a 1 KiB invoke through two example hooks: the
// whitelist (which reads only the command name) and block-paths (which
// walks the arguments). The limit is long, so that a loaded machine does not
// turn a slow call into a failed benchmark.
func BenchmarkHook1KiB(b *testing.B) {
	for _, ex := range []string{"whitelist", "block-paths"} {
		b.Run(ex, func(b *testing.B) {
			r, err := jshook.Load(filepath.Join("..", "..", "..", "examples", "isolation", ex), jshook.Options{Timeout: 5 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			args, _ := json.Marshal(map[string]string{"path": "docs/readme.md", "text": strings.Repeat("x", 960)})
			p := invokePayload("greet", string(args))
			b.SetBytes(int64(len(args)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Run(context.Background(), p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
