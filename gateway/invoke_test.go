package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tether-ipc/tether"
)

func TestInvokeJSON(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct{ cmd, args, want string }{
		{"greet", `{"name":"World"}`, `"Hello, World!"`},
		{"process_data", `{"input":"test"}`, `"Processed: test"`},
	} {
		status, hdr, body := h.do(t, "POST", "/ipc/invoke/"+tc.cmd, []byte(tc.args), nil)
		if status != 200 || string(body) != tc.want || hdr.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q %q, want 200 %s", tc.cmd, status, hdr.Get("Content-Type"), body, tc.want)
		}
	}
}

func TestInvokeRawBytes(t *testing.T) {
	h := newHarness(t)
	in := make([]byte, 256*3)
	for i := range in {
		in[i] = byte(i)
	}
	status, hdr, body := h.do(t, "POST", "/ipc/invoke/echo_bytes", in, map[string]string{"Content-Type": "application/octet-stream"})
	if status != 200 || hdr.Get("Content-Type") != "application/octet-stream" || !bytes.Equal(body, in) {
		t.Fatalf("echo_bytes: %d %q, %d bytes back, equal=%v", status, hdr.Get("Content-Type"), len(body), bytes.Equal(body, in))
	}
}

func TestInvokeCommandError(t *testing.T) {
	h := newHarness(t)
	status, _, body := h.do(t, "POST", "/ipc/invoke/fail", []byte(`{"reason":"because"}`), nil)
	e := wantError(t, status, body, 400, tether.CodeFailedPrecondition)
	if string(e.Details()) != `{"reason":"because","retryable":false}` {
		t.Fatalf("details %s", e.Details())
	}
}

