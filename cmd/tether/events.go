package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

func newEmit(e *env) *cobra.Command {
	var target string
	cmd := &cobra.Command{
		Use:   "emit EVENT [JSON-PAYLOAD | -]",
		Short: "Emit an event to every listener (or to one client label)",
		Long: `emit publishes an event with a JSON payload (null when none is given; "-"
reads it from standard input) and prints the id the core gave it. With
--target only listeners of that client label get it. Event names are
letters, digits and - / : _ (Tauri's rule).` + "\n" + exitStatusHelp,
		Example: `  tether emit frontend-event '{"message":"hi"}'
  tether emit --target main backend-event '{"to":"the main window only"}'`,
		Args: rangeArgs(1, 2, "EVENT and at most one JSON-PAYLOAD"),
	}
	addr := addrFlag(cmd)
	cmd.Flags().StringVar(&target, "target", "", "deliver only to listeners of this client label")
	cmd.RunE = runE(func(cmd *cobra.Command, args []string) error {
		payload, err := argsFrom(args, cmd.InOrStdin(), "payload")
		if err != nil {
			return err
		}
		if payload == nil {
			payload = json.RawMessage("null")
		}
		c, where, err := dial(*addr)
		if err != nil {
			return err
		}
		defer c.Close()
		res, err := c.IPC().Emit(e.ctx, &tetherv1.EmitRequest{Event: args[0], Target: target,
			Payload: &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: payload}}})
		if err != nil {
			return reached(tether.FromError(err), where)
		}
		fmt.Fprintf(e.stdout, "%d\n", res.GetId())
		return nil
	})
	return cmd
}

func newListen(e *env) *cobra.Command {
	var count int
	var after uint64
	cmd := &cobra.Command{
		Use:   "listen EVENT...",
		Short: "Print events as they come, one JSON line each",
		Long: `listen prints every event with one of the given names as one JSON line,
{"id": …, "event": …, "payload": …}, until interrupted (or after --count
events). When the connection drops — the core restarts, the network blinks —
it reconnects by itself and resumes after the last event it printed, so
nothing the core still holds is missed; a listener that fell behind gets a
line {"lagged": {"dropped": N}}. Only an error that retrying cannot fix (a
refused permission, a bad event name) ends it early.` + "\n" + exitStatusHelp,
		Example: `  tether listen backend-event
  tether listen backend-event frontend-event | jq .payload
  tether listen --count 1 backend-event      # wait for one event, then exit
  tether listen --after 1764612345000001 backend-event   # resume after an id`,
		Args: minArgs(1, "at least one EVENT"),
	}
	addr := addrFlag(cmd)
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many events (0: run until interrupted)")
	cmd.Flags().Uint64Var(&after, "after", 0, "start after this event id, replaying what the core still holds after it")
	cmd.RunE = runE(func(cmd *cobra.Command, args []string) error {
		if count < 0 {
			return usagef("--count must not be negative")
		}
		c, where, err := dial(*addr)
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		var mu sync.Mutex // the handler and the lag notices write lines
		enc := json.NewEncoder(e.stdout)
		seen := 0
		print := func(e client.Event) {
			var payload any
			var b []byte
			if e.Decode(&b) == nil {
				if json.Valid(b) {
					payload = json.RawMessage(b)
				} else {
					payload = b // base64, as encoding/json writes bytes
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if count > 0 && seen >= count {
				return
			}
			enc.Encode(map[string]any{"id": e.ID, "event": e.Name, "payload": payload}) //nolint:errcheck // stdout
			if seen++; count > 0 && seen == count {
				cancel()
			}
		}
		lag := func(dropped, resumeAfter uint64) {
			mu.Lock()
			defer mu.Unlock()
			enc.Encode(map[string]any{"lagged": map[string]any{"dropped": dropped, "resume_after": resumeAfter}}) //nolint:errcheck
		}
		opts := []client.ListenOption{client.OnLag(lag)}
		if after > 0 {
			opts = append(opts, client.AfterID(after))
		}
		sub, err := c.Listen(ctx, args, print, opts...)
		if err != nil {
			if e.ctx.Err() != nil {
				return nil
			}
			return reached(err, where)
		}
		<-sub.Done()
		if err := sub.Err(); err != nil {
			return reached(err, where)
		}
		return nil
	})
	return cmd
}

func newWait(e *env) *cobra.Command {
	var timeout time.Duration
	var httpURL string
	cmd := &cobra.Command{
		Use:   "wait",
		Short: "Wait until a core is ready (for scripts)",
		Long: `wait returns as soon as the core answers its health check with SERVING, and
with --http also once the gateway's /readyz answers 200. It gives up after
--timeout with exit status 3. Scripts start a core in the background and
wait before they call it:

  tether serve & tether wait --http http://127.0.0.1:7400` + "\n" + exitStatusHelp,
		Example: `  tether wait
  tether wait --timeout 1m --http http://127.0.0.1:7400
  tether wait --addr unix:///run/app/core.sock`,
		Args: rangeArgs(0, 0, "no arguments"),
	}
	addr := addrFlag(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	cmd.Flags().StringVar(&httpURL, "http", "", "also wait for the gateway at this URL (its /readyz)")
	cmd.RunE = runE(func(*cobra.Command, []string) error {
		if timeout <= 0 {
			return usagef("--timeout must be positive")
		}
		c, where, err := dial(*addr)
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(e.ctx, timeout)
		defer cancel()
		hc := healthpb.NewHealthClient(c.Conn())
		web := &http.Client{Timeout: 2 * time.Second}
		readyz := strings.TrimRight(httpURL, "/") + "/readyz"
		var last error
		for {
			last = ready(ctx, hc, web, httpURL, readyz)
			if last == nil {
				return nil
			}
			select {
			case <-e.ctx.Done():
				return nil
			case <-ctx.Done():
				if re, ok := reached(last, where).(*reachError); ok {
					re.why = "not ready after " + timeout.String() + ": " + re.why
					return re
				}
				return &reachError{where, "not ready after " + timeout.String(), last.Error()}
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	return cmd
}

// ready checks the core's health and, when url is set, the gateway's.
func ready(ctx context.Context, hc healthpb.HealthClient, web *http.Client, url, readyz string) error {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	res, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return tether.FromError(err)
	}
	if res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("the core is %s", res.GetStatus())
	}
	if url == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, readyz, nil)
	if err != nil {
		return err
	}
	hr, err := web.Do(req)
	if err != nil {
		return fmt.Errorf("gateway: %v", err)
	}
	hr.Body.Close()
	if hr.StatusCode != http.StatusOK {
		return fmt.Errorf("gateway: %s answered %d", readyz, hr.StatusCode)
	}
	return nil
}
