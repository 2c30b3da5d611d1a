// Package plugins holds Go implementations of Tauri plugins, so that the
// official @tauri-apps/plugin-* packages and @tauri-apps/api's own plugin
// calls work unchanged from npm against a Tether backend:
//
//   - plugins/core: Tauri's core "app" plugin (getName, getVersion,
//     getIdentifier, getTauriVersion of @tauri-apps/api/app);
//   - plugins/store: @tauri-apps/plugin-store, persistent key-value stores
//     in the app's data folder, written atomically;
//   - plugins/log: @tauri-apps/plugin-log, the page's log records into the
//     server's slog.Logger.
//
// Each registers its commands on a *server.Server as a plugin group
// (server.Plugin), so they are named plugin:<plugin>|<command> and take
// Tauri's permission ids in capability files (store:default,
// store:allow-get, log:allow-log). Package app registers core's app plugin
// from the configuration; `tether serve` also registers store and log.
package plugins
