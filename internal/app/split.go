package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/internal/config"
	"github.com/tether-ipc/tether/internal/netaddr"
	"github.com/tether-ipc/tether/server"
)

// Split mode: the core listens on a Unix socket (mode 0600, in a folder of
// mode 0700) and starts `tether gateway --from-parent` with the isolation
// key and the configuration written to a pipe on the child's fd 3 — never
// argv, environment, disk or logs. The child runs the gateway and the
// isolation stage and seals every call it forwards to the core.

// child is the gateway process of split mode.
type child struct {
	cmd  *exec.Cmd
	dir  string
	done chan struct{}
}

func (a *App) startChild(ctx context.Context) (*child, string, error) {
	dir, err := os.MkdirTemp("", "tether-core-")
	if err != nil {
		return nil, "", err
	}
	sock := "unix://" + filepath.Join(dir, "core.sock")
	lis, err := server.Listen(sock)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	go a.core.Serve(lis) //nolint:errcheck // ends with the core

	bin := a.ChildBinary
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			os.RemoveAll(dir)
			return nil, "", err
		}
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	cmd := exec.Command(bin, "gateway", "--from-parent", "--core", sock)
	cmd.ExtraFiles = []*os.File{pr} // fd 3
	cmd.Env = childEnv()
	out := a.ChildOutput
	if out == nil {
		out = os.Stderr
	}
	cmd.Stderr = out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		pr.Close()
		pw.Close()
		os.RemoveAll(dir)
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		os.RemoveAll(dir)
		return nil, "", fmt.Errorf("split mode: starting the gateway process: %v", err)
	}
	pr.Close()
	c := &child{cmd: cmd, dir: dir, done: make(chan struct{})}
	cfg := a.cfg
	werr := writeHandoff(pw, a.key, cfg)
	pw.Close()
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "tether: HTTP on "); ok {
				urls <- u
			}
		}
	}()
	go func() { cmd.Wait(); close(c.done) }() //nolint:errcheck // the exit is reported by done
	if werr != nil {
		c.stop(context.Background())
		return nil, "", fmt.Errorf("split mode: handing over to the gateway process: %v", werr)
	}
	select {
	case u := <-urls:
		a.log.Info("tether: gateway process started", "pid", cmd.Process.Pid, "core", sock)
		return c, u, nil
	case <-c.done:
		os.RemoveAll(dir)
		return nil, "", errors.New("split mode: the gateway process exited at start (see its log)")
	case <-time.After(30 * time.Second):
		c.stop(context.Background())
		return nil, "", errors.New("split mode: the gateway process did not start within 30s")
	case <-ctx.Done():
		c.stop(context.Background())
		return nil, "", ctx.Err()
	}
}

// childEnv is the environment of the gateway process: the parent's, which
// never holds the key.
func childEnv() []string { return os.Environ() }

// writeHandoff writes the key, then the configuration as JSON.
func writeHandoff(w io.Writer, key *isolation.Key, cfg config.Config) error {
	if _, err := key.WriteTo(w); err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(cfg)
}

func (c *child) stop(ctx context.Context) {
	defer os.RemoveAll(c.dir)
	c.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited
	select {
	case <-c.done:
	case <-ctx.Done():
		c.cmd.Process.Kill() //nolint:errcheck
		<-c.done
	}
}

// RunGateway is the gateway process of split mode: it reads the key and
// configuration from handoff (fd 3), builds the isolation stage, dials the
// core at coreAddr and serves the gateway until ctx ends.
func RunGateway(ctx context.Context, handoff io.Reader, coreAddr string, stdout io.Writer, logOut io.Writer) error {
	key, err := isolation.ReadKey(handoff)
	if err != nil {
		return fmt.Errorf("reading the key from the parent: %v", err)
	}
	var cfg config.Config
	if err := json.NewDecoder(handoff).Decode(&cfg); err != nil {
		return fmt.Errorf("reading the configuration from the parent: %v", err)
	}
	log := NewLogger(cfg.Log, logOut).With("process", "gateway")
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	hooks, err := LoadHooks(cfg, log, &closers)
	if err != nil {
		return err
	}
	stage, err := isolation.NewStage(key, hooks...)
	if err != nil {
		return err
	}
	target, err := netaddr.GRPCTarget(coreAddr)
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(target, append(isolation.DialOptions(stage),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)))...)
	if err != nil {
		return err
	}
	f, err := StartFront(cfg, log, conn)
	if err != nil {
		conn.Close()
		return err
	}
	log.Info("tether: gateway serving", "http", f.URL, "core", coreAddr)
	fmt.Fprintf(stdout, "tether: HTTP on %s\n", f.URL)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.Duration)
	defer cancel()
	f.Shutdown(sctx)
	return nil
}
