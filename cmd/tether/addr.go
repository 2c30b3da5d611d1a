package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
)

// The environment variables the client commands read.
const (
	envAddr   = "TETHER_ADDR"       // the core's address
	envConfig = "TETHER_CLI_CONFIG" // the client config file
)

// clientConfig is the client config file: {"addr": "unix:///run/app.sock"}.
type clientConfig struct {
	// Addr is the core's gRPC address, host:port or unix:///path.
	Addr string `json:"addr"`
}

// addrFlag adds --addr and --token-file to a client command and returns
// where they land.
func addrFlag(cmd *cobra.Command) *target {
	t := new(target)
	cmd.Flags().StringVar(&t.addr, "addr", "", "core address, unix:///path or host:port (default $"+envAddr+", the config file's \"addr\", or "+defaultGRPC+")")
	tokenFlag(cmd, t)
	return t
}

// coreAddr is the address a client command talks to: the flag, else
// $TETHER_ADDR, else the config file's addr, else the default.
func coreAddr(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if v := os.Getenv(envAddr); v != "" {
		return v, nil
	}
	cfg, err := loadClientConfig()
	if err != nil {
		return "", err
	}
	if cfg.Addr != "" {
		return cfg.Addr, nil
	}
	return defaultGRPC, nil
}

// clientConfigPath is $TETHER_CLI_CONFIG, else tether/cli.json in the
// user's config folder; explicit tells which.
func clientConfigPath() (path string, explicit bool) {
	if p := os.Getenv(envConfig); p != "" {
		return p, true
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", false
	}
	return filepath.Join(dir, "tether", "cli.json"), false
}

// loadClientConfig reads the client config file. A missing file is an
// empty config unless $TETHER_CLI_CONFIG named it; a bad one is an error
// naming it.
func loadClientConfig() (clientConfig, error) {
	var cfg clientConfig
	path, explicit := clientConfigPath()
	if path == "" {
		return cfg, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("client config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("client config %s: %v", path, err)
	}
	// A relative socket path is relative to the file's folder, as in
	// tether.json.
	if rest, ok := strings.CutPrefix(cfg.Addr, "unix://"); ok && rest != "" && !filepath.IsAbs(rest) {
		cfg.Addr = "unix://" + filepath.Join(filepath.Dir(path), rest)
	}
	return cfg, nil
}

// dial connects to the core a client command names; over TCP it sends
// the app's secret (see target.secret).
func dial(t target) (*client.Client, string, error) {
	addr, err := coreAddr(t.addr)
	if err != nil {
		return nil, "", err
	}
	tokenFile, err := t.secret(addr)
	if err != nil {
		return nil, addr, err
	}
	var opts []client.Option
	if tokenFile != "" {
		opts = append(opts, client.WithTokenFile(tokenFile))
	}
	c, err := client.Dial(addr, opts...)
	if err != nil {
		return nil, addr, usagef("--addr %q: %s", addr, tether.FromError(err).Message())
	}
	return c, addr, nil
}

// reachError says that the core at addr could not be reached, and why.
type reachError struct {
	addr, why, hint string
}

func (e *reachError) Error() string {
	return fmt.Sprintf("cannot reach the core at %s: %s (%s)", e.addr, e.why, e.hint)
}

// reached wraps err as a *reachError when it says the connection to addr
// could not be made; other errors pass unchanged.
func reached(err error, addr string) error {
	if err == nil || tether.CodeOf(err) != tether.CodeUnavailable {
		return err
	}
	msg := tether.FromError(err).Message()
	if !strings.Contains(msg, "while dialing") && !strings.Contains(msg, "connection error") {
		return err
	}
	run := "is it running? start it with 'tether serve', or point --addr or $" + envAddr + " at it"
	switch {
	case strings.Contains(msg, "connection refused"):
		return &reachError{addr, "connection refused", run}
	case strings.Contains(msg, "no such file or directory"):
		return &reachError{addr, "no socket there", run}
	case strings.Contains(msg, "permission denied"):
		return &reachError{addr, "permission denied", "the socket, or a folder on its path, belongs to another user: run as that user"}
	case strings.Contains(msg, "no such host"), strings.Contains(msg, "missing port"):
		return &reachError{addr, "bad address", "want host:port or unix:///path"}
	case strings.Contains(msg, "i/o timeout"), strings.Contains(msg, "deadline"):
		return &reachError{addr, "no answer", run}
	}
	return &reachError{addr, msg, run}
}

// unreachable returns the message of a *reachError in err.
func unreachable(err error) (string, bool) {
	var re *reachError
	if errors.As(err, &re) {
		return re.Error(), true
	}
	return "", false
}

// describe renders an error for the one-line report: "code: message",
// with the details of a command's error.
func describe(err error) string {
	var te *tether.Error
	if !errors.As(err, &te) {
		return err.Error()
	}
	if len(te.Details()) > 0 {
		return fmt.Sprintf("%v (details: %s)", te, te.Details())
	}
	return te.Error()
}
