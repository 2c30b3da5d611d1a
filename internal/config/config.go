// Package config reads tether.json, the configuration of `tether serve`.
// Every field is also a flag; a flag given on the command line wins over the
// file. The security block has the exact shape of tauri.conf.json's, so a
// Tauri app's block can be pasted in:
//
//	{ "app": { "security": { "pattern": { "use": "isolation", "options": { "dir": "./dist-isolation" } } } } }
//
// A bad file fails at start with a message that names the field.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tether-ipc/tether/internal/netaddr"
)

// Config is the whole of tether.json.
type Config struct {
	// GRPC is the core's gRPC address: host:port or unix:///path.
	GRPC string `json:"grpc"`
	// HTTP is the gateway's address; "" or "off" turns the gateway off.
	HTTP string `json:"http"`
	// Frontend is a folder of static files served at / (Tauri's frontendDist).
	Frontend string `json:"frontend"`
	// Data is the folder the demo's read_file may read.
	Data string `json:"data"`
	// Capabilities is a folder of capabilities/*.json files.
	Capabilities string `json:"capabilities"`

	Gateway   Gateway   `json:"gateway"`
	Events    Events    `json:"events"`
	Limits    Limits    `json:"limits"`
	Log       Log       `json:"log"`
	Isolation Isolation `json:"isolation"`

	// App is the Tauri-shaped block.
	App App `json:"app"`

	// ShutdownTimeout bounds graceful shutdown.
	ShutdownTimeout Duration `json:"shutdown_timeout"`
}

// Gateway configures the HTTP gateway's boundaries.
type Gateway struct {
	// Origins maps each allowed browser origin to the client labels its
	// pages may use; the first is the default.
	Origins map[string][]string `json:"origins"`
	// Hosts are extra Host names the gateway answers to (besides localhost,
	// 127.0.0.1 and [::1]).
	Hosts []string `json:"hosts"`
	// TokenFile holds a bearer token required from non-browser callers.
	TokenFile string `json:"token_file"`
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64 `json:"max_body_bytes"`
}

// Events configures the event bus.
type Events struct {
	// Queue is each listener's queue length.
	Queue int `json:"queue"`
	// Window is how many recent events are kept for resuming listeners.
	Window int `json:"window"`
	// NATS, when set, is a NATS server URL that carries events between
	// core replicas.
	NATS string `json:"nats"`
}

// Limits bound one call, and (all off by default) each client.
type Limits struct {
	MaxMessageBytes int `json:"max_message_bytes"`
	MaxDepth        int `json:"max_depth"`
	// Rate and Burst limit each client label's calls per second (0: off).
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
	// MaxListeners bounds each client's concurrent listen streams (0: off).
	MaxListeners int `json:"max_listeners"`
	// MaxStreamLifetime ends listen and channel streams after this long
	// with unavailable, so clients reconnect and resume (0: off).
	MaxStreamLifetime Duration `json:"max_stream_lifetime"`
	// IdempotencyTTL is how long a result is kept for retries that carry
	// the same idempotency key (default 10m).
	IdempotencyTTL Duration `json:"idempotency_ttl"`
	// IdempotencyDir, when set, keeps idempotency keys in an fsync'd log
	// in this folder, so they survive a restart of the core (see
	// idempotency.Open). Empty: in memory only.
	IdempotencyDir string `json:"idempotency_dir"`
}

// Log configures logging.
type Log struct {
	Level  string `json:"level"`
	Format string `json:"format"` // text or json
}

// Isolation configures the isolation pattern beyond Tauri's block.
type Isolation struct {
	// HookTimeout bounds one run of a JavaScript hook.
	HookTimeout Duration `json:"hook_timeout"`
	// Policy is a JSON file with a declarative policy run before the hooks.
	Policy string `json:"policy"`
	// Split runs the gateway and its isolation stage as a child process
	// talking to the core over a 0600 Unix socket.
	Split bool `json:"split"`
}

// App is tauri.conf.json's "app" object; only the security block matters
// here.
type App struct {
	Security Security `json:"security"`
}

// Security is tauri.conf.json's app.security object. Tauri's other keys
// (csp, freezePrototype, assetProtocol, …) are accepted and ignored, so a
// Tauri block pastes in unchanged.
type Security struct {
	Pattern Pattern `json:"pattern"`

	CSP                                  json.RawMessage `json:"csp"`
	DevCSP                               json.RawMessage `json:"devCsp"`
	FreezePrototype                      json.RawMessage `json:"freezePrototype"`
	DangerousDisableAssetCspModification json.RawMessage `json:"dangerousDisableAssetCspModification"`
	AssetProtocol                        json.RawMessage `json:"assetProtocol"`
	Capabilities                         json.RawMessage `json:"capabilities"`
	Headers                              json.RawMessage `json:"headers"`
}

