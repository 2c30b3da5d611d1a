package main

import (
	"errors"
	"fmt"
	"io"
	"sort"

	tetherproto "github.com/tether-ipc/tether/proto"
)

// protoCmd: tether proto export DIR — writes the .proto files an app's own
// protos import (tether/v1/options.proto, buf/validate/validate.proto), as
// this version of Tether was built with them.
func protoCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 || args[0] != "export" {
		fmt.Fprintln(stderr, "usage: tether proto export DIR\n\nwrites tether/v1/options.proto and buf/validate/validate.proto under DIR, for your protos to import")
		return errUsage
	}
	written, err := tetherproto.Export(args[1])
	if err != nil {
		return err
	}
	if len(written) == 0 {
		return errors.New("nothing to export")
	}
	sort.Strings(written)
	for _, p := range written {
		fmt.Fprintln(stdout, p)
	}
	return nil
}
