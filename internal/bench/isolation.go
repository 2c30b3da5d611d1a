package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/server"
)

// runIsolationVsBrownfield: the real isolation path — client interceptors
// run the stage (no hooks: seal only) and seal, the core opens and verifies
// before resolving the command — against a brownfield core, each over its
// own Unix socket, the same demo process_data handler and a 1 KiB JSON arg.
func runIsolationVsBrownfield(ctx context.Context, cfg *Config, r *Result) error {
	r.A, r.B, r.Unit = "isolation", "brownfield", "ns/op"
	key, err := isolation.NewKey()
	if err != nil {
		return err
	}
	opener, err := isolation.NewOpener(key)
	if err != nil {
		return err
	}
	stage, err := isolation.NewStage(key)
	if err != nil {
		return err
	}
	iso, err := startCore("unix", server.WithWireInterceptors(isolation.UnaryServerInterceptor(opener), isolation.StreamServerInterceptor(opener)))
	if err != nil {
		return err
	}
	defer iso.stop()
	brown, err := startCore("unix")
	if err != nil {
		return err
	}
	defer brown.stop()
	isoCli, err := client.Dial(iso.addr, client.WithDialOptions(
		isolation.DialOptions(stage)...))
	if err != nil {
		return err
	}
	defer isoCli.Close()
	brownCli, err := client.Dial(brown.addr)
	if err != nil {
		return err
	}
	defer brownCli.Close()

	input := strings.Repeat("x", 1024-len(`{"input":""}`))
	args, _ := json.Marshal(map[string]string{"input": input})
	want := "Processed: " + input
	cctx := client.WithClientLabel(ctx, "main", "")
	op := func(c *client.Client) func() error {
		return func() error {
			var out string
			if err := c.Invoke(cctx, "process_data", json.RawMessage(args), &out); err != nil {
				return err
			}
			if out != want {
				return fmt.Errorf("process_data returned %d bytes", len(out))
			}
			return nil
		}
	}
	return interleave(ctx, cfg, r, latency(cfg.Side, 200, op(isoCli)), latency(cfg.Side, 200, op(brownCli)), div)
}

const bytesSize = 64 << 20

// runBytesVsUDS: a 64 MiB echo_bytes invoke over a Unix socket against a
// plain Unix-socket echo of 64 MiB (write all, read all back), both on a
// connection kept open across calls. Unit: MiB/s of payload echoed.
func runBytesVsUDS(ctx context.Context, cfg *Config, r *Result) error {
	r.A, r.B, r.Unit = "echo_bytes_invoke", "raw_uds_echo", "MiB/s"
	c, err := startCore("unix", server.WithLimits(server.Limits{MaxMessageBytes: 2 * bytesSize, MaxSendBytes: 2 * bytesSize}))
	if err != nil {
		return err
	}
	defer c.stop()
	cli, err := client.Dial(c.addr)
	if err != nil {
		return err
	}
	defer cli.Close()

	dir, err := os.MkdirTemp("", "tether-bench-uds-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lis, err := net.Listen("unix", filepath.Join(dir, "raw.sock"))
	if err != nil {
		return err
	}
	defer lis.Close()
	go func() {
		conn, err := lis.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		buf := make([]byte, bytesSize)
		for {
			if _, err := io.ReadFull(conn, buf); err != nil {
				return
			}
			if _, err := conn.Write(buf); err != nil {
				return
			}
		}
	}()
	raw, err := net.Dial("unix", filepath.Join(dir, "raw.sock"))
	if err != nil {
		return err
	}
	defer raw.Close()

	data := make([]byte, bytesSize)
	for i := range data {
		data[i] = byte(i * 7)
	}
	back := make([]byte, bytesSize)
	minOps := 2
	if cfg.Quick {
		minOps = 1
	}
	mibs := func(nsPerOp float64) float64 { return float64(bytesSize>>20) / (nsPerOp / 1e9) }
	inv := latency(cfg.Side, minOps, func() error {
		var out []byte
		if err := cli.Invoke(ctx, "echo_bytes", data, &out); err != nil {
			return err
		}
		if len(out) != bytesSize || out[bytesSize-1] != data[bytesSize-1] {
			return fmt.Errorf("echo_bytes returned %d bytes", len(out))
		}
		return nil
	})
	uds := latency(cfg.Side, minOps, func() error {
		if _, err := raw.Write(data); err != nil {
			return err
		}
		if _, err := io.ReadFull(raw, back); err != nil {
			return err
		}
		if !bytes.Equal(back[bytesSize-64:], data[bytesSize-64:]) {
			return fmt.Errorf("raw echo mismatch")
		}
		return nil
	})
	a := func(ctx context.Context) (float64, error) { ns, err := inv(ctx); return mibs(ns), err }
	b := func(ctx context.Context) (float64, error) { ns, err := uds(ctx); return mibs(ns), err }
	return interleave(ctx, cfg, r, a, b, div)
}