// Pattern is {"use": "brownfield"} or {"use": "isolation", "options": {"dir": …}}.
type Pattern struct {
	Use     string         `json:"use"`
	Options PatternOptions `json:"options"`
}

// PatternOptions holds the isolation folder.
type PatternOptions struct {
	Dir string `json:"dir"`
}

// The security patterns.
const (
	Brownfield       = "brownfield"
	IsolationPattern = "isolation"
)

// Duration is a time.Duration written as "100ms" in JSON.
type Duration struct {
	time.Duration
	bad string // what could not be read, reported by Validate with the field name
}

// UnmarshalJSON reads "1.5s" or a number of nanoseconds. What it cannot
// read, Validate reports with the field's name.
func (d *Duration) UnmarshalJSON(b []byte) error {
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

// Default returns the zero-configuration defaults: brownfield, loopback.
func Default() Config {
	return Config{
		GRPC:            "127.0.0.1:7401",
		HTTP:            "127.0.0.1:7400",
		Data:            ".",
		Events:          Events{Queue: 1024, Window: 4096},
		Log:             Log{Level: "info", Format: "text"},
		Isolation:       Isolation{HookTimeout: Duration{Duration: 100 * time.Millisecond}},
		App:             App{Security: Security{Pattern: Pattern{Use: Brownfield}}},
		ShutdownTimeout: Duration{Duration: 10 * time.Second},
		Gateway:         Gateway{MaxBodyBytes: 4 << 20},
		Limits:          Limits{IdempotencyTTL: Duration{Duration: 10 * time.Minute}},
	}
}

// Parse reads a config from r over the defaults. Unknown fields are errors
// that name them; relative paths are resolved against baseDir.
func Parse(r io.Reader, name, baseDir string) (Config, error) {
	c := Default()
	data, err := io.ReadAll(io.LimitReader(r, 1<<20+1))
	if err != nil {
		return c, fmt.Errorf("%s: %v", name, err)
	}
	if len(data) > 1<<20 {
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
	err = c.Validate()
	return c, err
}

// Load reads the config file at path.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Default(), fmt.Errorf("config: %v", err)
	}
	defer f.Close()
	return Parse(f, path, filepath.Dir(path))
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

func (c *Config) resolve(base string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	abs(&c.Frontend)
	abs(&c.Data)
	abs(&c.Capabilities)
	abs(&c.Gateway.TokenFile)
	abs(&c.Isolation.Policy)
	abs(&c.App.Security.Pattern.Options.Dir)
	abs(&c.Limits.IdempotencyDir)
}

// Validate checks every field and names the first bad one.
func (c *Config) Validate() error {
	if _, _, err := netaddr.Parse(c.GRPC); err != nil {
		return fmt.Errorf(`field "grpc": %v`, err)
	}
	if c.HTTP != "" && c.HTTP != "off" {
		if _, _, err := netaddr.Parse(c.HTTP); err != nil {
			return fmt.Errorf(`field "http": %v`, err)
		}
	}
	for field, dir := range map[string]string{"frontend": c.Frontend, "data": c.Data, "capabilities": c.Capabilities} {
		if dir == "" {
			continue
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("field %q: %s is not a folder", field, dir)
		}
	}
	switch c.App.Security.Pattern.Use {
	case Brownfield, "":
		c.App.Security.Pattern.Use = Brownfield
	case IsolationPattern:
		dir := c.App.Security.Pattern.Options.Dir
		if dir == "" {
			return errors.New(`field "app.security.pattern.options.dir": isolation needs the folder of its hook`)
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return fmt.Errorf(`field "app.security.pattern.options.dir": %s is not a folder`, dir)
		}
	default:
		return fmt.Errorf(`field "app.security.pattern.use": %q is neither "brownfield" nor "isolation"`, c.App.Security.Pattern.Use)
	}
	if c.Events.Queue < 1 || c.Events.Queue > 1<<20 {
		return fmt.Errorf(`field "events.queue": %d is outside 1..1048576`, c.Events.Queue)
	}
	if c.Events.Window < 0 || c.Events.Window > 1<<22 {
		return fmt.Errorf(`field "events.window": %d is outside 0..4194304`, c.Events.Window)
	}
	if c.Limits.MaxMessageBytes < 0 || c.Limits.MaxDepth < 0 || c.Limits.Rate < 0 || c.Limits.Burst < 0 || c.Limits.MaxListeners < 0 ||
		c.Limits.MaxStreamLifetime.Duration < 0 || c.Limits.IdempotencyTTL.Duration < 0 {
		return errors.New(`field "limits": values must not be negative`)
	}
	if c.Limits.Rate > 0 && c.Limits.Burst == 0 {
		return errors.New(`field "limits.burst": a rate needs a burst of at least 1`)
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf(`field "log.level": %q is not debug, info, warn or error`, c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf(`field "log.format": %q is not text or json`, c.Log.Format)
	}
	for field, d := range map[string]Duration{"isolation.hook_timeout": c.Isolation.HookTimeout, "shutdown_timeout": c.ShutdownTimeout,
		"limits.max_stream_lifetime": c.Limits.MaxStreamLifetime, "limits.idempotency_ttl": c.Limits.IdempotencyTTL} {
		if d.bad != "" {
			return fmt.Errorf("field %q: %s is not a duration such as \"250ms\"", field, d.bad)
		}
	}
	if c.Isolation.HookTimeout.Duration <= 0 || c.Isolation.HookTimeout.Duration > time.Minute {
		return fmt.Errorf(`field "isolation.hook_timeout": %v is outside (0, 1m]`, c.Isolation.HookTimeout)
	}
	for origin, labels := range c.Gateway.Origins {
		if !strings.Contains(origin, "://") {
			return fmt.Errorf(`field "gateway.origins": %q is not an origin such as "http://localhost:5173"`, origin)
		}
		if len(labels) == 0 {
			return fmt.Errorf(`field "gateway.origins[%q]": give at least one client label`, origin)
		}
	}
	if c.Gateway.MaxBodyBytes < 0 {
		return errors.New(`field "gateway.max_body_bytes": must not be negative`)
	}
	return nil
}

// Flags registers a flag for every field, writing into c when parsed. Call
// Apply after fs.Parse to let only the flags given on the command line win
// over a file loaded later.
type Flags struct {
	fs  *flag.FlagSet
	set func(*Config)
	cfg *Config
}

// BindFlags registers the flags on fs.
func BindFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs, cfg: &Config{}}
	d := Default()
	c := f.cfg
	fs.StringVar(&c.GRPC, "grpc", d.GRPC, "gRPC address: host:port or unix:///path")
	fs.StringVar(&c.HTTP, "http", d.HTTP, `HTTP gateway address (host:port or unix:///path), or "off"`)
	fs.StringVar(&c.Frontend, "frontend", "", "folder of static files served at / (default: the demo page)")
	fs.StringVar(&c.Data, "data", d.Data, "folder the demo's read_file may read")
	fs.StringVar(&c.Capabilities, "capabilities", "", "folder of capabilities/*.json (deny-by-default once set)")
	fs.StringVar(&c.App.Security.Pattern.Use, "pattern", d.App.Security.Pattern.Use, "security pattern: brownfield or isolation")
	fs.StringVar(&c.App.Security.Pattern.Options.Dir, "isolation-dir", "", "folder of the isolation hook (with --pattern isolation)")
	fs.DurationVar(&c.Isolation.HookTimeout.Duration, "hook-timeout", d.Isolation.HookTimeout.Duration, "time limit of one isolation hook run")
	fs.StringVar(&c.Isolation.Policy, "isolation-policy", "", "JSON file with a declarative isolation policy")
	fs.BoolVar(&c.Isolation.Split, "split", false, "run the gateway and isolation stage as a child process over a 0600 Unix socket")
	fs.IntVar(&c.Events.Queue, "event-queue", d.Events.Queue, "queue length of each event listener")
	fs.IntVar(&c.Events.Window, "event-window", d.Events.Window, "recent events kept for resuming listeners")
	fs.StringVar(&c.Events.NATS, "nats", "", "NATS server URL carrying events between core replicas")
	fs.IntVar(&c.Limits.MaxMessageBytes, "max-message-bytes", 0, "largest gRPC message accepted (default 4 MiB)")
	fs.IntVar(&c.Limits.MaxDepth, "max-depth", 0, "deepest JSON nesting accepted in args (default 64)")
	fs.Float64Var(&c.Limits.Rate, "rate", 0, "calls per second allowed to each client label (0: no limit)")
	fs.IntVar(&c.Limits.Burst, "burst", 0, "burst of calls allowed above --rate")
	fs.IntVar(&c.Limits.MaxListeners, "max-listeners", 0, "concurrent listen streams allowed to each client (0: no limit)")
	fs.DurationVar(&c.Limits.MaxStreamLifetime.Duration, "max-stream-lifetime", 0, "end streams after this long, clients resume (0: never)")
	fs.DurationVar(&c.Limits.IdempotencyTTL.Duration, "idempotency-ttl", d.Limits.IdempotencyTTL.Duration, "how long results are kept for retries with the same idempotency key")
	fs.StringVar(&c.Limits.IdempotencyDir, "idempotency-dir", "", "folder for a durable idempotency log that survives restarts (default: in memory)")
	fs.StringVar(&c.Gateway.TokenFile, "token-file", "", "file with a bearer token required from non-browser callers")
	fs.Int64Var(&c.Gateway.MaxBodyBytes, "max-body-bytes", d.Gateway.MaxBodyBytes, "largest HTTP request body accepted")
	fs.StringVar(&c.Log.Level, "log-level", d.Log.Level, "debug, info, warn or error")
	fs.StringVar(&c.Log.Format, "log-format", d.Log.Format, "text or json")
	fs.DurationVar(&c.ShutdownTimeout.Duration, "shutdown-timeout", d.ShutdownTimeout.Duration, "how long in-flight calls may finish on shutdown")
	fs.Func("allow-origin", `allow a browser origin, as ORIGIN or ORIGIN=label1,label2 (repeatable)`, func(v string) error {
		origin, labels, _ := strings.Cut(v, "=")
		if c.Gateway.Origins == nil {
			c.Gateway.Origins = map[string][]string{}
		}
		ls := []string{"main"}
		if labels != "" {
			ls = strings.Split(labels, ",")
		}
		c.Gateway.Origins[origin] = ls
		return nil
	})
	fs.Func("allow-host", "answer to this extra Host name (repeatable)", func(v string) error {
		c.Gateway.Hosts = append(c.Gateway.Hosts, v)
		return nil
	})
	return f
}

