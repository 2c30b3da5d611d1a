package isolation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/tether-ipc/tether"
)

// Policy is a declarative hook. Its JSON form uses the field names below,
// e.g.
//
//	{"commands": ["greet", "fs_*"], "events": ["chat:*"],
//	 "blockedPaths": ["/etc", "/root", "~", ".."],
//	 "rules": [{"command": "greet", "key": "name", "required": true, "maxLength": 64, "pattern": "^[a-z]+$"}]}
//
// A nil Commands (absent in JSON) restricts no command; an empty, non-nil
// list allows none. The same holds for Events, which covers emit and listen.
// Globs use path.Match syntax ('*' does not cross '/').
type Policy struct {
	// Commands are the command names (or globs) allowed.
	Commands []string `json:"commands,omitempty"`
	// Events are the event names (or globs) that may be emitted or listened to.
	Events []string `json:"events,omitempty"`
	// BlockedPaths are path prefixes refused in the path arguments, compared
	// after cleaning: "/etc" blocks "/etc", "/etc/x" and "/tmp/../etc/x" but
	// not "/etcetera". ".." blocks relative paths that climb out ("a/../../x"),
	// and "~" blocks every path starting with "~".
	BlockedPaths []string `json:"blockedPaths,omitempty"`
	// PathKeys are the argument keys checked against BlockedPaths, at any
	// depth of the args (default: "path").
	PathKeys []string `json:"pathKeys,omitempty"`
	// Rules are argument rules.
	Rules []ArgRule `json:"rules,omitempty"`
	// MaxArgsBytes bounds the size of the args or event payload JSON (0: no bound).
	MaxArgsBytes int `json:"maxArgsBytes,omitempty"`
}

// ArgRule constrains one top-level argument of the commands it names.
type ArgRule struct {
	// Command is the command name or glob the rule applies to ("" or "*": all).
	Command string `json:"command,omitempty"`
	// Key is the argument name.
	Key string `json:"key"`
	// Required refuses a call without the argument.
	Required bool `json:"required,omitempty"`
	// Type, when set, is the JSON type the value must have: "string",
	// "number", "boolean", "object" or "array".
	Type string `json:"type,omitempty"`
	// MaxLength bounds a string value's length in characters (0: no bound).
	MaxLength int `json:"maxLength,omitempty"`
	// Pattern is a regular expression (RE2) a string value must match.
	Pattern string `json:"pattern,omitempty"`

	re *regexp.Regexp
}

