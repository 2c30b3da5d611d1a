package jshook

import (
	"reflect"

	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/parser"
	"github.com/dop251/goja/token"
)

// Shape is the form of the payload a hook reads (see the package doc).
type Shape uint8

// The shapes.
const (
	// ShapeAuto lets the Runner decide from the hook's source.
	ShapeAuto Shape = iota
	// ShapeSeed is the seed's (Tauri v1 style) payload:
	// {cmd: "invoke", message: {cmd, args}, client}.
	ShapeSeed
	// ShapeV2 is Tauri v2's payload: {cmd: "<command>", callback, error,
	// payload: {…args}, options: {headers}}, with events as the
	// plugin:event|emit and plugin:event|listen commands.
	ShapeV2
	// shapeBoth runs the hook on the seed's payload and on Tauri v2's, and
	// lets a call through only if both let it through.
	shapeBoth
)

func (s Shape) String() string {
	switch s {
	case ShapeSeed:
		return "seed"
	case ShapeV2:
		return "tauri-v2"
	case shapeBoth:
		return "seed+tauri-v2"
	}
	return "auto"
}

// The words the seed's payload puts in cmd.
var kindWords = map[string]bool{"invoke": true, "emit": true, "listen": true}

// detectShape reads the hook sources and decides which payload the hook
// reads:
//
//   - it compares a cmd property with "invoke", "emit" or "listen" (==, ===,
//     !=, !== or a switch case): the seed's;
//   - it names one of those words anywhere else (a string, a template, a
//     property name): both, so that a Tauri v2 hook that happens to use
//     the word still sees its own payload, and blocks what it blocks;
//   - otherwise Tauri v2's, whose view also carries the seed's message,
//     event and client, so a seed-style hook that reads those without
//     testing cmd still reads them.
func detectShape(sources []Source) Shape {
	strong, weak := false, false
	for _, s := range sources {
		prg, err := parser.ParseFile(nil, s.Name, s.Code, 0)
		if err != nil {
			continue // New refuses it anyway
		}
		walk(reflect.ValueOf(prg), func(n any) {
			switch x := n.(type) {
			case *ast.BinaryExpression:
				switch x.Operator {
				case token.EQUAL, token.STRICT_EQUAL, token.NOT_EQUAL, token.STRICT_NOT_EQUAL:
					if isCmd(x.Left) && isKindWord(x.Right) || isCmd(x.Right) && isKindWord(x.Left) {
						strong = true
					}
				}
			case *ast.SwitchStatement:
				if isCmd(x.Discriminant) {
					for _, c := range x.Body {
						if c.Test != nil && isKindWord(c.Test) {
							strong = true
						}
					}
				}
			case *ast.StringLiteral:
				weak = weak || kindWords[x.Value.String()]
			case *ast.TemplateElement:
				weak = weak || kindWords[x.Parsed.String()]
			case *ast.DotExpression:
				weak = weak || kindWords[x.Identifier.Name.String()]
			case *ast.PropertyKeyed:
				if id, ok := x.Key.(*ast.Identifier); ok {
					weak = weak || kindWords[id.Name.String()]
				}
			case *ast.Identifier:
				weak = weak || kindWords[x.Name.String()]
			}
		})
	}
	switch {
	case strong:
		return ShapeSeed
	case weak:
		return shapeBoth
	}
	return ShapeV2
}

// isCmd reports whether e reads a property named cmd (x.cmd, x?.cmd,
// x["cmd"]).
func isCmd(e ast.Expression) bool {
	switch x := e.(type) {
	case *ast.OptionalChain:
		return isCmd(x.Expression)
	case *ast.Optional:
		return isCmd(x.Expression)
	case *ast.DotExpression:
		return x.Identifier.Name == "cmd"
	case *ast.BracketExpression:
		s, ok := x.Member.(*ast.StringLiteral)
		return ok && s.Value == "cmd"
	}
	return false
}

func isKindWord(e ast.Expression) bool {
	switch x := e.(type) {
	case *ast.StringLiteral:
		return kindWords[x.Value.String()]
	case *ast.TemplateLiteral:
		return x.Tag == nil && len(x.Elements) == 1 && kindWords[x.Elements[0].Parsed.String()]
	}
	return false
}

var nodeType = reflect.TypeFor[ast.Node]()

// walk calls f with every AST node reachable from v, through exported
// fields, slices and interfaces. The AST is a tree, so it ends.
func walk(v reflect.Value, f func(any)) {
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			walk(v.Elem(), f)
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if v.Type().Implements(nodeType) {
			f(v.Interface())
		}
		walk(v.Elem(), f)
	case reflect.Struct:
		if v.CanAddr() && v.Addr().Type().Implements(nodeType) && v.Type() != reflect.TypeFor[ast.Identifier]() {
			// A node held by value (such as DotExpression.Identifier).
			f(v.Addr().Interface())
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				walk(v.Field(i), f)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			walk(v.Index(i), f)
		}
	}
}

// Names through which a script can make a regular expression from a string,
// or run code it makes: with none of them in the hook files, every regular
// expression the hooks can run is one of their literals.
var dynamicRegexpNames = map[string]bool{
	"RegExp": true, "match": true, "matchAll": true, "search": true, "compile": true,
	"eval": true, "Function": true, "constructor": true,
}

// needsRegexpGate reports whether the hook files may run a regular
// expression in regexp2 (see the guards): a literal that needs it, or a way
// to make one at run time. Without, the gate — which makes every regular
// expression take the slower generic path in goja — is not installed.
func needsRegexpGate(sources []Source) bool {
	need := false
	for _, s := range sources {
		prg, err := parser.ParseFile(nil, s.Name, s.Code, 0)
		if err != nil {
			return true
		}
		walk(reflect.ValueOf(prg), func(n any) {
			switch x := n.(type) {
			case *ast.RegExpLiteral:
				f := x.Flags
				if compileBacktracking(x.Pattern, contains(f, 'i'), contains(f, 'm'), contains(f, 's'), contains(f, 'u')) != nil {
					need = true
				}
			case *ast.Identifier:
				need = need || dynamicRegexpNames[x.Name.String()]
			case *ast.DotExpression:
				need = need || dynamicRegexpNames[x.Identifier.Name.String()]
			case *ast.StringLiteral:
				// o["match"](…)
				need = need || dynamicRegexpNames[x.Value.String()]
			}
		})
	}
	return need
}

func contains(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}
