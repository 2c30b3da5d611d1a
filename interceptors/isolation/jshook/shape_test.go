package jshook_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/interceptors/isolation/jshook"
)

func listenPayload(event string) *isolation.Payload {
	return &isolation.Payload{Cmd: isolation.CmdListen, Event: event, Client: isolation.Client{Label: "main"}}
}

// The seed's examples, as its text has them (the readFile example reads
// message.path; confirm() does not exist in a sandbox, so deleteItem is
// blocked).
const seedValidation = `
window.__TAURI_ISOLATION_HOOK__ = (payload) => {
  // Validate command calls
  if (payload.cmd === 'invoke') {
    const { __tauriModule, message } = payload;
    // Block unauthorized file system access
    if (message.cmd === 'readFile') {
      const path = message.path;
      if (!path.startsWith('/allowed/directory/')) {
        console.error('Blocked unauthorized file access:', path);
        return null; // Block the request
      }
    }
    // Validate specific commands
    if (message.cmd === 'deleteItem') {
      if (!confirm('Are you sure you want to delete this item?')) {
        return null; // User cancelled
      }
    }
  }
  return payload;
};`

const seedComprehensive = `
const ALLOWED_COMMANDS = ['greet', 'read_config', 'save_settings'];
const BLOCKED_PATHS = ['/etc/', '/usr/', '/System/'];
window.__TAURI_ISOLATION_HOOK__ = (payload) => {
  // Validate invoke commands
  if (payload.cmd === 'invoke') {
    const commandName = payload.message?.cmd;
    // Whitelist approach
    if (!ALLOWED_COMMANDS.includes(commandName)) {
      console.warn('Blocked unknown command:', commandName);
      return null;
    }
    // Validate path arguments
    const args = payload.message?.args || {};
    if (args.path) {
      for (const blocked of BLOCKED_PATHS) {
        if (args.path.startsWith(blocked)) {
          console.error('Blocked access to protected path:', args.path);
          return null;
        }
      }
    }
  }
  // Validate event emissions
  if (payload.cmd === 'emit') {
    const eventName = payload.event;
    // Add event validation as needed
  }
  return payload;
};`

// Tauri v2 hooks: the payload is {cmd: "<command>", callback, error,
// payload: {…args}}, events are plugin:event|… commands.
const v2Whitelist = `
const ALLOWED = ["greet", "read_config", "plugin:event|emit", "plugin:event|listen"];
window.__TAURI_ISOLATION_HOOK__ = (payload) => ALLOWED.includes(payload.cmd) ? payload : null;`

const v2Guard = `
const NAME = /^[a-z][a-z0-9-]*$/;
window.__TAURI_ISOLATION_HOOK__ = async (payload, options) => {
  if (payload.cmd === "read_config" && String(payload.payload.path).startsWith("/etc")) {
    throw new Error("blocked path");
  }
  if (payload.cmd === "greet") {
    payload.payload.name = String(payload.payload.name).toUpperCase();
    if (options.headers["x-lang"] === "fr") payload.payload.lang = "fr";
  }
  if (payload.cmd === "old_greet") payload.cmd = "greet";
  if (payload.cmd === "plugin:event|emit" && !NAME.test(payload.payload.event)) return null;
  if (payload.cmd === "plugin:event|emit" && payload.payload.event === "chat") payload.payload.payload.checked = true;
  if (payload.cmd === "plugin:event|listen" && payload.payload.event === "secret") return null;
  return payload;
};`

const seedGuard = `
window.__TAURI_ISOLATION_HOOK__ = (payload) => {
  switch (payload.cmd) {
  case "invoke":
    if (payload.message.cmd === "read_config" && String(payload.message.path).startsWith("/etc")) return null;
    if (payload.message.cmd === "greet") payload.message.args.name = String(payload.message.name).toUpperCase();
    if (payload.message.cmd === "old_greet") payload.message.cmd = "greet";
    return payload;
  case "emit":
    if (!/^[a-z][a-z0-9-]*$/.test(payload.event)) return null;
    if (payload.event === "chat") payload.payload.checked = true;
    return payload;
  case "listen":
    return payload.event === "secret" ? null : payload;
  }
  return null;
};`

type shapeCall struct {
	name string
	p    *isolation.Payload
	// want: "" blocked, else the args (invoke) or payload (emit) let
	// through, or "pass" for a listen.
	want, cmd string
}

