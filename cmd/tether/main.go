// Command tether serves the demo app and talks to a running core: invoke
// commands, list them, emit and listen to events.
//
//	tether serve [--config FILE] [--grpc ADDR] [--http ADDR] [--data DIR]
//	tether invoke [--addr ADDR] [--json] COMMAND [JSON]
//	tether commands [--addr ADDR] [--json]
//	tether gen ts [--addr ADDR | --from FILE] [--transport tether|tauri] [--out FILE]
//
// ADDR is host:port or unix:///path. Failures print one line to stderr and
// exit non-zero.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tether-ipc/tether/app"
)

const (
	defaultGRPC = "127.0.0.1:7401"
	defaultHTTP = "127.0.0.1:7400"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: tether <command> [flags] [args]

commands:
  serve      run the core, gateway and demo app
  invoke     invoke a command:            tether invoke greet '{"name":"World"}'
  commands   list commands and their argument shapes
  emit       emit an event:               tether emit my-event '{"x":1}'
  listen     print events, one JSON line each: tether listen my-event other-event
  proto      export the .proto files your protos import: tether proto export proto/third_party
  gen ts     typed TypeScript bindings for the commands: tether gen ts --out src/commands.ts

Run 'tether <command> -h' for its flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serveCmd(ctx, args[1:], stdout, stderr)
	case "invoke":
		err = invokeCmd(ctx, args[1:], stdout, stderr)
	case "commands":
		err = commandsCmd(ctx, args[1:], stdout, stderr)
	case "emit":
		err = emitCmd(ctx, args[1:], stdout, stderr)
	case "listen":
		err = listenCmd(ctx, args[1:], stdout, stderr)
	case "proto":
		err = protoCmd(args[1:], stdout, stderr)
	case "gen":
		err = genCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tether: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err == errUsage {
			return 2
		}
		if errors.Is(err, app.ErrUsage) {
			fmt.Fprintf(stderr, "tether %s: %v\n", args[0], err)
			return 2
		}
		fmt.Fprintf(stderr, "tether %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
