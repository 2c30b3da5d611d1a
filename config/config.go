// Package config is the schema of tether.json, the configuration of a
// Tether app (`tether serve`, or a program of your own built on package app).
//
// Every field is also a flag (BindFlags); a flag given on the command line
// wins over the file. The security block has the exact shape of
// tauri.conf.json's, so a Tauri app's block can be pasted in:
//
//	{ "app": { "security": { "pattern": { "use": "isolation", "options": { "dir": "./dist-isolation" } } } } }
//
// Relative paths in a file resolve against the file's folder; relative paths
// in flags against the working directory. A bad file or flag fails at start
// with an error (a *FieldError) that names the field, or the flag. Tauri
// settings that Tether does not use are kept in Warnings, by name, for the
// app to report at start; they are never dropped silently.
//
// The JSON Schema of the file, for editors, is tether.schema.json at the
// root of the module (written by `make generate` from these types; see
// Schema).
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is the whole of tether.json.
type Config struct {
	// Schema is the address of the JSON Schema editors check the file
	// against (tether.schema.json); Tether ignores it.
	Schema string `json:"$schema,omitempty"`

	// ProductName is the app's name, as in tauri.conf.json (the app plugin's
	// getName()).
	ProductName string `json:"productName,omitempty"`
	// Version is the app's version, as in tauri.conf.json (getVersion()).
	Version string `json:"version,omitempty"`
	// Identifier is the app's reverse-domain identifier, as in
	// tauri.conf.json; it also names the default data folder.
	Identifier string `json:"identifier,omitempty"`

	// GRPC is the core's gRPC address: unix:///path, or host:port for TCP
	// (reachable by every local user: its callers must send the gateway's
	// secret as a bearer token, unless gateway.auth is "none"). Empty: a
	// Unix socket of mode 0600 in the app's runtime folder,
	// $XDG_RUNTIME_DIR/tether/<identifier>/grpc.sock (see RuntimeDir).
	GRPC string `json:"grpc"`
	// HTTP is the gateway's address (host:port or unix:///path); "" or "off"
	// turns the gateway off.
	HTTP string `json:"http"`
	// Frontend is a folder of static files served at / (Tauri's
	// frontendDist). Empty: the app's default page (for tether serve, the
	// demo page).
	Frontend string `json:"frontend,omitempty"`
	// Data is the app's data folder (commands and plugins keep their files
	// here; the demo's read_file reads nothing else). Empty: a folder of its
	// own, $XDG_DATA_HOME/<identifier> (~/.local/share/<identifier>),
	// created with mode 0700.
	Data string `json:"data,omitempty"`
	// Capabilities is a folder of Tauri v2 capability files (*.json, and
	// permission sets in permissions/*.json). Once any capability is
	// configured, a command no capability grants is denied.
	Capabilities string `json:"capabilities,omitempty"`
	// Trusted maps local endpoints (unix:///path, created mode 0600, whose
	// peers must run as this user) to the client label their callers get.
	// Go services call the core through them, in isolation mode too, and
	// capabilities apply to the label.
	Trusted map[string]string `json:"trusted,omitempty"`

	Gateway   Gateway   `json:"gateway"`
	Events    Events    `json:"events"`
	Limits    Limits    `json:"limits"`
	Log       Log       `json:"log"`
	Isolation Isolation `json:"isolation"`

	// App is tauri.conf.json's "app" object.
	App App `json:"app"`

	// ShutdownTimeout bounds graceful shutdown: how long in-flight calls
	// may take to finish.
	ShutdownTimeout Duration `json:"shutdown_timeout"`

	// Build, Bundle and Plugins are tauri.conf.json's blocks of the same
	// names, accepted so that a whole Tauri file loads. Tether does not use
	// build or bundle (they are reported in Warnings); plugin settings are
	// kept for an app's own plugins to read (app.App.Config().Plugins): the
	// plugins Tether ships read none.
	Build   json.RawMessage            `json:"build,omitempty"`
	Bundle  json.RawMessage            `json:"bundle,omitempty"`
	Plugins map[string]json.RawMessage `json:"plugins,omitempty"`

	// Warnings name the settings read but not used (Tauri settings with no
	// meaning here), for the app to log at start.
	Warnings []string `json:"-"`
}

