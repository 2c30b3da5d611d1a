package main

import (
	"errors"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	tetherproto "github.com/tether-ipc/tether/proto"
)

func newProto(e *env) *cobra.Command {
	proto := &cobra.Command{
		Use:   "proto",
		Short: "The .proto files an app's own protos import",
		Args:  rangeArgs(0, 0, "a subcommand (export)"),
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	proto.AddCommand(&cobra.Command{
		Use:   "export DIR",
		Short: "Write tether/v1/options.proto and buf/validate/validate.proto under DIR",
		Long: `export writes the .proto files your protos import — Tether's options
(option (tether.v1.command), option (tether.v1.event)) and protovalidate's
rules — as this version of Tether was built with them, and prints each path.
Point buf (a module in buf.yaml) or protoc (-I) at DIR.

Exit status:
  0  written
  1  a file could not be written
  2  bad command line`,
		Example: "  tether proto export proto/third_party\n  go run github.com/tether-ipc/tether/cmd/tether@latest proto export proto/third_party",
		Args:    rangeArgs(1, 1, "one DIR"),
		RunE: runE(func(_ *cobra.Command, args []string) error {
			written, err := tetherproto.Export(args[0])
			if err != nil {
				return err
			}
			if len(written) == 0 {
				return errors.New("nothing to export")
			}
			sort.Strings(written)
			for _, p := range written {
				fmt.Fprintln(e.stdout, p)
			}
			return nil
		}),
	})
	return proto
}
