package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether/config"
	"github.com/tether-ipc/tether/gateway"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/interceptors/metrics"
	"github.com/tether-ipc/tether/internal/netaddr"
	"github.com/tether-ipc/tether/server"
)

// Split mode: the core listens on a Unix socket (mode 0600, in a folder of
// mode 0700 of its own) and starts its gateway process — this same program,
// with splitChildArg first among the arguments Serve gets — with the
// isolation key and the configuration written to a pipe on the child's fd 3:
// never argv, environment, disk or logs. The child runs the gateway and the
// isolation stage and seals every call it forwards to the core.
//
// The pipe stays open while the core lives: the child exits as soon as it
// reads the pipe's end (the core died, even by SIGKILL), and on Linux the
// kernel also signals it when its parent dies. Before it dials, the child
// checks that the socket and its folder belong to its user and that nobody
// else may write the folder; on Linux it also checks that the process at
// the other end is its parent.

// splitChildArg marks the gateway process of split mode.
const splitChildArg = "--tether-split-gateway"

// httpLine begins the line that prints the gateway's address (Serve's, and
// the gateway process's to the core, which reads its address from it).
const httpLine = "tether: HTTP on "

// child is the gateway process of split mode.
type child struct {
	cmd     *exec.Cmd
	dir     string
	handoff *os.File // the write end of fd 3, held open for the child's life
	metrics *http.Server
	done    chan struct{}
}

func (a *App) startChild(ctx context.Context) (*child, string, error) {
	dir, err := os.MkdirTemp("", "tether-core-")
	if err != nil {
		return nil, "", err
	}
	c := &child{dir: dir, done: make(chan struct{})}
	fail := func(err error) (*child, string, error) {
		c.release()
		return nil, "", err
	}
	sock := "unix://" + filepath.Join(dir, "core.sock")
	lis, err := server.Listen(sock)
	if err != nil {
		return fail(err)
	}
	go a.core.Serve(lis) //nolint:errcheck // ends with the core
	msock := "unix://" + filepath.Join(dir, "metrics.sock")
	ml, err := netaddr.Listen(msock)
	if err != nil {
		return fail(err)
	}
	c.metrics = &http.Server{Handler: a.metrics.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go c.metrics.Serve(ml) //nolint:errcheck // ends at stop

	prog := a.o.childCmd
	if len(prog) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return fail(err)
		}
		prog = []string{exe}
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	c.handoff = pw
	args := append(append([]string{}, prog[1:]...), splitChildArg, "--core", sock, "--metrics", msock)
	cmd := exec.Command(prog[0], args...)
	cmd.ExtraFiles = []*os.File{pr} // fd 3
	cmd.Env = os.Environ()          // never holds the key
	cmd.SysProcAttr = childProcAttr()
	cmd.Stderr = a.o.childOut
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		pr.Close()
		return fail(err)
	}
	if err := cmd.Start(); err != nil {
		pr.Close()
		return fail(fmt.Errorf("split mode: starting the gateway process: %v", err))
	}
	pr.Close()
	c.cmd = cmd
	go func() { cmd.Wait(); close(c.done) }() //nolint:errcheck // the exit is reported by done
	if err := writeHandoff(pw, a.key, handoff{Config: a.cfg, Secret: a.secret}); err != nil {
		c.stop(context.Background())
		return nil, "", fmt.Errorf("split mode: handing over to the gateway process: %v", err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), httpLine); ok {
				urls <- u
			}
		}
	}()
	select {
	case u := <-urls:
		a.log.Info("tether: gateway process started", "pid", cmd.Process.Pid)
		return c, u, nil
	case <-c.done:
		c.release()
		return nil, "", errors.New("split mode: the gateway process exited at start (see its log)")
	case <-time.After(30 * time.Second):
		c.stop(context.Background())
		return nil, "", errors.New("split mode: the gateway process did not start within 30s")
	case <-ctx.Done():
		c.stop(context.Background())
		return nil, "", ctx.Err()
	}
}

// handoff is what the gateway process reads after the key: the
// configuration and the app's secret.
type handoff struct {
	Config config.Config `json:"config"`
	Secret string        `json:"secret,omitempty"`
}

// writeHandoff writes the key, then the configuration and secret as JSON.
func writeHandoff(w io.Writer, key *isolation.Key, h handoff) error {
	if _, err := key.WriteTo(w); err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(h)
}

// stop ends the gateway process: SIGTERM, then SIGKILL when ctx ends.
func (c *child) stop(ctx context.Context) {
	defer c.release()
	if c.cmd == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited
	select {
	case <-c.done:
	case <-ctx.Done():
		c.cmd.Process.Kill() //nolint:errcheck
		<-c.done
	}
}

func (c *child) release() {
	if c.handoff != nil {
		c.handoff.Close()
	}
	if c.metrics != nil {
		c.metrics.Close()
	}
	os.RemoveAll(c.dir)
}

