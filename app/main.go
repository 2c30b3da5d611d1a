package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/tether-ipc/tether/config"
	"github.com/tether-ipc/tether/server"
)

// Main is a whole program: it reads tether serve's flags from the command
// line (--config tether.json and a flag for every field; flags win over the
// file), builds the app, lets register add the commands, and serves until
// SIGINT or SIGTERM, then shuts down gracefully. Run as split mode's gateway
// process, it serves that instead. It exits non-zero with a one-line error
// on standard error; -h prints the flags and exits 0.
func Main(register func(*server.Server) error, opts ...Option) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Serve(ctx, os.Args[1:], func(a *App) error { return register(a.Server()) }, opts...)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		var o options
		for _, opt := range opts {
			opt(&o)
		}
		name := o.programName()
		if errors.Is(err, ErrUsage) {
			fmt.Fprintf(os.Stderr, "%s: %v (see '%s -h')\n", name, err, name)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

func (o *options) programName() string {
	if o.name != "" {
		return o.name
	}
	return filepath.Base(os.Args[0])
}

// usageExit is the end of the usage text: what the exit status means.
const usageExit = `
Exit status:
  0  shut down gracefully (SIGINT, SIGTERM), or -h
  1  an error at start (a bad setting, an address in use) or while serving
  2  a bad command line
`

// ErrUsage marks command-line mistakes (Main exits 2): errors.Is(err,
// app.ErrUsage).
var ErrUsage = errors.New("usage")

type usageError struct{ err error }

func (e usageError) Error() string        { return e.err.Error() }
func (e usageError) Is(target error) bool { return target == ErrUsage }
func (e usageError) Unwrap() error        { return e.err }

// Serve is Main without the process around it: it parses args as tether
// serve's flags, builds the app, calls setup (register commands on
// a.Server(); a.Config() and a.DataDir() are there to read), and runs until
// ctx ends. If args start split mode's gateway-process marker, it serves
// that instead and setup is not called. Errors: flag.ErrHelp after -h, a
// usage error for a bad command line, else what went wrong.
func Serve(ctx context.Context, args []string, setup func(*App) error, opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if len(args) > 0 && args[0] == splitChildArg {
		return runChild(ctx, args[1:], o)
	}
	stderr := o.logOut
	if stderr == nil {
		stderr = os.Stderr
	}
	stdout := o.stdout
	if stdout == nil {
		stdout = os.Stdout
	}
	fs := flag.NewFlagSet(o.programName(), flag.ContinueOnError)
	// Errors are returned in one line, not followed by the whole usage;
	// -h prints the usage on standard output.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	path := fs.String("config", "", "tether.json to read (flags given here win over it)")
	flags := config.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage:\n  %s [--config tether.json] [flags]\n\nFlags:\n", fs.Name())
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			fmt.Fprint(stdout, usageExit)
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))}
	}
	cfg, err := flags.Resolve(*path)
	if err != nil {
		return err
	}
	a, err := New(cfg, opts...)
	if err != nil {
		return err
	}
	if setup != nil {
		if err := setup(a); err != nil {
			a.core.Stop()
			a.cleanup()
			return err
		}
	}
	ready := o.ready
	a.o.ready = func(r Ready) {
		printReady(stdout, r)
		if ready != nil {
			ready(r)
		}
	}
	return a.Run(ctx)
}

// printReady prints the addresses, one line each, for people and scripts.
func printReady(w io.Writer, r Ready) {
	fmt.Fprintf(w, "tether: gRPC on %s\n", r.GRPC)
	for _, t := range r.Trusted {
		fmt.Fprintf(w, "tether: trusted endpoint %s\n", t)
	}
	if r.HTTP != "" {
		fmt.Fprintln(w, httpLine+r.HTTP)
		if r.Token != "" {
			// The one place the secret is shown: the owner's terminal.
			fmt.Fprintf(w, "tether: open %s\n", r.OpenURL)
		}
	}
	if r.TokenFile != "" {
		fmt.Fprintf(w, "tether: token in %s\n", r.TokenFile)
	}
}
