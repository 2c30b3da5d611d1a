package gateway_test

import (
	"encoding/json"
	"io/fs"
	"strings"
	"testing"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/gateway"
)

func TestCommandsList(t *testing.T) {
	h := newHarness(t)
	status, _, body := h.do(t, "GET", "/ipc/commands", nil, nil)
	var cmds []gateway.Command
	if status != 200 || json.Unmarshal(body, &cmds) != nil {
		t.Fatalf("%d %s", status, body)
	}
	byName := map[string]gateway.Command{}
	for _, c := range cmds {
		byName[c.Name] = c
	}
	greet, count := byName["greet"], byName["count"]
	if greet.Kind != "unary" || !strings.Contains(string(greet.Args), `"name"`) || count.Kind != "channel" {
		t.Fatalf("greet %+v, count %+v", greet, count)
	}
	var schema map[string]any
	if err := json.Unmarshal(greet.Result, &schema); err != nil {
		t.Fatalf("result schema %s: %v", greet.Result, err)
	}
}

// The proto comment of Greet (kept by protoc-gen-tether-go, which
// protoc-gen-go strips) is greet's description, and the protovalidate rule
// on GreetRequest.name is in its argument schema, in both documents.
func TestCommandsDescribeProto(t *testing.T) {
	h := newHarness(t)
	status, _, body := h.do(t, "GET", "/ipc/commands", nil, nil)
	var cmds []gateway.Command
	if status != 200 || json.Unmarshal(body, &cmds) != nil {
		t.Fatalf("%d %s", status, body)
	}
	var greet gateway.Command
	for _, c := range cmds {
		if c.Name == "greet" {
			greet = c
		}
	}
	if greet.Description != "Greet says hello." {
		t.Errorf("greet's description: %q", greet.Description)
	}
	checkNameSchema(t, "/ipc/commands", greet.Args)

	status, _, body = h.do(t, "GET", "/openapi.json", nil, nil)
	var doc struct {
		Paths map[string]struct {
			Post struct {
				Summary     string `json:"summary"`
				Description string `json:"description"`
				RequestBody struct {
					Content map[string]struct {
						Schema json.RawMessage `json:"schema"`
					} `json:"content"`
				} `json:"requestBody"`
			} `json:"post"`
		} `json:"paths"`
	}
	if status != 200 || json.Unmarshal(body, &doc) != nil {
		t.Fatalf("%d %.200s", status, body)
	}
	op := doc.Paths["/ipc/invoke/greet"].Post
	if op.Summary != "Greet says hello." || op.Description != "Greet says hello." {
		t.Errorf("openapi greet: summary %q, description %q", op.Summary, op.Description)
	}
	checkNameSchema(t, "/openapi.json", op.RequestBody.Content["application/json"].Schema)
}

func checkNameSchema(t *testing.T, where string, args json.RawMessage) {
	t.Helper()
	var s struct {
		Title      string `json:"title"`
		Properties map[string]struct {
			Type        string   `json:"type"`
			MinLength   *float64 `json:"minLength"`
			MaxLength   *float64 `json:"maxLength"`
			Description string   `json:"description"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(args, &s); err != nil {
		t.Fatalf("%s: greet args %s: %v", where, args, err)
	}
	name := s.Properties["name"]
	if s.Title != "demo.v1.GreetRequest" || name.Type != "string" || name.MinLength == nil || *name.MinLength != 1 ||
		name.MaxLength == nil || *name.MaxLength != 256 || name.Description != "name is who to greet." {
		t.Errorf("%s: greet args schema %s", where, args)
	}
}

func TestOpenAPI(t *testing.T) {
	h := newHarness(t)
	status, _, body := h.do(t, "GET", "/openapi.json", nil, nil)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if status != 200 || json.Unmarshal(body, &doc) != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("%d %.200s", status, body)
	}
	for _, p := range []string{"/ipc/invoke/greet", "/ipc/invoke/count", "/ipc/invoke/echo_bytes", "/ipc/emit/{event}", "/ipc/listen", "/healthz"} {
		if doc.Paths[p] == nil {
			t.Errorf("no path %s", p)
		}
	}
	post, _ := doc.Paths["/ipc/invoke/greet"]["post"].(map[string]any)
	if !strings.Contains(mustJSON(t, post["requestBody"]), `"name"`) {
		t.Errorf("greet's request schema: %v", post["requestBody"])
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHealth(t *testing.T) {
	h := newHarness(t)
	if status, _, body := h.do(t, "GET", "/healthz", nil, nil); status != 200 || !strings.Contains(string(body), "SERVING") {
		t.Fatalf("%d %s", status, body)
	}
	h.srv.Health().Shutdown() // NOT_SERVING
	status, _, body := h.do(t, "GET", "/healthz", nil, nil)
	wantError(t, status, body, 503, tether.CodeUnavailable)
}

func TestDemoPageAndScripts(t *testing.T) {
	h := newHarness(t)
	status, hdr, body := h.do(t, "GET", "/", nil, nil)
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(string(body), `id="greet-btn"`) {
		t.Fatalf("demo page: %d %q", status, hdr.Get("Content-Type"))
	}
	for _, id := range []string{"result", "error", "event-log", "emit-btn", "progress", "path", "read-btn", "fail-btn", "bytes-btn", "count-btn", "process-btn"} {
		if !strings.Contains(string(body), `id="`+id+`"`) {
			t.Errorf("demo page has no #%s", id)
		}
	}
	status, hdr, body = h.do(t, "GET", "/demo.js", nil, nil)
	if status != 200 || !strings.Contains(hdr.Get("Content-Type"), "javascript") || !strings.Contains(string(body), "'/ipc/client.js'") {
		t.Fatalf("demo.js: %d %q", status, hdr.Get("Content-Type"))
	}
	// The scripts are served when they have been added to assets/, and are a
	// 404 with the error body until then.
	for _, name := range []string{"client.js", "tauri-shim.js"} {
		status, hdr, body := h.do(t, "GET", "/ipc/"+name, nil, nil)
		if _, err := fs.Stat(osAssets, name); err == nil {
			if status != 200 || hdr.Get("Content-Type") != "text/javascript; charset=utf-8" {
				t.Errorf("%s: %d %q", name, status, hdr.Get("Content-Type"))
			}
		} else {
			wantError(t, status, body, 404, tether.CodeNotFound)
		}
	}
}
