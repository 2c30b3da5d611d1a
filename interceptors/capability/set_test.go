package capability_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/interceptors/capability"
)

var demoCommands = []string{"greet", "process_data", "read_file", "fail", "echo_bytes", "count"}

func parse(t testing.TB, files map[string]string) *capability.Set {
	t.Helper()
	m := make(map[string][]byte, len(files))
	for k, v := range files {
		m[k] = []byte(v)
	}
	s, err := capability.Parse(m)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if err := s.Validate(demoCommands); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return s
}

func invoke(name, label string) *tether.Call {
	return &tether.Call{Kind: tether.KindInvoke, Name: name, ClientLabel: label}
}

// check runs Check and returns "" for allowed or the denial message.
func check(t testing.TB, s *capability.Set, c *tether.Call) string {
	t.Helper()
	_, err := s.Check(c)
	if err == nil {
		return ""
	}
	var te *tether.Error
	if !errors.As(err, &te) || te.Code() != tether.CodePermissionDenied {
		t.Fatalf("Check(%+v) = %v, want a permission_denied *tether.Error", c, err)
	}
	return te.Message()
}

func TestNotConfiguredAllowsEverything(t *testing.T) {
	var nilSet *capability.Set
	empty := parse(t, map[string]string{
		"permissions/default.json": `{"identifier": "default", "permissions": ["allow-greet"]}`,
	})
	for name, s := range map[string]*capability.Set{"nil": nilSet, "sets only": empty} {
		t.Run(name, func(t *testing.T) {
			if s.Configured() {
				t.Fatal("Configured() = true")
			}
			d, err := s.Check(invoke("read_file", ""))
			if err != nil || d.Configured {
				t.Fatalf("Check = %+v, %v; want allowed, not configured", d, err)
			}
		})
	}
}