// Gateway configures the HTTP gateway's boundaries.
type Gateway struct {
	// Origins maps each allowed browser origin to the client labels its
	// pages may use; the first is the default.
	Origins map[string][]string `json:"origins,omitempty"`
	// Hosts are extra Host names the gateway answers to (besides localhost,
	// 127.0.0.1 and [::1]).
	Hosts []string `json:"hosts,omitempty"`
	// Auth is "token" (the default) or "none". With "token" every caller
	// needs the app's secret: pages the gateway serves get it as an
	// HttpOnly, SameSite=Strict cookie once the browser opens the address
	// printed at start (it carries ?token=…); other callers send
	// "Authorization: Bearer <secret>" (and gRPC callers over TCP, as
	// metadata). "none" lets every local user (every process that can
	// reach the ports) use the app.
	Auth string `json:"auth,omitempty"`
	// TokenFile holds the secret (one line of printable ASCII; mode 0600:
	// a file other users may read is refused). Empty: a new secret at each
	// launch, written to <runtime folder>/token with mode 0600 (see
	// RuntimeDir; `tether token` prints it) and removed at shutdown.
	TokenFile string `json:"token_file,omitempty"`
	// FrameAncestors are the origins allowed to frame the app's pages, as
	// CSP frame-ancestors sources ("'self'", "https://portal.example").
	// Empty: none (X-Frame-Options: DENY, frame-ancestors 'none').
	FrameAncestors []string `json:"frame_ancestors,omitempty"`
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64 `json:"max_body_bytes"`
	// Console serves the developer console at /_tether/: every command
	// with a form built from its schema, channels as they stream, a live
	// event monitor, emit. It calls the same routes a page does, with the
	// same checks. Unset: the app's default (off, except in tether serve).
	Console *bool `json:"console,omitempty"`
}

// The values of Gateway.Auth.
const (
	AuthToken = "token"
	AuthNone  = "none"
)

// Events configures the event bus.
type Events struct {
	// Queue is each listener's queue length.
	Queue int `json:"queue"`
	// QueueBytes bounds the bytes of the events queued for one listener
	// (0: 8 MiB); past it the listener gets a lagged notice.
	QueueBytes int64 `json:"queue_bytes,omitempty"`
	// Window is how many recent events are kept for resuming listeners.
	Window int `json:"window"`
	// WindowBytes bounds the bytes of the events kept for resuming
	// listeners (0: 32 MiB; an event counts its payload twice).
	WindowBytes int64 `json:"window_bytes,omitempty"`
	// MaxSubscribers bounds the listeners of the core, backend ones
	// included (0: sized to the machine's memory, at least 4096).
	MaxSubscribers int `json:"max_subscribers,omitempty"`
	// NATS, when set, is a NATS server URL that carries events between
	// core replicas.
	NATS string `json:"nats,omitempty"`
	// JetStream carries the events on a JetStream stream of that NATS
	// server: event ids are the same on every replica, and a listener
	// resumes on any replica while the stream holds the events. Without
	// it, NATS carries live events only.
	JetStream bool `json:"jetstream,omitempty"`
	// SubjectPrefix is the NATS subject prefix of the app's events (default
	// "tether.events"); apps sharing a NATS server need their own.
	SubjectPrefix string `json:"subject_prefix,omitempty"`
	// Stream is the JetStream stream (with jetstream).
	Stream Stream `json:"stream,omitzero"`
}

