package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "dist-isolation"), 0o755)
	os.Mkdir(filepath.Join(dir, "caps"), 0o755)
	cases := []struct {
		name, json, wantErr string
		check               func(Config) bool
	}{
		{"empty object is brownfield, behind a secret, gRPC on the runtime socket", `{}`, "", func(c Config) bool {
			return c.App.Security.Pattern.Use == Brownfield && c.GRPC == "" && c.Gateway.Auth == AuthToken && c.Authenticated()
		}},
		{"csp object", `{"app":{"security":{"csp":{"default-src":"'self'","img-src":["'self'","data:"]}}}}`, "", func(c Config) bool {
			p, err := c.App.Security.ContentSecurityPolicy()
			return err == nil && p == "default-src 'self'; img-src 'self' data:"
		}},
		{"bad csp", `{"app":{"security":{"csp":{"default-src":"'self'; script-src *"}}}}`, `field "app.security.csp"`, nil},
		{"auth none", `{"gateway":{"auth":"none"}}`, "", func(c Config) bool { return !c.Authenticated() }},
		{"bad auth", `{"gateway":{"auth":"maybe"}}`, `field "gateway.auth"`, nil},
		{"bad frame ancestor", `{"gateway":{"frame_ancestors":["'self' https://x"]}}`, `field "gateway.frame_ancestors[0]"`, nil},
		{"identifier leaving its folder", `{"identifier":"../../etc"}`, `field "identifier"`, nil},
		{"negative stream bound", `{"limits":{"max_streams_per_caller":-1}}`, `field "limits.max_streams_per_caller"`, nil},
		{"Tauri isolation block pasted in", `{"app":{"security":{"csp":null,"freezePrototype":true,"pattern":{"use":"isolation","options":{"dir":"./dist-isolation"}}}}}`, "",
			func(c Config) bool {
				return c.App.Security.Pattern.Use == IsolationPattern && c.App.Security.Pattern.Options.Dir == filepath.Join(dir, "dist-isolation")
			}},
		{"brownfield block", `{"app":{"security":{"pattern":{"use":"brownfield"}}}}`, "", func(c Config) bool { return c.App.Security.Pattern.Use == Brownfield }},
		{"everything", `{"grpc":"unix:///tmp/x.sock","http":"off","capabilities":"caps","events":{"queue":8,"window":16,"nats":"nats://127.0.0.1:4222"},"isolation":{"hook_timeout":"250ms"},"gateway":{"origins":{"http://localhost:5173":["main","settings"]}},"shutdown_timeout":"3s"}`, "",
			func(c Config) bool {
				return c.Events.Queue == 8 && c.Isolation.HookTimeout.Duration == 250*time.Millisecond && c.ShutdownTimeout.Duration == 3*time.Second &&
					c.Capabilities == filepath.Join(dir, "caps") && c.Gateway.Origins["http://localhost:5173"][1] == "settings"
			}},
		{"unknown field", `{"grcp":"x"}`, `unknown field "grcp"`, nil},
		{"unknown nested field", `{"app":{"security":{"patern":{}}}}`, `unknown field "patern"`, nil},
		{"wrong type", `{"events":{"queue":"big"}}`, `field "events.queue": expected int`, nil},
		{"bad pattern", `{"app":{"security":{"pattern":{"use":"fortress"}}}}`, `field "app.security.pattern.use"`, nil},
		{"isolation without dir", `{"app":{"security":{"pattern":{"use":"isolation"}}}}`, `field "app.security.pattern.options.dir"`, nil},
		{"split mode without isolation", `{"isolation":{"split":true}}`, `field "isolation.split"`, nil},
		{"policy without isolation", `{"isolation":{"policy":"policy.json"}}`, `field "isolation.policy"`, nil},
		{"split mode with isolation", `{"isolation":{"split":true},"app":{"security":{"pattern":{"use":"isolation","options":{"dir":"./dist-isolation"}}}}}`, "",
			func(c Config) bool { return c.Isolation.Split }},
		{"isolation dir missing", `{"app":{"security":{"pattern":{"use":"isolation","options":{"dir":"nope"}}}}}`, `is not a folder`, nil},
		{"bad address", `{"grpc":"localhost"}`, `field "grpc"`, nil},
		{"bad duration", `{"isolation":{"hook_timeout":"soon"}}`, `hook_timeout`, nil},
		{"queue out of range", `{"events":{"queue":0}}`, `field "events.queue"`, nil},
		{"subscriber cap", `{"events":{"max_subscribers":50000}}`, "", func(c Config) bool { return c.Events.MaxSubscribers == 50000 }},
		{"subscriber cap by default sized by the bus", `{}`, "", func(c Config) bool { return c.Events.MaxSubscribers == 0 }},
		{"negative subscriber cap", `{"events":{"max_subscribers":-1}}`, `field "events.max_subscribers"`, nil},
		{"bad origin", `{"gateway":{"origins":{"localhost":["main"]}}}`, `field "gateway.origins"`, nil},
		{"malformed", "{\n\"grpc\": ,}", `malformed JSON at line 2`, nil},
		{"trailing data", `{} {}`, `trailing data`, nil},
		{"bad log level", `{"log":{"level":"loud"}}`, `field "log.level"`, nil},
		{"replicas on JetStream", `{"events":{"nats":"nats://127.0.0.1:4222","jetstream":true,"window_bytes":1048576,"max_subscribers":50000,"stream":{"name":"APP_EVENTS","max_age":"30m","max_bytes":1073741824,"replicas":3}},"limits":{"idempotency_store":"nats","idempotency_max_response_bytes":65536}}`, "",
			func(c Config) bool {
				return c.Events.JetStream && c.Events.Stream.Name == "APP_EVENTS" && c.Events.Stream.MaxAge.Duration == 30*time.Minute &&
					c.Events.Stream.Replicas == 3 && c.Events.MaxSubscribers == 50000 && c.Limits.IdempotencyStoreName() == IdempotencyNATS
			}},
		{"idempotency store follows the folder", `{"limits":{"idempotency_dir":"caps"}}`, "", func(c Config) bool { return c.Limits.IdempotencyStoreName() == IdempotencyFile }},
		{"jetstream without nats", `{"events":{"jetstream":true}}`, `field "events.jetstream"`, nil},
		{"nats store without nats", `{"limits":{"idempotency_store":"nats"}}`, `field "limits.idempotency_store"`, nil},
		{"file store without a folder", `{"limits":{"idempotency_store":"file"}}`, `field "limits.idempotency_store"`, nil},
		{"unknown store", `{"limits":{"idempotency_store":"redis"}}`, `field "limits.idempotency_store"`, nil},
		{"bad stream name", `{"events":{"nats":"nats://x:1","jetstream":true,"stream":{"name":"a.b"}}}`, `field "events.stream.name"`, nil},
		{"bad subject prefix", `{"events":{"subject_prefix":"a.>"}}`, `field "events.subject_prefix"`, nil},
		{"negative window bytes", `{"events":{"window_bytes":-1}}`, `field "events.window_bytes"`, nil},
		{"bad stream age", `{"events":{"stream":{"max_age":"long"}}}`, `field "events.stream.max_age"`, nil},
		{"strict args", `{"limits":{"strict_args":["open_file","*"]}}`, "", func(c Config) bool { return strings.Join(c.Limits.StrictArgs, ",") == "open_file,*" }},
		{"bad strict arg", `{"limits":{"strict_args":["open file"]}}`, `field "limits.strict_args"`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tc.json), "tether.json", dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "tether.json: ") && !strings.HasPrefix(err.Error(), "field") {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

func TestFlagsOverFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tether.json")
	os.WriteFile(path, []byte(`{"grpc":"127.0.0.1:9000","http":"127.0.0.1:9001","events":{"queue":5}}`), 0o600)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	f := BindFlags(fs)
	if err := fs.Parse([]string{"--grpc", "unix:///tmp/t.sock", "--allow-origin", "http://localhost:5173=main,aux"}); err != nil {
		t.Fatal(err)
	}
	c, err := f.Resolve(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.GRPC != "unix:///tmp/t.sock" || c.HTTP != "127.0.0.1:9001" || c.Events.Queue != 5 || len(c.Gateway.Origins["http://localhost:5173"]) != 2 {
		t.Fatalf("got %+v", c)
	}
	// The subscriber cap: the flag wins over the file.
	os.WriteFile(path, []byte(`{"events":{"max_subscribers":10}}`), 0o600)
	fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	f = BindFlags(fs)
	fs.Parse([]string{"--max-subscribers", "60000"})
	if c, err := f.Resolve(path); err != nil || c.Events.MaxSubscribers != 60000 {
		t.Fatalf("--max-subscribers: %d, %v", c.Events.MaxSubscribers, err)
	}
	// The durable idempotency folder: relative to the file, or from the flag.
	os.WriteFile(path, []byte(`{"limits":{"idempotency_dir":"idem"}}`), 0o600)
	fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	f = BindFlags(fs)
	fs.Parse(nil)
	if c, err := f.Resolve(path); err != nil || c.Limits.IdempotencyDir != filepath.Join(dir, "idem") {
		t.Fatalf("idempotency_dir from the file: %q, %v", c.Limits.IdempotencyDir, err)
	}
	fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	f = BindFlags(fs)
	fs.Parse([]string{"--idempotency-dir", "/var/lib/tether/idem"})
	if c, err := f.Resolve(path); err != nil || c.Limits.IdempotencyDir != "/var/lib/tether/idem" {
		t.Fatalf("--idempotency-dir: %q, %v", c.Limits.IdempotencyDir, err)
	}
	// --strict-args takes a comma-separated list.
	fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	f = BindFlags(fs)
	fs.Parse([]string{"--strict-args", "greet, read_file", "--strict-args", "count"})
	if c, err := f.Resolve(""); err != nil || strings.Join(c.Limits.StrictArgs, ",") != "greet,read_file,count" {
		t.Fatalf("--strict-args: %q, %v", c.Limits.StrictArgs, err)
	}
	// A flag value that is bad is named too.
	fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	f = BindFlags(fs)
	fs.Parse([]string{"--pattern", "open"})
	if _, err := f.Resolve(""); err == nil || !strings.HasPrefix(err.Error(), "flag --pattern: ") {
		t.Fatalf("bad --pattern: %v", err)
	}
	// The same bad value from the file names the field.
	os.WriteFile(path, []byte(`{"app":{"security":{"pattern":{"use":"open"}}}}`), 0o600)
	fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	f = BindFlags(fs)
	fs.Parse(nil)
	if _, err := f.Resolve(path); err == nil || !strings.Contains(err.Error(), `field "app.security.pattern.use"`) {
		t.Fatalf("bad pattern in the file: %v", err)
	}
}

// Relative paths given as flags resolve against the working directory;
// in a file, against the file's folder.
func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "conf", "caps"), 0o755)
	os.MkdirAll(filepath.Join(dir, "caps"), 0o755)
	t.Chdir(dir)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	f := BindFlags(fs)
	fs.Parse([]string{"--capabilities", "caps", "--data", ".", "--trusted", "unix:backend.sock=backend"})
	c, err := f.Resolve("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Capabilities != filepath.Join(dir, "caps") || c.Data != dir {
		t.Fatalf("flag paths: capabilities %q data %q", c.Capabilities, c.Data)
	}
	if c.Trusted["unix://"+filepath.Join(dir, "backend.sock")] != "backend" {
		t.Fatalf("trusted: %v", c.Trusted)
	}
	os.WriteFile(filepath.Join(dir, "conf", "tether.json"), []byte(`{"capabilities":"caps","trusted":{"unix:b.sock":"b"}}`), 0o600)
	c, err = Load(filepath.Join("conf", "tether.json"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Capabilities != filepath.Join(dir, "conf", "caps") || c.Trusted["unix://"+filepath.Join(dir, "conf", "b.sock")] != "b" {
		t.Fatalf("file paths: %q %v", c.Capabilities, c.Trusted)
	}
}

// Tauri settings Tether does not use load, and are named in Warnings.
func TestTauriBlockWarnings(t *testing.T) {
	c, err := Parse(strings.NewReader(`{
	  "productName": "notes", "version": "1.2.3", "identifier": "com.example.notes",
	  "build": {"frontendDist": "../dist"},
	  "app": {"withGlobalTauri": true, "windows": [{"title": "Notes"}],
	    "security": {"csp": "default-src 'self'", "dangerousDisableAssetCspModification": true, "freezePrototype": false,
	      "capabilities": ["main", {"identifier": "inline", "windows": ["*"], "permissions": ["allow-greet"]}]}}}`), "tauri.json", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"build", "app.windows", "app.security.dangerousDisableAssetCspModification"}
	got := strings.Join(c.Warnings, "\n")
	for _, w := range want {
		if !strings.Contains(got, w+":") {
			t.Errorf("no warning for %s in %q", w, got)
		}
	}
	if len(c.Warnings) != len(want) {
		t.Errorf("warnings %q, want %d", c.Warnings, len(want))
	}
	if c.FreezePrototype() || !c.App.WithGlobalTauri || c.ProductName != "notes" || len(c.App.Security.Capabilities) != 2 {
		t.Fatalf("unexpected config %+v", c)
	}
	// Tauri's csp is the frontend's Content-Security-Policy.
	if csp, err := c.App.Security.ContentSecurityPolicy(); err != nil || csp != "default-src 'self'" {
		t.Fatalf("csp %q %v", csp, err)
	}
	if _, err := Parse(strings.NewReader(`{"app":{"security":{"capabilities":[3]}}}`), "t.json", t.TempDir()); err == nil ||
		!strings.Contains(err.Error(), `field "app.security.capabilities[0]"`) {
		t.Fatalf("bad inline capability: %v", err)
	}
	if d := Default(); !d.FreezePrototype() {
		t.Fatal("freezePrototype is on by default")
	}
}

func TestTrustedEndpoints(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"trusted":{"127.0.0.1:9000":"backend"}}`, "Unix sockets"},
		{`{"trusted":{"unix:///tmp/b.sock":"bad label!"}}`, "client label"},
		{`{"grpc":"unix:///tmp/g.sock","trusted":{"unix:///tmp/g.sock":"b"}}`, "also the grpc address"},
	} {
		if _, err := Parse(strings.NewReader(tc.json), "t.json", t.TempDir()); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `field "trusted"`) {
			t.Errorf("%s: %v, want %q", tc.json, err, tc.want)
		}
	}
}

func TestDataDir(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/srv/data")
	c := Default()
	if d, _ := c.DataDir(); d != filepath.Join("/srv/data", DefaultIdentifier) {
		t.Fatalf("default data dir %q", d)
	}
	c.Identifier = "com.example.notes"
	if d, _ := c.DataDir(); d != "/srv/data/com.example.notes" {
		t.Fatalf("data dir %q", d)
	}
	c.Data = "/var/lib/notes"
	if d, _ := c.DataDir(); d != "/var/lib/notes" {
		t.Fatalf("data dir %q", d)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`{}`, `{"app":{"security":{"pattern":{"use":"isolation","options":{"dir":"."}}}}}`, `{"events":{"queue":1}}`, `[`, `{"isolation":{"hook_timeout":5}}`,
		`{"app":{"security":{"csp":{"default-src":["'self'","data:"],"img-src":"*"}}}}`, `{"app":{"security":{"csp":"default-src 'self'"}}}`,
		`{"gateway":{"auth":"none","frame_ancestors":["'self'"]}}`, `{"identifier":"com.example.x","limits":{"max_streams_per_caller":3,"stream_write_timeout":"1s"}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(strings.NewReader(s), "f.json", t.TempDir())
		if err != nil {
			return
		}
		if c.App.Security.Pattern.Use != Brownfield && c.App.Security.Pattern.Use != IsolationPattern {
			t.Fatalf("accepted pattern %q", c.App.Security.Pattern.Use)
		}
		if c.Gateway.Auth != AuthToken && c.Gateway.Auth != AuthNone {
			t.Fatalf("accepted auth %q", c.Gateway.Auth)
		}
		// What goes in a header or a path is one line, one segment.
		csp, err := c.App.Security.ContentSecurityPolicy()
		if err != nil || strings.ContainsAny(csp, "\r\n") {
			t.Fatalf("accepted csp %q (%v)", csp, err)
		}
		if validIdentifier(c.Identifier) != nil || strings.ContainsAny(c.Identifier, "/\\") {
			t.Fatalf("accepted identifier %q", c.Identifier)
		}
		for _, fa := range c.Gateway.FrameAncestors {
			if fa == "" || strings.ContainsAny(fa, " ;,\r\n") {
				t.Fatalf("accepted frame ancestor %q", fa)
			}
		}
	})
}

