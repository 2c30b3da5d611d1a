package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/tether-ipc/tether/internal/netaddr"
)

// FieldError is a bad setting: the field of tether.json it is in, or the
// flag it came from when it was given as one.
type FieldError struct {
	Field string // e.g. "app.security.pattern.use"
	Flag  string // e.g. "pattern", when the value came from --pattern
	Err   error
}

func (e *FieldError) Error() string {
	if e.Flag != "" {
		return fmt.Sprintf("flag --%s: %v", e.Flag, e.Err)
	}
	return fmt.Sprintf("field %q: %v", e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// labelRule is the shape of a client label (as capability windows globs
// match them).
var labelRule = regexp.MustCompile(`^[A-Za-z0-9_\-:/.]{1,128}$`)

// subjectRule and streamRule are the shapes of a NATS subject prefix and of
// a JetStream stream or bucket name.
var (
	subjectRule = regexp.MustCompile(`^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$`)
	streamRule  = regexp.MustCompile(`^[A-Za-z0-9_\-]{1,255}$`)
)

// Validate checks every field and reports the first bad one as a
// *FieldError. It fills in what the defaults leave open (the pattern name).
func (c *Config) Validate() error {
	if c.GRPC != "" {
		if _, _, err := netaddr.Parse(c.GRPC); err != nil {
			return fieldErr("grpc", "%v", err)
		}
	}
	if err := validIdentifier(c.Identifier); err != nil {
		return fieldErr("identifier", "%v", err)
	}
	switch c.Gateway.Auth {
	case "":
		c.Gateway.Auth = AuthToken
	case AuthToken, AuthNone:
	default:
		return fieldErr("gateway.auth", "%q is neither %q nor %q", c.Gateway.Auth, AuthToken, AuthNone)
	}
	if c.Gateway.TokenFile != "" && !c.Authenticated() {
		return fieldErr("gateway.token_file", `a secret with gateway.auth "none" guards nothing: drop one of them`)
	}
	for i, s := range c.Gateway.FrameAncestors {
		if s == "" || strings.ContainsAny(s, " ;,\t\r\n\"") {
			return fieldErr(fmt.Sprintf("gateway.frame_ancestors[%d]", i), "%q is not one CSP source such as \"'self'\" or \"https://portal.example\"", s)
		}
	}
	if _, err := c.App.Security.ContentSecurityPolicy(); err != nil {
		return fieldErr("app.security.csp", "%v", err)
	}
	if c.HTTP != "" && c.HTTP != "off" {
		if _, _, err := netaddr.Parse(c.HTTP); err != nil {
			return fieldErr("http", "%v", err)
		}
	}
	for _, f := range []struct{ field, dir string }{{"frontend", c.Frontend}, {"data", c.Data}, {"capabilities", c.Capabilities}} {
		if f.dir == "" {
			continue
		}
		if fi, err := os.Stat(f.dir); err != nil || !fi.IsDir() {
			return fieldErr(f.field, "%s is not a folder", f.dir)
		}
	}
	addrs := make([]string, 0, len(c.Trusted))
	for addr := range c.Trusted {
		addrs = append(addrs, addr)
	}
	sort.Strings(addrs)
	for _, addr := range addrs {
		network, _, err := netaddr.Parse(addr)
		if err != nil {
			return fieldErr("trusted", "%v", err)
		}
		if network != "unix" {
			return fieldErr("trusted", "%q: trusted endpoints are Unix sockets (unix:///path), whose peers' user can be checked", addr)
		}
		if addr == c.GRPC {
			return fieldErr("trusted", "%q is also the grpc address", addr)
		}
		if !labelRule.MatchString(c.Trusted[addr]) {
			return fieldErr("trusted", "%q: client label %q: use 1-128 letters, digits or - _ : / .", addr, c.Trusted[addr])
		}
	}
	if ap := c.App.Security.AssetProtocol; ap.Enable {
		if len(ap.Scope.Allow) == 0 {
			return fieldErr("app.security.assetProtocol.scope", "the asset protocol is enabled but its scope allows nothing")
		}
		for _, g := range append(append([]string{}, ap.Scope.Allow...), ap.Scope.Deny...) {
			if g == "" || strings.ContainsRune(g, 0) {
				return fieldErr("app.security.assetProtocol.scope", "empty or invalid glob %q", g)
			}
			if !strings.HasPrefix(g, "$") && !filepath.IsAbs(g) {
				return fieldErr("app.security.assetProtocol.scope", "glob %q: start it with a variable ($APPDATA/…) or an absolute path", g)
			}
		}
	}
	switch c.App.Security.Pattern.Use {
	case Brownfield, "":
		c.App.Security.Pattern.Use = Brownfield
	case IsolationPattern:
		dir := c.App.Security.Pattern.Options.Dir
		if dir == "" {
			return fieldErr("app.security.pattern.options.dir", "isolation needs the folder of its hook")
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return fieldErr("app.security.pattern.options.dir", "%s is not a folder", dir)
		}
	default:
		return fieldErr("app.security.pattern.use", "%q is neither %q nor %q", c.App.Security.Pattern.Use, Brownfield, IsolationPattern)
	}
	// Both belong to the isolation stage: with brownfield nothing would
	// run them.
	if c.App.Security.Pattern.Use != IsolationPattern {
		if c.Isolation.Split {
			return fieldErr("isolation.split", `split mode runs the isolation stage in a process of its own: it needs app.security.pattern.use "isolation"`)
		}
		if c.Isolation.Policy != "" {
			return fieldErr("isolation.policy", `the policy runs in the isolation stage: it needs app.security.pattern.use "isolation"`)
		}
	}
	for i, raw := range c.App.Security.Capabilities {
		var id string
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &id) != nil && json.Unmarshal(raw, &obj) != nil {
			return fieldErr(fmt.Sprintf("app.security.capabilities[%d]", i), "want a capability object or the identifier of a capability file")
		}
	}
	if c.Events.Queue < 1 || c.Events.Queue > 1<<20 {
		return fieldErr("events.queue", "%d is outside 1..1048576", c.Events.Queue)
	}
	if c.Events.Window < 0 || c.Events.Window > 1<<22 {
		return fieldErr("events.window", "%d is outside 0..4194304", c.Events.Window)
	}
	e := c.Events
	if e.JetStream && e.NATS == "" {
		return fieldErr("events.jetstream", "JetStream needs a NATS server: set events.nats")
	}
	if e.SubjectPrefix != "" && !subjectRule.MatchString(e.SubjectPrefix) {
		return fieldErr("events.subject_prefix", "%q: use dot-separated tokens of letters, digits, - and _", e.SubjectPrefix)
	}
	if e.Stream.Name != "" && !streamRule.MatchString(e.Stream.Name) {
		return fieldErr("events.stream.name", "%q: use 1-255 letters, digits, - and _", e.Stream.Name)
	}
	l := c.Limits
	switch l.IdempotencyStoreName() {
	case IdempotencyMemory:
	case IdempotencyFile:
		if l.IdempotencyDir == "" {
			return fieldErr("limits.idempotency_store", `"file" needs limits.idempotency_dir`)
		}
	case IdempotencyNATS:
		if e.NATS == "" {
			return fieldErr("limits.idempotency_store", `"nats" needs a NATS server with JetStream: set events.nats`)
		}
	default:
		return fieldErr("limits.idempotency_store", "%q is not memory, file or nats", l.IdempotencyStore)
	}
	if l.IdempotencyBucket != "" && !streamRule.MatchString(l.IdempotencyBucket) {
		return fieldErr("limits.idempotency_bucket", "%q: use 1-255 letters, digits, - and _", l.IdempotencyBucket)
	}
	for _, f := range []struct {
		field string
		neg   bool
	}{
		{"events.queue_bytes", e.QueueBytes < 0}, {"events.window_bytes", e.WindowBytes < 0}, {"events.max_subscribers", e.MaxSubscribers < 0},
		{"events.stream.max_age", e.Stream.MaxAge.Duration < 0}, {"events.stream.max_bytes", e.Stream.MaxBytes < 0},
		{"events.stream.replicas", e.Stream.Replicas < 0},
		{"limits.idempotency_max_response_bytes", l.IdempotencyMaxResponseBytes < 0}, {"limits.idempotency_max_bytes", l.IdempotencyMaxBytes < 0},
		{"limits.max_message_bytes", l.MaxMessageBytes < 0}, {"limits.max_depth", l.MaxDepth < 0}, {"limits.rate", l.Rate < 0},
		{"limits.burst", l.Burst < 0}, {"limits.max_listeners", l.MaxListeners < 0},
		{"limits.max_streams_per_conn", l.MaxStreamsPerConn < 0}, {"limits.max_streams_per_caller", l.MaxStreamsPerCaller < 0},
		{"limits.stream_write_timeout", l.StreamWriteTimeout.Duration < 0},
		{"limits.max_stream_lifetime", l.MaxStreamLifetime.Duration < 0}, {"limits.idempotency_ttl", l.IdempotencyTTL.Duration < 0},
		{"gateway.max_body_bytes", c.Gateway.MaxBodyBytes < 0}, {"shutdown_timeout", c.ShutdownTimeout.Duration < 0},
	} {
		if f.neg {
			return fieldErr(f.field, "must not be negative")
		}
	}
	for _, name := range l.StrictArgs {
		if name == "" || strings.ContainsAny(name, " \t\r\n") {
			return fieldErr("limits.strict_args", "%q is not a command name", name)
		}
	}
	if l.Rate > 0 && l.Burst == 0 {
		return fieldErr("limits.burst", "a rate needs a burst of at least 1")
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		return fieldErr("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fieldErr("log.format", "%q is not text or json", c.Log.Format)
	}
	for _, f := range []struct {
		field string
		d     Duration
	}{
		{"isolation.hook_timeout", c.Isolation.HookTimeout}, {"shutdown_timeout", c.ShutdownTimeout},
		{"limits.max_stream_lifetime", c.Limits.MaxStreamLifetime}, {"limits.idempotency_ttl", c.Limits.IdempotencyTTL},
		{"limits.stream_write_timeout", c.Limits.StreamWriteTimeout},
		{"events.stream.max_age", c.Events.Stream.MaxAge},
	} {
		if f.d.bad != "" {
			return fieldErr(f.field, "%s is not a duration such as \"250ms\"", f.d.bad)
		}
	}
	if d := c.Isolation.HookTimeout.Duration; d <= 0 || d > time.Minute {
		return fieldErr("isolation.hook_timeout", "%v is outside (0, 1m]", d)
	}
	origins := make([]string, 0, len(c.Gateway.Origins))
	for origin := range c.Gateway.Origins {
		origins = append(origins, origin)
	}
	sort.Strings(origins)
	for _, origin := range origins {
		if !strings.Contains(origin, "://") {
			return fieldErr("gateway.origins", "%q is not an origin such as \"http://localhost:5173\"", origin)
		}
		if len(c.Gateway.Origins[origin]) == 0 {
			return fieldErr("gateway.origins", "%q: give at least one client label", origin)
		}
	}
	return nil
}

// errNoValue is returned by flag parsers for empty values.
var errNoValue = errors.New("empty value")
