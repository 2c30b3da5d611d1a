package capability

import (
	"errors"
	"strings"
)

// A glob is a compiled pattern. Its syntax is deliberately small: '*' matches
// any run of characters and '?' any one character; in a path glob (sep '/')
// neither crosses a '/', and a whole segment "**" matches zero or more
// segments. Character classes, braces and escapes are not supported, so that
// a pattern means the same thing to every reader.
type glob struct {
	pattern string
	sep     byte // 0: no separator; '/': path-like
	kind    globKind
	fixed   string   // literal, prefix or suffix for the fast kinds
	segs    []string // path globs: the pattern split at sep
}

type globKind uint8

const (
	globLiteral globKind = iota // no metacharacters: string equality
	globAll                     // "*" (or "**") without a separator
	globPrefix                  // "abc*" without a separator
	globSuffix                  // "*abc" without a separator
	globGeneral
)

var errGlobSyntax = errors.New("character classes, braces and backslashes are not supported in patterns")

// compileGlob compiles pattern. sep is 0 for labels, events and origins
// without paths, or '/' for paths and origins.
func compileGlob(pattern string, sep byte) (*glob, error) {
	if strings.ContainsAny(pattern, "[]{}\\") {
		return nil, errGlobSyntax
	}
	g := &glob{pattern: pattern, sep: sep}
	meta := strings.ContainsAny(pattern, "*?")
	switch {
	case !meta:
		g.kind, g.fixed = globLiteral, pattern
	case sep == 0 && strings.Trim(pattern, "*") == "":
		g.kind = globAll
	case sep == 0 && !strings.ContainsAny(strings.TrimRight(pattern, "*"), "*?"):
		g.kind, g.fixed = globPrefix, strings.TrimRight(pattern, "*")
	case sep == 0 && !strings.ContainsAny(strings.TrimLeft(pattern, "*"), "*?"):
		g.kind, g.fixed = globSuffix, strings.TrimLeft(pattern, "*")
	default:
		g.kind = globGeneral
		if sep != 0 {
			g.segs = strings.Split(pattern, string(sep))
			for _, s := range g.segs {
				if s != "**" && strings.Contains(s, "**") {
					return nil, errors.New(`"**" must be a whole path segment`)
				}
			}
		}
	}
	return g, nil
}

func (g *glob) match(s string) bool {
	switch g.kind {
	case globLiteral:
		return s == g.fixed
	case globAll:
		return true
	case globPrefix:
		return strings.HasPrefix(s, g.fixed)
	case globSuffix:
		return strings.HasSuffix(s, g.fixed)
	}
	if g.sep == 0 {
		return wildMatch(g.pattern, s)
	}
	return matchSegs(g.segs, strings.Split(s, string(g.sep)))
}

// matchSegs matches path segments, where a "**" pattern segment stands for
// zero or more segments.
func matchSegs(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			for len(rest) > 0 && rest[0] == "**" {
				rest = rest[1:]
			}
			if len(rest) == 0 {
				return true
			}
			for i := 0; i <= len(segs); i++ {
				if matchSegs(rest, segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 || !wildMatch(pat[0], segs[0]) {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}

// wildMatch reports whether s matches p, where '*' matches any run and '?'
// any single byte. It backtracks only to the last star, so it runs in
// O(len(p)*len(s)) at worst.
func wildMatch(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func matchAny(gs []*glob, s string) bool {
	for _, g := range gs {
		if g.match(s) {
			return true
		}
	}
	return false
}
