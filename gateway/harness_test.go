package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/examples/demo"
	"github.com/tether-ipc/tether/gateway"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	"github.com/tether-ipc/tether/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// demoREST registers the generated typed routes of the demo service
// through the connection, as `tether serve` does.
func demoREST(ctx context.Context, mux *runtime.ServeMux, conn grpc.ClientConnInterface) error {
	return demov1.RegisterDemoHandlerClient(ctx, mux, demov1.NewDemoClient(conn))
}

// seen records who the core believed each call came from.
type seen struct {
	mu    sync.Mutex
	calls []tether.Call
}

func (s *seen) interceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if c, ok := tether.CallFromContext(ctx); ok {
		s.mu.Lock()
		s.calls = append(s.calls, *c)
		s.mu.Unlock()
	}
	return h(ctx, req)
}

func (s *seen) last(t *testing.T) tether.Call {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) == 0 {
		t.Fatal("the core saw no call")
	}
	return s.calls[len(s.calls)-1]
}

// harness is a real core (server.New + the demo app) reached through
// DialInProcess, with the gateway on a real loopback HTTP server.
type harness struct {
	srv  *server.Server
	gw   *gateway.Gateway
	hs   *httptest.Server
	seen *seen
	data string
}

func newHarness(t testing.TB, opts ...gateway.Option) *harness {
	t.Helper()
	return newHarnessOver(t, false, opts...)
}

// newHarnessWith is newHarness with server options too.
func newHarnessWith(t testing.TB, sopts []server.Option, opts ...gateway.Option) *harness {
	t.Helper()
	return newHarnessOf(t, false, sopts, opts...)
}

// newHarnessOver is newHarness with the gateway on a Unix-socket connection
// to the core when relayed (as split mode has it): streams are relayed, not
// pushed.
func newHarnessOver(t testing.TB, relayed bool, opts ...gateway.Option) *harness {
	t.Helper()
	return newHarnessOf(t, relayed, nil, opts...)
}

func newHarnessOf(t testing.TB, relayed bool, sopts []server.Option, opts ...gateway.Option) *harness {
	t.Helper()
	h := &harness{seen: &seen{}, data: t.TempDir()}
	h.srv = server.New(append([]server.Option{server.WithLogger(quiet), server.WithInterceptors(h.seen.interceptor)}, sopts...)...)
	demo.New(h.data).Register(h.srv)
	server.Handle(h.srv, "whoami", func(ctx context.Context, _ struct{}) (map[string]string, error) {
		c, _ := tether.CallFromContext(ctx)
		return map[string]string{"label": c.ClientLabel, "origin": c.Origin, "trace": strings.Join(c.Header.Get("x-tether-trace"), ",")}, nil
	})
	server.HandleChannel(h.srv, "fail_midway", func(ctx context.Context, _ struct{}, send func(int) error) error {
		for i := range 3 {
			if err := send(i); err != nil {
				return err
			}
		}
		return tether.NewError(tether.CodeAborted, "broke after 3").WithDetails(map[string]int{"sent": 3})
	})
	var conn *grpc.ClientConn
	var err error
	if relayed {
		sock := filepath.Join(t.TempDir(), "core.sock")
		lis, lerr := server.Listen("unix://" + sock)
		if lerr != nil {
			t.Fatal(lerr)
		}
		go h.srv.Serve(lis) //nolint:errcheck // ends with the server
		conn, err = grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		conn, err = h.srv.DialInProcess()
	}
	if err != nil {
		t.Fatal(err)
	}
	h.gw, err = gateway.New(conn, append([]gateway.Option{gateway.WithLogger(quiet), gateway.WithServices(demoREST)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	h.hs = httptest.NewUnstartedServer(h.gw)
	h.hs.Config = h.gw.Server("")
	h.hs.Start()
	t.Cleanup(func() {
		h.gw.Close()
		h.hs.Close()
		conn.Close()
		h.srv.Stop()
	})
	return h
}

// do sends a request and returns the status, headers and body.
func (h *harness) do(t testing.TB, method, path string, body []byte, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req := h.request(t, method, path, body, hdr)
	res, err := h.hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, b
}

func (h *harness) request(t testing.TB, method, path string, body []byte, hdr map[string]string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, h.hs.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	return req
}

// wantError checks the one error shape.
func wantError(t *testing.T, status int, body []byte, wantStatus int, wantCode tether.Code) *tether.Error {
	t.Helper()
	var e tether.Error
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("status %d, body is not the error shape: %v: %q", status, err, body)
	}
	if status != wantStatus || e.Code() != wantCode {
		t.Fatalf("got %d %s (%s), want %d %s", status, e.Code(), e.Message(), wantStatus, wantCode)
	}
	if e.Message() == "" {
		t.Fatalf("error without a message: %s", body)
	}
	return &e
}

// frame is one SSE frame.
type frame struct {
	event, id, data, comment, retry string
}

// sseReader reads frames from an SSE body.
type sseReader struct{ r *bufio.Reader }

func newSSE(body io.Reader) *sseReader { return &sseReader{bufio.NewReader(body)} }

// next returns the next frame, or io.EOF.
func (s *sseReader) next() (frame, error) {
	var f frame
	var data []string
	any := false
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if any {
				return f, io.ErrUnexpectedEOF
			}
			return f, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if !any {
				continue
			}
			f.data = strings.Join(data, "\n")
			return f, nil
		}
		any = true
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimPrefix(v, " ")
		switch k {
		case "":
			f.comment = v
		case "event":
			f.event = v
		case "id":
			f.id = v
		case "data":
			data = append(data, v)
		case "retry":
			f.retry = v
		}
	}
}

// nextData skips comments and retry hints.
func (s *sseReader) nextData(t *testing.T) frame {
	t.Helper()
	for {
		f, err := s.next()
		if err != nil {
			t.Fatalf("reading SSE: %v", err)
		}
		if f.comment != "" || (f.retry != "" && f.data == "") {
			continue
		}
		return f
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// testOrigins allows a dev server with two labels and a tool with one.
func testOrigins() gateway.Option {
	return gateway.WithOrigins(map[string][]string{
		"http://localhost:5173": {"main", "settings"},
		"http://app.test:8080":  {"tool"},
	})
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// osAssets is the assets folder as the embed sees it at build time.
var osAssets = os.DirFS("assets")