// The sample configurations in examples/config load.
func TestExampleConfigs(t *testing.T) {
	for _, name := range []string{"isolation.json", "brownfield.json"} {
		if _, err := Load(filepath.Join("..", "examples", "config", name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// gateway.console: unset unless the file or --console says; --console alone
// means true, and the flag wins over the file.
func TestConsoleSetting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tether.json")
	os.WriteFile(path, []byte(`{"gateway":{"console":false}}`), 0o600)
	resolve := func(file string, args ...string) *bool {
		t.Helper()
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		f := BindFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		c, err := f.Resolve(file)
		if err != nil {
			t.Fatal(err)
		}
		return c.Gateway.Console
	}
	if v := resolve(""); v != nil {
		t.Fatalf("no setting: %v", *v)
	}
	if v := resolve(path); v == nil || *v {
		t.Fatalf("file false: %v", v)
	}
	if v := resolve(path, "--console"); v == nil || !*v {
		t.Fatalf("--console over the file: %v", v)
	}
	if v := resolve("", "--console=false"); v == nil || *v {
		t.Fatalf("--console=false: %v", v)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	BindFlags(fs)
	if err := fs.Parse([]string{"--console=maybe"}); err == nil {
		t.Fatal("--console=maybe accepted")
	}
}

// The runtime folder: $XDG_RUNTIME_DIR/tether/<identifier>, else a folder
// of this user's under the temporary folder; the default socket and secret
// are in it; grpc and token_file replace them.
func TestRuntimeDir(t *testing.T) {
	rt := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", rt)
	c := Default()
	c.Identifier = "com.example.notes"
	if d, _ := c.RuntimeDir(); d != filepath.Join(rt, "tether", "com.example.notes") {
		t.Fatalf("runtime dir %q", d)
	}
	if a, _ := c.GRPCAddr(); a != "unix://"+filepath.Join(rt, "tether", "com.example.notes", "grpc.sock") {
		t.Fatalf("grpc %q", a)
	}
	if p, _ := c.TokenPath(); p != filepath.Join(rt, "tether", "com.example.notes", "token") {
		t.Fatalf("token %q", p)
	}
	c.GRPC, c.Gateway.TokenFile = "127.0.0.1:7401", "/etc/notes/token"
	if a, _ := c.GRPCAddr(); a != "127.0.0.1:7401" {
		t.Fatalf("grpc %q", a)
	}
	if p, _ := c.TokenPath(); p != "/etc/notes/token" {
		t.Fatalf("token %q", p)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	def := Default()
	d, _ := def.RuntimeDir()
	if want := filepath.Join(os.TempDir(), "tether-"+strconv.Itoa(os.Getuid()), DefaultIdentifier); d != want {
		t.Fatalf("without XDG_RUNTIME_DIR: %q, want %q", d, want)
	}
}
