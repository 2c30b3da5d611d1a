package capability_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/interceptors/capability"
)

func TestParseErrors(t *testing.T) {
	const ok = `{"identifier": "ok", "windows": ["main"], "permissions": ["allow-greet"]}`
	tests := []struct {
		name  string
		files map[string]string
		want  []string // each must appear in the error
	}{
		{"bad JSON", map[string]string{"capabilities/main.json": `{"identifier": "main",`},
			[]string{"capabilities/main.json: invalid JSON"}},
		{"syntax error", map[string]string{"capabilities/main.json": `{"identifier" "main"}`},
			[]string{"capabilities/main.json: invalid JSON at byte"}},
		{"not an object", map[string]string{"c.json": `["main"]`}, []string{"c.json: expected a JSON object"}},
		{"trailing data", map[string]string{"c.json": ok + ` {}`}, []string{"c.json: invalid JSON: data after the top-level object"}},
		{"unknown field", map[string]string{"capabilities/main.json": `{"identifier": "main", "windowz": ["main"], "permissions": []}`},
			[]string{`capabilities/main.json: windowz: unknown field (did you mean "windows"?)`}},
		{"unknown nested field", map[string]string{"c.json": `{"identifier": "c", "windows": ["*"], "remote": {"url": []}, "permissions": []}`},
			[]string{`c.json: remote.url: unknown field (did you mean "urls"?)`}},
		{"unknown permission object field", map[string]string{"c.json": `{"identifier": "c", "windows": ["*"], "permissions": [
			"allow-greet", {"identifier": "allow-read-file", "alow": []}]}`},
			[]string{`c.json: permissions[1].alow: unknown field (did you mean "allow"?)`}},
		{"duplicate field", map[string]string{"c.json": `{"identifier": "c", "identifier": "d", "windows": ["*"], "permissions": []}`},
			[]string{`c.json: duplicate field "identifier"`}},
		{"missing identifier", map[string]string{"c.json": `{"windows": ["*"], "permissions": []}`},
			[]string{"c.json: identifier: missing"}},
		{"empty identifier", map[string]string{"c.json": `{"identifier": "", "windows": ["*"], "permissions": []}`},
			[]string{"c.json: identifier: empty"}},
		{"bad identifier", map[string]string{"c.json": `{"identifier": "a b", "windows": ["*"], "permissions": []}`},
			[]string{`c.json: identifier: "a b": only letters`}},
		{"missing permissions", map[string]string{"c.json": `{"identifier": "c", "windows": ["*"]}`},
			[]string{"c.json: permissions: missing"}},
		{"missing windows", map[string]string{"c.json": `{"identifier": "c", "permissions": []}`},
			[]string{"c.json: windows: missing"}},
		{"duplicate identifier", map[string]string{"a.json": ok, "b.json": ok},
			[]string{`b.json: identifier: duplicate capability "ok" (also in a.json)`}},
		{"wrong type", map[string]string{"c.json": `{"identifier": "c", "windows": "main", "local": "yes", "permissions": []}`},
			[]string{"c.json: windows: expected an array of strings", "c.json: local: expected true or false"}},
		{"permission of wrong type", map[string]string{"c.json": `{"identifier": "c", "windows": ["*"], "permissions": [42]}`},
			[]string{"c.json: permissions[0]: expected a permission identifier or an object"}},
		{"scope not an object", map[string]string{"c.json": `{"identifier": "c", "windows": ["*"], "permissions": [
			{"identifier": "allow-read-file", "allow": ["docs/**"]}]}`},
			[]string{"c.json: permissions[0].allow: expected an array of scope objects"}},
		{"unknown non-command permission", map[string]string{"c.json": `{"identifier": "c", "windows": ["*"], "permissions": ["allow-greet", "defualt"]}`,
			"permissions/d.json": `{"identifier": "default", "permissions": []}`},
			[]string{`c.json: permissions[1]: unknown permission "defualt" (did you mean "default"?)`}},
		{"plugin permission", map[string]string{"c.json": `{"identifier": "c", "windows": ["*"], "permissions": ["fs:scope-read"]}`},
			[]string{`c.json: permissions[0]: unknown permission "fs:scope-read"`}},
		{"bad command permission", map[string]string{"c.json": `{"identifier": "c", "windows": ["*"], "permissions": ["allow-"]}`},
			[]string{`c.json: permissions[0]: "allow-": a command permission is allow-<command>`}},
		{"scopes on deny", map[string]string{"c.json": `{"identifier": "c", "windows": ["*"], "permissions": [
			{"identifier": "deny-read-file", "allow": [{"path": "x"}]}]}`},
			[]string{`c.json: permissions[0]: "deny-read-file" denies the command outright`}},
		{"bad event scope", map[string]string{"c.json": `{"identifier": "c", "windows": ["*"], "permissions": [
			{"identifier": "allow-emit", "allow": [{"name": "x"}, {"event": "a b"}]}]}`},
			[]string{`c.json: permissions[0].allow[0]: an event scope is {"event": "<name or glob>"}`,
				`c.json: permissions[0].allow[1]: "a b": event names use`}},
		{"target scope on allow-emit", map[string]string{"c.json": `{"identifier": "c", "windows": ["*"], "permissions": [
			{"identifier": "allow-emit", "allow": [{"event": "x", "target": "main"}]},
			{"identifier": "allow-emit-to", "allow": [{"target": "a b"}, {"event": "x", "target": "y", "z": 1}]}]}`},
			[]string{`c.json: permissions[0].allow[0]: an event scope is {"event": "<name or glob>"}`,
				`c.json: permissions[1].allow[0]: "a b": target names use`,
				`c.json: permissions[1].allow[1]: an emit-to scope is {"event": "<name or glob>", "target": "<label or glob>"}`}},
		{"bad label glob", map[string]string{"c.json": `{"identifier": "c", "windows": ["main[0]"], "permissions": []}`},
			[]string{`c.json: windows[0]: "main[0]": character classes`}},
		{"origin with path", map[string]string{"c.json": `{"identifier": "c", "windows": ["*"], "remote": {"urls": ["https://x.com/app/*"]}, "permissions": []}`},
			[]string{`c.json: remote.urls[0]: "https://x.com/app/*": origin patterns cannot have a path`}},
		{"origin without scheme", map[string]string{"c.json": `{"identifier": "c", "windows": ["*"], "remote": {"urls": ["x.com"]}, "permissions": []}`},
			[]string{`c.json: remote.urls[0]: "x.com": expected an origin pattern`}},
		{"set cycle", map[string]string{
			"permissions/a.json": `{"identifier": "a", "permissions": ["b"]}`,
			"permissions/b.json": `{"identifier": "b", "permissions": ["a"]}`},
			[]string{"permission sets form a cycle: a -> b -> a"}},
		{"duplicate set", map[string]string{
			"permissions/a.json": `{"identifier": "s", "permissions": []}`,
			"permissions/b.json": `{"identifier": "s", "permissions": []}`},
			[]string{`permissions/b.json: identifier: duplicate permission set "s" (also in permissions/a.json)`}},
		{"reserved set name", map[string]string{"permissions/a.json": `{"identifier": "allow-all", "permissions": []}`},
			[]string{`permissions/a.json: identifier: "allow-all" is reserved`}},
		{"scopes on a set reference", map[string]string{
			"permissions/a.json": `{"identifier": "s", "permissions": ["allow-greet"]}`,
			"c.json":             `{"identifier": "c", "windows": ["*"], "permissions": [{"identifier": "s", "allow": [{"path": "x"}]}]}`},
			[]string{`c.json: permissions[0]: permission set "s" cannot carry scopes`}},
		{"error in a set", map[string]string{"permissions/a.json": `{"identifier": "s", "permissions": ["allow-greet", "dfault"], "x": 1}`},
			[]string{`permissions/a.json: x: unknown field`}},
		{"errors from several files", map[string]string{"a.json": `{`, "b.json": `{"identifier": "b"}`},
			[]string{"a.json: invalid JSON", "b.json: permissions: missing", "b.json: windows: missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := make(map[string][]byte)
			for k, v := range tt.files {
				files[k] = []byte(v)
			}
			s, err := capability.Parse(files)
			if err == nil {
				t.Fatalf("Parse succeeded: %v", s.Capabilities())
			}
			if s != nil {
				t.Fatal("Parse returned a Set with an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			var fe *capability.FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %T is not a *FieldError", err)
			}
		})
	}
}

