// Package core implements the Tauri core plugins a browser page can have:
// "app" (name, version and identifier of the app, from tauri.conf.json's
// fields in tether.json), besides the resources table of package server
// (plugin:resources|close). The event plugin is the gateway's and the
// shim's own. Window, webview, tray, menu and image commands fail with
// unimplemented (see server.Plugin).
package core

import (
	"context"

	"github.com/tether-ipc/tether/server"
)

// TauriVersion is what getTauriVersion() answers: the version of Tauri's
// IPC that Tether implements for @tauri-apps/api, not a Tauri build.
const TauriVersion = "2.0.0"

// AppInfo is what the app plugin tells pages.
type AppInfo struct {
	Name       string // productName: getName()
	Version    string // version: getVersion()
	Identifier string // identifier: getIdentifier()
}

// RegisterApp registers the app plugin's commands on s: plugin:app|name,
// version, identifier, tauri_version, bundle_type (null: not a bundle) and
// supports_multiple_windows (false); the app plugin's other commands
// (app_show, app_hide, set_app_theme, set_dock_visibility,
// default_window_icon, exit, …) fail with unimplemented.
func RegisterApp(s *server.Server, info AppInfo) {
	p := s.Plugin("app", server.Unimplemented("a browser page has no app window, dock or theme to control"),
		server.DefaultPermissions("name", "version", "identifier", "tauri_version", "bundle_type", "supports_multiple_windows"))
	str := func(v string) func(context.Context, struct{}) (string, error) {
		return func(context.Context, struct{}) (string, error) { return v, nil }
	}
	server.Handle(p, "name", str(info.Name))
	server.Handle(p, "version", str(info.Version))
	server.Handle(p, "identifier", str(info.Identifier))
	server.Handle(p, "tauri_version", str(TauriVersion))
	server.Handle(p, "bundle_type", func(context.Context, struct{}) (*string, error) { return nil, nil })
	server.Handle(p, "supports_multiple_windows", func(context.Context, struct{}) (bool, error) { return false, nil })
}
