package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tether-ipc/tether"
)

// versionString is what --version prints: Tether's version, then what the
// binary was built from (its module version when installed with
// `go install …@vX`, the commit and whether the tree had changes), and the
// Go version and platform.
func versionString() string {
	var parts []string
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			parts = append(parts, "module "+v)
		}
		var rev, when, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			c := "commit " + rev[:min(len(rev), 12)]
			if when != "" {
				c += " of " + when
			}
			if modified == "true" {
				c += ", with local changes"
			}
			parts = append(parts, c)
		}
	}
	parts = append(parts, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH)
	return fmt.Sprintf("tether %s (%s)", tether.Version, strings.Join(parts, ", "))
}

func newVersion(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version (as --version does)",
		Long: `version prints Tether's version, the module version and commit the binary was
built from, and the Go version.` + "\n\nExit status:\n  0  always",
		Example: "  tether version\n  tether --version",
		Args:    rangeArgs(0, 0, "no arguments"),
		Run: func(*cobra.Command, []string) {
			fmt.Fprintln(e.stdout, versionString())
		},
	}
}
