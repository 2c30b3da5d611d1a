// Command vendorproto writes the third-party .proto files Tether imports
// (buf/validate/validate.proto) back from the descriptors compiled into
// their Go packages, because buf's registry is unreachable here. The output
// matches the descriptor the Go runtime registers, so generated code and
// runtime agree.
//
//	go run -modfile=tools/go.mod ./tools/vendorproto proto/third_party
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"github.com/jhump/protoreflect/v2/protoprint"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: vendorproto OUTDIR")
		os.Exit(2)
	}
	fd := validate.File_buf_validate_validate_proto
	p := protoprint.Printer{}
	path := filepath.Join(os.Args[1], fd.Path())
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		panic(err)
	}
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	if err := p.PrintProtoFile(fd, f); err != nil {
		panic(err)
	}
	if err := f.Close(); err != nil {
		panic(err)
	}
	fmt.Println("wrote", path)
}
