package jsonargs

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

type inner struct {
	Path  string            `json:"path"`
	Upper string            `json:"PATH_UPPER,omitempty"`
	Tags  map[string]inner2 `json:"tags,omitempty"`
}

type inner2 struct {
	Deep string `json:"deep"`
}

type Base struct {
	Shared string `json:"shared"`
	Hidden string `json:"-"`
}

type nested struct {
	Base
	Name  string          `json:"name"`
	Count int             `json:"count,string"`
	Opts  *inner          `json:"opts,omitempty"`
	List  []inner         `json:"list,omitempty"`
	Raw   json.RawMessage `json:"raw,omitempty"`
	Any   any             `json:"any,omitempty"`
	When  time.Time       `json:"when,omitzero"`
	Bytes []byte          `json:"bytes,omitempty"`
	Next  *nested         `json:"next,omitempty"`
	plain string
}

type topArgs struct {
	FilePath string  `json:"file_path"`
	Opts     *inner  `json:"opts,omitempty"`
	Nested   *nested `json:"nested,omitempty"`
	Mode     string  `json:"mode,omitempty"`
}

func canonOf(t *testing.T, s *Shape, in string) (string, error) {
	t.Helper()
	out, err := s.Canonical([]byte(in), 64)
	if err != nil {
		if tether.CodeOf(err) != tether.CodeInvalidArgument {
			t.Fatalf("%s: error %v has code %v, want invalid_argument", in, err, tether.CodeOf(err))
		}
		return "", err
	}
	again, err := s.Canonical(out, 64)
	if err != nil || !bytes.Equal(again, out) {
		t.Fatalf("%s: not idempotent: %s then %s, %v", in, out, again, err)
	}
	return string(out), nil
}

func TestCanonicalGoFunction(t *testing.T) {
	s := ShapeOf(reflect.TypeFor[topArgs]())
	for _, c := range []struct{ in, want, err string }{
		// Top level: the JSON name, its lowerCamelCase and snake_case.
		{in: `{"file_path":"/a"}`, want: `{"file_path":"/a"}`},
		{in: `{"filePath":"/a"}`, want: `{"file_path":"/a"}`},
		{in: ` { "filePath" : "/a" , "mode":"r" } `, want: `{"file_path":"/a","mode":"r"}`},
		{in: `{"file_path":"/a","filePath":"/etc/shadow"}`, err: `argument "file_path" given twice (as "file_path" and "filePath")`},
		{in: `{"file_path":"/a","file_path":"/etc/shadow"}`, err: `argument "file_path" given twice`},
		{in: `{"pa\u0074h":1,"file_\u0070ath":"/x"}`, want: `{"file_path":"/x"}`},
		// Unknown keys are dropped, at every level; below the top level only
		// exact names bind (encoding/json alone would bind PATH and Path).
		{in: `{"file_path":"/a","FILE_PATH":"/etc/shadow","x":{"y":1}}`, want: `{"file_path":"/a"}`},
		{in: `{"file_path":"/a","opts":{"path":"/ok","PATH":"/etc/shadow","Path":"/etc/shadow"}}`, want: `{"file_path":"/a","opts":{"path":"/ok"}}`},
		{in: `{"opts":{"Path":"/etc/shadow"}}`, want: `{"opts":{}}`},
		{in: `{"opts":{"path":"/ok","path":"/etc"}}`, err: `key "path" given twice in argument "opts"`},
		{in: `{"opts":{"tags":{"k":{"deep":"a","Deep":"b"},"K":{"deep":"c"}}}}`, want: `{"opts":{"tags":{"k":{"deep":"a"},"K":{"deep":"c"}}}}`},
		{in: `{"opts":{"tags":{"k":{},"k":{}}}}`, err: `key "k" given twice in argument "opts.tags"`},
		// Promoted fields of embedded structs, ",string" values, opaque values.
		{in: `{"nested":{"shared":"s","Base":{},"Hidden":1,"count":"3","raw":{"A":1,"a":2},"any":{"Z":1},"bytes":"AAE=","when":"2020-01-01T00:00:00Z"}}`,
			want: `{"nested":{"shared":"s","count":"3","raw":{"A":1,"a":2},"any":{"Z":1},"bytes":"AAE=","when":"2020-01-01T00:00:00Z"}}`},
		{in: `{"nested":{"raw":{"a":1,"a":2}}}`, err: `key "a" given twice in argument "nested.raw"`},
		{in: `{"nested":{"next":{"next":{"name":"x","NAME":"y"}}}}`, want: `{"nested":{"next":{"next":{"name":"x"}}}}`},
		{in: `{"nested":{"list":[{"path":"a","Path":"b"},{"path":"c"}]}}`, want: `{"nested":{"list":[{"path":"a"},{"path":"c"}]}}`},
		// Values of the wrong type are left to the decoder.
		{in: `{"opts":"x","nested":[1]}`, want: `{"opts":"x","nested":[1]}`},
		{in: `[1,2]`, want: `[1,2]`},
		{in: `null`, want: `null`},
		{in: ``, want: ``},
		// Malformed input.
		{in: `{"a":}`, err: "malformed JSON"},
		{in: `{"a":1}x`, err: "after the top-level value"},
		{in: `{"a":01}`, err: "malformed JSON"},
		{in: "{\"a\":\"\x01\"}", err: "control character"},
		{in: "{\"a\":\"\xff\"}", err: "not valid UTF-8"},
		{in: `{"a":"\q"}`, err: "invalid escape"},
		{in: strings.Repeat(`{"a":`, 65) + "1" + strings.Repeat("}", 65), err: "nest deeper than 64"},
	} {
		got, err := canonOf(t, s, c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: got %s, %v; want error %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s:\n got %s, %v\nwant %s", c.in, got, err, c.want)
		}
	}
}

