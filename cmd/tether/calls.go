package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

var errUsage = errors.New("usage")

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tether "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	return nil
}

// invokeCmd: tether invoke [--addr ADDR] [--json] COMMAND [JSON]
func invokeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("invoke", stderr)
	addr := fs.String("addr", defaultGRPC, "core address: host:port or unix:///path")
	asJSON := fs.Bool("json", false, "print the result (or error) as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tether invoke [--addr ADDR] [--json] COMMAND [JSON-ARGS]")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		fs.Usage()
		return errUsage
	}
	var jsonArgs json.RawMessage
	if fs.NArg() == 2 {
		jsonArgs = json.RawMessage(fs.Arg(1))
		if !json.Valid(jsonArgs) {
			return tether.NewError(tether.CodeInvalidArgument, "args are not valid JSON")
		}
	}
	c, err := client.Dial(*addr)
	if err != nil {
		return err
	}
	defer c.Close()
	var p any
	if jsonArgs != nil {
		p = jsonArgs
	}
	var res []byte
	if err := c.Invoke(ctx, fs.Arg(0), p, &res); err != nil {
		return printErr(err, *asJSON, stdout)
	}
	return printResult(res, *asJSON, stdout)
}

// printResult prints a JSON string as plain text (like jq -r) unless asJSON;
// other JSON values are indented; raw bytes are written as they are.
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

// printErr returns the error for the one-line report; with --json the
// error body also goes to stdout for scripts.
func printErr(err error, asJSON bool, stdout io.Writer) error {
	te := tether.FromError(err)
	if asJSON {
		b, _ := json.Marshal(te)
		fmt.Fprintln(stdout, string(b))
	}
	if len(te.Details()) > 0 {
		return fmt.Errorf("%w (details: %s)", te, te.Details())
	}
	return te
}

// commandsCmd: tether commands [--addr ADDR] [--json]
func commandsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("commands", stderr)
	addr := fs.String("addr", defaultGRPC, "core address: host:port or unix:///path")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	res, err := listCommands(ctx, *addr)
	if err != nil {
		return err
	}
	if *asJSON {
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

// listCommands asks the core at addr for its commands.
func listCommands(ctx context.Context, addr string) (*tetherv1.ListCommandsResponse, error) {
	c, err := client.Dial(addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	res, err := c.IPC().ListCommands(ctx, &tetherv1.ListCommandsRequest{})
	if err != nil {
		return nil, tether.FromError(err)
	}
	return res, nil
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
		for _, name := range sortedKeys(props) {
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
