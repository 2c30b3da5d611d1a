package server_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/server"
)

func TestPluginCommands(t *testing.T) {
	s := server.New()
	defer s.Stop()
	p := s.Plugin("store", server.DefaultPermissions("get"))
	var seen *tether.Call
	server.Handle(p, "get", func(ctx context.Context, a struct{ Key string }) (string, error) {
		seen, _ = tether.CallFromContext(ctx)
		return "v:" + a.Key, nil
	})
	server.Handle(p, "set", func(ctx context.Context, a struct{ Key string }) (bool, error) {
		seen, _ = tether.CallFromContext(ctx)
		return true, nil
	})
	if s.Plugin("store") != p {
		t.Fatal("Plugin returned another group for the same name")
	}
	var got string
	if err := s.Invoke(context.Background(), "plugin:store|get", map[string]any{"key": "k"}, &got); err != nil || got != "v:k" {
		t.Fatalf("invoke plugin:store|get = %q, %v", got, err)
	}
	if seen.Name != "plugin:store|get" || seen.Plugin != "store" || !seen.PluginDefault || seen.Method != "/tether.plugin.store/get" {
		t.Fatalf("call = %+v", seen)
	}
	var ok bool
	if err := s.Invoke(context.Background(), "plugin:store|set", map[string]any{"key": "k"}, &ok); err != nil || !ok {
		t.Fatalf("invoke plugin:store|set = %v, %v", ok, err)
	}
	if seen.PluginDefault {
		t.Fatal("set is not in the default set, but the call says it is")
	}
	if want := map[string][]string{"store": {"get"}}; !reflect.DeepEqual(s.Plugins(), want) {
		t.Fatalf("Plugins() = %v, want %v", s.Plugins(), want)
	}
}

func TestPluginErrors(t *testing.T) {
	s := server.New()
	defer s.Stop()
	s.Plugin("app", server.Unimplemented("no dock here"))
	server.Handle(s.Plugin("app"), "version", func(context.Context, struct{}) (string, error) { return "1", nil })
	tests := []struct {
		cmd  string
		code tether.Code
		msg  string
	}{
		{"plugin:window|is_maximized", tether.CodeUnimplemented, `plugin "window": is_maximized is not available: a browser page has no native window`},
		{"plugin:tray|new", tether.CodeUnimplemented, `plugin "tray"`},
		{"plugin:menu|new", tether.CodeUnimplemented, `plugin "menu"`},
		{"plugin:webview|create_webview", tether.CodeUnimplemented, `plugin "webview"`},
		{"plugin:app|app_show", tether.CodeUnimplemented, `plugin "app": app_show is not available: no dock here`},
		{"plugin:nope|x", tether.CodeNotFound, `no plugin "nope" is registered`},
		{"plugin:|x", tether.CodeInvalidArgument, "invalid"},
		{"plugin:a|b|c", tether.CodeInvalidArgument, "invalid plugin command name"},
		{"a|b", tether.CodeInvalidArgument, "invalid command name"},
	}
	for _, tt := range tests {
		err := s.Invoke(context.Background(), tt.cmd, nil, nil)
		var te *tether.Error
		if !errors.As(err, &te) || te.Code() != tt.code || !strings.Contains(te.Message(), tt.msg) {
			t.Errorf("%s: %v, want %s containing %q", tt.cmd, err, tt.code, tt.msg)
		}
	}
	var v string
	if err := s.Invoke(context.Background(), "plugin:app|version", nil, &v); err != nil || v != "1" {
		t.Fatalf("registered command of an Unimplemented plugin: %q, %v", v, err)
	}
}

func TestPluginNamesOnlyThroughPlugin(t *testing.T) {
	s := server.New()
	defer s.Stop()
	for _, f := range []func(){
		func() {
			server.Handle(s, "plugin:store|get", func(context.Context, struct{}) (int, error) { return 0, nil })
		},
		func() { s.Plugin("bad|name") },
		func() { s.Plugin("") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("registration did not panic")
				}
			}()
			f()
		}()
	}
}
