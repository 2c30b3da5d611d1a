// Command tether-load-bytes checks that large payloads cannot make a core
// hold memory without bound: it runs a core as a child process, assembled
// as `tether serve` assembles it (package app, the default config with HTTP
// off, logs at warn and no trace exporter) plus an "echo" command, and over
// loopback TCP
//
//   - emits 400 events of 4 MB (each payload different), with one listener
//     that reads them and one that never reads (its stream stalls), and
//   - makes 300 invokes of "echo" with 4 MB of raw bytes, each with its own
//     idempotency key, then retries ten of them;
//
// then reads the child's peak and current RSS (VmHWM, VmRSS of
// /proc/PID/status). It exits 1 unless the peak stays under -max-rss
// (default 256 MiB), the reading listener got every event (or lag notices
// for what it missed), and every retry was answered without running the
// command again.
//
//	tether-load-bytes [-idempotency memory|file] [-emits 400] [-calls 300] [-size 4000000] [-max-rss 256]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/app"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/config"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/stress"
	"github.com/tether-ipc/tether/server"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "core" {
		if err := core(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "tether-load-bytes core:", err)
			os.Exit(1)
		}
		return
	}
	var p params
	flag.StringVar(&p.idem, "idempotency", "memory", "the core's idempotency store: memory or file (an fsync'd log in its data folder)")
	flag.IntVar(&p.emits, "emits", 400, "events emitted")
	flag.IntVar(&p.calls, "calls", 300, "keyed invokes")
	flag.IntVar(&p.size, "size", 4_000_000, "bytes of each event payload and each invoke's arguments")
	flag.IntVar(&p.maxRSS, "max-rss", 256, "the most the core's peak RSS may reach, in MiB")
	flag.Parse()
	if p.idem != "memory" && p.idem != "file" {
		fmt.Fprintln(os.Stderr, "tether-load-bytes: -idempotency is memory or file")
		os.Exit(2)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tether-load-bytes:", err)
		os.Exit(1)
	}
	ok, err := drive(p, self)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tether-load-bytes:", err)
		os.Exit(1)
	}
	if !ok {
		fmt.Println("tether-load-bytes: FAIL")
		os.Exit(1)
	}
	fmt.Println("tether-load-bytes: PASS")
}

type params struct {
	idem                       string
	emits, calls, size, maxRSS int
}

