package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/tether-ipc/tether/app"
	"github.com/tether-ipc/tether/examples/demo"
	"github.com/tether-ipc/tether/gateway"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	tlog "github.com/tether-ipc/tether/plugins/log"
	"github.com/tether-ipc/tether/plugins/store"
)

// countInterval paces the demo's count channel, so that a progress bar fed
// by it visibly moves (100 messages take a second).
const countInterval = 10 * time.Millisecond

// newServe is `tether serve`: the demo app, served by package app like any
// user's app. app parses the flags itself (every field of tether.json has
// one), so cobra hands it the arguments untouched.
func newServe(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [--config tether.json] [flags]",
		Short: "Serve the demo app: core, gateway, demo page and console",
		Long: `serve runs the demo app through package app, as any app built on Tether runs:
the core on --grpc (gRPC, with health and reflection), the HTTP/JSON gateway
on --http with the demo page at / and the developer console at /_tether/,
metrics at /metrics. It reads tether.json with --config; every field is also
a flag, and flags win. It prints "tether: gRPC on ADDR" and "tether: HTTP on
URL" once it serves, and shuts down gracefully on SIGINT or SIGTERM.

The demo's commands: greet, process_data, read_file (below --data), fail
(a structured error), echo_bytes (raw bytes) and count (a channel); it
answers every frontend-event with a backend-event and emits a heartbeat
backend-event every 5 s.`,
		Example: `  tether serve --data examples/demo/data
  tether serve --grpc 127.0.0.1:0 --http 127.0.0.1:0      # free ports, printed at start
  tether serve --config tether.json --log-level debug
  tether serve --isolation-dir examples/isolation/strict --split
  tether serve --console=false --frontend dist/`,
		DisableFlagParsing: true,
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if wantsHelp(args) {
			// The description and examples, then app's own list of flags.
			fmt.Fprintf(e.stdout, "%s\n\nExamples:\n%s\n\n", cmd.Long, cmd.Example)
		}
		err := serveDemo(e, args)
		if err != nil {
			return runError{err}
		}
		return nil
	}
	return cmd
}

// wantsHelp reports -h or --help among args (before a "--").
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

func serveDemo(e *env, args []string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	return app.Serve(e.ctx, args, func(a *app.App) error {
		d := demo.New(a.DataDir())
		d.CountInterval = countInterval
		d.Register(a.Server())
		// The official store and log plugins, for pages that use
		// @tauri-apps/plugin-store and @tauri-apps/plugin-log.
		if err := store.Register(a.Server()); err != nil {
			return err
		}
		tlog.Register(a.Server())
		go d.Heartbeat(a.Server().Context(), a.Server(), 5*time.Second)
		return nil
	},
		app.WithName("tether serve"),
		app.WithOutput(e.stdout, e.stderr),
		app.WithConsole(true),              // the developer console at /_tether/, unless configured off
		app.WithChildCommand(exe, "serve"), // split mode's gateway process
		app.WithGatewayOptions(gateway.WithServices(func(ctx context.Context, mux *runtime.ServeMux, cc grpc.ClientConnInterface) error {
			return demov1.RegisterDemoHandlerClient(ctx, mux, demov1.NewDemoClient(cc))
		})),
	)
}
