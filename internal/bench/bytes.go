package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"

	"github.com/tether-ipc/tether/client"
)

const bytesSize = 64 << 20

// runBytesVsUDS: a 64 MiB echo_bytes invoke over a Unix socket against a
// plain Unix-socket echo of 64 MiB (write all, read all back), each on a
// connection kept open across calls. Unit: MiB/s of payload echoed.
func runBytesVsUDS(ctx context.Context, cfg *Config, r *Result) error {
	r.A, r.B = "echo_bytes_invoke", "raw_uds_echo"
	r.SetupA = setup[kindBulk] + ". Client: client.Dial(the socket), Invoke(ctx, \"echo_bytes\", data, &out) with data a 64 MiB []byte (sent raw), out a fresh []byte each call"
	r.SetupB = setup[kindRawUDS]
	data := make([]byte, bytesSize)
	for i := range data {
		data[i] = byte(i * 7)
	}
	back := make([]byte, bytesSize)
	// Enough echoes per side for a round to mean something even in quick
	// mode: about 40 ms each at 1.5 GiB/s.
	minOps := 8
	if cfg.Quick {
		minOps = 5
	}
	def := metricDef{key: "mibs", name: "throughput", unit: "MiB/s", goal: Goal{">=", 0.6}}
	err := eachMode(cfg, kindBulk, kindRawUDS, func(t, u *peer, label string) error {
		cli, err := client.Dial(t.GRPC)
		if err != nil {
			return err
		}
		defer cli.Close()
		raw, err := net.Dial("unix", u.Raw)
		if err != nil {
			return err
		}
		defer raw.Close()
		inv := latency(cfg.Side, minOps, func() error {
			var out []byte
			if err := cli.Invoke(ctx, "echo_bytes", data, &out); err != nil {
				return err
			}
			if len(out) != bytesSize || !bytes.Equal(out[bytesSize-64:], data[bytesSize-64:]) {
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
		mibs := func(s side) side {
			return func(ctx context.Context) (values, error) {
				v, err := s(ctx)
				if err != nil {
					return nil, err
				}
				return values{"mibs": float64(bytesSize>>20) / (v["mean"] / 1e9)}, nil
			}
		}
		return interleave(ctx, cfg, r, label, []metricDef{def}, mibs(inv), mibs(uds))
	})
	if err != nil {
		return err
	}
	r.note("at least %d echoes per side per round", minOps)
	return nil
}