func TestCanonicalStrict(t *testing.T) {
	s := ShapeOf(reflect.TypeFor[topArgs]()).Strict(true)
	for in, want := range map[string]string{
		`{"file_path":"/a","x":1}`:                   `unknown argument "x"`,
		`{"file_path":"/a","opts":{"PATH":"/etc"}}`:  `unknown key "PATH" in argument "opts"`,
		`{"nested":{"list":[{"path":"a"},{"p":1}]}}`: `unknown key "p" in argument "nested.list[1]"`,
	} {
		if _, err := canonOf(t, s, in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
	if got, err := canonOf(t, s, `{"filePath":"/a"}`); err != nil || got != `{"file_path":"/a"}` {
		t.Errorf("strict rename: %s %v", got, err)
	}
}

func TestCanonicalUnchangedIsInput(t *testing.T) {
	s := ShapeOf(reflect.TypeFor[topArgs]())
	in := []byte(`{"file_path":"/a", "opts": {"path":"x"}}`)
	out, err := s.Canonical(in, 64)
	if err != nil || &out[0] != &in[0] || len(out) != len(in) {
		t.Fatalf("unchanged input was copied: %s %v", out, err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = s.Canonical(in, 64) }); n > 0 {
		t.Errorf("Canonical of canonical input allocates %v times", n)
	}
}

// The canonical form binds under encoding/json exactly what the handler's
// spelling rules bind, and no key of it is left to case-insensitive
// matching.
func TestCanonicalBindsLikeDecode(t *testing.T) {
	s := ShapeOf(reflect.TypeFor[topArgs]())
	in := `{"filePath":"/a","opts":{"path":"/ok","tags":{"t":{"deep":"d"}}},"nested":{"shared":"s","name":"n","count":"7","next":{"name":"m"}}}`
	out, err := canonOf(t, s, in)
	if err != nil {
		t.Fatal(err)
	}
	var a, b topArgs
	if err := Decode([]byte(in), &a); err != nil {
		t.Fatal(err)
	}
	if err := Decode([]byte(out), &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) || b.FilePath != "/a" || b.Nested.Count != 7 || b.Nested.Next.Name != "m" || b.Opts.Tags["t"].Deep != "d" {
		t.Fatalf("decoded %+v, want %+v", b, a)
	}
}

func TestShapeOfEncodingJSONRules(t *testing.T) {
	type E1 struct{ X, Y int }
	type E2 struct {
		X int
		Z int `json:"z"`
	}
	type amb struct {
		E1
		E2
		Y int `json:"Y"` // shallower: wins over E1.Y
	}
	var names []string
	for _, f := range jsonFields(reflect.TypeFor[amb]()) {
		names = append(names, f.name)
	}
	// X is ambiguous (E1.X and E2.X, both untagged at depth 1): encoding/json
	// binds neither.
	if strings.Join(names, ",") != "z,Y" {
		t.Fatalf("top-level names %v", names)
	}
	var v amb
	if err := json.Unmarshal([]byte(`{"X":1,"Y":2,"z":3}`), &v); err != nil || v.E1.X != 0 || v.E2.X != 0 || v.Y != 2 || v.Z != 3 {
		t.Fatalf("encoding/json disagrees: %+v %v", v, err)
	}
	type P *P
	if ShapeOf(reflect.TypeFor[P]()) == nil || ShapeOf(reflect.TypeFor[[]byte]()) != nil {
		t.Fatal("pointer cycle or raw bytes")
	}
}

func TestCanonicalProto(t *testing.T) {
	s := ShapeOfMessage((&tetherv1.CommandInfo{}).ProtoReflect().Descriptor())
	for _, c := range []struct{ in, want, err string }{
		{in: `{"name":"a","args_shape":{"nodes":[{"fields":[{"name":"x","aliases":["y"]}]}]}}`,
			want: `{"name":"a","argsShape":{"nodes":[{"fields":[{"name":"x","aliases":["y"]}]}]}}`},
		{in: `{"argsShape":{},"args_shape":{}}`, err: `argument "argsShape" given twice (as "argsShape" and "args_shape")`},
		{in: `{"argsShape":{"Nodes":[]},"ArgsShape":1}`, want: `{"argsShape":{}}`},
	} {
		got, err := canonOf(t, s, c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %s %v, want %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s:\n got %s %v\nwant %s", c.in, got, err, c.want)
			continue
		}
		var a, b tetherv1.CommandInfo
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(c.in), &a); err != nil {
			t.Fatal(err)
		}
		if err := protojson.Unmarshal([]byte(got), &b); err != nil || !proto.Equal(&a, &b) {
			t.Errorf("%s: canonical form binds %v, the input %v (%v)", c.in, &b, &a, err)
		}
	}
}

func TestCanonicalProtoAny(t *testing.T) {
	// An Any inside a Struct is free JSON; a top-level Any binds its type.
	s := ShapeOfMessage((&anypb.Any{}).ProtoReflect().Descriptor())
	url := "type.googleapis.com/tether.v1.ListenRequest"
	for _, c := range []struct{ in, want, err string }{
		{in: `{"@type":"` + url + `","after_id":"7","maxBatch":2,"X":1}`, want: `{"@type":"` + url + `","afterId":"7","maxBatch":2}`},
		{in: `{"maxBatch":2,"@type":"` + url + `","max_batch":3}`, err: "given twice"},
		{in: `{"@type":"type.googleapis.com/google.protobuf.Struct","value":{"A":1,"a":2},"x":1}`, want: `{"@type":"type.googleapis.com/google.protobuf.Struct","value":{"A":1,"a":2}}`},
		{in: `{"@type":"type.googleapis.com/nope.Nope","a":1}`, err: `unknown message type "type.googleapis.com/nope.Nope"`},
		{in: `{}`, want: `{}`},
	} {
		got, err := canonOf(t, s, c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %s %v, want %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s:\n got %s %v\nwant %s", c.in, got, err, c.want)
		}
	}
	st := ShapeOfMessage((&structpb.Struct{}).ProtoReflect().Descriptor())
	if got, err := canonOf(t, st, `{"A":1,"a":{"B":2}}`); err != nil || got != `{"A":1,"a":{"B":2}}` {
		t.Errorf("struct: %s %v", got, err)
	}
}

func TestShapeProtoRoundTrip(t *testing.T) {
	for _, s := range []*Shape{ShapeOf(reflect.TypeFor[topArgs]()), ShapeOfMessage((&tetherv1.CommandInfo{}).ProtoReflect().Descriptor()).Strict(true)} {
		back, err := ShapeFromProto(s.Proto())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, s) {
			t.Fatalf("round trip changed the shape")
		}
	}
	for _, bad := range []*tetherv1.ArgShape{
		{},
		{Nodes: []*tetherv1.ArgNode{{Kind: 9}}},
		{Nodes: []*tetherv1.ArgNode{{Kind: tetherv1.ArgNode_KIND_LIST, Elem: 1}}},
		{Nodes: []*tetherv1.ArgNode{{Kind: tetherv1.ArgNode_KIND_OBJECT, Fields: []*tetherv1.ArgField{{Name: "a", Node: 3}}}}},
	} {
		if _, err := ShapeFromProto(bad); tether.CodeOf(err) != tether.CodeInvalidArgument {
			t.Errorf("%v: %v", bad, err)
		}
	}
}

