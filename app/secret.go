package app

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/tether-ipc/tether/config"
	"github.com/tether-ipc/tether/internal/netaddr"
)

// loadSecret returns the app's secret: the contents of gateway.token_file,
// or a new one (32 random bytes, base64url).
func loadSecret(cfg config.Config) (string, error) {
	path := cfg.Gateway.TokenFile
	if path == "" {
		b := make([]byte, 32)
		rand.Read(b) //nolint:errcheck // crypto/rand.Read does not fail
		return base64.RawURLEncoding.EncodeToString(b), nil
	}
	fail := func(err error) (string, error) { return "", &config.FieldError{Field: "gateway.token_file", Err: err} }
	fi, err := os.Stat(path)
	if err != nil {
		return fail(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return fail(fmt.Errorf("%s has mode %v: other users may read the secret (chmod 600 it)", path, fi.Mode().Perm()))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fail(err)
	}
	tok := strings.TrimSpace(string(b))
	switch {
	case tok == "":
		return fail(errors.New("the file is empty"))
	case strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r > '~' }):
		return fail(errors.New("the secret must be one line of printable ASCII without spaces"))
	case len(tok) < 16:
		return fail(errors.New("the secret is shorter than 16 characters: anyone could guess it"))
	}
	return tok, nil
}

// runtimeDir makes the app's runtime folder (config.RuntimeDir), mode
// 0700, refusing one another user owns or may use.
func runtimeDir(cfg config.Config) (string, error) {
	dir, err := cfg.RuntimeDir()
	if err != nil {
		return "", err
	}
	// RuntimeDir is <base>/<tether folder>/<identifier>: base exists.
	base := filepath.Dir(filepath.Dir(dir))
	rel, err := filepath.Rel(base, dir)
	if err != nil {
		return "", err
	}
	if _, err := netaddr.PrivateDir(base, rel); err != nil {
		return "", fmt.Errorf("the runtime folder: %v", err)
	}
	return dir, nil
}

// writeToken writes the secret to path, mode 0600, replacing what was
// there; remove deletes it again if it still holds this secret.
func writeToken(path, secret string) (remove func(), err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".token-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name()) // after a rename, nothing is left to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, err
	}
	if _, err := tmp.WriteString(secret + "\n"); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, err
	}
	return func() {
		if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == secret {
			os.Remove(path)
		}
	}, nil
}
