package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// argsFrom reads the optional JSON argument after the first one in args:
// the text itself, "-" for standard input, or nil when there is none.
func argsFrom(args []string, stdin io.Reader, what string) (json.RawMessage, error) {
	if len(args) < 2 || args[1] == "" {
		return nil, nil
	}
	arg := args[1]
	b := []byte(arg)
	if arg == "-" {
		var err error
		if b, err = io.ReadAll(io.LimitReader(stdin, maxStdinBytes+1)); err != nil {
			return nil, err
		}
		if len(b) > maxStdinBytes {
			return nil, tether.Errorf(tether.CodeResourceExhausted, "%s on standard input: larger than %d bytes", what, maxStdinBytes)
		}
	}
	if !json.Valid(b) {
		return nil, tether.Errorf(tether.CodeInvalidArgument, "%s are not valid JSON", what)
	}
	return json.RawMessage(b), nil
}

// maxStdinBytes bounds JSON read from standard input.
const maxStdinBytes = 64 << 20

func newInvoke(e *env) *cobra.Command {
	var asJSON bool
	var timeout time.Duration
	var key string
	cmd := &cobra.Command{
		Use:   "invoke COMMAND [JSON-ARGS | -]",
		Short: "Invoke a command; a channel command prints each message",
		Long: `invoke runs a command on the core and prints its result: a JSON string as
plain text (like jq -r), other JSON indented, raw bytes as they are. The
arguments are a JSON object, given as text or, with "-", on standard input.

A channel command (KIND channel in 'tether commands') prints each message as
it arrives, one line each, and ends when the command ends.

With --json the result is compact JSON on one line, a channel's messages are
one JSON value a line (NDJSON), and an error is also printed on stdout as
{"code": …, "message": …, "details": …} for scripts.` + "\n" + exitStatusHelp,
		Example: `  tether invoke greet '{"name":"World"}'
  tether invoke count '{"to":3}'                  # channel: three lines, {"n":1,"of":3} …
  tether invoke count '{"to":3}' --json | jq .n   # NDJSON
  tether invoke fail --json                       # the structured error on stdout
  echo '{"name":"stdin"}' | tether invoke greet -
  TETHER_ADDR=unix:///run/app/core.sock tether invoke greet '{"name":"socket"}'`,
		Args:              rangeArgs(1, 2, "COMMAND and at most one JSON-ARGS"),
		ValidArgsFunction: completeCommands,
	}
	addr := addrFlag(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print results, messages and errors as JSON")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long, e.g. 10s (0: no limit)")
	cmd.Flags().StringVar(&key, "idempotency-key", "", "run at most once for this key (a retry gets the first result)")
	cmd.RunE = runE(func(cmd *cobra.Command, args []string) error {
		jsonArgs, err := argsFrom(args, cmd.InOrStdin(), "args")
		if err != nil {
			return err
		}
		c, target, err := dial(*addr)
		if err != nil {
			return err
		}
		defer c.Close()
		ctx := e.ctx
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		var p any
		if jsonArgs != nil {
			p = jsonArgs
		}
		var opts []client.CallOption
		if key != "" {
			opts = append(opts, client.WithIdempotencyKey(key))
		}
		var res []byte
		err = c.Invoke(ctx, args[0], p, &res, opts...)
		if tether.CodeOf(err) == tether.CodeFailedPrecondition && isChannel(ctx, c, args[0]) {
			err = c.Channel(ctx, args[0], p, func(m client.ChannelMessage) error {
				var b []byte
				if err := m.Decode(&b); err != nil {
					return err
				}
				return printMessage(b, asJSON, e.stdout)
			})
			if err != nil {
				return printErr(reached(err, target), asJSON, e.stdout)
			}
			return nil
		}
		if err != nil {
			return printErr(reached(err, target), asJSON, e.stdout)
		}
		return printResult(res, asJSON, e.stdout)
	})
	return cmd
}

// isChannel reports whether the core lists name as a channel command.
func isChannel(ctx context.Context, c *client.Client, name string) bool {
	res, err := c.IPC().ListCommands(ctx, &tetherv1.ListCommandsRequest{})
	if err != nil {
		return false
	}
	for _, ci := range res.GetCommands() {
		if ci.GetName() == name {
			return ci.GetKind() == tetherv1.CommandInfo_KIND_CHANNEL
		}
	}
	return false
}

