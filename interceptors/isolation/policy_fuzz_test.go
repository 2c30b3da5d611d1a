package isolation_test

import (
	"context"
	"encoding/json"
	"path"
	"strings"
	"testing"

	"github.com/tether-ipc/tether/interceptors/isolation"
)

// FuzzPolicy loads arbitrary policy files and runs arbitrary calls through
// their hooks: never a panic, and a path argument under a blocked prefix
// never passes.
func FuzzPolicy(f *testing.F) {
	f.Add([]byte(`{"commands":["greet","fs_*"],"events":["chat:*"],"blockedPaths":["/etc","~",".."],"pathKeys":["path"],"maxArgsBytes":256,
		"rules":[{"command":"greet","key":"name","required":true,"type":"string","maxLength":8,"pattern":"^[a-z]+$"}]}`),
		"read_file", []byte(`{"path":"/etc/../etc/passwd"}`))
	f.Add([]byte(`{"blockedPaths":["/root"]}`), "x", []byte(`{"a":{"path":["ok","/root/.ssh"]}}`))
	f.Add([]byte(`{"rules":[{"key":"k","pattern":"("}]}`), "greet", []byte(`{}`))
	f.Add([]byte(`{"commands":[]}`), "greet", []byte(`null`))
	f.Fuzz(func(t *testing.T, policy []byte, cmd string, args []byte) {
		p, err := isolation.LoadPolicy(policy)
		if err != nil {
			return
		}
		hook, err := p.Hook()
		if err != nil {
			return
		}
		ctx := context.Background()
		if !json.Valid(args) {
			args = []byte(`{}`)
		}
		got, err := hook(ctx, &isolation.Payload{Cmd: "invoke", Message: &isolation.Message{Cmd: cmd, Args: json.RawMessage(args)}})
		if err == nil && got != nil {
			// The path argument, if a plain top-level string, must not sit
			// under an absolute blocked prefix.
			var top map[string]any
			if json.Unmarshal(args, &top) == nil && len(p.PathKeys) == 0 {
				if s, ok := top["path"].(string); ok && strings.HasPrefix(s, "/") {
					clean := path.Clean(strings.ReplaceAll(s, "\\", "/"))
					for _, b := range p.BlockedPaths {
						if strings.HasPrefix(b, "/") && (clean == path.Clean(b) || strings.HasPrefix(clean, strings.TrimSuffix(path.Clean(b), "/")+"/")) {
							t.Fatalf("path %q passed blocked prefix %q", s, b)
						}
					}
				}
			}
		}
		_, _ = hook(ctx, &isolation.Payload{Cmd: "emit", Event: cmd, Payload: json.RawMessage(args)})
		_, _ = hook(ctx, &isolation.Payload{Cmd: "listen", Event: cmd})
	})
}
