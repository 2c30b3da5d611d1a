package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// Command is one entry of GET /ipc/commands.
type Command struct {
	Name        string          `json:"name"`
	Kind        string          `json:"kind"` // "unary" or "channel"
	Method      string          `json:"method,omitempty"`
	Description string          `json:"description,omitempty"`
	Args        json.RawMessage `json:"args"`   // JSON Schema of the arguments
	Result      json.RawMessage `json:"result"` // JSON Schema of the result (of each message, for channels)
}

func (g *Gateway) commands(r *http.Request) ([]Command, error) {
	ctx, cancel := g.callContext(r, false)
	defer cancel()
	res, err := g.ipc.ListCommands(ctx, &tetherv1.ListCommandsRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]Command, 0, len(res.GetCommands()))
	for _, c := range res.GetCommands() {
		kind := "unary"
		if c.GetKind() == tetherv1.CommandInfo_KIND_CHANNEL {
			kind = "channel"
		}
		out = append(out, Command{Name: c.GetName(), Kind: kind, Method: c.GetMethod(), Description: c.GetDescription(),
			Args: schemaOrTrue(c.GetArgsSchema()), Result: schemaOrTrue(c.GetResultSchema())})
	}
	return out, nil
}

// schemaOrTrue returns the schema, or the JSON Schema "true" (anything)
// when the core has none or it is not JSON.
func schemaOrTrue(s string) json.RawMessage {
	if s == "" || !json.Valid([]byte(s)) {
		return json.RawMessage("true")
	}
	return json.RawMessage(s)
}

func (g *Gateway) serveCommands(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	cmds, err := g.commands(r)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	writeJSON(w, http.StatusOK, cmds)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, 0, tether.Errorf(tether.CodeInternal, "encoding the response: %v", err))
		return
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n')) //nolint:errcheck // the client may be gone
}

// serveOpenAPI answers GET /openapi.json: an OpenAPI 3.1 document with a
// path per command and the emit, listen and commands routes.
func (g *Gateway) serveOpenAPI(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	cmds, err := g.commands(r)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	writeJSON(w, http.StatusOK, openAPI(cmds))
}

type obj = map[string]any

func openAPI(cmds []Command) obj {
	errResp := obj{"description": "error", "content": obj{contentTypeJSON: obj{"schema": obj{"$ref": "#/components/schemas/Error"}}}}
	paths := obj{}
	for _, c := range cmds {
		op := obj{
			"operationId": "invoke_" + c.Name,
			"summary":     summary(c.Description),
			"description": c.Description,
			"tags":        []string{"commands"},
			"requestBody": obj{"content": obj{contentTypeJSON: obj{"schema": c.Args}}},
			"responses":   obj{"default": errResp},
		}
		if c.Kind == "channel" {
			op["parameters"] = []obj{{"name": "Accept", "in": "header", "required": true,
				"schema": obj{"const": contentTypeEventStream}}}
			op["responses"].(obj)["200"] = obj{
				"description":      `SSE: "data: {\"index\":N,\"message\":…}" frames in order, then "data: {\"index\":N,\"end\":true}"; an "event: error" frame on failure`,
				"content":          obj{contentTypeEventStream: obj{"schema": obj{"type": "string"}}},
				"x-message-schema": c.Result,
			}
		} else {
			op["responses"].(obj)["200"] = obj{"description": "the result", "content": obj{contentTypeJSON: obj{"schema": c.Result}}}
		}
		paths["/ipc/invoke/"+c.Name] = obj{"post": op}
	}
	paths["/ipc/emit/{event}"] = obj{"post": obj{
		"operationId": "emit", "tags": []string{"events"},
		"parameters": []obj{
			{"name": "event", "in": "path", "required": true, "schema": obj{"$ref": "#/components/schemas/Name"}},
			{"name": "target", "in": "query", "schema": obj{"$ref": "#/components/schemas/Name"}},
		},
		"requestBody": obj{"content": obj{contentTypeJSON: obj{"schema": true}}},
		"responses": obj{"200": obj{"description": "the event's id", "content": obj{contentTypeJSON: obj{"schema": obj{
			"type": "object", "properties": obj{"id": obj{"type": "integer", "minimum": 0}}, "required": []string{"id"}}}}},
			"default": errResp},
	}}
	paths["/ipc/listen"] = obj{"get": obj{
		"operationId": "listen", "tags": []string{"events"},
		"parameters": []obj{
			{"name": "event", "in": "query", "required": true, "explode": true, "schema": obj{"type": "array", "items": obj{"$ref": "#/components/schemas/Name"}}},
			{"name": "Last-Event-ID", "in": "header", "schema": obj{"type": "string", "pattern": "^[0-9]{1,20}$"}},
			{"name": "lastEventId", "in": "query", "schema": obj{"type": "string", "pattern": "^[0-9]{1,20}$"}},
		},
		"responses": obj{"200": obj{
			"description": `SSE: "event: NAME", "id: N", "data: payload" per event; "event: lagged" with {"dropped","resume_after"}; "event: error" with the error body`,
			"content":     obj{contentTypeEventStream: obj{"schema": obj{"type": "string"}}}},
			"default": errResp},
	}}
	paths["/ipc/commands"] = obj{"get": obj{"operationId": "commands", "responses": obj{
		"200": obj{"description": "every command with its argument and result schemas"}, "default": errResp}}}
	paths["/healthz"] = obj{"get": obj{"operationId": "health", "responses": obj{
		"200": obj{"description": "serving"}, "503": errResp}}}
	return obj{
		"openapi": "3.1.0",
		"info":    obj{"title": "Tether gateway", "version": "1"},
		"paths":   paths,
		"components": obj{"schemas": obj{
			"Error": obj{"type": "object", "required": []string{"code", "message"}, "properties": obj{
				"code": obj{"type": "string", "enum": codeNames()}, "message": obj{"type": "string"}, "details": true}},
			"Name": obj{"type": "string", "pattern": "^[A-Za-z0-9/:_-]{1,256}$"},
		}},
	}
}

// summary is the first line of a description.
func summary(desc string) string {
	first, _, _ := strings.Cut(desc, "\n")
	return strings.TrimSpace(first)
}

func codeNames() []string {
	var out []string
	for _, c := range tether.Codes() {
		if c != tether.CodeOK {
			out = append(out, c.String())
		}
	}
	return out
}

// serveLive answers GET /livez: the gateway process is alive, whatever the
// core's state (liveness, unlike /healthz and /readyz, which are readiness).
func (g *Gateway) serveLive(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	writeJSON(w, http.StatusOK, obj{"status": "ALIVE"})
}

// serveHealth answers GET /healthz and GET /readyz from the core's gRPC
// health service: 200 while the core is SERVING, 503 while it starts or
// drains.
func (g *Gateway) serveHealth(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	ctx, cancel := g.callContext(r, false)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Second)
	defer cancelT()
	res, err := g.health.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, tether.Errorf(tether.CodeUnavailable, "health check: %s", publicError(err).Message()))
		return
	}
	if res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		writeError(w, http.StatusServiceUnavailable, tether.Errorf(tether.CodeUnavailable, "core is %s", res.GetStatus()))
		return
	}
	writeJSON(w, http.StatusOK, obj{"status": "SERVING"})
}
