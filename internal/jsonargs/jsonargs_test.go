package jsonargs

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tether-ipc/tether"
)

type sample struct {
	InvokeMessage string   `json:"invoke_message"`
	Count         int      `json:"count"`
	Note          *string  `json:"note"`
	Tags          []string `json:"tags,omitempty"`
}

func TestNames(t *testing.T) {
	for in, want := range map[string][2]string{
		"invoke_message": {"invokeMessage", "invoke_message"},
		"InvokeMessage":  {"invokeMessage", "invoke_message"},
		"invokeMessage":  {"invokeMessage", "invoke_message"},
		"HTTPGet":        {"hTTPGet", "http_get"},
		"a":              {"a", "a"},
		"ProcessData":    {"processData", "process_data"},
	} {
		if got := LowerCamel(in); got != want[0] {
			t.Errorf("LowerCamel(%q) = %q, want %q", in, got, want[0])
		}
		if got := Snake(in); got != want[1] {
			t.Errorf("Snake(%q) = %q, want %q", in, got, want[1])
		}
	}
}

func TestDecode(t *testing.T) {
	cases := []struct {
		in      string
		wantErr string
		want    sample
	}{
		{`{"invokeMessage":"hi","count":2}`, "", sample{InvokeMessage: "hi", Count: 2}},
		{`{"invoke_message":"hi","count":2,"tags":["x"]}`, "", sample{InvokeMessage: "hi", Count: 2, Tags: []string{"x"}}},
		{`{"count":2}`, `missing argument "invoke_message"`, sample{}},
		{`{"invoke_message":"hi"}`, `missing argument "count"`, sample{}},
		{`{"invoke_message":"hi","count":"2"}`, `argument "count": expected int`, sample{}},
		{`{"invoke_message":"hi","count":2,"x":1}`, `unknown argument "x"`, sample{}},
		{`[]`, `must be a JSON object`, sample{}},
		{`{"invoke_message":`, `malformed JSON`, sample{}},
		{``, `missing argument`, sample{}},
	}
	for _, c := range cases {
		var got sample
		err := Decode([]byte(c.in), &got)
		if c.wantErr == "" {
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s: %+v, %v", c.in, got, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.wantErr) || tether.CodeOf(err) != tether.CodeInvalidArgument {
			t.Errorf("%s: error %v, want invalid_argument containing %q", c.in, err, c.wantErr)
		}
	}
}

func TestCheck(t *testing.T) {
	ok := []string{`{}`, `{"a":"[[[[[[[[["}`, `{"a":"\"{{{{"}`, "{\"a\":\"h\u00e9\"}", strings.Repeat("[", 64) + strings.Repeat("]", 64)}
	for _, s := range ok {
		if err := Check([]byte(s), 64); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	bad := []string{strings.Repeat("[", 65), "{\"a\":\"\xc3\x28\"}", "\xff"}
	for _, s := range bad {
		if err := Check([]byte(s), 64); tether.CodeOf(err) != tether.CodeInvalidArgument {
			t.Errorf("%q: %v", s, err)
		}
	}
}

// FuzzDecode: argument decoding never panics, and what it accepts is valid
// and within the depth bound.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"invokeMessage":"hi","count":2}`, `{"count":1,"invoke_message":"x","note":"n"}`, `[]`, `null`, `{"a":{"b":[1,2,{"c":null}]}}`, "{\"x\":\"\xff\"}", strings.Repeat("{\"a\":", 70)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := Check(b, 16); err != nil {
			if tether.CodeOf(err) != tether.CodeInvalidArgument {
				t.Fatalf("Check error with code %v", tether.CodeOf(err))
			}
			return
		}
		var s sample
		if err := Decode(b, &s); err != nil && tether.CodeOf(err) != tether.CodeInvalidArgument {
			t.Fatalf("Decode error with code %v: %v", tether.CodeOf(err), err)
		}
		var m map[string]any
		if err := Decode(b, &m); err != nil && tether.CodeOf(err) != tether.CodeInvalidArgument {
			t.Fatalf("Decode(map) error with code %v", tether.CodeOf(err))
		}
	})
}
