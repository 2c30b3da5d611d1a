package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/tether-ipc/tether/internal/tsgen"
)

// maxCommandsJSON bounds what `gen ts --from` reads.
const maxCommandsJSON = 64 << 20

func newGen(e *env) *cobra.Command {
	gen := &cobra.Command{
		Use:   "gen",
		Short: "Generate code for a core's commands",
		Args:  rangeArgs(0, 0, "a subcommand (ts)"),
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var from, transport, module, out string
	ts := &cobra.Command{
		Use:   "ts",
		Short: "Typed TypeScript bindings for a core's commands",
		Long: `ts writes a TypeScript module with a typed function for every command (its name
in lowerCamelCase: greet, processData) and the types of its arguments and
result, from a running core (--addr) or from the JSON of GET /ipc/commands or
'tether commands --json' (--from). The tether transport calls Tether's client
module; the tauri transport calls @tauri-apps/api (which runs on Tether with
the shim). For proto services, protoc-gen-tether-ts writes the same from the
.proto files.` + "\n" + exitStatusHelp,
		Example: `  tether gen ts --out src/tether.ts
  tether gen ts --transport tauri --out src/commands.ts
  curl -s http://127.0.0.1:7400/ipc/commands | tether gen ts --from - > src/tether.ts`,
		Args: rangeArgs(0, 0, "no arguments"),
	}
	addr := addrFlag(ts)
	ts.Flags().StringVar(&from, "from", "", "read the commands from `FILE` (the JSON of GET /ipc/commands or of 'tether commands --json'; - for stdin) instead of asking a core")
	ts.Flags().StringVar(&transport, "transport", string(tsgen.Tether), "tether (Tether's client module) or tauri (@tauri-apps/api, also on Tether with the shim)")
	ts.Flags().StringVar(&module, "client-module", tsgen.DefaultClientModule, "the module the tether transport imports")
	ts.Flags().StringVar(&out, "out", "", "write the module to `FILE` instead of stdout")
	ts.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		tr, err := tsgen.ParseTransport(transport)
		if err != nil {
			return usagef("--transport: %v", err)
		}
		var cmds []tsgen.CommandInfo
		source := from
		if from != "" {
			if cmds, err = readCommands(from, cmd.InOrStdin()); err != nil {
				return err
			}
			if source == "-" {
				source = "stdin"
			}
		} else {
			res, target, err := listCommands(e.ctx, *addr)
			if err != nil {
				return err
			}
			cmds, source = tsgen.CommandInfos(res), "the commands of "+target
		}
		f, err := tsgen.FromCommands(cmds)
		if err != nil {
			return err
		}
		src, err := tsgen.Write(f, tsgen.Options{Transport: tr, ClientModule: module, Generator: "tether gen ts", Source: source})
		if err != nil {
			return err
		}
		if out == "" {
			_, err = e.stdout.Write(src)
			return err
		}
		return os.WriteFile(out, src, 0o644)
	})
	gen.AddCommand(ts)
	return gen
}

func readCommands(path string, stdin io.Reader) ([]tsgen.CommandInfo, error) {
	r := stdin
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