func TestCommandDecisions(t *testing.T) {
	s := parse(t, map[string]string{
		"capabilities/main.json": `{
			"identifier": "main",
			"windows": ["main"],
			"permissions": ["allow-greet", "allow-read-file", "allow-process-data"]
		}`,
		"capabilities/lockdown.json": `{
			"identifier": "lockdown",
			"windows": ["*"],
			"permissions": ["deny-read-file"]
		}`,
		"capabilities/editors.json": `{
			"identifier": "editors",
			"windows": ["editor-*", "?-tool"],
			"webviews": ["preview"],
			"permissions": ["allow-count"]
		}`,
	})
	if !s.Configured() {
		t.Fatal("Configured() = false")
	}
	tests := []struct {
		name, cmd, label string
		kind             tether.Kind
		want             string // "" allowed, else a substring of the denial
	}{
		{"granted", "greet", "main", tether.KindInvoke, ""},
		{"underscore name", "process_data", "main", tether.KindInvoke, ""},
		{"deny wins across capabilities", "read_file", "main", tether.KindInvoke,
			`command "read_file" denied for client "main": denied by capability "lockdown" (deny-read-file)`},
		{"ungranted command", "fail", "main", tether.KindInvoke, `command "fail" not allowed for client "main"`},
		{"unknown command", "nope", "main", tether.KindInvoke, `command "nope" not allowed`},
		{"other label", "greet", "settings", tether.KindInvoke, `command "greet" not allowed for client "settings"`},
		{"no label", "greet", "", tether.KindInvoke, "not allowed for unlabelled client"},
		{"label prefix glob", "count", "editor-2", tether.KindChannel, ""},
		{"label ? glob", "count", "x-tool", tether.KindChannel, ""},
		{"? is one character", "count", "xy-tool", tether.KindChannel, "not allowed"},
		{"webviews are labels", "count", "preview", tether.KindChannel, ""},
		{"glob is anchored", "count", "my-editor-2", tether.KindChannel, "not allowed"},
		{"label is case-sensitive", "greet", "Main", tether.KindInvoke, "not allowed"},
		{"hyphens and underscores share a permission", "process-data", "main", tether.KindInvoke, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := invoke(tt.cmd, tt.label)
			c.Kind = tt.kind
			got := check(t, s, c)
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Fatalf("denial = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUnknownKindDenied(t *testing.T) {
	s := parse(t, map[string]string{"c.json": `{"identifier": "c", "windows": ["*"], "permissions": ["allow-greet"]}`})
	if msg := check(t, s, &tether.Call{Name: "greet", ClientLabel: "main"}); !strings.Contains(msg, "unknown call kind") {
		t.Fatalf("got %q", msg)
	}
	if msg := check(t, s, nil); msg == "" {
		t.Fatal("nil call allowed")
	}
}

func TestOrigins(t *testing.T) {
	s := parse(t, map[string]string{
		"local.json": `{"identifier": "local", "windows": ["main"], "permissions": ["allow-greet"]}`,
		"remote.json": `{"identifier": "remote", "windows": ["main"], "local": false,
			"remote": {"urls": ["https://*.example.com", "https://app.example.org/*"]},
			"permissions": ["allow-count"]}`,
	})
	tests := []struct {
		origin     string
		greet, cnt bool
	}{
		{"", true, false},                       // native client: local
		{"http://localhost:1420", true, false},  // dev server
		{"http://tauri.localhost", true, false}, // Tauri on Windows
		{"tauri://localhost", true, false},
		{"http://127.0.0.1:8080", true, false},
		{"http://[::1]:3000", true, false},
		{"https://app.example.com", false, true},
		{"https://a.b.example.com", false, true},
		{"https://example.com", false, false},
		{"https://app.example.com:8443", false, false},
		{"http://app.example.com", false, false},
		{"https://app.example.org", false, true},
		{"https://evil.com", false, false},
		{"https://localhost.evil.com", false, false},
		{"null", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.origin, func(t *testing.T) {
			for cmd, want := range map[string]bool{"greet": tt.greet, "count": tt.cnt} {
				c := invoke(cmd, "main")
				c.Origin = tt.origin
				if got := check(t, s, c) == ""; got != want {
					t.Errorf("%s from %q allowed = %v, want %v", cmd, tt.origin, got, want)
				}
			}
		})
	}
	c := invoke("greet", "main")
	c.Origin = "https://evil.com"
	if msg := check(t, s, c); !strings.Contains(msg, `from origin "https://evil.com"`) {
		t.Fatalf("denial %q does not name the origin", msg)
	}
}

func TestScopesReachDecision(t *testing.T) {
	s := parse(t, map[string]string{
		"a.json": `{"identifier": "a", "windows": ["main"], "permissions": [
			{"identifier": "allow-read-file", "allow": [{"path": "docs/*.txt"}], "deny": [{"path": "docs/secret.txt"}]},
			"allow-greet"]}`,
		"b.json": `{"identifier": "b", "windows": ["*"], "permissions": [
			{"identifier": "allow-read-file", "allow": [{"path": "$DATA/**"}]}]}`,
		"c.json": `{"identifier": "c", "windows": ["other"], "permissions": [
			{"identifier": "allow-read-file", "allow": [{"path": "/etc/**"}]}]}`,
	})
	d, err := s.Check(invoke("read_file", "main"))
	if err != nil {
		t.Fatal(err)
	}
	want := &tether.Scopes{
		Allow: []map[string]any{{"path": "docs/*.txt"}, {"path": "$DATA/**"}},
		Deny:  []map[string]any{{"path": "docs/secret.txt"}},
	}
	if !reflect.DeepEqual(d.Scopes, want) {
		t.Fatalf("Scopes = %+v, want %+v", d.Scopes, want)
	}
	if d.Capability != "a" || d.Permission != "allow-read-file" || !d.Configured {
		t.Fatalf("Decision = %+v", d)
	}
	// Merging must not change the scopes stored for the next call.
	d2, _ := s.Check(invoke("read_file", "main"))
	if !reflect.DeepEqual(d2.Scopes, want) {
		t.Fatalf("second Check Scopes = %+v", d2.Scopes)
	}
	d3, _ := s.Check(invoke("read_file", "x"))
	if !reflect.DeepEqual(d3.Scopes, &tether.Scopes{Allow: []map[string]any{{"path": "$DATA/**"}}}) {
		t.Fatalf("Scopes for x = %+v", d3.Scopes)
	}
	d4, _ := s.Check(invoke("greet", "main"))
	if d4.Scopes != nil {
		t.Fatalf("unscoped grant has Scopes %+v", d4.Scopes)
	}
}

func TestPermissionSets(t *testing.T) {
	s := parse(t, map[string]string{
		"capabilities/main.json": `{"identifier": "main", "windows": ["main"], "permissions": ["default"]}`,
		"capabilities/permissions/default.json": `{"identifier": "default", "permissions": ["basic", "allow-count",
			{"identifier": "allow-read-file", "allow": [{"path": "docs/**"}]}]}`,
		"capabilities/permissions/basic.json": `{"identifier": "basic", "description": "x", "permissions": ["allow-greet", "allow-listen"]}`,
	})
	for _, cmd := range []string{"greet", "count", "read_file"} {
		if msg := check(t, s, invoke(cmd, "main")); msg != "" {
			t.Errorf("%s: %s", cmd, msg)
		}
	}
	if msg := check(t, s, invoke("fail", "main")); msg == "" {
		t.Error("fail allowed")
	}
	if msg := check(t, s, &tether.Call{Kind: tether.KindListen, Name: "x", ClientLabel: "main"}); msg != "" {
		t.Errorf("listen: %s", msg)
	}
	d, _ := s.Check(invoke("read_file", "main"))
	if d.Scopes == nil || len(d.Scopes.Allow) != 1 {
		t.Fatalf("scopes from set = %+v", d.Scopes)
	}
}

func TestEvents(t *testing.T) {
	s := parse(t, map[string]string{
		"main.json": `{"identifier": "main", "windows": ["main"], "permissions": [
			{"identifier": "allow-emit", "allow": [{"event": "frontend-*"}], "deny": [{"event": "frontend-admin"}]},
			{"identifier": "core:event:allow-listen", "allow": [{"event": "backend-event"}, {"event": "progress/*"}]}
		]}`,
		"all.json": `{"identifier": "all", "windows": ["tool"], "permissions": ["core:default"]}`,
		"block.json": `{"identifier": "block", "windows": ["tool"], "permissions": [
			{"identifier": "deny-listen", "allow": [{"event": "secret-*"}]},
			{"identifier": "deny-emit", "deny": [{"event": "shutdown"}]}]}`,
		"mute.json": `{"identifier": "mute", "windows": ["muted"], "permissions": ["core:event:default", "deny-emit"]}`,
		"scoped.json": `{"identifier": "scoped", "windows": ["scoped"], "permissions": [
			{"identifier": "allow-listen", "allow": [{"event": "*"}], "deny": [{"event": "audit/*"}]}]}`,
		"every.json": `{"identifier": "every", "windows": ["every"], "permissions": [{"identifier": "allow-listen", "allow": [{"event": "*"}]}]}`,
		"to.json": `{"identifier": "to", "windows": ["to"], "permissions": ["allow-emit",
			{"identifier": "core:event:allow-emit-to", "allow": [{"event": "chat", "target": "peer-*"}, {"target": "log"}], "deny": [{"target": "peer-admin"}]},
			{"identifier": "deny-emit", "allow": [{"event": "shutdown"}]}]}`,
	})
	ev := func(kind tether.Kind, label string, events ...string) *tether.Call {
		return &tether.Call{Kind: kind, Name: events[0], Events: events, ClientLabel: label}
	}
	emitTo := func(label, target, event string) *tether.Call {
		return &tether.Call{Kind: tether.KindEmit, Name: event, Target: target, ClientLabel: label}
	}
	tests := []struct {
		name string
		call *tether.Call
		want string
	}{
		{"emit in scope", ev(tether.KindEmit, "main", "frontend-event"), ""},
		{"emit deny scope wins", ev(tether.KindEmit, "main", "frontend-admin"),
			`emit of event "frontend-admin" denied for client "main": denied by capability "main" (allow-emit deny scope)`},
		{"emit out of scope", ev(tether.KindEmit, "main", "backend-event"), `emit of event "backend-event" not allowed for client "main"`},
		{"listen in scope", ev(tether.KindListen, "main", "backend-event", "progress/1"), ""},
		{"listen one event out of scope", ev(tether.KindListen, "main", "backend-event", "other"), `listen to event "other" not allowed`},
		{"listen with Name only", &tether.Call{Kind: tether.KindListen, Name: "backend-event", ClientLabel: "main"}, ""},
		{"default grants any", ev(tether.KindListen, "tool", "anything"), ""},
		{"scoped deny-listen", ev(tether.KindListen, "tool", "secret-key"), `denied by capability "block" (deny-listen)`},
		{"deny-emit with deny scope covers only that event", ev(tether.KindEmit, "tool", "hello"), ""},
		{"deny-emit with deny scope", ev(tether.KindEmit, "tool", "shutdown"), `(deny-emit)`},
		{"unscoped deny-emit", ev(tether.KindEmit, "muted", "x"), `denied by capability "mute" (deny-emit)`},
		{"unscoped deny-emit leaves listen", ev(tether.KindListen, "muted", "x"), ""},
		{"no capability for label", ev(tether.KindEmit, "nobody", "frontend-event"), "not allowed"},
		// A listen to every event ("*", bus.Wildcard) would receive what a
		// deny rule refuses: it is allowed only when nothing is denied.
		{"wildcard listen past a deny-listen", ev(tether.KindListen, "tool", "*"), `listen to event "*" denied for client "tool": denied by capability "block" (deny-listen`},
		{"wildcard listen past a deny scope", ev(tether.KindListen, "scoped", "*"), `denied by capability "scoped" (allow-listen deny scope`},
		{"wildcard listen beside a wildcard among events", ev(tether.KindListen, "tool", "hello", "*"), `denied by capability "block"`},
		{"wildcard listen with a narrower grant", ev(tether.KindListen, "main", "*"), `listen to event "*" not allowed for client "main"`},
		{"wildcard listen with every event granted", ev(tether.KindListen, "muted", "*"), ""},
		{"wildcard listen with an allow scope of *", ev(tether.KindListen, "every", "*"), ""},
		{"scoped deny scope by name", ev(tether.KindListen, "scoped", "audit/login"), `(allow-listen deny scope)`},
		// An emit's target is checked: allow-emit grants only untargeted
		// emits, allow-emit-to (scoped by event and target) targeted ones,
		// and emit denies hold for both.
		{"emit-to needs emit-to", emitTo("main", "other", "frontend-event"), `emit to "other" of event "frontend-event" not allowed for client "main"`},
		{"emit-to in scope", emitTo("to", "peer-1", "chat"), ""},
		{"emit-to any event to log", emitTo("to", "log", "whatever"), ""},
		{"emit-to out of target scope", emitTo("to", "main", "chat"), `emit to "main" of event "chat" not allowed`},
		{"emit-to out of event scope", emitTo("to", "peer-1", "other"), "not allowed"},
		{"emit-to deny scope on target", emitTo("to", "peer-admin", "chat"), `(core:event:allow-emit-to deny scope)`},
		{"emit deny holds for emit-to", emitTo("to", "log", "shutdown"), `denied by capability "to" (deny-emit)`},
		{"untargeted emit with allow-emit", ev(tether.KindEmit, "to", "chat"), ""},
		{"core:default grants emit-to", emitTo("tool", "anyone", "x"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := check(t, s, tt.call)
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Fatalf("denial = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCapabilitiesList(t *testing.T) {
	s := parse(t, map[string]string{
		"b.json": `{"identifier": "b", "windows": ["*"], "permissions": []}`,
		"a.json": `{"identifier": "a", "windows": ["*"], "permissions": []}`,
	})
	if got := s.Capabilities(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("Capabilities() = %v", got)
	}
}

// BenchmarkCheck measures Check on a set of 10 capabilities over 50
// commands, for an allowed call, a scoped one and a denied one.
func BenchmarkCheck(b *testing.B) {
	files := make(map[string][]byte)
	var commands []string
	for i := range 50 {
		commands = append(commands, fmt.Sprintf("command_%02d", i))
	}
	for c := range 10 {
		var perms []string
		for i := c * 5; i < c*5+10 && i < 50; i++ {
			perms = append(perms, fmt.Sprintf(`"allow-command-%02d"`, i))
		}
		perms = append(perms, `{"identifier": "allow-command-49", "allow": [{"path": "docs/**"}]}`)
		if c == 9 {
			perms = append(perms, `"deny-command-00"`)
		}
		files[fmt.Sprintf("cap%d.json", c)] = fmt.Appendf(nil,
			`{"identifier": "cap%d", "windows": ["window-%d", "editor-*"], "permissions": [%s]}`,
			c, c, strings.Join(perms, ","))
	}
	s, err := capability.Parse(files)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Validate(commands); err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name  string
		call  *tether.Call
		allow bool
	}{
		{"allowed", invoke("command_12", "window-2"), true},
		{"scoped-10caps", invoke("command_49", "editor-7"), true},
		{"denied", invoke("command_40", "window-1"), false},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Check(bc.call); (err == nil) != bc.allow {
					b.Fatal(err)
				}
			}
		})
	}
}
