package tsgen

import (
	"strconv"
	"strings"
	"unicode"
)

// FuncName returns the function a command is called by: its name in
// lowerCamelCase, split at every character other than a letter or digit
// ("process_data" → "processData", "plugin:store|get" → "pluginStoreGet"),
// with "_" appended to a reserved word and put before a leading digit.
func FuncName(command string) string {
	parts := words(command)
	var b strings.Builder
	for i, p := range parts {
		r := []rune(p)
		if i == 0 {
			r[0] = unicode.ToLower(r[0])
		} else {
			r[0] = unicode.ToUpper(r[0])
		}
		b.WriteString(string(r))
	}
	return safeIdent(b.String())
}

// PascalName returns name in PascalCase, split as FuncName splits
// ("frontend-event" → "FrontendEvent").
func PascalName(name string) string {
	var b strings.Builder
	for _, p := range words(name) {
		r := []rune(p)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	return safeIdent(b.String())
}

func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)))
	})
}

func safeIdent(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '_' || r == '$' || r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return '_'
	}, s)
	if s == "" {
		return "_"
	}
	if s[0] >= '0' && s[0] <= '9' {
		s = "_" + s
	}
	if reservedWords[s] {
		s += "_"
	}
	return s
}

// isIdent reports whether s can be written as a property name unquoted.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r == '$' || r < unicode.MaxASCII && unicode.IsLetter(r) || i > 0 && r < unicode.MaxASCII && unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}

// reservedWords cannot name a function or a type (ES strict mode and
// modules, plus TypeScript's type keywords).
var reservedWords = set(
	"await", "break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete",
	"do", "else", "enum", "export", "extends", "false", "finally", "for", "function", "if", "import",
	"in", "instanceof", "new", "null", "return", "super", "switch", "this", "throw", "true", "try",
	"typeof", "var", "void", "while", "with", "yield", "let", "static", "implements", "interface",
	"package", "private", "protected", "public", "arguments", "eval",
	"any", "unknown", "never", "object", "string", "number", "boolean", "symbol", "bigint", "undefined",
)

// fileTypeNames are the type names a generated file uses itself: its own
// declarations, the transport's types it imports, and the globals it
// refers to. A message of one of these names is declared with a "$" after it.
var fileTypeNames = set(
	"Code", "CommandError", jsonValueName, "InvokeOptions", "EventCallback", "UnlistenFn", "ListenOptions",
	"Promise", "Record", "Uint8Array", "ArrayBuffer", "Error", "ReadonlySet", "Set", "Object",
)

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// namer hands out unique type names.
type namer struct{ used map[string]bool }

func newNamer() *namer { return &namer{used: map[string]bool{}} }

// take returns want, or want with "$" (then "$2", "$3", …) after it if want
// is taken or is one of the file's own names.
func (n *namer) take(want string) string {
	want = safeIdent(want)
	name := want
	if fileTypeNames[name] || n.used[name] {
		name = want + "$"
		for i := 2; n.used[name]; i++ {
			name = want + "$" + strconv.Itoa(i)
		}
	}
	n.used[name] = true
	return name
}
