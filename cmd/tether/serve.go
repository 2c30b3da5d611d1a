package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tether-ipc/tether/internal/app"
	"github.com/tether-ipc/tether/internal/config"
)

// serveCmd: tether serve [--config FILE] [flags] — the core, the gateway and
// the demo app, configured by tether.json and flags (flags win).
func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	path := fs.String("config", "", "tether.json to read (flags given here win over it)")
	flags := config.BindFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tether serve [--config tether.json] [flags]")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	cfg, err := flags.Resolve(*path)
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg.Log, stderr)
	a, err := app.New(cfg, log)
	if err != nil {
		return err
	}
	return a.Run(ctx, func(r app.Ready) {
		fmt.Fprintf(stdout, "tether: gRPC on %s\n", r.GRPC)
		if r.HTTP != "" {
			fmt.Fprintf(stdout, "tether: HTTP on %s\n", r.HTTP)
		}
	})
}

// gatewayCmd: tether gateway --from-parent --core ADDR — the gateway
// process of split mode, started by `tether serve --split`. It reads the
// isolation key and configuration from fd 3.
func gatewayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gateway", stderr)
	fromParent := fs.Bool("from-parent", false, "read the key and configuration from fd 3 (set by tether serve --split)")
	core := fs.String("core", "", "the core's address")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !*fromParent || *core == "" {
		return errors.New("this process is started by `tether serve --split`; it is not run by hand")
	}
	handoff := os.NewFile(3, "handoff")
	if handoff == nil {
		return errors.New("no handoff pipe on fd 3")
	}
	defer handoff.Close()
	return app.RunGateway(ctx, handoff, *core, stdout, stderr)
}
