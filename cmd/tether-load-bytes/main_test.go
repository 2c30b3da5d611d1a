package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A small run (40 emits and 30 keyed invokes of 1 MB) passes its own
// checks: every retry refused as not kept, the reading listener got every
// event or a lag notice for it, the core under 256 MiB.
func TestLoadBytesSmall(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "tether-load-bytes")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		t.Fatal(err)
	}
	for _, idem := range []string{"memory", "file"} {
		ok, err := drive(params{idem: idem, emits: 40, calls: 30, size: 1_000_000, maxRSS: 256}, bin)
		if err != nil || !ok {
			t.Fatalf("%s: ok %v, %v", idem, ok, err)
		}
	}
}