// Stream configures the JetStream stream of the events: its limits are the
// resume window shared by every replica.
type Stream struct {
	// Name is the stream's name (default: the subject prefix in capitals,
	// "TETHER_EVENTS").
	Name string `json:"name,omitempty"`
	// MaxAge is how long the stream keeps an event (0: 1h).
	MaxAge Duration `json:"max_age,omitzero"`
	// MaxBytes bounds the bytes the stream keeps (0: 256 MiB).
	MaxBytes int64 `json:"max_bytes,omitempty"`
	// Replicas is the number of copies in a NATS cluster (0: 1).
	Replicas int `json:"replicas,omitempty"`
	// Memory keeps the stream in the NATS servers' memory, not on disk.
	Memory bool `json:"memory,omitempty"`
}

// Limits bound one call, and (all off by default) each client.
type Limits struct {
	// MaxMessageBytes bounds one received gRPC message (0: 4 MiB).
	MaxMessageBytes int `json:"max_message_bytes,omitempty"`
	// MaxDepth bounds the nesting of JSON arguments (0: 64).
	MaxDepth int `json:"max_depth,omitempty"`
	// StrictArgs names the commands whose JSON arguments are refused
	// (invalid_argument) when they hold a key the handler does not bind;
	// "*" names every command. Other commands ignore such keys, as serde
	// and grpc-gateway do.
	StrictArgs []string `json:"strict_args,omitempty"`
	// Rate limits the calls per second of each caller of a client label
	// (0: off).
	Rate float64 `json:"rate,omitempty"`
	// Burst is how many calls a client may make at once above Rate.
	Burst int `json:"burst,omitempty"`
	// MaxListeners bounds the concurrent listen streams of each caller of a
	// client label (a page session, a process; 0: off).
	MaxListeners int `json:"max_listeners,omitempty"`
	// MaxStreamsPerConn bounds the open streams (listen and channel) of one
	// connection (0: 256); MaxStreamsPerCaller those of one caller (a page
	// session, a process, a network host; 0: 512).
	MaxStreamsPerConn   int `json:"max_streams_per_conn,omitempty"`
	MaxStreamsPerCaller int `json:"max_streams_per_caller,omitempty"`
	// StreamWriteTimeout ends a gRPC stream whose client has read nothing
	// for this long, and closes its connection (0: 60s).
	StreamWriteTimeout Duration `json:"stream_write_timeout"`
	// MaxStreamLifetime ends listen and channel streams after this long
	// with unavailable, so clients reconnect and resume (0: off).
	MaxStreamLifetime Duration `json:"max_stream_lifetime"`
	// IdempotencyTTL is how long a result is kept for retries that carry
	// the same idempotency key.
	IdempotencyTTL Duration `json:"idempotency_ttl"`
	// IdempotencyDir, when set, keeps idempotency keys in an fsync'd log
	// in this folder, so they survive a restart of the core. Empty: in
	// memory only.
	IdempotencyDir string `json:"idempotency_dir,omitempty"`
	// IdempotencyStore is where idempotency keys live: "memory", "file"
	// (the log in idempotency_dir) or "nats" (a JetStream key-value bucket
	// on events.nats, shared by replicas). Empty: "file" with an
	// idempotency_dir, else "memory".
	IdempotencyStore string `json:"idempotency_store,omitempty"`
	// IdempotencyBucket is the bucket of the "nats" store (default
	// "tether_idempotency").
	IdempotencyBucket string `json:"idempotency_bucket,omitempty"`
	// IdempotencyMaxResponseBytes bounds the result kept for one key (0:
	// 256 KiB); a retry of a call whose result was larger gets
	// failed_precondition, and the command does not run again.
	IdempotencyMaxResponseBytes int64 `json:"idempotency_max_response_bytes,omitempty"`
	// IdempotencyMaxBytes bounds all the results kept (0: 32 MiB; for the
	// "nats" store, 256 MiB in the bucket).
	IdempotencyMaxBytes int64 `json:"idempotency_max_bytes,omitempty"`
}

// The idempotency stores.
const (
	IdempotencyMemory = "memory"
	IdempotencyFile   = "file"
	IdempotencyNATS   = "nats"
)

