package config

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
)

// Flags are the command-line flags of every field, bound to a FlagSet by
// BindFlags. After the FlagSet is parsed, Resolve lays the flags given on
// the command line over the defaults or a file.
type Flags struct {
	fs    *flag.FlagSet
	cfg   *Config // what the flags wrote
	specs []flagSpec
}

// flagSpec is one flag: the field it sets and how to copy it over.
type flagSpec struct {
	name, field string
	path        bool // holds a path, resolved against the working directory
	apply       func(dst, src *Config)
}

// BindFlags registers a flag for every field on fs (as `tether serve` and
// app.Main take them) and returns the Flags to Resolve once fs is parsed.
// The flag --config, naming the file, is the caller's.
func BindFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs, cfg: &Config{}}
	d := Default()
	c := f.cfg
	str := func(name, field string, p *string, def, usage string, apply func(dst, src *Config)) {
		fs.StringVar(p, name, def, usage)
		f.specs = append(f.specs, flagSpec{name: name, field: field, apply: apply})
	}
	path := func(name, field string, p *string, usage string, apply func(dst, src *Config)) {
		fs.StringVar(p, name, "", usage)
		f.specs = append(f.specs, flagSpec{name: name, field: field, path: true, apply: apply})
	}
	other := func(name, field string, apply func(dst, src *Config)) {
		f.specs = append(f.specs, flagSpec{name: name, field: field, apply: apply})
	}

	str("grpc", "grpc", &c.GRPC, d.GRPC, "gRPC address: unix:///path, or host:port (TCP: callers send the secret) (default: a 0600 socket in $XDG_RUNTIME_DIR/tether/<identifier>)", func(dst, src *Config) { dst.GRPC = src.GRPC })
	str("http", "http", &c.HTTP, d.HTTP, `HTTP gateway address (host:port or unix:///path), or "off"`, func(dst, src *Config) { dst.HTTP = src.HTTP })
	path("frontend", "frontend", &c.Frontend, "folder of static files served at / (Tauri's frontendDist)", func(dst, src *Config) { dst.Frontend = src.Frontend })
	path("data", "data", &c.Data, "the app's data folder (default $XDG_DATA_HOME/<identifier>)", func(dst, src *Config) { dst.Data = src.Data })
	path("capabilities", "capabilities", &c.Capabilities, "folder of Tauri v2 capability files (deny-by-default once set)", func(dst, src *Config) { dst.Capabilities = src.Capabilities })
	fs.Func("trusted", "a trusted local endpoint for Go services, as unix:///path=label (repeatable)", func(v string) error {
		addr, label, ok := strings.Cut(v, "=")
		if !ok || addr == "" || label == "" {
			return errors.New("want unix:///path=label")
		}
		if c.Trusted == nil {
			c.Trusted = map[string]string{}
		}
		c.Trusted[addr] = label
		return nil
	})
	other("trusted", "trusted", func(dst, src *Config) {
		if dst.Trusted == nil {
			dst.Trusted = map[string]string{}
		}
		for addr, label := range src.Trusted {
			dst.Trusted[addr] = label
		}
	})
	str("product-name", "productName", &c.ProductName, "", "the app's name (Tauri's productName)", func(dst, src *Config) { dst.ProductName = src.ProductName })
	str("app-version", "version", &c.Version, "", "the app's version (Tauri's version)", func(dst, src *Config) { dst.Version = src.Version })
	str("identifier", "identifier", &c.Identifier, "", "the app's identifier, e.g. com.example.notes (Tauri's identifier)", func(dst, src *Config) { dst.Identifier = src.Identifier })
	str("pattern", "app.security.pattern.use", &c.App.Security.Pattern.Use, d.App.Security.Pattern.Use, "security pattern: brownfield or isolation", func(dst, src *Config) { dst.App.Security.Pattern.Use = src.App.Security.Pattern.Use })
	path("isolation-dir", "app.security.pattern.options.dir", &c.App.Security.Pattern.Options.Dir, "folder of the isolation hook (implies --pattern isolation)", func(dst, src *Config) {
		dst.App.Security.Pattern.Options.Dir = src.App.Security.Pattern.Options.Dir
	})
	fs.DurationVar(&c.Isolation.HookTimeout.Duration, "hook-timeout", d.Isolation.HookTimeout.Duration, "time limit of one isolation hook run")
	other("hook-timeout", "isolation.hook_timeout", func(dst, src *Config) { dst.Isolation.HookTimeout = src.Isolation.HookTimeout })
	path("isolation-policy", "isolation.policy", &c.Isolation.Policy, "JSON file with a declarative isolation policy", func(dst, src *Config) { dst.Isolation.Policy = src.Isolation.Policy })
	fs.BoolVar(&c.Isolation.Split, "split", false, "run the gateway and isolation stage as a child process over a 0600 Unix socket")
	other("split", "isolation.split", func(dst, src *Config) { dst.Isolation.Split = src.Isolation.Split })
	fs.Func("freeze-prototype", "freeze the isolation hooks' realm (true or false; default true)", func(v string) error {
		b, err := parseBool(v)
		c.App.Security.FreezePrototype = &b
		return err
	})
	other("freeze-prototype", "app.security.freezePrototype", func(dst, src *Config) { dst.App.Security.FreezePrototype = src.App.Security.FreezePrototype })
	fs.BoolVar(&c.App.WithGlobalTauri, "with-global-tauri", false, "expose window.__TAURI__ to pages (Tauri's app.withGlobalTauri)")
	other("with-global-tauri", "app.withGlobalTauri", func(dst, src *Config) { dst.App.WithGlobalTauri = src.App.WithGlobalTauri })
	fs.IntVar(&c.Events.Queue, "event-queue", d.Events.Queue, "queue length of each event listener")
	other("event-queue", "events.queue", func(dst, src *Config) { dst.Events.Queue = src.Events.Queue })
	fs.IntVar(&c.Events.Window, "event-window", d.Events.Window, "recent events kept for resuming listeners")
	other("event-window", "events.window", func(dst, src *Config) { dst.Events.Window = src.Events.Window })
	fs.Int64Var(&c.Events.QueueBytes, "event-queue-bytes", 0, "bytes of events queued for one listener (default 8 MiB)")
	other("event-queue-bytes", "events.queue_bytes", func(dst, src *Config) { dst.Events.QueueBytes = src.Events.QueueBytes })
	fs.Int64Var(&c.Events.WindowBytes, "event-window-bytes", 0, "bytes of recent events kept for resuming listeners (default 32 MiB)")
	other("event-window-bytes", "events.window_bytes", func(dst, src *Config) { dst.Events.WindowBytes = src.Events.WindowBytes })
	fs.IntVar(&c.Events.MaxSubscribers, "max-subscribers", 0, "listeners of the core in all (default: sized to the machine's memory)")
	other("max-subscribers", "events.max_subscribers", func(dst, src *Config) { dst.Events.MaxSubscribers = src.Events.MaxSubscribers })
	str("nats", "events.nats", &c.Events.NATS, "", "NATS server URL carrying events between core replicas", func(dst, src *Config) { dst.Events.NATS = src.Events.NATS })
	fs.BoolVar(&c.Events.JetStream, "jetstream", false, "carry events on a JetStream stream of --nats: the same ids on every replica, resume on any")
	other("jetstream", "events.jetstream", func(dst, src *Config) { dst.Events.JetStream = src.Events.JetStream })
	str("nats-subject-prefix", "events.subject_prefix", &c.Events.SubjectPrefix, "", `NATS subject prefix of the app's events (default "tether.events")`, func(dst, src *Config) {
		dst.Events.SubjectPrefix = src.Events.SubjectPrefix
	})
	str("stream", "events.stream.name", &c.Events.Stream.Name, "", `JetStream stream of the events (default "TETHER_EVENTS")`, func(dst, src *Config) { dst.Events.Stream.Name = src.Events.Stream.Name })
	fs.DurationVar(&c.Events.Stream.MaxAge.Duration, "stream-max-age", 0, "how long the stream keeps an event: the resume window (default 1h)")
	other("stream-max-age", "events.stream.max_age", func(dst, src *Config) { dst.Events.Stream.MaxAge = src.Events.Stream.MaxAge })
	fs.Int64Var(&c.Events.Stream.MaxBytes, "stream-max-bytes", 0, "bytes the stream keeps (default 256 MiB)")
	other("stream-max-bytes", "events.stream.max_bytes", func(dst, src *Config) { dst.Events.Stream.MaxBytes = src.Events.Stream.MaxBytes })
	fs.IntVar(&c.Events.Stream.Replicas, "stream-replicas", 0, "copies of the stream in a NATS cluster (default 1)")
	other("stream-replicas", "events.stream.replicas", func(dst, src *Config) { dst.Events.Stream.Replicas = src.Events.Stream.Replicas })
	fs.IntVar(&c.Limits.MaxMessageBytes, "max-message-bytes", 0, "largest gRPC message accepted (default 4 MiB)")
	other("max-message-bytes", "limits.max_message_bytes", func(dst, src *Config) { dst.Limits.MaxMessageBytes = src.Limits.MaxMessageBytes })
	fs.IntVar(&c.Limits.MaxDepth, "max-depth", 0, "deepest JSON nesting accepted in args (default 64)")
	other("max-depth", "limits.max_depth", func(dst, src *Config) { dst.Limits.MaxDepth = src.Limits.MaxDepth })
	fs.Func("strict-args", `commands whose arguments may hold no key their handler does not bind, comma-separated ("*": all)`, func(v string) error {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				c.Limits.StrictArgs = append(c.Limits.StrictArgs, name)
			}
		}
		return nil
	})
	other("strict-args", "limits.strict_args", func(dst, src *Config) { dst.Limits.StrictArgs = src.Limits.StrictArgs })
	fs.Float64Var(&c.Limits.Rate, "rate", 0, "calls per second allowed to each client label (0: no limit)")
	other("rate", "limits.rate", func(dst, src *Config) { dst.Limits.Rate = src.Limits.Rate })
	fs.IntVar(&c.Limits.Burst, "burst", 0, "burst of calls allowed above --rate")
	other("burst", "limits.burst", func(dst, src *Config) { dst.Limits.Burst = src.Limits.Burst })
	fs.IntVar(&c.Limits.MaxListeners, "max-listeners", 0, "concurrent listen streams allowed to each caller of a client label (0: no limit)")
	other("max-listeners", "limits.max_listeners", func(dst, src *Config) { dst.Limits.MaxListeners = src.Limits.MaxListeners })
	fs.IntVar(&c.Limits.MaxStreamsPerConn, "max-streams-per-conn", 0, "open streams allowed on one connection (default 256)")
	other("max-streams-per-conn", "limits.max_streams_per_conn", func(dst, src *Config) { dst.Limits.MaxStreamsPerConn = src.Limits.MaxStreamsPerConn })
	fs.IntVar(&c.Limits.MaxStreamsPerCaller, "max-streams-per-caller", 0, "open streams allowed to one caller: a page session, a process, a host (default 512)")
	other("max-streams-per-caller", "limits.max_streams_per_caller", func(dst, src *Config) { dst.Limits.MaxStreamsPerCaller = src.Limits.MaxStreamsPerCaller })
	fs.DurationVar(&c.Limits.StreamWriteTimeout.Duration, "stream-write-timeout", 0, "end a gRPC stream, and close its connection, when its client reads nothing for this long (default 60s)")
	other("stream-write-timeout", "limits.stream_write_timeout", func(dst, src *Config) { dst.Limits.StreamWriteTimeout = src.Limits.StreamWriteTimeout })
	fs.DurationVar(&c.Limits.MaxStreamLifetime.Duration, "max-stream-lifetime", 0, "end streams after this long, clients resume (0: never)")
	other("max-stream-lifetime", "limits.max_stream_lifetime", func(dst, src *Config) { dst.Limits.MaxStreamLifetime = src.Limits.MaxStreamLifetime })
	fs.DurationVar(&c.Limits.IdempotencyTTL.Duration, "idempotency-ttl", d.Limits.IdempotencyTTL.Duration, "how long results are kept for retries with the same idempotency key")
	other("idempotency-ttl", "limits.idempotency_ttl", func(dst, src *Config) { dst.Limits.IdempotencyTTL = src.Limits.IdempotencyTTL })
	path("idempotency-dir", "limits.idempotency_dir", &c.Limits.IdempotencyDir, "folder for a durable idempotency log that survives restarts (default: in memory)", func(dst, src *Config) {
		dst.Limits.IdempotencyDir = src.Limits.IdempotencyDir
	})
	str("idempotency-store", "limits.idempotency_store", &c.Limits.IdempotencyStore, "", "memory, file (--idempotency-dir) or nats (a key-value bucket on --nats, shared by replicas)", func(dst, src *Config) {
		dst.Limits.IdempotencyStore = src.Limits.IdempotencyStore
	})
	str("idempotency-bucket", "limits.idempotency_bucket", &c.Limits.IdempotencyBucket, "", `key-value bucket of the nats idempotency store (default "tether_idempotency")`, func(dst, src *Config) {
		dst.Limits.IdempotencyBucket = src.Limits.IdempotencyBucket
	})
	fs.Int64Var(&c.Limits.IdempotencyMaxResponseBytes, "idempotency-max-response-bytes", 0, "largest result kept for retries (default 256 KiB)")
	other("idempotency-max-response-bytes", "limits.idempotency_max_response_bytes", func(dst, src *Config) {
		dst.Limits.IdempotencyMaxResponseBytes = src.Limits.IdempotencyMaxResponseBytes
	})
	fs.Int64Var(&c.Limits.IdempotencyMaxBytes, "idempotency-max-bytes", 0, "bytes of results kept for retries in all (default 32 MiB)")
	other("idempotency-max-bytes", "limits.idempotency_max_bytes", func(dst, src *Config) { dst.Limits.IdempotencyMaxBytes = src.Limits.IdempotencyMaxBytes })
	str("auth", "gateway.auth", &c.Gateway.Auth, d.Gateway.Auth, `"token": every caller needs the app's secret; "none": every local user may use the app`, func(dst, src *Config) { dst.Gateway.Auth = src.Gateway.Auth })
	path("token-file", "gateway.token_file", &c.Gateway.TokenFile, "file (mode 0600) with the app's secret (default: a new one at each launch, in the runtime folder)", func(dst, src *Config) { dst.Gateway.TokenFile = src.Gateway.TokenFile })
	fs.Func("frame-ancestor", `allow pages of this origin to frame the app, as a CSP source ("'self'", "https://portal.example"; repeatable; default: none)`, func(v string) error {
		if v == "" {
			return errNoValue
		}
		c.Gateway.FrameAncestors = append(c.Gateway.FrameAncestors, v)
		return nil
	})
	other("frame-ancestor", "gateway.frame_ancestors", func(dst, src *Config) {
		dst.Gateway.FrameAncestors = append([]string(nil), src.Gateway.FrameAncestors...)
	})
	fs.Int64Var(&c.Gateway.MaxBodyBytes, "max-body-bytes", d.Gateway.MaxBodyBytes, "largest HTTP request body accepted")
	other("max-body-bytes", "gateway.max_body_bytes", func(dst, src *Config) { dst.Gateway.MaxBodyBytes = src.Gateway.MaxBodyBytes })
	fs.BoolFunc("console", "serve the developer console at /_tether/ (true or false; default: the app's choice, on in tether serve)", func(v string) error {
		b, err := parseBool(v)
		c.Gateway.Console = &b
		return err
	})
	other("console", "gateway.console", func(dst, src *Config) { dst.Gateway.Console = src.Gateway.Console })
	str("log-level", "log.level", &c.Log.Level, d.Log.Level, "debug, info, warn or error", func(dst, src *Config) { dst.Log.Level = src.Log.Level })
	str("log-format", "log.format", &c.Log.Format, d.Log.Format, "text or json", func(dst, src *Config) { dst.Log.Format = src.Log.Format })
	fs.DurationVar(&c.ShutdownTimeout.Duration, "shutdown-timeout", d.ShutdownTimeout.Duration, "how long in-flight calls may finish on shutdown")
	other("shutdown-timeout", "shutdown_timeout", func(dst, src *Config) { dst.ShutdownTimeout = src.ShutdownTimeout })
	fs.Func("allow-origin", `allow a browser origin, as ORIGIN or ORIGIN=label1,label2 (repeatable)`, func(v string) error {
		origin, labels, _ := strings.Cut(v, "=")
		if origin == "" {
			return errNoValue
		}
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
	other("allow-origin", "gateway.origins", func(dst, src *Config) {
		if dst.Gateway.Origins == nil {
			dst.Gateway.Origins = map[string][]string{}
		}
		for o, ls := range src.Gateway.Origins {
			dst.Gateway.Origins[o] = ls
		}
	})
	fs.Func("allow-host", "answer to this extra Host name (repeatable)", func(v string) error {
		if v == "" {
			return errNoValue
		}
		c.Gateway.Hosts = append(c.Gateway.Hosts, v)
		return nil
	})
	other("allow-host", "gateway.hosts", func(dst, src *Config) { dst.Gateway.Hosts = append(dst.Gateway.Hosts, src.Gateway.Hosts...) })
	fs.Func("asset-allow", "serve files matching this glob ($APPDATA/img/**, /abs/**) at convertFileSrc URLs (repeatable; turns the asset protocol on)", func(v string) error {
		if v == "" {
			return errNoValue
		}
		c.App.Security.AssetProtocol.Enable = true
		c.App.Security.AssetProtocol.Scope.Allow = append(c.App.Security.AssetProtocol.Scope.Allow, v)
		return nil
	})
	other("asset-allow", "app.security.assetProtocol.scope", func(dst, src *Config) {
		dst.App.Security.AssetProtocol.Enable = true
		dst.App.Security.AssetProtocol.Scope.Allow = append(dst.App.Security.AssetProtocol.Scope.Allow, src.App.Security.AssetProtocol.Scope.Allow...)
	})
	fs.Func("asset-deny", "never serve files matching this glob on the asset protocol (repeatable; wins over --asset-allow)", func(v string) error {
		if v == "" {
			return errNoValue
		}
		c.App.Security.AssetProtocol.Scope.Deny = append(c.App.Security.AssetProtocol.Scope.Deny, v)
		return nil
	})
	other("asset-deny", "app.security.assetProtocol.scope", func(dst, src *Config) {
		dst.App.Security.AssetProtocol.Scope.Deny = append(dst.App.Security.AssetProtocol.Scope.Deny, src.App.Security.AssetProtocol.Scope.Deny...)
	})
	return f
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", v)
}

// Resolve returns the configuration: the defaults, or the file at path if
// path is not empty, with every flag given on the command line laid over
// it, validated. Relative paths given as flags resolve against the working
// directory. An error about a value that came from a flag names the flag.
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
	src := f.cfg
	if wd, err := filepath.Abs("."); err == nil {
		src.resolve(wd) // paths given as flags are the working directory's
	}
	byField := map[string]string{}
	for _, s := range f.specs {
		if given[s.name] {
			s.apply(&base, src)
			byField[s.field] = s.name
		}
	}
	if given["isolation-dir"] && !given["pattern"] {
		base.App.Security.Pattern.Use = IsolationPattern
		byField["app.security.pattern.use"] = "isolation-dir"
	}
	err := base.Validate()
	var fe *FieldError
	if errors.As(err, &fe) {
		if name, ok := byField[fe.Field]; ok {
			fe.Flag = name
		}
	}
	return base, err
}
