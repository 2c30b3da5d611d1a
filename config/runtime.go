package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// RuntimeDir returns the app's runtime folder, which holds its default
// gRPC socket and its secret: $XDG_RUNTIME_DIR/tether/<identifier> (a
// folder of this user's only, by the XDG rules), or without one
// <temp>/tether-<uid>/<identifier>. It does not make the folder; package
// app does, mode 0700, and refuses one another user owns or may write.
func (c *Config) RuntimeDir() (string, error) {
	base := os.Getenv("XDG_RUNTIME_DIR")
	if base == "" || !filepath.IsAbs(base) {
		uid := os.Getuid()
		name := "tether"
		if uid >= 0 {
			name += "-" + strconv.Itoa(uid)
		}
		return filepath.Join(os.TempDir(), name, c.IdentifierOrDefault()), nil
	}
	return filepath.Join(base, "tether", c.IdentifierOrDefault()), nil
}

// IdentifierOrDefault is the app's identifier, or DefaultIdentifier when
// the config sets none: the name of its data and runtime folders.
func (c *Config) IdentifierOrDefault() string {
	if c.Identifier == "" {
		return DefaultIdentifier
	}
	return c.Identifier
}

// GRPCAddr returns the core's gRPC address: GRPC, or the Unix socket
// grpc.sock in RuntimeDir when GRPC is empty.
func (c *Config) GRPCAddr() (string, error) {
	if c.GRPC != "" {
		return c.GRPC, nil
	}
	dir, err := c.RuntimeDir()
	if err != nil {
		return "", err
	}
	return "unix://" + filepath.Join(dir, "grpc.sock"), nil
}

// TokenPath returns the file that holds the app's secret: Gateway.TokenFile,
// or the file token in RuntimeDir that the app writes at each launch.
func (c *Config) TokenPath() (string, error) {
	if c.Gateway.TokenFile != "" {
		return c.Gateway.TokenFile, nil
	}
	dir, err := c.RuntimeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "token"), nil
}

// Authenticated reports whether callers need the app's secret
// (Gateway.Auth is not "none").
func (c *Config) Authenticated() bool { return c.Gateway.Auth != AuthNone }

// validIdentifier: the identifier names folders, so it is one path segment.
func validIdentifier(id string) error {
	if len(id) > 128 {
		return fmt.Errorf("%q is longer than 128 bytes", id[:32]+"…")
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '-' || b == '_') {
			return fmt.Errorf("%q: use letters, digits, '.', '-' and '_' (a reverse domain, e.g. com.example.notes)", id)
		}
	}
	if id == "." || id == ".." || len(id) > 0 && id[0] == '.' {
		return fmt.Errorf("%q may not start with a dot", id)
	}
	return nil
}

// ContentSecurityPolicy returns the policy of CSP as one header value:
// the string as it is, or an object's directives joined ("k v; k v …",
// in key order, list values joined by spaces); "" for none.
func (s *Security) ContentSecurityPolicy() (string, error) {
	raw := bytes.TrimSpace(s.CSP)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		if strings.ContainsAny(str, "\r\n") {
			return "", errors.New("the policy must be one line")
		}
		return strings.TrimSpace(str), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", errors.New("want a policy string or an object of directives")
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if k == "" || strings.ContainsAny(k, " ;,\r\n") {
			return "", fmt.Errorf("directive %q is not a directive name", k)
		}
		var v string
		var list []string
		switch {
		case json.Unmarshal(obj[k], &v) == nil:
		case json.Unmarshal(obj[k], &list) == nil:
			v = strings.Join(list, " ")
		default:
			return "", fmt.Errorf("directive %q: want a string or a list of strings", k)
		}
		if strings.ContainsAny(v, ";\r\n") {
			return "", fmt.Errorf("directive %q: a value may not hold ';' or line breaks", k)
		}
		parts = append(parts, strings.TrimSpace(k+" "+v))
	}
	return strings.Join(parts, "; "), nil
}