// IdempotencyStoreName is the store limits.idempotency_store names, or the
// one its default picks.
func (l Limits) IdempotencyStoreName() string {
	switch {
	case l.IdempotencyStore != "":
		return l.IdempotencyStore
	case l.IdempotencyDir != "":
		return IdempotencyFile
	}
	return IdempotencyMemory
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `json:"level"`
	// Format is text or json.
	Format string `json:"format"`
}

// Isolation configures the isolation pattern beyond Tauri's block.
type Isolation struct {
	// HookTimeout bounds one run of a JavaScript hook.
	HookTimeout Duration `json:"hook_timeout"`
	// Policy is a JSON file with a declarative policy run before the hooks
	// (isolation pattern only).
	Policy string `json:"policy,omitempty"`
	// Split runs the gateway and its isolation stage as a child process
	// talking to the core over a 0600 Unix socket (isolation pattern only).
	Split bool `json:"split,omitempty"`
}

// App is tauri.conf.json's "app" object.
type App struct {
	// Security is the security block.
	Security Security `json:"security"`
	// WithGlobalTauri exposes window.__TAURI__ to pages (Tauri's
	// app.withGlobalTauri).
	WithGlobalTauri bool `json:"withGlobalTauri,omitempty"`

	// Windows, TrayIcon, MacOSPrivateAPI and EnableGTKAppID are Tauri
	// desktop settings with no meaning for a browser page; they load and are
	// reported in Warnings.
	Windows         json.RawMessage `json:"windows,omitempty"`
	TrayIcon        json.RawMessage `json:"trayIcon,omitempty"`
	MacOSPrivateAPI json.RawMessage `json:"macOSPrivateApi,omitempty"`
	EnableGTKAppID  json.RawMessage `json:"enableGTKAppId,omitempty"`
}

// Security is tauri.conf.json's app.security object.
type Security struct {
	// Pattern is brownfield (the default) or isolation.
	Pattern Pattern `json:"pattern"`
	// Capabilities are Tauri v2's inline capabilities: capability objects,
	// or the identifiers of the capability files to enable (then only
	// those are). Empty: every file of the capabilities folder.
	Capabilities []json.RawMessage `json:"capabilities,omitempty"`
	// FreezePrototype freezes the prototypes of the isolation hooks' realm,
	// so that no call can change what later calls see. Default: on in
	// isolation.
	FreezePrototype *bool `json:"freezePrototype,omitempty"`

	// AssetProtocol serves local files to pages at the URLs of
	// convertFileSrc(path) (GET /ipc/asset/<path>), within its scope:
	// Tauri's app.security.assetProtocol.
	AssetProtocol AssetProtocol `json:"assetProtocol,omitzero"`

	// CSP is the Content-Security-Policy of the frontend's HTML pages, as
	// Tauri's: a string ("default-src 'self'") or an object of directives
	// ({"default-src": "'self'", "img-src": ["'self'", "data:"]}); null or
	// absent: none but frame-ancestors (see gateway.frame_ancestors). The
	// demo page has a strict policy of its own.
	CSP json.RawMessage `json:"csp,omitempty"`

	// DevCSP, DangerousDisableAssetCspModification and Headers are Tauri
	// settings Tether does not use yet; they load and are reported in
	// Warnings.
	DevCSP                               json.RawMessage `json:"devCsp,omitempty"`
	DangerousDisableAssetCspModification json.RawMessage `json:"dangerousDisableAssetCspModification,omitempty"`
	Headers                              json.RawMessage `json:"headers,omitempty"`
}

// AssetProtocol is Tauri's app.security.assetProtocol.
type AssetProtocol struct {
	// Enable turns the asset route on (off by default).
	Enable bool `json:"enable,omitempty"`
	// Scope says which files it serves: globs ('*' and '?' within a path
	// segment, "**" for any number of segments) that start with a variable
	// ($APPDATA, $HOME, $RESOURCE, …) or are absolute. Deny wins; a file
	// outside is refused with 403.
	Scope AssetScope `json:"scope,omitzero"`
}