// FuzzCanonical: Canonical never panics; what it accepts is valid JSON,
// canonical (idempotent), accepted by the strict shape only if unchanged in
// its keys, and binds under encoding/json what Decode binds from the input.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{"filePath":"/a","opts":{"path":"x","PATH":"y"}}`, `{"file_path":"a","file_path":"b"}`,
		`{"nested":{"list":[{"path":"a"}],"raw":{"a":1}}}`, `[1,"a",null,true,{"x":[]}]`, `{"a\u0041":1}`, "{\"x\":\"\xff\"}",
		strings.Repeat(`{"a":`, 70), `{"opts":{"tags":{"a":{"deep":"x","Deep":"y"}}}}`} {
		f.Add([]byte(s))
	}
	shape := ShapeOf(reflect.TypeFor[topArgs]())
	strict := shape.Strict(true)
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := shape.Canonical(in, 16)
		if err != nil {
			if tether.CodeOf(err) != tether.CodeInvalidArgument {
				t.Fatalf("error with code %v: %v", tether.CodeOf(err), err)
			}
			if json.Valid(in) && utf8.Valid(in) && !strings.Contains(err.Error(), "twice") && !strings.Contains(err.Error(), "deeper") {
				t.Fatalf("valid JSON refused: %v", err)
			}
			return
		}
		if len(bytes.TrimSpace(in)) == 0 {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid output %q", out)
		}
		again, err := shape.Canonical(out, 16)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q (%v)", out, again, err)
		}
		if sout, err := strict.Canonical(in, 16); err == nil && !bytes.Equal(sout, out) {
			t.Fatalf("strict and lenient differ: %q %q", sout, out)
		}
		var a, b topArgs
		errA := Decode(in, &a)
		errB := Decode(out, &b)
		if errB == nil && errA == nil && !reflect.DeepEqual(a, b) {
			// The input may bind more through case-insensitive matching
			// below the top level; the canonical form binds only exact keys.
			var exact topArgs
			if err := Decode(out, &exact); err != nil || !reflect.DeepEqual(exact, b) {
				t.Fatalf("canonical form does not decode stably")
			}
		}
	})
}

