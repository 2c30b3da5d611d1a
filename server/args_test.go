package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/server"
)

type fileArgs struct {
	FilePath string `json:"file_path"`
	Opts     *struct {
		Path string `json:"path"`
	} `json:"opts,omitempty"`
}

// registerPaths registers open_file, which returns the paths its handler
// bound, as a Go function and as a channel.
func registerPaths(s *server.Server) {
	server.Handle(s, "open_file", func(_ context.Context, a fileArgs) (string, error) {
		out := a.FilePath
		if a.Opts != nil {
			out += " " + a.Opts.Path
		}
		return out, nil
	})
}

func invokeJSON(t *testing.T, e *env, cmd, args string) (string, error) {
	t.Helper()
	res, err := e.cli.IPC().Invoke(context.Background(), &tetherv1.InvokeRequest{Command: cmd, Args: jsonArgs(args)})
	if err != nil {
		return "", err
	}
	return string(res.GetResult().GetJson()), nil
}

// Unknown keys are ignored, as serde and grpc-gateway ignore them, and no
// key reaches a handler by a spelling it does not bind exactly: not under a
// second spelling of a bound one, not through encoding/json's
// case-insensitive matching below the top level.
func TestArgsUnknownKeysIgnored(t *testing.T) {
	e := start(t, registerPaths)
	for _, c := range []struct{ cmd, args, want, err string }{
		{cmd: "open_file", args: `{"filePath":"/a","x":1}`, want: `"/a"`},
		{cmd: "open_file", args: `{"file_path":"/a","opts":{"path":"/b","PATH":"/etc/shadow","Path":"/etc/shadow"}}`, want: `"/a /b"`},
		{cmd: "open_file", args: `{"file_path":"/a","opts":{"PATH":"/etc/shadow"}}`, want: `"/a "`},
		{cmd: "open_file", args: `{"file_path":"/a","FILE_PATH":"/etc/shadow"}`, want: `"/a"`},
		{cmd: "open_file", args: `{"file_path":"/a","filePath":"/etc/shadow"}`, err: `argument "file_path" given twice (as "file_path" and "filePath")`},
		{cmd: "greet", args: `{"name":"x","nme":"y","extra":{"a":[1]}}`, want: `"Hello, x!"`},
		{cmd: "read_file", args: `{"path":"hello.txt","Path":"/etc/shadow"}`, want: `"hi there"`},
	} {
		got, err := invokeJSON(t, e, c.cmd, c.args)
		if c.err != "" {
			if tether.CodeOf(err) != tether.CodeInvalidArgument || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s %s: %s, %v; want invalid_argument %q", c.cmd, c.args, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s %s: %s, %v; want %s", c.cmd, c.args, got, err, c.want)
		}
	}
}

func TestArgsStrict(t *testing.T) {
	for _, opt := range []server.Option{server.WithStrictArgs(), server.WithStrictArgs("open_file", "greet")} {
		e := start(t, registerPaths, opt)
		for _, c := range []struct{ cmd, args, err string }{
			{"open_file", `{"filePath":"/a","x":1}`, `unknown argument "x"`},
			{"open_file", `{"file_path":"/a","opts":{"PATH":"/etc/shadow"}}`, `unknown key "PATH" in argument "opts"`},
			{"greet", `{"name":"x","nme":"y"}`, `unknown argument "nme"`},
		} {
			if _, err := invokeJSON(t, e, c.cmd, c.args); tether.CodeOf(err) != tether.CodeInvalidArgument || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s %s: %v; want invalid_argument %q", c.cmd, c.args, err, c.err)
			}
		}
		if got, err := invokeJSON(t, e, "open_file", `{"filePath":"/a"}`); err != nil || got != `"/a"` {
			t.Errorf("strict, known keys: %s %v", got, err)
		}
	}
	// Strictness is per command.
	e := start(t, registerPaths, server.WithStrictArgs("open_file"))
	if got, err := invokeJSON(t, e, "greet", `{"name":"x","nme":"y"}`); err != nil || got != `"Hello, x!"` {
		t.Errorf("greet is not strict: %s %v", got, err)
	}
}

// ListCommands describes how each command binds its arguments.
func TestCommandsCarryArgsShape(t *testing.T) {
	e := start(t, registerPaths, server.WithStrictArgs("greet"))
	res, err := e.cli.IPC().ListCommands(context.Background(), &tetherv1.ListCommandsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*tetherv1.ArgShape{}
	for _, c := range res.GetCommands() {
		got[c.GetName()] = c.GetArgsShape()
	}
	open := got["open_file"]
	if open == nil || open.GetStrict() || len(open.GetNodes()) == 0 {
		t.Fatalf("open_file shape %v", open)
	}
	b, _ := json.Marshal(open.GetNodes()[0].GetFields()[0])
	if f := open.GetNodes()[0].GetFields()[0]; f.GetName() != "file_path" || strings.Join(f.GetAliases(), ",") != "filePath" {
		t.Errorf("open_file's first field %s", b)
	}
	if g := got["greet"]; g == nil || !g.GetStrict() || g.GetNodes()[0].GetFields()[0].GetName() != "name" {
		t.Errorf("greet shape %v", g)
	}
	if got["echo_bytes"] != nil {
		t.Errorf("a raw-bytes command has a shape: %v", got["echo_bytes"])
	}
}
