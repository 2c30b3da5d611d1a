package schema_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	"github.com/tether-ipc/tether/internal/schema"
)

func decode(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return m
}

func prop(t *testing.T, s map[string]any, name string) map[string]any {
	t.Helper()
	p, _ := s["properties"].(map[string]any)[name].(map[string]any)
	if p == nil {
		t.Fatalf("no property %q in %v", name, s)
	}
	return p
}

func TestForMessageRulesAndComments(t *testing.T) {
	greet := decode(t, schema.ForMessage((&demov1.GreetRequest{}).ProtoReflect().Descriptor()))
	name := prop(t, greet, "name")
	if name["minLength"] != 1.0 || name["maxLength"] != 256.0 || name["description"] != "name is who to greet." {
		t.Errorf("GreetRequest.name: %v", name)
	}
	if greet["description"] != "GreetRequest is greet's argument." || greet["additionalProperties"] != false {
		t.Errorf("GreetRequest: %v", greet)
	}
	to := prop(t, decode(t, schema.ForMessage((&demov1.CountRequest{}).ProtoReflect().Descriptor())), "to")
	if to["minimum"] != 1.0 || to["maximum"] != 1000000.0 || to["type"] != "integer" {
		t.Errorf("CountRequest.to: %v", to)
	}
	md := demov1.File_demo_v1_demo_proto.Services().ByName("Demo").Methods().ByName("Greet")
	if got := schema.Comment(md); got != "Greet says hello." {
		t.Errorf("Comment(Greet) = %q", got)
	}
	if got := schema.CommandName(md); got != "greet" {
		t.Errorf("CommandName(Greet) = %q", got)
	}
	if got := schema.EventName((&demov1.FrontendEvent{}).ProtoReflect().Descriptor()); got != "frontend-event" {
		t.Errorf("EventName(FrontendEvent) = %q", got)
	}
}

type inner struct {
	A int `json:"a"`
}

type goArgs struct {
	Must    string            `json:"must"`
	Ptr     *string           `json:"ptr"`
	PtrOmit *string           `json:"ptr_omit,omitempty"`
	List    []int             `json:"list"`
	Omitted []int             `json:"omitted,omitempty"`
	Map     map[string]string `json:"map"`
	Bytes   []byte            `json:"bytes"`
	When    time.Time         `json:"when"`
	Inner   inner             `json:"inner"`
	Raw     json.RawMessage   `json:"raw"`
}

// ForType describes what encoding/json writes: nullable pointers, slices
// and maps unless omitted when empty, base64 bytes inside a struct, times as
// strings, and no unknown keys at the top (jsonargs refuses them).
func TestForTypeNulls(t *testing.T) {
	s := decode(t, schema.ForType(reflect.TypeFor[goArgs]()))
	types := func(name string) any { return prop(t, s, name)["type"] }
	for name, want := range map[string]any{
		"must": "string", "ptr": []any{"string", "null"}, "ptr_omit": "string", "list": []any{"array", "null"},
		"omitted": "array", "map": []any{"object", "null"}, "bytes": []any{"string", "null"}, "when": "string",
		"inner": "object", "raw": nil,
	} {
		if got := types(name); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: type %v, want %v", name, got, want)
		}
	}
	if prop(t, s, "bytes")["contentEncoding"] != "base64" || prop(t, s, "when")["format"] != "date-time" {
		t.Errorf("bytes or when: %v", s["properties"])
	}
	if s["additionalProperties"] != false || prop(t, s, "inner")["additionalProperties"] != nil {
		t.Errorf("additionalProperties: top %v, inner %v", s["additionalProperties"], prop(t, s, "inner")["additionalProperties"])
	}
	req, _ := s["required"].([]any)
	if len(req) != 7 { // all but the pointers and the omitempty slice
		t.Errorf("required %v", req)
	}
	if got := decode(t, schema.ForType(reflect.TypeFor[[]byte]())); got["format"] != "binary" {
		t.Errorf("[]byte args: %v", got)
	}
	if got := decode(t, schema.ForResult(reflect.TypeFor[[]string]())); !reflect.DeepEqual(got["type"], []any{"array", "null"}) {
		t.Errorf("[]string result: %v", got)
	}
	if got := decode(t, schema.ForResult(reflect.TypeFor[*demov1.GreetRequest]())); got["type"] != "object" {
		t.Errorf("proto message result: %v", got)
	}
}