func TestChannelCount(t *testing.T) {
	h := newHarness(t)
	req := h.request(t, "POST", "/ipc/invoke/count", []byte(`{"to":100}`), map[string]string{"Accept": "text/event-stream"})
	res, err := h.hs.Client().Do(req.WithContext(ctxTimeout(t, 20*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 100 {
		fmt.Fprintf(&want, "data: {\"index\":%d,\"message\":{\"n\":%d,\"of\":100}}\n\n", i, i+1)
	}
	want.WriteString("data: {\"index\":100,\"end\":true}\n\n")
	if string(raw) != want.String() {
		t.Fatalf("stream differs:\n%s", raw)
	}
}

func TestChannelErrorMidStream(t *testing.T) {
	h := newHarness(t)
	req := h.request(t, "POST", "/ipc/invoke/fail_midway", []byte(`{}`), map[string]string{"Accept": "text/event-stream"})
	res, err := h.hs.Client().Do(req.WithContext(ctxTimeout(t, 20*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sse := newSSE(res.Body)
	for i := range 3 {
		if f := sse.nextData(t); f.event != "" || f.data != fmt.Sprintf(`{"index":%d,"message":%d}`, i, i) {
			t.Fatalf("frame %d: %+v", i, f)
		}
	}
	f := sse.nextData(t)
	if f.event != "error" {
		t.Fatalf("want an error frame, got %+v", f)
	}
	var e tether.Error
	if err := json.Unmarshal([]byte(f.data), &e); err != nil || e.Code() != tether.CodeAborted || string(e.Details()) != `{"sent":3}` {
		t.Fatalf("error frame %q: %v", f.data, err)
	}
	if _, err := sse.next(); err != io.EOF {
		t.Fatalf("stream goes on after the error frame: %v", err)
	}
}

// A channel that fails before its first message is an ordinary error
// response, not a stream.
func TestChannelErrorBeforeStart(t *testing.T) {
	h := newHarness(t)
	sse := map[string]string{"Accept": "text/event-stream"}
	status, _, body := h.do(t, "POST", "/ipc/invoke/count", []byte(`{"to":2000000}`), sse)
	wantError(t, status, body, 400, tether.CodeInvalidArgument)
	// A unary command streamed (Tauri's way with channels) fails as it would
	// unstreamed.
	status, _, body = h.do(t, "POST", "/ipc/invoke/greet", []byte(`{}`), sse)
	wantError(t, status, body, 400, tether.CodeInvalidArgument)
	// And a channel command invoked without SSE says how to call it.
	status, _, body = h.do(t, "POST", "/ipc/invoke/count", []byte(`{"to":1}`), nil)
	wantError(t, status, body, 400, tether.CodeFailedPrecondition)
}

func TestTypedRoutes(t *testing.T) {
	h := newHarness(t)
	status, _, body := h.do(t, "POST", "/v1/demo/greet", []byte(`{"name":"World"}`), nil)
	if status != 200 || string(body) != `"Hello, World!"` {
		t.Fatalf("typed greet: %d %s", status, body)
	}
	// The typed route's errors have the same shape and details.
	status, _, body = h.do(t, "POST", "/v1/demo/fail", []byte(`{"reason":"r"}`), nil)
	if e := wantError(t, status, body, 400, tether.CodeFailedPrecondition); string(e.Details()) != `{"reason":"r","retryable":false}` {
		t.Fatalf("details %s", e.Details())
	}
}

// The label comes from the gateway's decision, on every path; a page
// cannot smuggle identity metadata in through headers.
func TestIdentityReachesCore(t *testing.T) {
	h := newHarness(t, testOrigins())
	spoof := map[string]string{
		"Grpc-Metadata-Tether-Client-Label": "admin",
		"Tether-Origin":                     "http://admin.example",
		"X-Tether-Trace":                    "t1",
	}
	status, _, body := h.do(t, "POST", "/v1/demo/greet", []byte(`{"name":"x"}`), spoof)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	if c := h.seen.last(t); c.ClientLabel != "main" || c.Origin != "" || strings.Join(c.Header.Get("x-tether-trace"), "") != "t1" {
		t.Fatalf("typed route: core saw label %q origin %q trace %q", c.ClientLabel, c.Origin, c.Header.Get("x-tether-trace"))
	}
	for _, tc := range []struct {
		hdr                map[string]string
		path               string
		label, origin, trc string
	}{
		{spoof, "/ipc/invoke/whoami", "main", "", "t1"},
		{map[string]string{"Origin": "http://localhost:5173"}, "/ipc/invoke/whoami", "main", "http://localhost:5173", ""},
		{map[string]string{"Origin": "http://localhost:5173", "Tether-Client-Label": "settings"}, "/ipc/invoke/whoami", "settings", "http://localhost:5173", ""},
		{map[string]string{"Origin": "http://localhost:5173"}, "/ipc/invoke/whoami?label=settings", "settings", "http://localhost:5173", ""},
		{map[string]string{"Origin": "http://app.test:8080"}, "/ipc/invoke/whoami", "tool", "http://app.test:8080", ""},
		{map[string]string{"Origin": "HTTP://LOCALHOST:5173"}, "/ipc/invoke/whoami", "main", "http://localhost:5173", ""},
	} {
		status, hdr, body := h.do(t, "POST", tc.path, nil, tc.hdr)
		var got map[string]string
		if status != 200 || json.Unmarshal(body, &got) != nil {
			t.Fatalf("%v: %d %s", tc.hdr, status, body)
		}
		if got["label"] != tc.label || got["origin"] != tc.origin || got["trace"] != tc.trc {
			t.Errorf("%v: core saw %v", tc.hdr, got)
		}
		if o := tc.hdr["Origin"]; o != "" && hdr.Get("Access-Control-Allow-Origin") != o {
			t.Errorf("%v: Access-Control-Allow-Origin %q", tc.hdr, hdr.Get("Access-Control-Allow-Origin"))
		}
	}
	// Same origin: the page served by the gateway itself.
	self := h.hs.URL
	status, hdr, body := h.do(t, "POST", "/ipc/invoke/whoami", nil, map[string]string{"Origin": self})
	if status != 200 || !strings.Contains(string(body), `"label":"main"`) || hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("same origin: %d %s (ACAO %q)", status, body, hdr.Get("Access-Control-Allow-Origin"))
	}
}

func TestPreflight(t *testing.T) {
	h := newHarness(t, testOrigins())
	status, hdr, _ := h.do(t, "OPTIONS", "/ipc/invoke/greet", nil, map[string]string{
		"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "content-type, tether-client-label, x-tether-trace",
	})
	if status != 204 || hdr.Get("Access-Control-Allow-Origin") != "http://localhost:5173" ||
		!strings.Contains(hdr.Get("Vary"), "Origin") || !strings.Contains(hdr.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight: %d %v", status, hdr)
	}
}

// Unknown argument keys are ignored through the gateway as through gRPC; a
// key given under two spellings is refused with invalid_argument.
func TestInvokeUnknownKeys(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		cmd, args string
		status    int
		want      string
	}{
		{"greet", `{"name":"World","nme":"x","extra":{"deep":[1,2]}}`, 200, `"Hello, World!"`},
		{"process_data", `{"input":"test","Input":"other"}`, 200, `"Processed: test"`},
		{"greet", `{"name":"World","name":"again"}`, 400, `given twice`},
	} {
		status, _, body := h.do(t, "POST", "/ipc/invoke/"+tc.cmd, []byte(tc.args), nil)
		if status != tc.status || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s %s: %d %s, want %d %s", tc.cmd, tc.args, status, body, tc.status, tc.want)
		}
	}
}
