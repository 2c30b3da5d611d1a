// Package tetherproto holds the .proto files a Tether app's own protos
// import, as this version of Tether was built with them: tether/v1's
// options (the command and event options) and buf/validate/validate.proto
// (protovalidate's rules), which buf's registry would otherwise provide.
// `tether proto export DIR` writes them to DIR.
package tetherproto

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

//go:embed tether/v1/options.proto third_party/buf/validate/validate.proto
var files embed.FS

// Files lists the exported files by their import path
// ("tether/v1/options.proto", "buf/validate/validate.proto").
func Files() map[string][]byte {
	out := map[string][]byte{}
	fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error { //nolint:errcheck // embedded
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		out[strings.TrimPrefix(p, "third_party/")] = b
		return nil
	})
	return out
}

// Export writes Files under dir, creating folders as needed, and returns
// the paths written.
func Export(dir string) ([]string, error) {
	var written []string
	for name, b := range Files() {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return written, err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return written, fmt.Errorf("writing %s: %w", p, err)
		}
		written = append(written, p)
	}
	return written, nil
}
