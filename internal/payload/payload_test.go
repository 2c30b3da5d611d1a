package payload

import (
	"encoding/json"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

func TestEncodings(t *testing.T) {
	msg := wrapperspb.String("hi")
	cases := []struct {
		name string
		got  func() (*tetherv1.Payload, error)
		want string // "json:…", "proto", "raw:…" or "none"
	}{
		{"args nil", func() (*tetherv1.Payload, error) { return Of(nil) }, "none"},
		{"event nil", func() (*tetherv1.Payload, error) { return Event(nil) }, "json:null"},
		{"args proto", func() (*tetherv1.Payload, error) { return Of(msg) }, "proto"},
		{"event proto is JSON", func() (*tetherv1.Payload, error) { return Event(msg) }, `json:"hi"`},
		{"bytes are raw", func() (*tetherv1.Payload, error) { return Event([]byte{1, 2}) }, "raw:\x01\x02"},
		{"raw JSON as is", func() (*tetherv1.Payload, error) { return Of(json.RawMessage(`{"a":1}`)) }, `json:{"a":1}`},
		{"value", func() (*tetherv1.Payload, error) { return Of(map[string]int{"a": 1}) }, `json:{"a":1}`},
	}
	for _, c := range cases {
		p, err := c.got()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got string
		switch b := p.GetBody().(type) {
		case nil:
			got = "none"
		case *tetherv1.Payload_Json:
			got = "json:" + string(b.Json)
		case *tetherv1.Payload_Proto:
			got = "proto"
		case *tetherv1.Payload_Raw:
			got = "raw:" + string(b.Raw)
		}
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if _, err := Of(func() {}); tether.CodeOf(err) != tether.CodeInvalidArgument {
		t.Errorf("unencodable value: %v", err)
	}
}

func TestDecode(t *testing.T) {
	pb, _ := Of(wrapperspb.String("x"))
	js, _ := Event(wrapperspb.String("x"))
	for _, p := range []*tetherv1.Payload{pb, js} {
		var m wrapperspb.StringValue
		if err := Decode(p, &m); err != nil || m.GetValue() != "x" {
			t.Errorf("proto from %v: %v %v", p, &m, err)
		}
	}
	var s *string
	if err := Decode(nil, &s); err != nil || s != nil { // no body is null
		t.Errorf("nil payload: %v %v", s, err)
	}
	raw, _ := Of([]byte("r"))
	var v map[string]any
	if err := Decode(raw, &v); tether.CodeOf(err) != tether.CodeInvalidArgument {
		t.Errorf("raw into a map: %v", err)
	}
	var b []byte
	if err := Decode(raw, &b); err != nil || string(b) != "r" {
		t.Errorf("raw into bytes: %q %v", b, err)
	}
	bad := &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte("{")}}
	if err := Decode(bad, &v); tether.CodeOf(err) != tether.CodeDataLoss {
		t.Errorf("bad JSON: %v", err)
	}
}
