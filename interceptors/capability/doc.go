// Package capability enforces Tauri v2 style capabilities: which clients may
// run which commands and emit or listen to which events, with scopes handed
// to the handlers.
//
// # Files
//
// A capability file (capabilities/*.json) has the shape of Tauri v2's:
//
//	{
//	  "identifier": "main",
//	  "description": "What the main window may do",
//	  "windows": ["main", "editor-*"],
//	  "remote": { "urls": ["https://*.example.com"] },
//	  "permissions": [
//	    "allow-greet",
//	    "default",
//	    { "identifier": "allow-read-file", "allow": [{ "path": "docs/**" }], "deny": [{ "path": "docs/secret" }] },
//	    { "identifier": "allow-emit", "allow": [{ "event": "frontend-*" }] },
//	    "allow-listen"
//	  ]
//	}
//
// The fields:
//
//   - identifier (required): unique among capability files.
//   - description, $schema: free text, ignored.
//   - windows, webviews: globs over the client label (Tauri's window and
//     webview labels; Tether has one label per client, so both lists match
//     it). At least one pattern is required. '*' matches any run of
//     characters, '?' any one. A call with no client label matches no
//     capability.
//   - local (default true) and remote.urls: which origins the capability
//     covers, see below.
//   - platforms: accepted for compatibility and ignored.
//   - permissions (required): permission identifiers, or objects
//     {"identifier", "allow", "deny"} whose allow and deny lists of scope
//     objects go with the permission.
//
// Any other field, a duplicate field, a wrong type or trailing data is an
// error that names the file and the field path.
//
// # Permissions
//
// Every command x_y has the permissions allow-x-y and deny-x-y (underscores
// become hyphens). Scopes on allow-x-y reach the handler in call.Scopes;
// deny-x-y denies the command outright and takes no scopes.
//
// Events have allow-emit, deny-emit, allow-emit-to, deny-emit-to,
// allow-listen and deny-listen. Without scopes they cover every event; with
// scopes {"event": "name-or-glob"} they cover only the events named. An
// emit to one client label (Call.Target, Tauri's emit_to) needs
// allow-emit-to, whose scopes may also name the target:
// {"event": "chat", "target": "peer-*"} or {"target": "log"}; the denies of
// emit hold for it as well. An allow may also carry deny scopes, whose
// events are denied. A listen to every event ("*") is allowed only by a
// permission for every event with no deny that applies. Tauri's
// identifiers are accepted as aliases: core:event:allow-emit,
// core:event:allow-emit-to, core:event:allow-listen and their deny- forms;
// core:event:allow-unlisten and deny-unlisten are accepted and do nothing
// (leaving a subscription is always allowed); core:event:default and
// core:default grant emit, emit-to and listen of every event. Other core:
// and plugin permissions are unknown.
//
// A permission set is a file in a folder named permissions
// (capabilities/permissions/*.json for Load):
//
//	{ "identifier": "default", "description": "...", "permissions": ["allow-greet", "allow-count"] }
//
// Its permissions list has the same form as a capability's, may name other
// sets (cycles are errors), and a capability names the set by its
// identifier. A set's identifier may not begin with allow- or deny-, and a
// reference to a set cannot carry scopes.
//
// # Origins
//
// Call.Origin is the browser origin a call came from, set by the gateway; a
// native client has none. An empty origin or a loopback one
// (http://localhost:*, http://*.localhost, 127.0.0.0/8, [::1],
// tauri://localhost) is local, and the capability covers it when local is
// true. Any origin the capability lists in remote.urls is covered as well.
// Those patterns are globs over "scheme://host[:port]" where '*' does not
// cross '/'; a trailing "/" or "/*" is dropped, and a longer path is an
// error, since a call carries no path. So "local": false with remote URLs
// makes a capability for those remote pages only.
//
// # Decisions
//
// A nil Set, or one with no capabilities, is "no access control" and allows
// every call (the brownfield default); Set.Configured says which. Once any
// capability is configured, access is denied by default: a call is allowed
// only if a capability that applies to it grants it, and denied if any
// capability that applies to it denies it — deny wins, across capabilities.
// Unlike Tauri, app commands are never allowed without a grant.
//
// Set.Validate checks permission names against the server's commands and
// must be called once at start: a misspelt deny-x would otherwise deny
// nothing.
//
// # Interceptors
//
// UnaryServerInterceptor and StreamServerInterceptor check each call
// described by the *tether.Call in its context, and refuse any call whose
// context has none. Path scopes are enforced by handlers with PathScope.
package capability