func TestParseAcceptsTauriFile(t *testing.T) {
	// The shape of a capability generated by create-tauri-app, with a
	// scoped command and Tauri's event permissions.
	_, err := capability.ParseFile("capabilities/default.json", []byte(`{
		"$schema": "../gen/schemas/desktop-schema.json",
		"identifier": "default",
		"description": "Capability for the main window",
		"windows": ["main"],
		"webviews": [],
		"local": true,
		"platforms": ["linux", "macOS", "windows"],
		"permissions": ["core:default", "core:event:allow-unlisten", "allow-greet",
			{"identifier": "allow-read-file", "allow": [{"path": "$APPDATA/*"}], "deny": []}]
	}`))
	if err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	s, err := capability.Parse(map[string][]byte{
		"capabilities/main.json": []byte(`{"identifier": "main", "windows": ["main"], "permissions": [
			"allow-greet", "allow-read-file", "allow-gret", "deny-red-file", "allow-zzzzzzzz"]}`),
		"capabilities/permissions/d.json": []byte(`{"identifier": "default", "permissions": ["allow-count", "allow-procss-data"]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Validate(demoCommands)
	if err == nil {
		t.Fatal("Validate succeeded")
	}
	for _, want := range []string{
		`capabilities/main.json: permissions[2]: unknown permission "allow-gret" (did you mean "allow-greet"?)`,
		`capabilities/main.json: permissions[3]: unknown permission "deny-red-file" (did you mean "deny-read-file"?)`,
		`capabilities/main.json: permissions[4]: unknown permission "allow-zzzzzzzz"` + "\n",
		`capabilities/permissions/d.json: permissions[1]: unknown permission "allow-procss-data" (did you mean "allow-process-data"?)`,
	} {
		if !strings.Contains(err.Error()+"\n", want) {
			t.Errorf("error %q\ndoes not contain %q", err, want)
		}
	}
	if n := strings.Count(err.Error(), "unknown permission"); n != 4 {
		t.Errorf("%d unknown permissions reported, want 4:\n%v", n, err)
	}
	if err := s.Validate(append(demoCommands, "gret", "red_file", "zzzzzzzz", "procss_data")); err != nil {
		t.Errorf("Validate with every name: %v", err)
	}
	err = s.Validate([]string{"a_b", "a-b", "emit"})
	if err == nil || !strings.Contains(err.Error(), `commands "a_b" and "a-b" share`) || !strings.Contains(err.Error(), `command "emit" clashes`) {
		t.Errorf("clashing names: %v", err)
	}
	var nilSet *capability.Set
	if err := nilSet.Validate(demoCommands); err != nil {
		t.Errorf("nil Set: %v", err)
	}
}

func TestLoad(t *testing.T) {
	t.Run("examples", func(t *testing.T) {
		s, err := capability.Load(filepath.Join("..", "..", "examples", "capabilities"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(demoCommands); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range demoCommands {
			if msg := check(t, s, invoke(cmd, "main")); msg != "" {
				t.Errorf("%s: %s", cmd, msg)
			}
			if msg := check(t, s, invoke(cmd, "other")); msg == "" {
				t.Errorf("%s allowed for other", cmd)
			}
		}
	})
	t.Run("errors name the path", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "capabilities")
		writeFile(t, filepath.Join(dir, "main.json"), `{"identifier": "main", "windows": ["*"], "permissions": ["nope"]}`)
		writeFile(t, filepath.Join(dir, "notes.txt"), `ignored`)
		_, err := capability.Load(dir)
		want := filepath.ToSlash(filepath.Join(dir, "main.json")) + `: permissions[0]: unknown permission "nope"`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Load: %v, want %q", err, want)
		}
	})
	t.Run("permissions folder", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "main.json"), `{"identifier": "main", "windows": ["*"], "permissions": ["set"]}`)
		writeFile(t, filepath.Join(dir, "permissions", "set.json"), `{"identifier": "set", "permissions": ["allow-greet"]}`)
		s, err := capability.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if msg := check(t, s, invoke("greet", "x")); msg != "" {
			t.Fatal(msg)
		}
	})
	t.Run("empty folder", func(t *testing.T) {
		if _, err := capability.Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no capability files") {
			t.Fatalf("Load(empty) = %v", err)
		}
	})
	t.Run("missing folder", func(t *testing.T) {
		if _, err := capability.Load(filepath.Join(t.TempDir(), "nope")); err == nil {
			t.Fatal("Load(missing) succeeded")
		}
	})
}

func writeFile(t testing.TB, name, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "..", "examples", "capabilities", "*.json"))
	for _, name := range seeds {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b, false)
		}
	}
	f.Add([]byte(`{"identifier": "c", "windows": ["*", "a?b"], "remote": {"urls": ["https://*.x.com"]}, "permissions": [
		"core:default", {"identifier": "allow-emit", "allow": [{"event": "a*"}], "deny": [{"event": "b"}]},
		{"identifier": "allow-read-file", "allow": [{"path": "**"}]}]}`), false)
	f.Add([]byte(`{"identifier": "s", "permissions": ["s", "allow-x", {"identifier": "deny-y"}]}`), true)
	f.Add([]byte(`{"identifier": "t", "windows": ["a"], "permissions": [{"identifier": "allow-emit-to", "allow": [{"event": "e*", "target": "p-?"}, {"target": "*"}], "deny": [{"target": "admin"}]},
		{"identifier": "deny-listen", "allow": [{"event": "secret-*"}]}, "allow-listen"]}`), false)
	f.Add([]byte(`{"identifier": 1, "identifier": [}`), false)
	f.Fuzz(func(t *testing.T, data []byte, isSet bool) {
		name := "capabilities/c.json"
		if isSet {
			name = "capabilities/permissions/s.json"
		}
		s, err := capability.Parse(map[string][]byte{name: data, "capabilities/permissions/self.json": data})
		if err != nil {
			if s != nil {
				t.Fatal("Set and error")
			}
			return
		}
		_ = s.Validate([]string{"x", "read_file"})
		for _, c := range []*tether.Call{invoke("read_file", "a"), {Kind: tether.KindListen, Name: "a", ClientLabel: "a", Origin: "https://x.com"},
			{Kind: tether.KindListen, Name: "*", Events: []string{"*"}, ClientLabel: "a"}, {Kind: tether.KindEmit, Name: "e1", Target: "p-1", ClientLabel: "a"}} {
			_, _ = s.Check(c)
		}
	})
}
