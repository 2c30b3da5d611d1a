package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/app"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/config"
	"github.com/tether-ipc/tether/server"
)

type addArgs struct {
	A, B int
}

// ownApp writes the files of an app of one's own: a hook that blocks
// "secret", capabilities for the browser's label and the backend's.
func ownApp(t *testing.T) config.Config {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "isolation"), 0o700)
	os.WriteFile(filepath.Join(dir, "isolation", "hook.js"), []byte(`
window.__TAURI_ISOLATION_HOOK__ = (payload) => {
  if (payload.cmd === "invoke" && payload.message.cmd === "secret") throw new Error("secret is for the backend only");
  return payload;
};`), 0o600)
	os.Mkdir(filepath.Join(dir, "capabilities"), 0o700)
	os.WriteFile(filepath.Join(dir, "capabilities", "main.json"), []byte(`{"identifier":"main","windows":["main"],"permissions":["allow-add","allow-secret"]}`), 0o600)
	os.WriteFile(filepath.Join(dir, "capabilities", "backend.json"), []byte(`{"identifier":"backend","windows":["backend"],"permissions":["allow-add","allow-secret"]}`), 0o600)
	os.WriteFile(filepath.Join(dir, "tether.json"), []byte(`{
	  "grpc": "unix:core.sock", "http": "127.0.0.1:0", "data": "data",
	  "capabilities": "capabilities",
	  "trusted": {"unix:backend.sock": "backend"},
	  "app": {"security": {"pattern": {"use": "isolation", "options": {"dir": "isolation"}}}}
	}`), 0o600)
	os.Mkdir(filepath.Join(dir, "data"), 0o700)
	cfg, err := config.Load(filepath.Join(dir, "tether.json"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// An app of one's own in isolation mode with capabilities: its Go command
// answers through a trusted endpoint (gRPC, unsealed, with the endpoint's
// label) and through the gateway; the hook blocks with a reason; an
// unsealed call to the gRPC port is refused; /metrics counts the call and
// the block.
func TestOwnAppIsolationAndCapabilities(t *testing.T) {
	cfg := ownApp(t)
	ready := make(chan app.Ready, 1)
	a, err := app.New(cfg, app.WithOutput(io.Discard, io.Discard), app.WithReady(func(r app.Ready) { ready <- r }))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	labels := map[string]bool{}
	server.Handle(a.Server(), "add", func(ctx context.Context, x addArgs) (int, error) {
		call, _ := tether.CallFromContext(ctx)
		mu.Lock()
		labels[call.ClientLabel] = true
		mu.Unlock()
		return x.A + x.B, nil
	})
	server.Handle(a.Server(), "secret", func(ctx context.Context, _ struct{}) (string, error) { return "42", nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var r app.Ready
	select {
	case r = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	if len(r.Trusted) != 1 {
		t.Fatalf("trusted endpoints %v", r.Trusted)
	}

	// A Go service through the trusted endpoint: no seal, its own label
	// (whatever it claims), capabilities applied.
	backend := dial(t, r.Trusted[0])
	var sum int
	claim := client.WithClientLabel(context.Background(), "main", "")
	if err := backend.Invoke(claim, "add", addArgs{A: 2, B: 3}, &sum); err != nil || sum != 5 {
		t.Fatalf("add through the trusted endpoint: %d %v", sum, err)
	}
	var secret string
	if err := backend.Invoke(context.Background(), "secret", nil, &secret); err != nil || secret != "42" {
		t.Fatalf("secret through the trusted endpoint: %q %v", secret, err)
	}
	// The browser, through the gateway and the hook.
	post := func(path, body string) (int, string) {
		res, err := bearerClient(r.Token).Post(r.HTTP+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := post("/ipc/invoke/add", `{"a":1,"b":2}`); code != 200 || body != "3" {
		t.Fatalf("add through the gateway: %d %s", code, body)
	}
	if code, body := post("/ipc/invoke/secret", `{}`); code != 403 || !strings.Contains(body, "secret is for the backend only") {
		t.Fatalf("secret through the gateway: %d %s", code, body)
	}
	// Anyone else on the gRPC port, unsealed.
	plain := dial(t, r.GRPC)
	if err := plain.Invoke(context.Background(), "add", addArgs{A: 1}, nil); tether.CodeOf(err) != tether.CodePermissionDenied {
		t.Fatalf("unsealed call to the gRPC port: %v", err)
	}
	mu.Lock()
	if !labels["backend"] || !labels["main"] || len(labels) != 2 {
		t.Errorf("labels seen by the handler: %v", labels)
	}
	mu.Unlock()
	_, metrics := get(t, r.Token, r.HTTP+"/metrics")
	for _, want := range []string{
		`tether_invokes_total{code="ok",command="add"} 2`,
		`tether_isolation_rejections_total{reason="blocked"} 1`,
		`tether_isolation_rejections_total{reason="unsealed"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func get(t *testing.T, token, url string) (int, string) {
	t.Helper()
	res, err := bearerClient(token).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// receiver is an in-process OTLP trace receiver.
type receiver struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (r *receiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			r.spans = append(r.spans, ss.GetSpans()...)
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// With the standard OTEL_* variables set, a call through the gateway makes
// one trace — gateway, core and command spans, each the parent of the next
// — that reaches an OTLP receiver.
func TestTraceReachesOTLPReceiver(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rcv := &receiver{}
	gs := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(gs, rcv)
	go gs.Serve(l)
	defer gs.Stop()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+l.Addr().String())
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
	t.Setenv("OTEL_SERVICE_NAME", "trace-test")

	cfg := baseConfig(t)
	ready := make(chan app.Ready, 1)
	a, err := app.New(cfg, app.WithOutput(io.Discard, io.Discard), app.WithReady(func(r app.Ready) { ready <- r }))
	if err != nil {
		t.Fatal(err)
	}
	server.Handle(a.Server(), "add", func(ctx context.Context, x addArgs) (int, error) { return x.A + x.B, nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	r := <-ready
	if code, body := post(t, r.Token, r.HTTP+"/ipc/invoke/add", `{"a":1,"b":2}`); code != 200 {
		t.Fatalf("add: %d %s", code, body)
	}
	cancel() // shutting down flushes the spans
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	byName := map[string]*tracepb.Span{}
	for _, s := range rcv.spans {
		byName[s.GetName()] = s
	}
	gw, core, cmd := byName["POST /ipc/invoke/{name}"], byName["tether.v1.IPC/Invoke"], byName["tether.invoke add"]
	if gw == nil || core == nil || cmd == nil {
		names := []string{}
		for n := range byName {
			names = append(names, n)
		}
		t.Fatalf("spans %v: want the gateway's, the core's and the command's", names)
	}
	if string(core.GetTraceId()) != string(gw.GetTraceId()) || string(cmd.GetTraceId()) != string(gw.GetTraceId()) {
		t.Fatal("the spans are not one trace")
	}
	if string(core.GetParentSpanId()) != string(gw.GetSpanId()) || string(cmd.GetParentSpanId()) != string(core.GetSpanId()) {
		t.Fatal("the spans are not gateway → core → command")
	}
}

func post(t *testing.T, token, url, body string) (int, string) {
	t.Helper()
	res, err := bearerClient(token).Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// bearerClient is an HTTP client that sends the app's secret.
func bearerClient(token string) *http.Client {
	return &http.Client{Transport: bearerTransport(token)}
}

type bearerTransport string

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}
