package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/config"
	"github.com/tether-ipc/tether/internal/netaddr"
)

// envTokenFile names the file with the app's secret (else --token-file,
// else the one `tether serve` writes).
const envTokenFile = "TETHER_TOKEN_FILE"

// defaults is the configuration of `tether serve` with no flags: the
// address and the secret the client commands reach by default.
var defaults = config.Default()

// defaultGRPC is the socket `tether serve` opens by default, in the
// user's runtime folder.
var defaultGRPC = func() string {
	addr, err := defaults.GRPCAddr()
	if err != nil {
		return "127.0.0.1:7401"
	}
	return addr
}()

// defaultTokenFile is where `tether serve` writes the secret it makes.
var defaultTokenFile, _ = defaults.TokenPath()

// target is how a client command reaches a core: --addr and --token-file.
type target struct {
	addr, tokenFile string
}

// tokenFlag adds --token-file to a client command.
func tokenFlag(cmd *cobra.Command, t *target) {
	cmd.Flags().StringVar(&t.tokenFile, "token-file", "", "file with the app's secret, sent to a core reached over TCP (default $"+envTokenFile+
		", or the file `tether serve` writes: "+defaultTokenFile+")")
}

// secret returns the file whose secret to send to the core at addr:
// --token-file or $TETHER_TOKEN_FILE (which must be there), or for a TCP
// address the one `tether serve` writes; "" for none. A Unix socket needs
// none (the core lets in only this user's processes).
func (t target) secret(addr string) (string, error) {
	path, named := t.tokenFile, "--token-file"
	if path == "" {
		path, named = os.Getenv(envTokenFile), "$"+envTokenFile
	}
	if path != "" {
		if _, err := client.ReadTokenFile(path); err != nil {
			return "", usagef("%s: %v", named, err)
		}
		return path, nil
	}
	if network, _, err := netaddr.Parse(addr); err != nil || network != "tcp" {
		return "", nil
	}
	return defaultTokenFile, nil
}

// newToken: tether token — prints the secret the app wrote to its runtime
// folder, for HTTP callers.
func newToken(e *env) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print the secret of the app 'tether serve' runs, for HTTP callers",
		Long: `token prints the secret that the app running as this user made at its start
(it is in ` + defaultTokenFile + `, mode 0600): HTTP callers send it as
"Authorization: Bearer <secret>", gRPC callers over TCP as metadata. The app
also printed it once, as the address a browser opens (…/?token=…).` + "\n" + exitStatusHelp,
		Example: `  curl -H "Authorization: Bearer $(tether token)" http://127.0.0.1:7400/ipc/commands
  tether token --identifier com.example.notes`,
		Args: rangeArgs(0, 0, "no arguments"),
	}
	cmd.Flags().StringVar(&id, "identifier", config.DefaultIdentifier, "the app's identifier (tether.json's \"identifier\")")
	cmd.RunE = runE(func(*cobra.Command, []string) error {
		cfg := config.Default()
		cfg.Identifier = id
		path, err := cfg.TokenPath()
		if err != nil {
			return err
		}
		tok, err := client.ReadTokenFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no secret at %s: is the app running, as this user? (an app started with --token-file keeps its secret in that file)", path)
		}
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(e.stdout, tok)
		return err
	})
	return cmd
}
