package schema_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	_ "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

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
	count := decode(t, schema.ForMessage((&demov1.CountRequest{}).ProtoReflect().Descriptor()))
	to := prop(t, count, "to")
	if to["minimum"] != 1.0 || to["maximum"] != 1000000.0 || to["type"] != "integer" {
		t.Errorf("CountRequest.to: %v", to)
	}
	// Rules that refuse the zero value (what protojson reads for a missing
	// field) make the field required; a field without rules is not.
	for _, tc := range []struct {
		s    map[string]any
		want string
	}{
		{greet, "[name]"},
		{count, "[to]"},
		{decode(t, schema.ForMessage((&demov1.ProcessDataRequest{}).ProtoReflect().Descriptor())), "<nil>"},
	} {
		if got := fmt.Sprint(tc.s["required"]); got != tc.want {
			t.Errorf("%v: required %s, want %s", tc.s["title"], got, tc.want)
		}
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

const rulesFile = `
name: "r/rules.proto" package: "r" syntax: "proto3" dependency: "buf/validate/validate.proto"
message_type {
  name: "R"
  field { name: "s1" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING options { [buf.validate.field] { string { min_len: 1 } } } }
  field { name: "s2" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING options { [buf.validate.field] { string { pattern: "^a" } } } }
  field { name: "s3" number: 3 label: LABEL_OPTIONAL type: TYPE_STRING options { [buf.validate.field] { string { pattern: "^a*$" } } } }
  field { name: "n1" number: 4 label: LABEL_OPTIONAL type: TYPE_INT32 options { [buf.validate.field] { int32 { gte: 1 } } } }
  field { name: "n2" number: 5 label: LABEL_OPTIONAL type: TYPE_INT32 options { [buf.validate.field] { int32 { lte: 5 } } } }
  field { name: "n3" number: 6 label: LABEL_OPTIONAL type: TYPE_SINT64 options { [buf.validate.field] { sint64 { lt: 0 } } } }
  field { name: "n4" number: 7 label: LABEL_OPTIONAL type: TYPE_DOUBLE options { [buf.validate.field] { double { gt: 0 } } } }
  field { name: "l1" number: 8 label: LABEL_REPEATED type: TYPE_STRING options { [buf.validate.field] { repeated { min_items: 1 } } } }
  field { name: "e1" number: 9 label: LABEL_OPTIONAL type: TYPE_ENUM type_name: ".r.E" options { [buf.validate.field] { enum { in: [1] } } } }
  field { name: "o1" number: 10 label: LABEL_OPTIONAL type: TYPE_STRING proto3_optional: true oneof_index: 0 options { [buf.validate.field] { string { min_len: 1 } } } }
  field { name: "ig" number: 11 label: LABEL_OPTIONAL type: TYPE_STRING options { [buf.validate.field] { ignore: IGNORE_IF_ZERO_VALUE string { min_len: 1 } } } }
  field { name: "c1" number: 12 label: LABEL_OPTIONAL type: TYPE_STRING options { [buf.validate.field] { string { const: "x" } } } }
  field { name: "b1" number: 13 label: LABEL_OPTIONAL type: TYPE_BOOL options { [buf.validate.field] { bool { const: true } } } }
  field { name: "u1" number: 14 label: LABEL_OPTIONAL type: TYPE_UINT64 options { [buf.validate.field] { uint64 { in: [0, 3] } } } }
  field { name: "m1" number: 15 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".r.R" options { [buf.validate.field] { required: true } } }
  field { name: "m2" number: 16 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".r.R" }
  oneof_decl { name: "_o1" }
}
enum_type { name: "E" value { name: "E_ZERO" number: 0 } value { name: "E_ONE" number: 1 } }
`

func TestRequiredFromRules(t *testing.T) {
	var fdp descriptorpb.FileDescriptorProto
	if err := prototext.Unmarshal([]byte(rulesFile), &fdp); err != nil {
		t.Fatal(err)
	}
	fd, err := protodesc.NewFile(&fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	s := decode(t, schema.ForMessage(fd.Messages().ByName("R")))
	if got, want := fmt.Sprint(s["required"]), "[s1 s2 n1 n3 n4 l1 e1 c1 b1 m1]"; got != want {
		t.Errorf("required %s, want %s", got, want)
	}
	for name, want := range map[string]string{
		"s1": "map[minLength:1 type:string]", "n3": "map[exclusiveMaximum:0 format:int64 type:[integer string]]",
		"n4": "map[exclusiveMinimum:0 type:number]", "e1": "map[enum:[E_ONE] type:string]",
		"u1": "map[enum:[0 3] format:uint64 type:[integer string]]", "l1": "map[items:map[type:string] minItems:1 type:array]",
	} {
		if got := fmt.Sprint(prop(t, s, name)); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
}
