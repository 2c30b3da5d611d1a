package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/config"
	"github.com/tether-ipc/tether/internal/netaddr"
)

// coreFlags are the flags that say how to reach a core: --addr and
// --token-file.
type coreFlags struct {
	addr, tokenFile *string
}

// defaults is the configuration of `tether serve` with no flags: the
// addresses and secret the subcommands reach by default.
var defaults = config.Default()

func addCoreFlags(fs *flag.FlagSet) coreFlags {
	addr, _ := defaults.GRPCAddr()
	tok, _ := defaults.TokenPath()
	return coreFlags{
		addr: fs.String("addr", addr, "core address: unix:///path or host:port (default: the socket `tether serve` opens by default)"),
		tokenFile: fs.String("token-file", "", "file with the app's secret, sent to a core over TCP (default: "+tok+
			", the one `tether serve` writes, if it is there)"),
	}
}

// dial connects to the core; over TCP it sends the secret of --token-file,
// or of the default token file when there is one.
func (f coreFlags) dial() (*client.Client, error) {
	network, _, err := netaddr.Parse(*f.addr)
	if err != nil {
		return nil, err
	}
	var opts []client.Option
	path, explicit := *f.tokenFile, *f.tokenFile != ""
	if !explicit && network == "tcp" {
		path, _ = defaults.TokenPath()
	}
	if path != "" && (explicit || network == "tcp") {
		tok, err := readToken(path)
		switch {
		case err == nil:
			opts = append(opts, client.WithToken(tok))
		case explicit || !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("--token-file: %v", err)
		}
	}
	return client.Dial(*f.addr, opts...)
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return tok, nil
}

// tokenCmd: tether token [--identifier ID] — prints the secret the app
// wrote to its runtime folder, for HTTP callers:
//
//	curl -H "Authorization: Bearer $(tether token)" http://127.0.0.1:7400/ipc/commands
func tokenCmd(args []string, stdout, stderr io.Writer) error {
	flags := newFlags("token", stderr)
	id := flags.String("identifier", config.DefaultIdentifier, "the app's identifier")
	if err := parse(flags, args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: tether token [--identifier ID]")
		return errUsage
	}
	cfg := config.Default()
	cfg.Identifier = *id
	path, err := cfg.TokenPath()
	if err != nil {
		return err
	}
	tok, err := readToken(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no secret at %s: is the app running (as this user)? an app started with --token-file keeps its secret there", path)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