// Resolve returns the configuration: the file at path (if any) with every
// flag given on the command line laid over it, validated.
func (f *Flags) Resolve(path string) (Config, error) {
	base := Default()
	if path != "" {
		var err error
		if base, err = Load(path); err != nil {
			return base, err
		}
	}
	given := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	c, b := f.cfg, &base
	over := func(name string, apply func()) {
		if given[name] {
			apply()
		}
	}
	over("grpc", func() { b.GRPC = c.GRPC })
	over("http", func() { b.HTTP = c.HTTP })
	over("frontend", func() { b.Frontend = c.Frontend })
	over("data", func() { b.Data = c.Data })
	over("capabilities", func() { b.Capabilities = c.Capabilities })
	over("pattern", func() { b.App.Security.Pattern.Use = c.App.Security.Pattern.Use })
	over("isolation-dir", func() { b.App.Security.Pattern.Options.Dir = c.App.Security.Pattern.Options.Dir })
	over("hook-timeout", func() { b.Isolation.HookTimeout = c.Isolation.HookTimeout })
	over("isolation-policy", func() { b.Isolation.Policy = c.Isolation.Policy })
	over("split", func() { b.Isolation.Split = c.Isolation.Split })
	over("event-queue", func() { b.Events.Queue = c.Events.Queue })
	over("event-window", func() { b.Events.Window = c.Events.Window })
	over("nats", func() { b.Events.NATS = c.Events.NATS })
	over("max-message-bytes", func() { b.Limits.MaxMessageBytes = c.Limits.MaxMessageBytes })
	over("max-depth", func() { b.Limits.MaxDepth = c.Limits.MaxDepth })
	over("rate", func() { b.Limits.Rate = c.Limits.Rate })
	over("burst", func() { b.Limits.Burst = c.Limits.Burst })
	over("max-listeners", func() { b.Limits.MaxListeners = c.Limits.MaxListeners })
	over("max-stream-lifetime", func() { b.Limits.MaxStreamLifetime = c.Limits.MaxStreamLifetime })
	over("idempotency-ttl", func() { b.Limits.IdempotencyTTL = c.Limits.IdempotencyTTL })
	over("idempotency-dir", func() { b.Limits.IdempotencyDir = c.Limits.IdempotencyDir })
	over("token-file", func() { b.Gateway.TokenFile = c.Gateway.TokenFile })
	over("max-body-bytes", func() { b.Gateway.MaxBodyBytes = c.Gateway.MaxBodyBytes })
	over("log-level", func() { b.Log.Level = c.Log.Level })
	over("log-format", func() { b.Log.Format = c.Log.Format })
	over("shutdown-timeout", func() { b.ShutdownTimeout = c.ShutdownTimeout })
	over("allow-origin", func() {
		if b.Gateway.Origins == nil {
			b.Gateway.Origins = map[string][]string{}
		}
		for o, ls := range c.Gateway.Origins {
			b.Gateway.Origins[o] = ls
		}
	})
	over("allow-host", func() { b.Gateway.Hosts = append(b.Gateway.Hosts, c.Gateway.Hosts...) })
	if given["isolation-dir"] && !given["pattern"] {
		b.App.Security.Pattern.Use = IsolationPattern
	}
	err := base.Validate()
	return base, err
}
