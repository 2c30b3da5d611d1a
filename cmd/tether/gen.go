package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/tether-ipc/tether/internal/tsgen"
)

// maxCommandsJSON bounds what `gen ts --from` reads.
const maxCommandsJSON = 64 << 20

// genCmd: tether gen ts [--addr ADDR | --from FILE] [--transport tether|tauri]
// [--client-module SPEC] [--out FILE]
func genCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "ts" {
		fmt.Fprintln(stderr, "usage: tether gen ts [flags]   (typed TypeScript bindings for a core's commands)")
		return errUsage
	}
	fs := newFlags("gen ts", stderr)
	addr := fs.String("addr", defaultGRPC, "core address: host:port or unix:///path")
	from := fs.String("from", "", "read the commands from `FILE` (the JSON of GET /ipc/commands or of 'tether commands --json'; - for stdin) instead of asking a core")
	transport := fs.String("transport", string(tsgen.Tether), "tether (Tether's client module) or tauri (@tauri-apps/api, also on Tether with the shim)")
	module := fs.String("client-module", tsgen.DefaultClientModule, "the module the tether transport imports")
	out := fs.String("out", "", "write the module to `FILE` instead of stdout")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tether gen ts [--addr ADDR | --from FILE] [--transport tether|tauri] [--client-module SPEC] [--out FILE]")
		fs.PrintDefaults()
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	tr, err := tsgen.ParseTransport(*transport)
	if err != nil {
		return fmt.Errorf("--transport: %w", err)
	}
	var cmds []tsgen.CommandInfo
	source := *from
	if *from != "" {
		if cmds, err = readCommands(*from); err != nil {
			return err
		}
		if source == "-" {
			source = "stdin"
		}
	} else {
		res, err := listCommands(ctx, *addr)
		if err != nil {
			return err
		}
		cmds, source = tsgen.CommandInfos(res), "the commands of "+*addr
	}
	f, err := tsgen.FromCommands(cmds)
	if err != nil {
		return err
	}
	src, err := tsgen.Write(f, tsgen.Options{Transport: tr, ClientModule: *module, Generator: "tether gen ts", Source: source})
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = stdout.Write(src)
		return err
	}
	return os.WriteFile(*out, src, 0o644)
}

func readCommands(path string) ([]tsgen.CommandInfo, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxCommandsJSON+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCommandsJSON {
		return nil, fmt.Errorf("--from %s: larger than %d bytes", path, maxCommandsJSON)
	}
	var cmds []tsgen.CommandInfo
	if err := json.Unmarshal(b, &cmds); err != nil {
		return nil, fmt.Errorf("--from %s: not a JSON list of commands: %v", path, err)
	}
	return cmds, nil
}
