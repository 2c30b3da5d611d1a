package capability_test

import (
	"strings"
	"testing"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/interceptors/capability"
)

// pluginCall is a call of plugin:<plugin>|<cmd> as the server describes it.
func pluginCall(plugin, cmd, label string, inDefault bool) *tether.Call {
	return &tether.Call{Kind: tether.KindInvoke, Name: "plugin:" + plugin + "|" + cmd, ClientLabel: label,
		Plugin: plugin, PluginDefault: inDefault}
}

func TestPluginPermissions(t *testing.T) {
	commands := append([]string{"plugin:store|get", "plugin:store|get_store", "plugin:store|set", "plugin:log|log", "plugin:app|version"}, demoCommands...)
	files := map[string][]byte{
		"main.json": []byte(`{"identifier": "main", "windows": ["main"], "permissions": [
			"store:default", "store:deny-set", "log:allow-log", "core:default"]}`),
		"other.json": []byte(`{"identifier": "other", "windows": ["other"], "permissions": ["store:allow-get-store"]}`),
	}
	s, err := capability.Parse(files)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(commands); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		call    *tether.Call
		allowed bool
	}{
		{pluginCall("store", "get", "main", true), true},                                              // store:default
		{pluginCall("store", "get_store", "main", true), true},                                        // store:default
		{pluginCall("store", "get", "main", false), false},                                            // not in the plugin's default set
		{pluginCall("store", "set", "main", true), false},                                             // deny wins over the default set
		{pluginCall("log", "log", "main", false), true},                                               // log:allow-log
		{pluginCall("app", "version", "main", true), true},                                            // core:default covers core:app:default
		{pluginCall("store", "get_store", "other", true), true},                                       // store:allow-get-store
		{pluginCall("store", "get", "other", true), false},                                            // other has no default set
		{pluginCall("log", "log", "other", true), false},                                              // nothing grants it
		{invoke("greet", "main"), false},                                                              // app commands are not in any plugin set
		{&tether.Call{Kind: tether.KindInvoke, Name: "plugin:store|get", ClientLabel: "main"}, false}, // no plugin info: no default set
	}
	for _, tt := range tests {
		msg := check(t, s, tt.call)
		if (msg == "") != tt.allowed {
			t.Errorf("%s for %s (default %v): allowed %v, want %v (%s)", tt.call.Name, tt.call.ClientLabel, tt.call.PluginDefault, msg == "", tt.allowed, msg)
		}
	}
}

func TestPluginPermissionValidation(t *testing.T) {
	files := map[string][]byte{"c.json": []byte(`{"identifier": "c", "windows": ["*"], "permissions": [
		"store:allow-gett", "fs:default", "core:app:allow-version"]}`)}
	s, err := capability.Parse(files)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Validate([]string{"plugin:store|get", "plugin:app|version"})
	if err == nil {
		t.Fatal("Validate accepted permissions of unknown plugin commands")
	}
	for _, want := range []string{
		`permissions[0]: unknown permission "store:allow-gett" (did you mean "store:allow-get"?)`,
		`permissions[1]: unknown permission "fs:default": no plugin "fs" is registered`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nlacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "core:app:allow-version") {
		t.Errorf("core:app:allow-version names plugin:app|version, which exists: %v", err)
	}
}
