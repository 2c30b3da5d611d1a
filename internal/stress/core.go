package stress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tether-ipc/tether/app"
)

// CoreOptions are the app options of a core run as a child process by a
// load or fault program: the "ready ADDR" line StartCore waits for on
// standard output. The core logs to standard error as its config's log
// block says.
func CoreOptions() []app.Option {
	return []app.Option{
		app.WithReady(func(r app.Ready) { fmt.Printf("ready %s\n", r.GRPC) }),
	}
}

// RunCore runs a until SIGTERM or an interrupt.
func RunCore(a *app.App) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return a.Run(ctx)
}

// Core is a core running as a child process.
type Core struct {
	Cmd  *exec.Cmd
	Addr string // its gRPC address, from its ready line
	done chan error
}

// StartCore starts cmd, a core built with CoreOptions, and waits up to 20 s
// for its ready line.
func StartCore(cmd *exec.Cmd) (*Core, error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &Core{Cmd: cmd, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		addr := ""
		if s.Scan() {
			if a, ok := strings.CutPrefix(s.Text(), "ready "); ok {
				addr = a
			}
		}
		ready <- addr
		io.Copy(io.Discard, out) //nolint:errcheck
		c.done <- cmd.Wait()
	}()
	select {
	case c.Addr = <-ready:
		if c.Addr != "" {
			return c, nil
		}
		err = errors.New("the core did not start; see its log")
	case <-time.After(20 * time.Second):
		err = errors.New("the core did not start within 20s")
	}
	cmd.Process.Kill() //nolint:errcheck
	<-c.done
	return nil, err
}

// Done receives the core's exit (once: Kill and Term wait on it too).
func (c *Core) Done() <-chan error { return c.done }

// Kill SIGKILLs the core and waits for it to be gone.
func (c *Core) Kill() {
	c.Cmd.Process.Signal(syscall.SIGKILL) //nolint:errcheck
	<-c.done
}

// Term asks the core to shut down gracefully and waits up to 15 s for it
// to exit; then it kills it.
func (c *Core) Term() error {
	c.Cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
	select {
	case err := <-c.done:
		return err
	case <-time.After(15 * time.Second):
		c.Kill()
		return errors.New("the core did not stop within 15s of SIGTERM")
	}
}