func TestCanonicalRenames(t *testing.T) {
	s := ShapeOf(reflect.TypeFor[topArgs]())
	for in, want := range map[string]string{
		`{"file_path":"a","x":1}`:              "",
		`{"filePath":"a"}`:                     "filePath",
		`{"opts":{"path":"a"},"filePath":"b"}`: "filePath",
	} {
		_, got, err := s.CanonicalRenames([]byte(in), 0)
		if err != nil || got != want {
			t.Errorf("%s: renamed %q %v, want %q", in, got, err, want)
		}
	}
}

// FuzzShapeFromProto reads arbitrary args shapes (what a stage gets from a
// core's ListCommands) and puts JSON in them: never a panic, only
// invalid_argument errors.
func FuzzShapeFromProto(f *testing.F) {
	for _, s := range []*Shape{ShapeOf(reflect.TypeFor[topArgs]()), ShapeOfMessage((&anypb.Any{}).ProtoReflect().Descriptor())} {
		b, _ := proto.Marshal(s.Proto())
		f.Add(b, []byte(`{"file_path":"a","opts":{"path":"b","Path":"c"},"@type":"x"}`))
	}
	f.Add([]byte{0x0a, 0x02, 0x08, 0x02}, []byte(`{"a":{"b":[1]}}`))
	f.Fuzz(func(t *testing.T, wire, js []byte) {
		var p tetherv1.ArgShape
		if proto.Unmarshal(wire, &p) != nil {
			return
		}
		s, err := ShapeFromProto(&p)
		if err != nil {
			if tether.CodeOf(err) != tether.CodeInvalidArgument {
				t.Fatalf("code %v", err)
			}
			return
		}
		if _, err := s.Canonical(js, 16); err != nil && tether.CodeOf(err) != tether.CodeInvalidArgument {
			t.Fatalf("code %v", err)
		}
	})
}

// A channel in a top-level key the handler does not bind ("onMessage":
// "__CHANNEL__:1", as Tauri serializes a Channel) is kept, strict or not:
// a channel command's channel travels beside its arguments, and an
// isolation stage that dropped it would leave the command nowhere to send.
// Anywhere else, and any other unknown value, is dropped as before.
func TestCanonicalKeepsTopLevelChannels(t *testing.T) {
	for _, strict := range []bool{false, true} {
		s := ShapeOf(reflect.TypeFor[topArgs]()).Strict(strict)
		got, err := canonOf(t, s, `{"filePath":"/a","onMessage":"__CHANNEL__:12"}`)
		if err != nil || got != `{"file_path":"/a","onMessage":"__CHANNEL__:12"}` {
			t.Errorf("strict=%v: %s %v", strict, got, err)
		}
	}
	s := ShapeOf(reflect.TypeFor[topArgs]())
	for in, want := range map[string]string{
		`{"file_path":"/a","opts":{"c":"__CHANNEL__:1"}}`: `{"file_path":"/a","opts":{}}`, // not top level
		`{"file_path":"/a","x":"__CHANNEL__:"}`:           `{"file_path":"/a"}`,             // no id
		`{"file_path":"/a","x":"__CHANNEL__:1x"}`:         `{"file_path":"/a"}`,             // not digits
		`{"file_path":"/a","x":["__CHANNEL__:1"]}`:        `{"file_path":"/a"}`,             // not a string
	} {
		if got, err := canonOf(t, s, in); err != nil || got != want {
			t.Errorf("%s: %s %v, want %s", in, got, err, want)
		}
	}
}
