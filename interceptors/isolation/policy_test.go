package isolation_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/interceptors/isolation"
)

func TestPolicy(t *testing.T) {
	p, err := isolation.LoadPolicy([]byte(`{
		"commands": ["greet", "fs_*", "read_file", "copy"],
		"events": ["chat:*"],
		"blockedPaths": ["/etc", "/root", "~", ".."],
		"pathKeys": ["path", "dest"],
		"maxArgsBytes": 256,
		"rules": [
			{"command": "greet", "key": "name", "required": true, "type": "string", "maxLength": 8, "pattern": "^[a-z]+$"}
		]}`))
	if err != nil {
		t.Fatal(err)
	}
	hook, err := p.Hook()
	if err != nil {
		t.Fatal(err)
	}
	inv := func(cmd, args string) *isolation.Payload {
		return &isolation.Payload{Cmd: "invoke", Message: &isolation.Message{Cmd: cmd, Args: json.RawMessage(args)}}
	}
	ev := func(cmd, name string) *isolation.Payload { return &isolation.Payload{Cmd: cmd, Event: name} }
	for _, tc := range []struct {
		p    *isolation.Payload
		pass bool
	}{
		{inv("greet", `{"name":"ann"}`), true},
		{inv("greet", `{}`), false},
		{inv("greet", `{"name":"ANN"}`), false},
		{inv("greet", `{"name":"abcdefghi"}`), false},
		{inv("greet", `{"name":5}`), false},
		{inv("rm", `{}`), false},
		{inv("fs_read", `{"path":"docs/a.txt"}`), true},
		{inv("read_file", `{"path":"/etc/passwd"}`), false},
		{inv("read_file", `{"path":"/etc/../etc/passwd"}`), false},
		{inv("read_file", `{"path":"/tmp/../etc/shadow"}`), false},
		{inv("read_file", `{"path":"//etc//passwd"}`), false},
		{inv("read_file", `{"path":"\\etc\\passwd"}`), false},
		{inv("read_file", `{"path":"a/../../x"}`), false},
		{inv("read_file", `{"path":".."}`), false},
		{inv("read_file", `{"path":"a/../b"}`), true},
		{inv("read_file", `{"path":"~/x"}`), false},
		{inv("read_file", `{"path":"~root/x"}`), false},
		{inv("read_file", `{"path":"/rootless/x"}`), true},
		{inv("read_file", `{"path":"ok\u0000/etc"}`), false},
		{inv("copy", `{"opts":{"dest":"/root/x"}}`), false},
		{inv("copy", `{"dest":["ok","/etc/x"]}`), false},
		{inv("copy", `{"name":"/etc/x"}`), true},
		{inv("fs_write", `{"data":"`+string(make([]byte, 300))+`"}`), false},
		{ev("emit", "chat:hello"), true},
		{ev("emit", "admin"), false},
		{ev("listen", "chat:x"), true},
		{ev("listen", "chat"), false},
		{&isolation.Payload{Cmd: "other"}, false},
	} {
		got, err := hook(context.Background(), tc.p)
		if tc.pass && (err != nil || got == nil) {
			t.Errorf("%s %s %s: blocked: %v", tc.p.Cmd, tc.p.Name(), argsOf(tc.p), err)
		}
		if !tc.pass {
			if err == nil {
				t.Errorf("%s %s %s: passed", tc.p.Cmd, tc.p.Name(), argsOf(tc.p))
			} else if tether.CodeOf(err) != tether.CodePermissionDenied || isolation.ReasonOf(err) != isolation.ReasonBlocked {
				t.Errorf("%s: %v", tc.p.Name(), err)
			}
		}
	}
	for _, bad := range []string{`{"commands":["["]}`, `{"rules":[{"key":"a","pattern":"("}]}`, `{"unknown":1}`, `{"rules":[{"pattern":"a"}]}`, `{"rules":[{"key":"a","type":"date"}]}`, `nope`} {
		if _, err := isolation.LoadPolicy([]byte(bad)); err == nil {
			t.Errorf("LoadPolicy(%s) succeeded", bad)
		}
	}
	// nil lists restrict nothing; empty lists allow nothing.
	open, _ := (&isolation.Policy{}).Hook()
	if _, err := open(context.Background(), inv("anything", `{}`)); err != nil {
		t.Errorf("empty policy blocked: %v", err)
	}
	closed, _ := (&isolation.Policy{Commands: []string{}}).Hook()
	if _, err := closed(context.Background(), inv("anything", `{}`)); err == nil {
		t.Error("policy with empty command list passed")
	}
}

func argsOf(p *isolation.Payload) string {
	if p.Message == nil {
		return ""
	}
	return string(p.Message.Args)
}

func TestChain(t *testing.T) {
	var order []string
	h := func(name string, block bool) isolation.Hook {
		return func(_ context.Context, p *isolation.Payload) (*isolation.Payload, error) {
			order = append(order, name)
			if block {
				return nil, nil
			}
			return p, nil
		}
	}
	_, err := isolation.Chain(h("a", false), nil, h("b", true), h("c", false))(context.Background(), &isolation.Payload{Cmd: "emit", Event: "e"})
	if isolation.ReasonOf(err) != isolation.ReasonBlocked || len(order) != 2 {
		t.Fatalf("err %v order %v", err, order)
	}
}
