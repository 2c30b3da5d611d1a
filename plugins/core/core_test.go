package core_test

import (
	"context"
	"testing"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/plugins/core"
	"github.com/tether-ipc/tether/server"
)

func TestAppPlugin(t *testing.T) {
	s := server.New()
	defer s.Stop()
	core.RegisterApp(s, core.AppInfo{Name: "Notes", Version: "1.2.3", Identifier: "dev.example.notes"})
	for cmd, want := range map[string]string{"name": "Notes", "version": "1.2.3", "identifier": "dev.example.notes", "tauri_version": core.TauriVersion} {
		var got string
		if err := s.Invoke(context.Background(), "plugin:app|"+cmd, nil, &got); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", cmd, got, err, want)
		}
	}
	err := s.Invoke(context.Background(), "plugin:app|set_app_theme", map[string]any{"theme": "dark"}, nil)
	if tether.FromError(err).Code() != tether.CodeUnimplemented {
		t.Errorf("set_app_theme: %v, want unimplemented", err)
	}
}