// AssetScope is Tauri's FsScope: a list of allowed globs, or
// {"allow": [...], "deny": [...], "requireLiteralLeadingDot": bool}.
type AssetScope struct {
	// Allow are the globs of the files served.
	Allow []string `json:"allow,omitempty"`
	// Deny are globs of files (and folders, with all they hold) never
	// served, whatever Allow says.
	Deny []string `json:"deny,omitempty"`
	// RequireLiteralLeadingDot: Tauri's option; Tether's globs never match
	// a leading dot with a wildcard (dotfiles are not served), whatever it
	// says.
	RequireLiteralLeadingDot *bool `json:"requireLiteralLeadingDot,omitempty"`
}

// UnmarshalJSON reads either form of a scope.
func (s *AssetScope) UnmarshalJSON(b []byte) error {
	var list []string
	if err := json.Unmarshal(b, &list); err == nil {
		*s = AssetScope{Allow: list}
		return nil
	}
	type plain AssetScope
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("app.security.assetProtocol.scope: want a list of globs or {allow, deny, requireLiteralLeadingDot}: %v", err)
	}
	*s = AssetScope(p)
	return nil
}

// Pattern is {"use": "brownfield"} or {"use": "isolation", "options": {"dir": …}}.
type Pattern struct {
	// Use is "brownfield" or "isolation".
	Use string `json:"use"`
	// Options holds the isolation folder.
	Options PatternOptions `json:"options,omitzero"`
}

// PatternOptions holds the isolation folder.
type PatternOptions struct {
	// Dir is the folder of the isolation hook: its *.js files, or the
	// inline scripts of its index.html.
	Dir string `json:"dir,omitempty"`
}

// The security patterns.
const (
	Brownfield       = "brownfield"
	IsolationPattern = "isolation"
)

// DefaultIdentifier names the data folder of an app that sets no
// identifier.
const DefaultIdentifier = "dev.tether.app"

// Duration is a time.Duration written as "100ms" in JSON.
type Duration struct {
	time.Duration
	bad string // what could not be read, reported by Validate with the field name
}

// UnmarshalJSON reads "1.5s" or a number of nanoseconds. What it cannot
// read, Validate reports with the field's name.
func (d *Duration) UnmarshalJSON(b []byte) error {
	d.bad = ""
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			d.bad = s
			return nil
		}
		d.Duration = v
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		d.bad = string(b)
		return nil
	}
	d.Duration = time.Duration(n)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// Default returns the zero-configuration defaults: brownfield, gRPC on a
// private Unix socket, the gateway on loopback behind a secret made at
// each launch.
func Default() Config {
	return Config{
		GRPC:            "",
		HTTP:            "127.0.0.1:7400",
		Events:          Events{Queue: 1024, Window: 4096},
		Log:             Log{Level: "info", Format: "text"},
		Isolation:       Isolation{HookTimeout: Duration{Duration: 100 * time.Millisecond}},
		App:             App{Security: Security{Pattern: Pattern{Use: Brownfield}}},
		ShutdownTimeout: Duration{Duration: 10 * time.Second},
		Gateway:         Gateway{Auth: AuthToken, MaxBodyBytes: 4 << 20},
		Limits:          Limits{IdempotencyTTL: Duration{Duration: 10 * time.Minute}},
	}
}

// maxFileBytes bounds a configuration file.
const maxFileBytes = 1 << 20

