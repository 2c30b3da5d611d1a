// Package protodoc keeps the comments of .proto files at run time.
//
// protoc-gen-go strips comments from the descriptors it embeds, so a running
// program cannot read them from a descriptor. protoc-gen-tether-go writes,
// next to each generated .pb.go file, a _tether.pb.go file whose init
// function registers that file's comments here; the server reads them back
// with Comment to describe its commands in GET /ipc/commands and
// /openapi.json.
//
// Register and Comment are safe for concurrent use.
package protodoc

import (
	"strings"
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"
)

var (
	mu       sync.RWMutex
	comments = map[protoreflect.FullName]string{}
	files    = map[string][]protoreflect.FullName{}
)

// Register records the leading comments of the elements of the proto file
// path (services, methods, messages, fields, enums and enum values), keyed by
// their full names ("demo.v1.Demo.Greet"). Generated code calls it from
// init; registering a file again replaces the comments it gave before.
func Register(path string, byName map[string]string) {
	mu.Lock()
	defer mu.Unlock()
	for _, name := range files[path] {
		delete(comments, name)
	}
	names := make([]protoreflect.FullName, 0, len(byName))
	for name, c := range byName {
		names = append(names, protoreflect.FullName(name))
		comments[protoreflect.FullName(name)] = c
	}
	files[path] = names
}

// Comment returns the leading comment of d: from the source information of
// its file when the descriptor kept it (as descriptors built by protoc
// plugins do), else what was registered for its full name, else "".
func Comment(d protoreflect.Descriptor) string {
	if d == nil {
		return ""
	}
	if f := d.ParentFile(); f != nil {
		if c := Clean(f.SourceLocations().ByDescriptor(d).LeadingComments); c != "" {
			return c
		}
	}
	mu.RLock()
	defer mu.RUnlock()
	return comments[d.FullName()]
}

// Clean turns a raw leading comment as protoc records it (each line with the
// text after "//", so usually one leading space) into plain text: one
// leading space dropped from each line, trailing spaces and blank lines at
// either end removed.
func Clean(raw string) string {
	lines := strings.Split(raw, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(strings.TrimPrefix(l, " "), " \t\r")
	}
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}
