package tsgen_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/tether-ipc/tether/internal/tsgen"
)

// FuzzFromCommands feeds command lists as `tether gen ts --from` reads them
// (or a core answers): whatever they hold, the generator returns a file or an
// error and never panics, and every command it binds gets its function.
func FuzzFromCommands(f *testing.F) {
	for _, seed := range []string{
		`[{"name":"greet","kind":"unary","args":{"type":"object","title":"demo.v1.GreetRequest","properties":{"name":{"type":"string","minLength":1}},"required":["name"]},"result":{"type":"string"}}]`,
		`[{"name":"count","kind":"channel","args":{"type":"object","properties":{"to":{"type":"integer"}}},"result":{"type":["object","null"],"properties":{"n":{"type":["integer","string"],"format":"int64"}}}}]`,
		`[{"name":"echo_bytes","kind":"invoke","args":{"type":"string","format":"binary"},"result":{"type":"string","format":"binary"}}]`,
		`[{"name":"plugin:x|y","args":true,"result":false},{"name":"new","args":{"enum":["a",1,null]},"result":{"anyOf":[{"const":3},{"type":"array"}]}}]`,
		`[{"name":"a","args":{"type":"object","additionalProperties":{"type":"object","title":"google.protobuf.Struct"}},"result":{"title":"google.protobuf.Empty","type":"object"}}]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var cmds []tsgen.CommandInfo
		if json.Unmarshal(b, &cmds) != nil {
			return
		}
		file, err := tsgen.FromCommands(cmds)
		if err != nil {
			return
		}
		for _, tr := range []tsgen.Transport{tsgen.Tether, tsgen.Tauri} {
			src, err := tsgen.Write(file, tsgen.Options{Transport: tr})
			if err != nil {
				continue // two commands with one function name
			}
			checkShape(t, string(src))
			for _, c := range file.Commands {
				fn := "export async function " + tsgen.FuncName(c.Name) + "("
				if !strings.Contains(string(src), fn) && !strings.Contains(string(src), "// Not bound: ") {
					t.Fatalf("command %q has neither a function nor a note", c.Name)
				}
			}
		}
	})
}

var (
	declLine = regexp.MustCompile(`^export (?:type|async function|class) ([^ =(<]+)`)
	ident    = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)
)

// checkShape checks what a hostile schema could break: the header is all
// comment lines, and every declared name is an identifier.
func checkShape(t *testing.T, src string) {
	t.Helper()
	lines := strings.Split(src, "\n")
	for i, l := range lines { // the header ends at the first blank line
		if l == "" {
			break
		}
		if !strings.HasPrefix(l, "//") {
			t.Fatalf("header line %d is not a comment: %q", i+1, l)
		}
	}
	for _, l := range lines {
		if m := declLine.FindStringSubmatch(l); m != nil && !ident.MatchString(m[1]) {
			t.Fatalf("declared name %q is not an identifier", m[1])
		}
	}
}

// Names, titles, descriptions, keys and literals from a hostile core stay
// names, strings and comments: the file still compiles, declares only
// identifiers, and runs none of it.
func TestHostileSchemas(t *testing.T) {
	cmds := []tsgen.CommandInfo{{
		Name:        "evil\nalert(1)//",
		Description: "*/ alert(2) /*",
		Args: json.RawMessage(`{"type":"object","title":"x = 1; alert(3); type y","description":"*/ alert(4)",
			"properties":{"a\"b":{"type":"string","description":"*/ alert(5)"},"c\nd":{"enum":["\"; alert(6); \"","\u2028"]}}}`),
		Result: json.RawMessage(`{"type":"object","title":"</script><script>alert(7)","properties":{}}`),
	}, {
		Name: "skipped\nalert(8)", Kind: "channel", Args: json.RawMessage(`{"type":"string","format":"binary"}`),
	}}
	f, err := tsgen.FromCommands(cmds)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, tr := range []tsgen.Transport{tsgen.Tether, tsgen.Tauri} {
		src, err := tsgen.Write(f, tsgen.Options{Transport: tr, Source: "a\nalert(9)"})
		if err != nil {
			t.Fatal(err)
		}
		checkShape(t, string(src))
		if code := codeOnly(string(src)); strings.Contains(code, "alert(") {
			t.Errorf("hostile text reached the code:\n%s", code)
		}
		files[string(tr)+"/evil.ts"] = string(src)
	}
	wantErrors(t, files, typecheck(t, files), nil)
}

// codeOnly drops comments and string literals ("…", '…', `…`) from
// TypeScript source.
func codeOnly(src string) string {
	var b strings.Builder
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
			b.WriteByte('\n')
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return b.String()
			}
			i += end + 3
		case c == '"' || c == '\'' || c == '`':
			for i++; i < len(src) && src[i] != c; i++ {
				if src[i] == '\\' {
					i++
				}
			}
			b.WriteString(`""`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
