package isolation_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/bus"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/examples/demo"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/interceptors/isolation/jshook"
	"github.com/tether-ipc/tether/server"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type pathArgs struct {
	FilePath string `json:"file_path"`
	Opts     *struct {
		Path string `json:"path"`
	} `json:"opts,omitempty"`
}

// realCore is a Tether core in isolation mode (the demo app and a few test
// commands, the opener on the wire) with an in-process front through a
// stage, as the app assembles them.
type realCore struct {
	srv  *server.Server
	cli  *client.Client
	mu   sync.Mutex
	seen []string // what open_path's handler bound
	refs []isolation.Refusal
}

func newRealCore(t *testing.T, hooks []isolation.Hook, sopts ...server.Option) *realCore {
	t.Helper()
	key, err := isolation.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	opener, err := isolation.NewOpener(key)
	if err != nil {
		t.Fatal(err)
	}
	c := &realCore{}
	c.srv = server.New(append([]server.Option{server.WithLogger(quiet),
		server.WithWireInterceptors(isolation.UnaryServerInterceptor(opener), isolation.StreamServerInterceptor(opener))}, sopts...)...)
	demo.New(t.TempDir()).Register(c.srv)
	server.Handle(c.srv, "open_path", func(_ context.Context, a pathArgs) (string, error) {
		got := a.FilePath
		if a.Opts != nil {
			got += "|" + a.Opts.Path
		}
		c.mu.Lock()
		c.seen = append(c.seen, got)
		c.mu.Unlock()
		return got, nil
	})
	server.Handle(c.srv, "shout", func(_ context.Context, a struct {
		Text string `json:"text"`
	}) (string, error) {
		return strings.ToUpper(a.Text), nil
	})
	stage, err := isolation.NewStageWith(key, isolation.StageOptions{Hooks: hooks, OnRefusal: func(_ context.Context, r isolation.Refusal) {
		c.mu.Lock()
		c.refs = append(c.refs, r)
		c.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := c.srv.DialInProcess(isolation.DialOptions(stage)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		c.srv.Stop()
	})
	c.cli = client.New(conn)
	return c
}

func (c *realCore) invoke(t *testing.T, cmd, args string) (string, error) {
	t.Helper()
	ctx := client.WithClientLabel(testCtx(t), "main", "http://localhost:5173")
	var out json.RawMessage
	err := c.cli.Invoke(ctx, cmd, json.RawMessage(args), &out)
	return string(out), err
}

func loadHook(t *testing.T, code string) isolation.Hook {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hook.js"), []byte(code), 0o600); err != nil {
		t.Fatal(err)
	}
	return loadDir(t, dir)
}

func loadDir(t *testing.T, dir string) isolation.Hook {
	t.Helper()
	r, err := jshook.Load(dir, jshook.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r.Hook()
}

// Finding 9 of the adversarial review: the hook and the handler read
// arguments differently — file_path passed a hook check on filePath, and
// nested PATH/Path slipped past the block-paths example, so the handler got
// /etc/shadow. Now the stage puts arguments in the handler's keys before
// the hooks run: what they check is what the handler gets.
func TestHookSeesWhatTheHandlerGets(t *testing.T) {
	fileHook := loadHook(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => {
		if (p.cmd === "invoke" && String(p.message.args.file_path).startsWith("/etc")) return null;
		return p;
	};`)
	blockPaths := loadDir(t, filepath.Join("..", "..", "examples", "isolation", "block-paths"))
	// A hook's name for open_path: the core has no "open" command, so the
	// hooks see its arguments as sent.
	rename := func(_ context.Context, p *isolation.Payload) (*isolation.Payload, error) {
		if p.Message != nil && p.Message.Cmd == "open" {
			p.Message.Cmd = "open_path"
		}
		return p, nil
	}
	c := newRealCore(t, []isolation.Hook{rename, fileHook, blockPaths})
	for _, tc := range []struct{ cmd, args, want, err string }{
		{args: `{"filePath":"/etc/shadow"}`, err: "permission_denied"},
		{args: `{"file_path":"/etc/shadow"}`, err: "permission_denied"},
		{args: `{"file_path":"/srv/a","filePath":"/etc/shadow"}`, err: `invalid_argument: command open_path: argument "file_path" given twice (as "file_path" and "filePath")`},
		{args: `{"file_path":"/srv/a","opts":{"path":"/etc/shadow"}}`, err: "permission_denied"},
		{args: `{"file_path":"/srv/a","opts":{"PATH":"/etc/shadow"}}`, want: `"/srv/a|"`},
		{args: `{"file_path":"/srv/a","opts":{"Path":"/etc/shadow","path":"/srv/b"}}`, want: `"/srv/a|/srv/b"`},
		{args: `{"file_path":"/srv/a","FILE_PATH":"/etc/shadow","x":1}`, want: `"/srv/a"`},
		{args: `{"file_path":"/srv/a","opts":{"path":"ok","path":"/etc/shadow"}}`, err: `key "path" given twice in argument "opts"`},
		{cmd: "open", args: `{"file_path":"/srv/a"}`, want: `"/srv/a"`},
		{cmd: "open", args: `{"file_path":"/etc/shadow"}`, err: "permission_denied"},
		// The hooks saw filePath, not file_path: refused, not put in the
		// handler's key behind their back.
		{cmd: "open", args: `{"filePath":"/etc/shadow"}`, err: `invalid_argument: command open_path (a hook's name for open): argument "filePath" is not in the keys its handler binds`},
		{cmd: "nothing", args: `{}`, err: "not_found"},
	} {
		cmd := tc.cmd
		if cmd == "" {
			cmd = "open_path"
		}
		got, err := c.invoke(t, cmd, tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %s, %v; want %s", tc.args, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %s, %v; want %s", tc.args, got, err, tc.want)
		}
	}
	// The demo's read_file (a proto command): "Path" is not a key protojson
	// binds, so it never reaches the handler, and the hook blocks "path".
	if _, err := c.invoke(t, "read_file", `{"path":"/etc/shadow"}`); tether.CodeOf(err) != tether.CodePermissionDenied {
		t.Errorf("read_file /etc/shadow: %v", err)
	}
	if _, err := c.invoke(t, "read_file", `{"Path":"/etc/shadow"}`); tether.CodeOf(err) != tether.CodeInvalidArgument {
		t.Errorf("read_file Path: %v (the empty path fails validation)", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.seen {
		if strings.Contains(s, "/etc") {
			t.Errorf("the handler got %q", s)
		}
	}
}

// With strict arguments (server.WithStrictArgs), the stage refuses keys the
// handler does not bind before any hook runs, as the core would.
func TestStrictArgsAtTheStage(t *testing.T) {
	var ran int
	var mu sync.Mutex
	count := func(_ context.Context, p *isolation.Payload) (*isolation.Payload, error) {
		mu.Lock()
		ran++
		mu.Unlock()
		return p, nil
	}
	c := newRealCore(t, []isolation.Hook{count}, server.WithStrictArgs("open_path"))
	if _, err := c.invoke(t, "open_path", `{"file_path":"/a","x":1}`); tether.CodeOf(err) != tether.CodeInvalidArgument || !strings.Contains(err.Error(), `unknown argument "x"`) {
		t.Fatalf("strict: %v", err)
	}
	if got, err := c.invoke(t, "shout", `{"text":"a","x":1}`); err != nil || got != `"A"` {
		t.Fatalf("not strict: %s %v", got, err)
	}
	if ran != 1 {
		t.Fatalf("hooks ran %d times, want 1 (only for shout)", ran)
	}
}

const seedHook = `
const ALLOWED = ["greet", "shout", "open_path", "read_file", "yell"];
window.__TAURI_ISOLATION_HOOK__ = %s (payload) => {
  if (payload.cmd === "invoke") {
    const m = payload.message;
    if (!ALLOWED.includes(m.cmd)) return null;
    if (m.cmd === "read_file" && String(m.path).startsWith("/etc")) return null;
    if (m.cmd === "greet") m.args.name = m.args.name + " (checked)";
    if (m.cmd === "yell") m.cmd = "shout";
  }
  if (payload.cmd === "emit") {
    if (!/^[a-z-]+$/.test(payload.event)) return null;
    payload.payload = {message: "hooked: " + payload.payload.message};
  }
  return payload;
};`

const v2Hook = `
const ALLOWED = ["greet", "shout", "open_path", "read_file", "yell", "plugin:event|emit", "plugin:event|listen"];
window.__TAURI_ISOLATION_HOOK__ = %s (payload, options) => {
  if (!ALLOWED.includes(payload.cmd)) return null;
  if (payload.cmd === "read_file" && String(payload.payload.path).startsWith("/etc")) return null;
  if (payload.cmd === "greet") payload.payload.name = payload.payload.name + " (checked)";
  if (payload.cmd === "yell") payload.cmd = "shout";
  if (payload.cmd === "plugin:event|emit") {
    if (!/^[a-z-]+$/.test(payload.payload.event)) return null;
    payload.payload.payload = {message: "hooked: " + payload.payload.payload.message};
  }
  return payload;
};`

// Hooks in both shapes, sync and async, through the stage to a real core:
// whitelist, blocked paths, argument rewrite, command rename, event
// validation and rewrite.
func TestBothShapesThroughARealCore(t *testing.T) {
	for _, tc := range []struct{ name, code string }{
		{"seed", seedHook}, {"seed async", seedHook}, {"tauri-v2", v2Hook}, {"tauri-v2 async", v2Hook},
	} {
		t.Run(tc.name, func(t *testing.T) {
			async := ""
			if strings.HasSuffix(tc.name, "async") {
				async = "async"
			}
			c := newRealCore(t, []isolation.Hook{loadHook(t, strings.Replace(tc.code, "%s", async, 1))})
			for _, call := range []struct{ cmd, args, want, err string }{
				{cmd: "greet", args: `{"name":"Ada"}`, want: `"Hello, Ada (checked)!"`},
				{cmd: "process_data", args: `{"input":"x"}`, err: "permission_denied"},
				{cmd: "read_file", args: `{"path":"/etc/passwd"}`, err: "permission_denied"},
				{cmd: "yell", args: `{"text":"hi"}`, want: `"HI"`},
			} {
				got, err := c.invoke(t, call.cmd, call.args)
				if call.err != "" {
					if err == nil || !strings.Contains(err.Error(), call.err) {
						t.Errorf("%s %s: %s %v, want %s", call.cmd, call.args, got, err, call.err)
					}
					continue
				}
				if err != nil || got != call.want {
					t.Errorf("%s %s: %s %v, want %s", call.cmd, call.args, got, err, call.want)
				}
			}
			// Events: the core's bus receives the hook's payload; a bad name
			// is blocked before it is sealed.
			got := make(chan string, 4)
			if _, err := c.srv.Listen("note", func(e bus.Event) { got <- string(e.Payload.GetJson()) }); err != nil {
				t.Fatal(err)
			}
			ctx := client.WithClientLabel(testCtx(t), "main", "")
			if _, err := c.cli.Emit(ctx, "note", map[string]string{"message": "hi"}); err != nil {
				t.Fatal(err)
			}
			select {
			case p := <-got:
				if p != `{"message":"hooked: hi"}` {
					t.Errorf("listener got %s", p)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no event")
			}
			if _, err := c.cli.Emit(ctx, "Bad_Name", map[string]string{"message": "x"}); tether.CodeOf(err) != tether.CodePermissionDenied {
				t.Errorf("bad event name: %v", err)
			}
		})
	}
}

// Every refusal of the stage is reported with what an app may log and
// count, and without the call's arguments.
func TestRefusalsReported(t *testing.T) {
	hook := loadHook(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => {
		if (p.cmd === "invoke" && p.message.cmd === "read_file") throw new Error("no files");
		if (p.cmd === "invoke" && p.message.cmd === "shout") for (;;) {}
		return p;
	};`)
	c := newRealCore(t, []isolation.Hook{hook})
	c.invoke(t, "read_file", `{"path":"secret-argument"}`)
	c.invoke(t, "shout", `{"text":"secret-argument"}`)
	c.invoke(t, "open_path", `{"file_path":"secret-argument","filePath":"x"}`)
	c.invoke(t, "no_such", `{"x":"secret-argument"}`)
	c.mu.Lock()
	defer c.mu.Unlock()
	want := []isolation.Refusal{
		{Kind: tether.KindInvoke, Name: "read_file", Label: "main", Code: tether.CodePermissionDenied, Reason: isolation.ReasonBlocked, Detail: "isolation blocked: no files"},
		{Kind: tether.KindInvoke, Name: "shout", Label: "main", Code: tether.CodePermissionDenied, Reason: isolation.ReasonBlocked, Limit: true, Detail: "isolation blocked: isolation hook exceeded 100ms"},
		{Kind: tether.KindInvoke, Name: "open_path", Label: "main", Code: tether.CodeInvalidArgument},
		{Kind: tether.KindInvoke, Name: "no_such", Label: "main", Code: tether.CodeNotFound, Detail: `unknown command "no_such"`},
	}
	if len(c.refs) != len(want) {
		t.Fatalf("refusals %+v", c.refs)
	}
	for i, r := range c.refs {
		if strings.Contains(r.Detail, "secret-argument") || strings.Contains(r.Name, "secret") {
			t.Errorf("refusal %d carries the arguments: %+v", i, r)
		}
		w := want[i]
		if w.Detail == "" {
			w.Detail = r.Detail
		}
		if r != w {
			t.Errorf("refusal %d:\n got %+v\nwant %+v", i, r, w)
		}
	}
}