// LoadPolicy reads a Policy from JSON. Unknown fields, bad globs and bad
// patterns are errors.
func LoadPolicy(data []byte) (*Policy, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Policy
	if err := dec.Decode(&p); err != nil {
		return nil, tether.Errorf(tether.CodeInvalidArgument, "isolation: policy: %v", err)
	}
	if _, err := p.Hook(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Hook compiles the policy into a Hook. It fails on a bad glob or pattern.
func (p *Policy) Hook() (Hook, error) {
	c := *p
	for _, g := range append(append([]string{}, p.Commands...), p.Events...) {
		if _, err := path.Match(g, ""); err != nil {
			return nil, tether.Errorf(tether.CodeInvalidArgument, "isolation: policy: bad glob %q", g)
		}
	}
	c.Rules = make([]ArgRule, len(p.Rules))
	for i, r := range p.Rules {
		if r.Key == "" {
			return nil, tether.NewError(tether.CodeInvalidArgument, "isolation: policy: rule without key")
		}
		if r.Pattern != "" {
			re, err := regexp.Compile(r.Pattern)
			if err != nil {
				return nil, tether.Errorf(tether.CodeInvalidArgument, "isolation: policy: bad pattern %q", r.Pattern)
			}
			r.re = re
		}
		switch r.Type {
		case "", "string", "number", "boolean", "object", "array":
		default:
			return nil, tether.Errorf(tether.CodeInvalidArgument, "isolation: policy: bad type %q", r.Type)
		}
		c.Rules[i] = r
	}
	c.BlockedPaths = make([]string, len(p.BlockedPaths))
	for i, b := range p.BlockedPaths {
		c.BlockedPaths[i] = cleanPath(b)
	}
	if len(c.PathKeys) == 0 {
		c.PathKeys = []string{"path"}
	}
	return c.check, nil
}

func matchAny(globs []string, name string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

func (p *Policy) check(_ context.Context, pl *Payload) (*Payload, error) {
	switch pl.Cmd {
	case CmdInvoke:
		if pl.Message == nil {
			return nil, Block("invoke without message")
		}
		name := pl.Message.Cmd
		if p.Commands != nil && !matchAny(p.Commands, name) {
			return nil, Block("command " + name + " is not allowed")
		}
		if p.MaxArgsBytes > 0 && len(pl.Message.Args) > p.MaxArgsBytes {
			return nil, Block(fmt.Sprintf("args of %s exceed %d bytes", name, p.MaxArgsBytes))
		}
		if err := p.checkArgs(name, pl.Message.Args); err != nil {
			return nil, err
		}
	case CmdEmit, CmdListen:
		if p.Events != nil && !matchAny(p.Events, pl.Event) {
			return nil, Block("event " + pl.Event + " is not allowed")
		}
		if p.MaxArgsBytes > 0 && len(pl.Payload) > p.MaxArgsBytes {
			return nil, Block(fmt.Sprintf("payload of %s exceeds %d bytes", pl.Event, p.MaxArgsBytes))
		}
	default:
		return nil, Block("unknown cmd " + pl.Cmd)
	}
	return pl, nil
}

func (p *Policy) checkArgs(name string, raw json.RawMessage) error {
	if len(p.BlockedPaths) == 0 && len(p.Rules) == 0 {
		return nil
	}
	var args any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &args); err != nil {
			return Block("args are not valid JSON")
		}
	}
	if len(p.BlockedPaths) > 0 {
		if err := p.walkPaths(args, 0); err != nil {
			return err
		}
	}
	obj, _ := args.(map[string]any)
	for _, r := range p.Rules {
		if r.Command != "" && r.Command != "*" {
			if ok, _ := path.Match(r.Command, name); !ok {
				continue
			}
		}
		v, present := obj[r.Key]
		if !present {
			if r.Required {
				return Block("argument " + r.Key + " is required")
			}
			continue
		}
		if r.Type != "" && jsonType(v) != r.Type {
			return Block("argument " + r.Key + " must be a " + r.Type)
		}
		s, isString := v.(string)
		if r.MaxLength > 0 && isString && utf8.RuneCountInString(s) > r.MaxLength {
			return Block(fmt.Sprintf("argument %s is longer than %d", r.Key, r.MaxLength))
		}
		if r.re != nil && (!isString || !r.re.MatchString(s)) {
			return Block("argument " + r.Key + " does not match " + r.Pattern)
		}
	}
	return nil
}

const maxWalkDepth = 64

func (p *Policy) walkPaths(v any, depth int) error {
	if depth > maxWalkDepth {
		return Block("args are nested too deep")
	}
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			if matchKey(p.PathKeys, k) {
				if err := p.checkPathValue(k, child); err != nil {
					return err
				}
			}
			if err := p.walkPaths(child, depth+1); err != nil {
				return err
			}
		}
	case []any:
		for _, child := range x {
			if err := p.walkPaths(child, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func matchKey(keys []string, k string) bool {
	for _, key := range keys {
		if key == k {
			return true
		}
	}
	return false
}

func (p *Policy) checkPathValue(key string, v any) error {
	switch x := v.(type) {
	case string:
		if reason := p.blockedPath(x); reason != "" {
			return Block(fmt.Sprintf("argument %s: %s", key, reason))
		}
	case []any:
		for _, e := range x {
			if err := p.checkPathValue(key, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// cleanPath cleans a path as a slash path, after turning backslashes into
// slashes.
func cleanPath(s string) string {
	return path.Clean(strings.ReplaceAll(s, `\`, "/"))
}

func (p *Policy) blockedPath(raw string) string {
	if strings.ContainsRune(raw, 0) {
		return "path contains a NUL byte"
	}
	clean := cleanPath(raw)
	for _, b := range p.BlockedPaths {
		switch {
		case b == "~" && strings.HasPrefix(clean, "~"):
		case clean == b, b == "/" && strings.HasPrefix(clean, "/"), strings.HasPrefix(clean, b+"/"):
		default:
			continue
		}
		return "path " + clean + " is under blocked " + b
	}
	return ""
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return "null"
}
