package main

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	"github.com/tether-ipc/tether/app"
	"github.com/tether-ipc/tether/examples/demo"
	"github.com/tether-ipc/tether/gateway"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	tlog "github.com/tether-ipc/tether/plugins/log"
	"github.com/tether-ipc/tether/plugins/store"
)

// serveCmd: tether serve [--config FILE] [flags] — the demo app, served by
// package app like any user's app: its commands, a heartbeat event every
// 5 s, and the typed REST routes of its proto service.
func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	return app.Serve(ctx, args, func(a *app.App) error {
		d := demo.New(a.DataDir())
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
		app.WithOutput(stdout, stderr),
		app.WithChildCommand(exe, "serve"), // split mode's gateway process
		app.WithGatewayOptions(gateway.WithServices(func(ctx context.Context, mux *runtime.ServeMux, cc grpc.ClientConnInterface) error {
			return demov1.RegisterDemoHandlerClient(ctx, mux, demov1.NewDemoClient(cc))
		})),
	)
}
