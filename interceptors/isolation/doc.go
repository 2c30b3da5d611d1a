// Package isolation implements Tether's isolation pattern: every frontend
// message passes a hook chain in an isolation stage, is sealed with
// AES-256-GCM under a key made fresh at every launch, and is opened and
// verified by the core before any handler runs.
//
// # Roles
//
// The core makes a Key with NewKey, builds an Opener and installs
// UnaryServerInterceptor and StreamServerInterceptor. The isolation stage
// (the gateway in-process, or a Go client) gets the same Key, builds a
// Stage with its hooks and installs UnaryClientInterceptor and
// StreamClientInterceptor, or calls Stage.Process directly.
//
// # Wire format
//
// A sealed InvokeRequest, EmitRequest or ListenRequest carries only its
// routing field in clear (command, event or events) and sealed:
//
//	Sealed{session: 32 hex chars, seq: 1, 2, …, nonce: 12 random bytes, ciphertext: AES-256-GCM(plaintext) || 16-byte tag}
//
// The plaintext is the deterministic protobuf serialization of the whole
// request with sealed unset. The additional data (see AdditionalData) is
//
//	"tether-isolation-v1" || kind (1 byte: 1 invoke, 2 channel, 3 emit, 4 listen)
//	|| u32 count of names || (u32 len || name)… || u32 len || client label
//	|| u32 len || session || u64 seq          (all big-endian)
//
// where names are the routing field in clear and the label is the
// tether-client-label metadata. So a sealed body cannot be moved to another
// method kind, command, event, client label, session or seq, and the core
// also checks that the opened request names what the clear field names.
// Clear fields sent beside a seal are discarded: the handler sees only the
// opened request.
//
// # Refusals
//
// Every refusal is a *tether.Error whose message starts with
// "isolation <reason>: ", and ReasonOf returns the Reason, also from a gRPC
// status on the client side:
//
//	reason               code                when
//	unsealed             permission_denied   IPC request without sealed
//	method_not_allowed   permission_denied   typed or other method, in isolation mode
//	blocked              permission_denied   a hook blocked the call
//	empty                unauthenticated     sealed with an empty ciphertext
//	malformed            unauthenticated     bad nonce length, session, seq 0, bad plaintext
//	verify_failed        unauthenticated     wrong key, tampered/truncated, moved
//	mismatch             unauthenticated     opened request names another command/event
//	replay               unauthenticated     seq already accepted in the session
//	stale                unauthenticated     seq older than ReplayWindow
//	too_many_sessions    resource_exhausted  Opener already tracks its maximum
//
// permission_denied says "this path is closed to you"; unauthenticated says
// "this message did not prove it came from the isolation stage".
//
// # Replay window
//
// The Opener keeps, per session, a sliding bitmap of ReplayWindow (1024)
// sequence numbers, as WireGuard and IPsec do: each seq is accepted once, in
// any order within the window; older ones are stale. The check runs only
// after the AEAD verified, so nobody without the key can burn seqs or make
// sessions. Sessions are never forgotten (forgetting would allow replays);
// WithMaxSessions bounds them.
//
// # Hooks
//
// A Hook sees a Payload in the shape of the seed's isolation hook payload
// (package jshook also shows JavaScript hooks Tauri v2's) and may change
// what a handler gets: the command name, args and headers of an invoke; the
// event name, payload and target of an emit; the event names of a listen. It
// may not change the kind or the client. Chain runs hooks in order. A Policy
// is a declarative hook loadable from JSON; package jshook runs Tauri-style
// JavaScript hooks in a sandbox.
//
// # What a hook sees is what the handler gets
//
// Before the hooks see an invoke, the Stage puts its JSON args in the keys
// the command's handler binds — protojson's JSON names for a proto command,
// the json keys of a Go function's struct — as the core does again before it
// decodes them: a key the handler does not bind is dropped (or refused, for
// a command the core runs with server.WithStrictArgs); one argument under two
// spellings (file_path and filePath) or one key given twice is refused with
// invalid_argument; nested keys bind exactly, never by encoding/json's
// case-insensitive matching. So a hook that checks "path" checks what the
// handler will read as its path. After the hooks, changed args (or a renamed
// command) are put in the keys of the command they now name. A command the
// core does not have reaches the hooks with its args as sent; a hook may
// rename it to one the core has only if its args are already in that
// command's keys.
//
// The stage learns how each command binds its arguments from the core's
// IPC service: ListCommands describes every command's args (args_shape).
// Installed on a connection (DialOptions, the interceptors), the stage asks
// over that connection — in process and in split mode's gateway process
// alike — at its first invoke, and again (at most once a second) when a call
// names a command it does not know. StageOptions.Commands replaces that
// source, as Process, which has no connection, needs.
//
// # Refusals a stage makes
//
// A stage refuses a call a hook blocks (permission_denied, reason blocked;
// Exceeded when a hook went past a sandbox limit), args the handler cannot
// bind (invalid_argument) and an unknown command (not_found), before
// sealing. StageOptions.OnRefusal receives each refusal as a Refusal — kind,
// command or event, client label, code, reason, whether a limit was
// exceeded, and the message — never the call's arguments or payload, for an
// app to log and count.
package isolation
