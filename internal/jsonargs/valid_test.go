package jsonargs

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

var validCases = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `1.5e10`, `-1.25E-3`, `true`, `false`, `null`, ` {"a" : [1, 2, {"b": null}], "c": "d"} `,
	`"\u00e9\n\t\"\\\/\b\f\r"`, `"` + strings.Repeat("x", 100) + `"`, `"é ünïcödé"`, "\"\xff\xfe\"", `[[[[]]]]`, `{"":""}`,
	`{`, `}`, `[`, `]`, `[1,]`, `{"a":1,}`, `{"a"}`, `{"a":}`, `{1:2}`, `01`, `1.`, `.5`, `1e`, `1e+`, `-`, `+1`,
	`tru`, `nul`, `falsey`, `"abc`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"a\tb\"", "\"a\nb\"", `1 2`, `[1 2]`, `{"a":1 "b":2}`,
	``, ` `, `"\`, `[` + strings.Repeat(`"`+strings.Repeat("y", 17)+`",`, 9) + `1]`, `{"k":"` + strings.Repeat("z", 31) + `\u0041` + `"}`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000), strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
}

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range validCases {
		if got, want := Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("Valid(%.60q) = %v, encoding/json says %v", c, got, want)
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, c := range validCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

func TestValidAllocatesNothing(t *testing.T) {
	b := []byte(`{"input":"` + strings.Repeat("x", 4096) + `","n":[1,2,{"deep":[true,false,null]}]}`)
	if n := testing.AllocsPerRun(100, func() { Valid(b) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func BenchmarkValid1MiB(b *testing.B) {
	doc := []byte(`{"input":"` + strings.Repeat("x", 1<<20) + `"}`)
	b.SetBytes(int64(len(doc)))
	b.Run("jsonargs", func(b *testing.B) {
		for b.Loop() {
			Valid(doc)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		for b.Loop() {
			json.Valid(doc)
		}
	})
	b.Run("check", func(b *testing.B) {
		for b.Loop() {
			_ = Check(doc, 64)
		}
	})
}

// checkByteAtATime is Check as it was before its fast string path: the
// reference the fuzz target compares with.
func checkByteAtATime(b []byte, maxDepth int) error {
	depth, inString, escaped := 0, false, false
	for i := 0; i < len(b); {
		c := b[i]
		if c >= 0x80 {
			r, size := utf8DecodeRune(b[i:])
			if r == 0xFFFD && size == 1 {
				return errBadUTF8
			}
			i += size
			escaped = false
			continue
		}
		i++
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > maxDepth {
				return errTooDeep
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

func FuzzCheck(f *testing.F) {
	for _, c := range validCases {
		f.Add([]byte(c), 3)
	}
	f.Add([]byte("\"abcdefgh\xe9ijklmnop\\\"qrstuvwx\"{{{{"), 3)
	f.Fuzz(func(t *testing.T, b []byte, depth int) {
		depth = depth%70 + 1
		got, want := Check(b, depth), checkByteAtATime(b, depth)
		if (got == nil) != (want == nil) {
			t.Fatalf("Check(%q, %d) = %v, byte at a time: %v", b, depth, got, want)
		}
	})
}

var (
	errBadUTF8     = errors.New("bad UTF-8")
	errTooDeep     = errors.New("too deep")
	utf8DecodeRune = utf8.DecodeRune
)
