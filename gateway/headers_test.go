package gateway_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tether-ipc/tether/gateway"
	"github.com/tether-ipc/tether/server"
)

// An invoke's headers reach its command (tether.Call.Header, and
// server.Request for raw bodies), less what the gateway keeps to itself.
func TestInvokeHeadersReachTheCommand(t *testing.T) {
	for _, withToken := range []bool{false, true} {
		var opts []gateway.Option
		if withToken {
			opts = append(opts, gateway.WithToken("gateway-secret"))
		}
		h := newHarness(t, opts...)
		server.Handle(h.srv, "upload", func(ctx context.Context, r server.Request) (map[string]any, error) {
			return map[string]any{"len": len(r.Body), "raw": r.Raw, "auth": r.Header.Get("Authorization"),
				"custom": r.Header.Get("X-Custom"), "cookie": r.Header.Get("Cookie"), "label": r.Header.Get("Tether-Client-Label"),
				"stream": r.Header.Get("Tether-Stream"), "type": r.Header.Get("Content-Type")}, nil
		})
		hdr := map[string]string{"X-Custom": "42", "Cookie": "tether=gateway-session", "Tether-Stream": "", "Content-Type": "application/octet-stream"}
		if withToken {
			hdr["Authorization"] = "Bearer gateway-secret"
		} else {
			hdr["Authorization"] = "Bearer app-token"
		}
		status, _, body := h.do(t, "POST", "/ipc/invoke/upload", []byte("some bytes"), hdr)
		if status != 200 {
			t.Fatalf("token %v: %d %s", withToken, status, body)
		}
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		wantAuth := "Bearer app-token"
		if withToken {
			wantAuth = "" // the gateway's own secret never reaches a command
		}
		if got["len"] != 10.0 || got["raw"] != true || got["custom"] != "42" || got["auth"] != wantAuth ||
			got["cookie"] != "" || got["label"] != "" || got["type"] != "application/octet-stream" {
			t.Errorf("token %v: the command saw %v", withToken, got)
		}
	}
}