func runShapeCalls(t *testing.T, r *jshook.Runner, calls []shapeCall) {
	t.Helper()
	for _, c := range calls {
		got, err := r.Run(context.Background(), c.p)
		if c.want == "" {
			if err == nil {
				t.Errorf("%s: let through %+v", c.name, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var body string
		switch c.p.Cmd {
		case isolation.CmdInvoke:
			body = string(got.Message.Args)
			if c.cmd != "" && got.Message.Cmd != c.cmd {
				t.Errorf("%s: command %q, want %q", c.name, got.Message.Cmd, c.cmd)
			}
		case isolation.CmdEmit:
			body = string(got.Payload)
		default:
			body = "pass"
		}
		if body != c.want {
			t.Errorf("%s: %s, want %s", c.name, body, c.want)
		}
	}
}

func TestSeedShapeHooks(t *testing.T) {
	r := newRunner(t, seedValidation, jshook.Options{})
	if r.Shape() != jshook.ShapeSeed {
		t.Fatalf("shape %v", r.Shape())
	}
	runShapeCalls(t, r, []shapeCall{
		{name: "readFile outside", p: invokePayload("readFile", `{"path":"/etc/passwd"}`)},
		{name: "readFile inside", p: invokePayload("readFile", `{"path":"/allowed/directory/a"}`), want: `{"path":"/allowed/directory/a"}`},
		{name: "deleteItem (no confirm in a sandbox)", p: invokePayload("deleteItem", `{"id":1}`)},
		{name: "greet", p: invokePayload("greet", `{"name":"x"}`), want: `{"name":"x"}`},
		{name: "emit", p: emitPayload("chat", `{"t":1}`), want: `{"t":1}`},
	})
	r2 := newRunner(t, seedComprehensive, jshook.Options{})
	runShapeCalls(t, r2, []shapeCall{
		{name: "not allowed", p: invokePayload("read_file", `{"path":"/tmp/a"}`)},
		{name: "blocked path", p: invokePayload("read_config", `{"path":"/etc/shadow"}`)},
		{name: "allowed", p: invokePayload("read_config", `{"path":"/srv/a"}`), want: `{"path":"/srv/a"}`},
		{name: "emit", p: emitPayload("anything", `1`), want: `1`},
		{name: "listen", p: listenPayload("anything"), want: "pass"},
	})
}

// The same rules written for each shape let through, change and block the
// same calls.
func TestBothShapesSameRules(t *testing.T) {
	for _, tc := range []struct {
		name, code string
		shape      jshook.Shape
	}{{"seed", seedGuard, jshook.ShapeSeed}, {"tauri-v2", v2Guard, jshook.ShapeV2}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRunner(t, tc.code, jshook.Options{})
			if r.Shape() != tc.shape {
				t.Fatalf("detected %v, want %v", r.Shape(), tc.shape)
			}
			greet := invokePayload("greet", `{"name":"ada"}`)
			greet.Headers = map[string]string{"x-lang": "en"}
			want := `{"name":"ADA"}`
			runShapeCalls(t, r, []shapeCall{
				{name: "blocked path", p: invokePayload("read_config", `{"path":"/etc/shadow"}`)},
				{name: "path", p: invokePayload("read_config", `{"path":"/srv/a"}`), want: `{"path":"/srv/a"}`},
				{name: "rewrite", p: greet, want: want},
				{name: "rename", p: invokePayload("old_greet", `{"name":"x"}`), want: `{"name":"x"}`, cmd: "greet"},
				{name: "bad event", p: emitPayload("Bad Name", `{}`)},
				{name: "event rewrite", p: emitPayload("chat", `{"t":1}`), want: `{"t":1,"checked":true}`},
				{name: "event", p: emitPayload("news", `{"t":1}`), want: `{"t":1}`},
				{name: "listen", p: listenPayload("news"), want: "pass"},
				{name: "listen secret", p: listenPayload("secret")},
			})
			if tc.shape == jshook.ShapeV2 {
				fr := invokePayload("greet", `{"name":"ada"}`)
				fr.Headers = map[string]string{"x-lang": "fr"}
				runShapeCalls(t, r, []shapeCall{{name: "headers", p: fr, want: `{"name":"ADA","lang":"fr"}`}})
			}
		})
	}
	r := newRunner(t, v2Whitelist, jshook.Options{})
	runShapeCalls(t, r, []shapeCall{
		{name: "v2 whitelist greet", p: invokePayload("greet", `{}`), want: `{}`},
		{name: "v2 whitelist read_file", p: invokePayload("read_file", `{"path":"a"}`)},
		{name: "v2 whitelist emit", p: emitPayload("chat", `1`), want: `1`},
		{name: "v2 whitelist listen", p: listenPayload("chat"), want: "pass"},
	})
}

// How the shape is decided, and that no hook is let through for reading the
// other shape: a Tauri v2 hook that happens to name "emit" runs on both
// payloads and blocks what it blocks; a seed-style hook that never names
// the seed's cmd words still reads message, event and client.
func TestShapeDetection(t *testing.T) {
	for _, tc := range []struct {
		code  string
		shape jshook.Shape
	}{
		{`window.__TAURI_ISOLATION_HOOK__ = (p) => p.cmd === "invoke" ? p : p;`, jshook.ShapeSeed},
		{`window.__TAURI_ISOLATION_HOOK__ = (p) => { switch (p["cmd"]) { case "listen": return null; } return p; };`, jshook.ShapeSeed},
		{`window.__TAURI_ISOLATION_HOOK__ = (p) => { if ("emit" !== p?.cmd) return p; return p; };`, jshook.ShapeSeed},
		{`window.__TAURI_ISOLATION_HOOK__ = (p) => p;`, jshook.ShapeV2},
		{`window.__TAURI_ISOLATION_HOOK__ = (p) => p.cmd === "greet" ? p : null;`, jshook.ShapeV2},
		{`const [a, b] = ["x", "emit"]; window.__TAURI_ISOLATION_HOOK__ = (p) => p;`, jshook.ShapeAuto},
		{"window.__TAURI_ISOLATION_HOOK__ = (p) => { console.log(`invoke`); return p; };", jshook.ShapeAuto},
	} {
		r := newRunner(t, tc.code, jshook.Options{})
		if r.Shape() != tc.shape {
			t.Errorf("%s: shape %v, want %v", tc.code, r.Shape(), tc.shape)
		}
	}

	// A v2 hook that names "emit": both payloads, and its blocks hold.
	r := newRunner(t, `
		window.__TAURI_ISOLATION_HOOK__ = (p) => {
			const [plugin, action] = String(p.cmd).split("|");
			if (plugin === "plugin:event" && action === "emit" && !/^[a-z]+$/.test(p.payload.event)) return null;
			if (p.cmd === "read_file" && p.payload.path.startsWith("/etc")) return null;
			return p;
		};`, jshook.Options{})
	if r.Shape() != jshook.ShapeAuto {
		t.Fatalf("shape %v", r.Shape())
	}
	runShapeCalls(t, r, []shapeCall{
		{name: "bad event", p: emitPayload("BAD!", `{}`)},
		{name: "good event", p: emitPayload("good", `{}`), want: `{}`},
		{name: "blocked path", p: invokePayload("read_file", `{"path":"/etc/x"}`)},
		{name: "path", p: invokePayload("read_file", `{"path":"/srv/x"}`), want: `{"path":"/srv/x"}`},
	})
	// A hook that changes the call differently for the two payloads is
	// refused rather than guessed at.
	r = newRunner(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => { const emit = 1; if (p.message) p.message.args = {via: p.cmd}; return p; };`, jshook.Options{})
	_, err := r.Run(context.Background(), invokePayload("greet", `{}`))
	wantBlocked(t, err, "differently")

	// A seed-style hook that reads message and event without testing cmd
	// gets Tauri v2's payload, which carries them too.
	r = newRunner(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => {
		const a = p.message?.args || {};
		if (String(a.path).startsWith("/etc") || String(p.message?.path).startsWith("/root")) return null;
		if (p.event === "secret") return null;
		if (p.client.label !== "main") return null;
		return p;
	};`, jshook.Options{})
	if r.Shape() != jshook.ShapeV2 {
		t.Fatalf("shape %v", r.Shape())
	}
	runShapeCalls(t, r, []shapeCall{
		{name: "etc", p: invokePayload("read_file", `{"path":"/etc/x"}`)},
		{name: "root (flat)", p: invokePayload("read_file", `{"path":"/root/x"}`)},
		{name: "ok", p: invokePayload("read_file", `{"path":"/srv/x"}`), want: `{"path":"/srv/x"}`},
		{name: "secret event", p: emitPayload("secret", `{}`)},
		{name: "secret listen", p: listenPayload("secret")},
		{name: "other window", p: withLabel(invokePayload("greet", `{}`), "other")},
	})
	// An explicit shape overrides the detection.
	r = newRunner(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => p.cmd === "invoke" ? null : p;`, jshook.Options{Shape: jshook.ShapeV2})
	if _, err := r.Run(context.Background(), invokePayload("greet", `{}`)); err != nil || r.Shape() != jshook.ShapeV2 {
		t.Fatalf("explicit shape: %v %v", err, r.Shape())
	}
}

// A Tauri v2 hook sees the payload Tauri shows: the keys and their order,
// headers in options, events as plugin commands (emit_to with a target).
func TestV2PayloadAsTauriShowsIt(t *testing.T) {
	r := newRunner(t, `window.__TAURI_ISOLATION_HOOK__ = (p, options) => {
		const o = JSON.parse(JSON.stringify(p));
		o.second = options === p.options;
		if (p.cmd === "greet") p.payload = o; else p.payload.payload = o;
		return p;
	};`, jshook.Options{})
	inv := invokePayload("greet", `{"name":"x"}`)
	inv.Headers = map[string]string{"authorization": "Bearer t"}
	em := emitPayload("chat", `{"t":1}`)
	em.Target = "win2"
	for _, c := range []struct {
		p    *isolation.Payload
		want string
	}{
		{inv, `{"cmd":"greet","callback":1,"error":2,"payload":{"name":"x"},"options":{"headers":{"authorization":"Bearer t"}},"second":true}`},
		{em, `{"cmd":"plugin:event|emit_to","callback":1,"error":2,"payload":{"target":{"kind":"AnyLabel","label":"win2"},"event":"chat","payload":{"t":1}},"options":{"headers":{}},"second":true}`},
	} {
		got, err := r.Run(context.Background(), c.p)
		if err != nil {
			t.Fatal(err)
		}
		body := got.Payload
		if got.Message != nil {
			body = got.Message.Args
		}
		if !strings.Contains(string(body), c.want) {
			t.Errorf("hook saw %s\nwant      %s", body, c.want)
		}
	}
}