// runChild is the gateway process of split mode: it reads the key and
// configuration from fd 3, builds the isolation stage, dials the core and
// serves the gateway until ctx ends or the core goes away.
func runChild(ctx context.Context, args []string, o options) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	coreAddr := fs.String("core", "", "the core's socket")
	metricsAddr := fs.String("metrics", "", "the core's metrics socket")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *coreAddr == "" {
		return errors.New("this process is started by split mode; it is not run by hand")
	}
	pipe := os.NewFile(3, "handoff")
	if pipe == nil {
		return errors.New("no handoff pipe on fd 3")
	}
	defer pipe.Close()
	key, err := isolation.ReadKey(pipe)
	if err != nil {
		return fmt.Errorf("reading the key from the core: %v", err)
	}
	var h handoff
	if err := json.NewDecoder(pipe).Decode(&h); err != nil {
		return fmt.Errorf("reading the configuration from the core: %v", err)
	}
	cfg := h.Config
	logOut := o.logOut
	if logOut == nil {
		logOut = os.Stderr
	}
	log := o.logger
	if log == nil {
		log = NewLogger(cfg.Log, logOut)
	}
	log = log.With("process", "gateway")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The core holds the pipe's write end until it exits: its end is ours.
	go func() {
		io.Copy(io.Discard, pipe) //nolint:errcheck // any end means the core is gone
		log.Error("tether: the core is gone; the gateway process exits")
		cancel()
		time.AfterFunc(time.Second, func() { os.Exit(1) })
	}()

	a := &App{cfg: cfg, o: o, log: log, metrics: metrics.New(), secret: h.Secret}
	defer a.cleanup()
	if a.tp, err = a.setupTracing(); err != nil {
		return err
	}
	hooks, err := loadHooks(cfg, log, o.hooks, &a.close)
	if err != nil {
		return err
	}
	stage, err := isolation.NewStage(key, hooks...)
	if err != nil {
		return err
	}
	conn, err := dialParent(*coreAddr, frontDialOptions(log, a.metrics, stage))
	if err != nil {
		return err
	}
	go exitWhenBroken(ctx, conn, log, cancel)
	gopts := append(a.gatewayOptions(), gateway.WithHandler("GET", "/metrics", mergedMetrics(*metricsAddr, a.metrics.Registry())))
	f, err := serveFront(cfg, log, conn, append(gopts, o.gatewayOpts...))
	if err != nil {
		conn.Close()
		return err
	}
	log.Info("tether: gateway serving", "http", f.url)
	stdout := o.stdout
	if stdout == nil {
		stdout = os.Stdout
	}
	fmt.Fprintln(stdout, httpLine+f.url)
	<-ctx.Done()
	sctx, scancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.Duration)
	defer scancel()
	f.shutdown(sctx)
	return nil
}

// dialParent connects to the core's socket after checking that it is the
// parent's: socket and folder of this user, folder writable by nobody else
// (before it returns, and again at each connection), and (on Linux) the
// peer process is the parent.
func dialParent(addr string, opts []grpc.DialOption) (*grpc.ClientConn, error) {
	_, path, err := netaddr.Parse(addr)
	if err != nil {
		return nil, err
	}
	if err := netaddr.CheckSocket(path); err != nil {
		return nil, fmt.Errorf("split mode: the core's socket: %v", err)
	}
	parent := os.Getppid()
	dialer := func(ctx context.Context, _ string) (net.Conn, error) {
		// Again at each (re)connection: the folder may have gone with the
		// core, and another user's socket taken its place.
		if err := netaddr.CheckSocket(path); err != nil {
			return nil, fmt.Errorf("split mode: the core's socket: %v", err)
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", path)
		if err != nil {
			return nil, err
		}
		if err := netaddr.CheckPeerProcess(c, os.Getuid(), parent); err != nil {
			c.Close()
			return nil, fmt.Errorf("split mode: the core's socket: %v", err)
		}
		return c, nil
	}
	return grpc.NewClient("passthrough:///tether-core", append([]grpc.DialOption{
		grpc.WithContextDialer(dialer),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256 << 20)),
	}, opts...)...)
}

// exitWhenBroken ends the gateway process when its connection to the core
// fails after having worked.
func exitWhenBroken(ctx context.Context, conn *grpc.ClientConn, log *slog.Logger, cancel func()) {
	conn.Connect()
	ready := false
	for {
		st := conn.GetState()
		switch st {
		case connectivity.Ready:
			ready = true
		case connectivity.TransientFailure, connectivity.Shutdown:
			if ready {
				log.Error("tether: the connection to the core broke; the gateway process exits")
				cancel()
				return
			}
		}
		if !conn.WaitForStateChange(ctx, st) {
			return
		}
	}
}

// mergedMetrics serves the core's metrics (read from its metrics socket)
// with the gateway process's own, which carry the label process="gateway".
func mergedMetrics(coreAddr string, own *prometheus.Registry) http.Handler {
	_, path, _ := netaddr.Parse(coreAddr)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
	core := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		res, err := hc.Get("http://core/metrics")
		if err != nil {
			return nil, fmt.Errorf("the core's metrics: %v", err)
		}
		defer res.Body.Close()
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(io.LimitReader(res.Body, 16<<20))
		if err != nil {
			return nil, err
		}
		out := make([]*dto.MetricFamily, 0, len(fams))
		for _, f := range fams {
			out = append(out, f)
		}
		return out, nil
	})
	gw := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		fams, err := own.Gather()
		for _, f := range fams {
			for _, m := range f.Metric {
				m.Label = append(m.Label, &dto.LabelPair{Name: proto.String("process"), Value: proto.String("gateway")})
			}
		}
		return fams, err
	})
	return promhttp.HandlerFor(prometheus.Gatherers{core, gw}, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
