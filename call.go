package tether

import (
	"context"
	"net"

	"google.golang.org/grpc/metadata"
)

// Kind is the kind of message a call carries.
type Kind uint8

// The kinds of call, as named in isolation hook payloads.
const (
	KindInvoke  Kind = iota + 1 // a unary command
	KindChannel                 // a channel (server-streaming) command
	KindEmit                    // an event emitted by a client
	KindListen                  // a subscription to events
)

var kindNames = [...]string{KindInvoke: "invoke", KindChannel: "channel", KindEmit: "emit", KindListen: "listen"}

// String returns "invoke", "channel", "emit" or "listen".
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "unknown"
}

// Metadata keys through which a trusted front (the gateway, an isolation
// stage) tells the core who the client is. The core believes them only from
// peers it trusts; see server.WithIdentity.
const (
	MetadataClientLabel = "tether-client-label"
	MetadataOrigin      = "tether-origin"
	// MetadataSubscribed is the response header a Listen call sends once
	// its subscription exists: events emitted after it reach the listener.
	MetadataSubscribed = "tether-subscribed"
	// MetadataCaller and MetadataConn are how a trusted front names the
	// caller it relays and that caller's connection to the front (see
	// Call.Caller and Call.Conn).
	MetadataCaller = "tether-caller"
	MetadataConn   = "tether-conn"
)

// Call describes the call in progress. The server puts one in the context of
// every interceptor and handler, whichever way the call arrived: a typed
// gRPC call, Invoke by name, the gateway, or in-process.
//
// A Call is owned by the server; interceptors and handlers must treat it as
// read-only, except that an interceptor earlier in the chain may set Scopes
// for later ones.
type Call struct {
	// Kind is the kind of call.
	Kind Kind
	// Name is the command or event name ("greet", "frontend-event"). For a
	// listen call with several events it is the first; Events has them all.
	Name string
	// Events are the event names of a listen call.
	Events []string
	// Target is the client label an emit is addressed to (only that
	// label's listeners receive it), or "" for an emit to every listener.
	// Capabilities check a targeted emit against the emit-to permissions.
	Target string
	// Plugin is the plugin of a plugin command ("store" for
	// "plugin:store|get"), or "".
	Plugin string
	// PluginDefault reports whether the plugin's default permission set
	// (<plugin>:default in a capability file) covers the command.
	PluginDefault bool
	// Method is the full gRPC method of a command, e.g. "/demo.v1.Demo/Greet",
	// or of the IPC method for emit and listen.
	Method string
	// ClientLabel is the caller's label (Tauri's window label), as established
	// by a trusted source. Empty when unknown.
	ClientLabel string
	// Origin is the browser origin the call came from, if any.
	Origin string
	// Peer is the network address of the caller, if known.
	Peer net.Addr
	// Conn names the connection the call came over, and Caller who makes
	// it: a process (a Unix-socket peer's pid), a network host (a TCP
	// peer), or, for a call that a trusted front relays (the gateway), what
	// the front says (MetadataConn, MetadataCaller: a page's session, an
	// HTTP caller's connection). The server bounds streams per Conn and per
	// Caller; other per-caller bounds (rate limits) may key on them too.
	Conn, Caller string
	// Header holds the caller's request headers (gRPC metadata, or the
	// headers of an Invoke request).
	Header metadata.MD
	// IdempotencyKey is the key an invoke carried, if any: a retried call
	// with the same key should return the first result instead of running
	// again (see interceptors/idempotency).
	IdempotencyKey string
	// Sealed reports whether the call's body arrived sealed by an isolation
	// stage and was opened and verified.
	Sealed bool
	// Scopes are the capability scopes that granted the call, for handlers
	// that enforce them (see interceptors/capability).
	Scopes *Scopes
}

// Scopes are the allow and deny scope values of the permissions that granted
// a call. Each value is the JSON object from a capability file.
type Scopes struct {
	Allow []map[string]any
	Deny  []map[string]any
}

type callKey struct{}

// WithCall returns a context that carries c.
func WithCall(ctx context.Context, c *Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// CallFromContext returns the call in progress, if ctx belongs to one.
func CallFromContext(ctx context.Context) (*Call, bool) {
	c, ok := ctx.Value(callKey{}).(*Call)
	return c, ok
}
