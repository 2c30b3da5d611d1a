// Command tether is Tether's command-line program. It serves the demo app
// (`tether serve`, the same assembly as any app built on package app) and
// talks to a running core: invoke commands (channel commands print each
// message), list them, emit and listen to events, wait for a core to be
// ready, export the .proto files an app's protos import.
//
//	tether serve [--config tether.json] [flags]
//	tether invoke COMMAND [JSON-ARGS]
//	tether commands
//	tether emit EVENT [JSON-PAYLOAD]
//	tether listen EVENT...
//
// The core's address comes from --addr, else $TETHER_ADDR, else the "addr"
// of the client config file ($TETHER_CLI_CONFIG, default
// $XDG_CONFIG_HOME/tether/cli.json), else the socket `tether serve` opens
// by default ($XDG_RUNTIME_DIR/tether/dev.tether.app/grpc.sock). Over TCP
// the commands send the app's secret (--token-file, $TETHER_TOKEN_FILE, or
// the file `tether serve` writes; `tether token` prints it for HTTP
// callers). Failures print one line to standard error; the exit status
// says what kind (see `tether --help`).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tether-ipc/tether/app"
)

// Exit statuses, the same for every command.
const (
	exitOK          = 0
	exitFailed      = 1 // the call failed: the core or the command said no
	exitUsage       = 2 // a bad command line
	exitUnreachable = 3 // no core at the address
)

// exitStatusHelp ends the help of every command that talks to a core.
const exitStatusHelp = `
Exit status:
  0  success
  1  the call failed: the core or the command returned an error ("code: message" on stderr)
  2  bad command line: unknown command or flag, wrong number of arguments
  3  the core could not be reached: not running, wrong --addr, no permission on its socket`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is what the commands share: where they print, and the context that
// ends on SIGINT or SIGTERM.
type env struct {
	ctx            context.Context
	stdout, stderr io.Writer
}

// runError marks an error a command's run returned (as opposed to one
// cobra found in the command line).
type runError struct{ err error }

func (e runError) Error() string { return e.err.Error() }
func (e runError) Unwrap() error { return e.err }

// usageError is a command-line mistake found by a command itself.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// runE adapts a command's body: its errors are run errors, except the
// usage errors it finds itself.
func runE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := f(cmd, args)
		var ue usageError
		if err == nil || errors.As(err, &ue) {
			return err
		}
		return runError{err}
	}
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr}
	root := newRoot(e)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	name := "tether"
	if cmd != nil {
		name = cmd.CommandPath()
	}
	var re runError
	var ue usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK // tether serve --help
	case errors.As(err, &ue), errors.Is(err, app.ErrUsage), !errors.As(err, &re):
		fmt.Fprintf(stderr, "%s: %s (see '%s --help')\n", name, oneLine(err.Error()), name)
		return exitUsage
	}
	if u, ok := unreachable(err); ok {
		fmt.Fprintf(stderr, "%s: %s\n", name, u)
		return exitUnreachable
	}
	fmt.Fprintf(stderr, "%s: %s\n", name, oneLine(describe(err)))
	return exitFailed
}

// oneLine keeps the first line of a message (cobra adds suggestions on
// lines of their own) with the suggestions folded in.
func oneLine(s string) string {
	first, rest, ok := strings.Cut(strings.TrimSpace(s), "\n")
	if !ok {
		return first
	}
	var sugg []string
	for _, l := range strings.Split(rest, "\n") {
		if l = strings.TrimSpace(l); l != "" && l != "Did you mean this?" {
			sugg = append(sugg, l)
		}
	}
	if len(sugg) > 0 {
		return first + "; did you mean " + strings.Join(sugg, " or ") + "?"
	}
	return first
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "tether",
		Short: "Tauri-style commands and events over gRPC",
		Long: `tether serves a Tether app and talks to a running core.

'tether serve' runs the demo app: the core (gRPC), the HTTP/JSON gateway, the
demo page at / and the developer console at /_tether/. The other commands are
clients of a core: they find it with --addr, else $TETHER_ADDR, else the
"addr" of the client config file ($TETHER_CLI_CONFIG, default
$XDG_CONFIG_HOME/tether/cli.json, e.g. {"addr": "unix:///run/app/core.sock"}),
else ` + defaultGRPC + `.` + "\n" + exitStatusHelp,
		Example: `  tether serve --data examples/demo/data &
  tether wait
  tether invoke greet '{"name":"World"}'
  tether invoke count '{"to":3}'
  tether listen backend-event
  tether completion bash > /etc/bash_completion.d/tether`,
		Version:       versionString(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err.Error()} })
	root.AddGroup(&cobra.Group{ID: "app", Title: "Serve an app:"}, &cobra.Group{ID: "client", Title: "Talk to a running core:"})
	for _, c := range []*cobra.Command{newServe(e), newProto(e), newGen(e)} {
		c.GroupID = "app"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{newInvoke(e), newCommands(e), newEmit(e), newListen(e), newWait(e), newToken(e)} {
		c.GroupID = "client"
		root.AddCommand(c)
	}
	root.AddCommand(newVersion(e))
	return root
}

// exactArgs and rangeArgs are cobra's argument checks, reporting usage
// errors that say what was expected.
func rangeArgs(min, max int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < min || len(args) > max {
			return usagef("want %s, got %d argument(s)", what, len(args))
		}
		return nil
	}
}

func minArgs(min int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < min {
			return usagef("want %s", what)
		}
		return nil
	}
}