// Parse reads a config from r over the defaults and validates it. name is
// the file's name in errors; relative paths resolve against baseDir.
// Unknown fields are errors that name them.
func Parse(r io.Reader, name, baseDir string) (Config, error) {
	c := Default()
	data, err := io.ReadAll(io.LimitReader(r, maxFileBytes+1))
	if err != nil {
		return c, fmt.Errorf("%s: %v", name, err)
	}
	if len(data) > maxFileBytes {
		return c, fmt.Errorf("%s: larger than 1 MiB", name)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%s: %s", name, describe(err, data))
	}
	if dec.More() {
		return c, fmt.Errorf("%s: trailing data after the JSON object", name)
	}
	c.resolve(baseDir)
	c.Warnings = c.unused()
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// Load reads and validates the config file at path.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Default(), fmt.Errorf("config: %v", err)
	}
	defer f.Close()
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return Default(), fmt.Errorf("config: %v", err)
	}
	return Parse(f, path, dir)
}

func describe(err error, data []byte) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("field %q: expected %s, got JSON %s", te.Field, te.Type, te.Value)
	case errors.As(err, &se):
		line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
		return fmt.Sprintf("malformed JSON at line %d: %v", line, se)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown field " + f
	}
	return strings.TrimPrefix(msg, "json: ")
}

// paths lists the fields that hold paths, by name.
func (c *Config) paths() map[string]*string {
	return map[string]*string{
		"frontend":                         &c.Frontend,
		"data":                             &c.Data,
		"capabilities":                     &c.Capabilities,
		"gateway.token_file":               &c.Gateway.TokenFile,
		"isolation.policy":                 &c.Isolation.Policy,
		"app.security.pattern.options.dir": &c.App.Security.Pattern.Options.Dir,
		"limits.idempotency_dir":           &c.Limits.IdempotencyDir,
	}
}

// resolve makes the relative paths of c absolute against base.
func (c *Config) resolve(base string) {
	for _, p := range c.paths() {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	c.GRPC, c.HTTP = resolveUnix(c.GRPC, base), resolveUnix(c.HTTP, base)
	if len(c.Trusted) > 0 {
		t := make(map[string]string, len(c.Trusted))
		for addr, label := range c.Trusted {
			t[resolveUnix(addr, base)] = label
		}
		c.Trusted = t
	}
}

// resolveUnix makes a relative unix: address absolute against base.
func resolveUnix(addr, base string) string {
	rest, ok := strings.CutPrefix(addr, "unix:")
	if !ok || strings.HasPrefix(rest, "//") || filepath.IsAbs(rest) {
		return addr
	}
	return "unix://" + filepath.Join(base, rest)
}

// unused names the Tauri settings present in c that Tether does not use.
func (c *Config) unused() []string {
	var w []string
	note := func(field string, raw json.RawMessage) {
		if len(raw) > 0 {
			w = append(w, fmt.Sprintf("%s: a Tauri setting Tether does not use; ignored", field))
		}
	}
	note("build", c.Build)
	note("bundle", c.Bundle)
	note("app.windows", c.App.Windows)
	note("app.trayIcon", c.App.TrayIcon)
	note("app.macOSPrivateApi", c.App.MacOSPrivateAPI)
	note("app.enableGTKAppId", c.App.EnableGTKAppID)
	s := &c.App.Security
	note("app.security.devCsp", s.DevCSP)
	note("app.security.dangerousDisableAssetCspModification", s.DangerousDisableAssetCspModification)
	note("app.security.headers", s.Headers)
	return w
}

// DataDir returns the app's data folder: Data, or $XDG_DATA_HOME/<identifier>
// (~/.local/share/<identifier>) when Data is empty.
func (c *Config) DataDir() (string, error) {
	if c.Data != "" {
		return c.Data, nil
	}
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" || !filepath.IsAbs(base) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", &FieldError{Field: "data", Err: fmt.Errorf("no data folder configured and no home folder: %v", err)}
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, c.IdentifierOrDefault()), nil
}

// FreezePrototype reports whether the isolation hooks' realm is frozen
// (app.security.freezePrototype; on unless set to false).
func (c *Config) FreezePrototype() bool {
	return c.App.Security.FreezePrototype == nil || *c.App.Security.FreezePrototype
}
