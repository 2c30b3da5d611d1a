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
// A Hook sees a Payload in the shape of Tauri's isolation hook payload and
// may change the args of an invoke or the payload of an emit; it may not
// change the kind, the name or the client. Chain runs hooks in order. A
// Policy is a declarative hook loadable from JSON; package jshook runs
// Tauri-style JavaScript hooks in a sandbox.
package isolation
