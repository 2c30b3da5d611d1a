//go:build !unix

package capability

import "io/fs"

// linkCount: this system's link counts are not read.
func linkCount(fs.FileInfo) uint64 { return 1 }