// printResult prints a JSON string as plain text (like jq -r) unless asJSON;
// other JSON values are indented (compact with asJSON); raw bytes are
// written as they are.
func printResult(res []byte, asJSON bool, w io.Writer) error {
	if !json.Valid(res) {
		_, err := w.Write(res)
		return err
	}
	if !asJSON {
		var s string
		if json.Unmarshal(res, &s) == nil {
			_, err := fmt.Fprintln(w, s)
			return err
		}
	}
	var buf bytes.Buffer
	if asJSON {
		if err := json.Compact(&buf, res); err != nil {
			return err
		}
	} else if err := json.Indent(&buf, res, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// printMessage prints one channel message on a line of its own: compact
// JSON (a JSON string as plain text unless asJSON); raw bytes as they are
// without asJSON, as a base64 JSON string with it.
func printMessage(msg []byte, asJSON bool, w io.Writer) error {
	var buf bytes.Buffer
	switch {
	case json.Valid(msg):
		var s string
		if !asJSON && json.Unmarshal(msg, &s) == nil {
			buf.WriteString(s)
		} else if err := json.Compact(&buf, msg); err != nil {
			return err
		}
	case asJSON:
		b, _ := json.Marshal(msg) // []byte marshals as base64
		buf.Write(b)
	default:
		buf.Write(msg)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// printErr returns the error for the one-line report; with --json the
// error body also goes to stdout for scripts.
func printErr(err error, asJSON bool, stdout io.Writer) error {
	if _, ok := unreachable(err); ok {
		return err
	}
	te := tether.FromError(err)
	if asJSON {
		b, _ := json.Marshal(te)
		fmt.Fprintln(stdout, string(b))
	}
	return te
}

// completeCommands completes COMMAND with the names the core lists.
func completeCommands(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var t target
	t.addr, _ = cmd.Flags().GetString("addr")
	t.tokenFile, _ = cmd.Flags().GetString("token-file")
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
	defer cancel()
	res, _, err := listCommands(ctx, t)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, ci := range res.GetCommands() {
		names = append(names, ci.GetName()+"\t"+ci.GetDescription())
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

func newCommands(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "commands",
		Aliases: []string{"ls"},
		Short:   "List the core's commands and their argument shapes",
		Long: `commands lists every command the core serves: its name, its kind (invoke, or
channel for commands that send a stream of messages), and the shapes of its
arguments and result. --json prints the
JSON Schemas themselves, as GET /ipc/commands does.` + "\n" + exitStatusHelp,
		Example: `  tether commands
  tether commands --json | jq '.[].name'`,
		Args: rangeArgs(0, 0, "no arguments"),
	}
	addr := addrFlag(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the commands with their JSON Schemas as JSON")
	cmd.RunE = runE(func(*cobra.Command, []string) error {
		res, _, err := listCommands(e.ctx, *addr)
		if err != nil {
			return err
		}
		return printCommands(res, asJSON, e.stdout)
	})
	return cmd
}

func printCommands(res *tetherv1.ListCommandsResponse, asJSON bool, stdout io.Writer) error {
	if asJSON {
		type cmd struct {
			Name        string          `json:"name"`
			Kind        string          `json:"kind"`
			Method      string          `json:"method"`
			Args        json.RawMessage `json:"args"`
			Result      json.RawMessage `json:"result"`
			Description string          `json:"description,omitempty"`
		}
		out := make([]cmd, 0, len(res.GetCommands()))
		for _, ci := range res.GetCommands() {
			out = append(out, cmd{ci.GetName(), kindName(ci.GetKind()), ci.GetMethod(),
				rawOr(ci.GetArgsSchema()), rawOr(ci.GetResultSchema()), ci.GetDescription()})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMMAND\tKIND\tARGS\tRESULT")
	for _, ci := range res.GetCommands() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ci.GetName(), kindName(ci.GetKind()), shape(ci.GetArgsSchema()), shape(ci.GetResultSchema()))
	}
	return tw.Flush()
}

// listCommands asks the core a client command names (--addr, else the
// environment or config file) for its commands; it returns the address it
// asked too.
func listCommands(ctx context.Context, t target) (*tetherv1.ListCommandsResponse, string, error) {
	c, target, err := dial(t)
	if err != nil {
		return nil, target, err
	}
	defer c.Close()
	res, err := c.IPC().ListCommands(ctx, &tetherv1.ListCommandsRequest{})
	if err != nil {
		return nil, target, reached(tether.FromError(err), target)
	}
	return res, target, nil
}

func kindName(k tetherv1.CommandInfo_Kind) string {
	if k == tetherv1.CommandInfo_KIND_CHANNEL {
		return "channel"
	}
	return "invoke"
}

func rawOr(s string) json.RawMessage {
	if s == "" {
		return json.RawMessage("{}")
	}
	return json.RawMessage(s)
}

// shape renders a JSON Schema compactly: {name: string, to?: integer}.
func shape(schema string) string {
	var s map[string]any
	if json.Unmarshal([]byte(schema), &s) != nil {
		return "?"
	}
	return shapeOf(s)
}

func shapeOf(s map[string]any) string {
	if props, ok := s["properties"].(map[string]any); ok {
		req := map[string]bool{}
		if rs, ok := s["required"].([]any); ok {
			for _, r := range rs {
				if name, ok := r.(string); ok {
					req[name] = true
				}
			}
		}
		var parts []string
		for _, name := range slices.Sorted(maps.Keys(props)) {
			p, _ := props[name].(map[string]any)
			parts = append(parts, name+": "+shapeOf(p))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	switch t := s["type"].(type) {
	case string:
		if t == "array" {
			if it, ok := s["items"].(map[string]any); ok {
				return shapeOf(it) + "[]"
			}
		}
		if t == "string" && s["format"] == "binary" {
			return "bytes"
		}
		return t
	case []any:
		// ["integer","string"] is a 64-bit integer (protojson writes it as
		// a string); "null" among the types makes the value nullable.
		var parts []string
		null := false
		for _, x := range t {
			switch n, _ := x.(string); n {
			case "null":
				null = true
			case "string":
				if f, _ := s["format"].(string); f != "int64" && f != "uint64" {
					parts = append(parts, shapeOf(withType(s, n)))
				}
			default:
				parts = append(parts, shapeOf(withType(s, n)))
			}
		}
		out := strings.Join(parts, "|")
		if null {
			out += "|null"
		}
		return strings.TrimPrefix(out, "|")
	}
	return "any"
}

// withType returns a copy of the schema s with one type.
func withType(s map[string]any, typ string) map[string]any {
	c := make(map[string]any, len(s))
	for k, v := range s {
		c[k] = v
	}
	c["type"] = typ
	return c
}