// core is the child: the app with its default config, gRPC on addr, plus
// "echo".
func core(args []string) error {
	fs := flag.NewFlagSet("core", flag.ContinueOnError)
	data := fs.String("data", "", "data folder")
	idem := fs.String("idem", "memory", "memory or file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := config.Default()
	cfg.GRPC, cfg.HTTP, cfg.Data = "127.0.0.1:0", "off", *data
	cfg.Gateway.TokenFile = filepath.Join(*data, "token") // the driver's secret: it calls over TCP
	cfg.Log.Level = "warn"
	if *idem == "file" {
		cfg.Limits.IdempotencyDir = filepath.Join(*data, "idempotency")
	}
	a, err := app.New(cfg, stress.CoreOptions()...)
	if err != nil {
		return err
	}
	server.Handle(a.Server(), "echo", func(_ context.Context, b []byte) ([]byte, error) { return b, nil })
	return stress.RunCore(a)
}

// drive runs the scenario against self (this program) in core mode.
func drive(p params, self string) (bool, error) {
	data, err := os.MkdirTemp("", "tether-load-bytes-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(data)
	token, err := stress.NewSecret(data)
	if err != nil {
		return false, err
	}
	cmd := exec.Command(self, "core", "-data", data, "-idem", p.idem)
	cmd.Stderr = io.Discard // the core logs every refused retry; the figures say it
	core, err := stress.StartCore(cmd)
	if err != nil {
		return false, err
	}
	defer core.Term() //nolint:errcheck
	addr, pid := core.Addr, cmd.Process.Pid
	startRSS, _ := stress.ProcessRSS(pid)
	fmt.Printf("tether-load-bytes: core at %s (child process, pid %d), idempotency %s; %d emits and %d keyed invokes of %d bytes; core RSS at start %s\n",
		addr, pid, p.idem, p.emits, p.calls, p.size, stress.MiB(startRSS))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := client.Dial(addr, client.WithToken(token))
	if err != nil {
		return false, err
	}
	defer c.Close()
	stalledConn, err := client.Dial(addr, client.WithToken(token))
	if err != nil {
		return false, err
	}
	defer stalledConn.Close()

	// A listener that reads, and one whose stream is never read.
	var got, lagged atomic.Int64
	sub, err := c.Listen(ctx, []string{"big"}, func(client.Event) { got.Add(1) },
		client.OnLag(func(dropped, _ uint64) { lagged.Add(int64(dropped)) }))
	if err != nil {
		return false, err
	}
	defer sub.Unlisten()
	sctx, stopStalled := context.WithCancel(ctx)
	defer stopStalled()
	stalled, err := stalledConn.IPC().Listen(sctx, &tetherv1.ListenRequest{Events: []string{"big"}})
	if err != nil {
		return false, err
	}
	if _, err := stalled.Header(); err != nil {
		return false, err
	}

	t0 := time.Now()
	body := make([]byte, p.size)
	for i := range p.emits {
		body[0], body[1] = byte(i), byte(i>>8)
		if _, err := c.Emit(ctx, "big", body); err != nil {
			return false, fmt.Errorf("emit %d: %v", i, err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for got.Load()+lagged.Load() < int64(p.emits) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	emitsRSS, emitsPeak := stress.ProcessRSS(pid)
	fmt.Printf("  emits       %d of %d bytes in %v; the reading listener got %d, lag notices for %d; core RSS now %s, peak %s\n",
		p.emits, p.size, time.Since(t0).Round(time.Millisecond), got.Load(), lagged.Load(), stress.MiB(emitsRSS), stress.MiB(emitsPeak))

	t1 := time.Now()
	var res []byte
	for i := range p.calls {
		body[0], body[1] = byte(i), byte(i>>8)
		if err := c.Invoke(ctx, "echo", body, &res, client.WithIdempotencyKey(fmt.Sprint("k", i))); err != nil {
			return false, fmt.Errorf("invoke %d: %v", i, err)
		}
		if len(res) != p.size || res[0] != byte(i) {
			return false, fmt.Errorf("invoke %d: wrong answer (%d bytes)", i, len(res))
		}
	}
	// Retries: the result was too large to keep; the command does not run
	// again and the retry says so.
	notKept := 0
	for i := range min(10, p.calls) {
		body[0], body[1] = byte(i), byte(i>>8)
		err := c.Invoke(ctx, "echo", body, &res, client.WithIdempotencyKey(fmt.Sprint("k", i)))
		if te := tether.FromError(err); te != nil && te.Code() == tether.CodeFailedPrecondition && string(te.Details()) == `{"idempotency":"result_not_kept"}` {
			notKept++
		}
	}
	endRSS, peak := stress.ProcessRSS(pid)
	fmt.Printf("  invokes     %d keyed of %d bytes in %v; %d of %d retries answered failed_precondition result_not_kept (not run again); core RSS now %s, peak %s\n",
		p.calls, p.size, time.Since(t1).Round(time.Millisecond), notKept, min(10, p.calls), stress.MiB(endRSS), stress.MiB(peak))
	if p.idem == "file" {
		if fi, err := os.Stat(filepath.Join(data, "idempotency", "idempotency.log")); err == nil {
			fmt.Printf("  durable log %d bytes\n", fi.Size())
		}
	}
	pass := peak < uint64(p.maxRSS)<<20 && got.Load()+lagged.Load() >= int64(p.emits) && notKept == min(10, p.calls)
	fmt.Printf("  result      core peak RSS %s, bound %d MiB\n", stress.MiB(peak), p.maxRSS)
	return pass, nil
}
