// Command protoc-gen-tether-ts is a protoc/buf plugin that writes typed
// TypeScript bindings for Tether: for each proto file with commands (the
// methods of its services) or events (messages with the tether.v1.event
// option) it writes FILE_tether.ts, an ES module with
//
//   - a type per message in protojson's JSON mapping (lowerCamelCase names,
//     64-bit integers and bytes as strings, enums as string unions, wrappers
//     as their scalar, Timestamp and Duration as strings, Struct and Value as
//     JSON values, Empty as {}, fields with presence optional);
//   - a function per command, named in lowerCamelCase after the command
//     (greet, processData), with the proto comment as TSDoc; a channel
//     command takes a callback for its messages;
//   - listenX, onceX and emitX for each event X;
//   - CommandError, what every function rejects with (code: a union of
//     Tether's codes, message, details: unknown).
//
// The module imports nothing but its transport, chosen by the option
// transport=tether (the default: Tether's client, imported from
// client_module, default "/ipc/client.js") or transport=tauri
// (@tauri-apps/api: a Tauri app, or Tether with the shim).
//
// With buf (buf.gen.yaml, version v2):
//
//	plugins:
//	  - local: protoc-gen-tether-ts   # go install github.com/tether-ipc/tether/cmd/protoc-gen-tether-ts@latest
//	    out: web/src/gen
//	    opt: [transport=tauri]
package main

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"

	// The rules of buf.validate.field options, read by the generator.
	_ "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"

	"github.com/tether-ipc/tether/internal/tsgen"
)

func main() {
	var opts tsgen.Options
	var flags flagSet = map[string]func(string) error{
		"transport": func(v string) error {
			t, err := tsgen.ParseTransport(v)
			opts.Transport = t
			return err
		},
		"client_module": func(v string) error {
			if v == "" {
				return fmt.Errorf("client_module is empty")
			}
			opts.ClientModule = v
			return nil
		},
	}
	protogen.Options{ParamFunc: flags.set}.Run(func(p *protogen.Plugin) error {
		p.SupportedFeatures = uint64(pluginpb.CodeGeneratorResponse_FEATURE_PROTO3_OPTIONAL | pluginpb.CodeGeneratorResponse_FEATURE_SUPPORTS_EDITIONS)
		p.SupportedEditionsMinimum = descriptorpb.Edition_EDITION_PROTO2
		p.SupportedEditionsMaximum = descriptorpb.Edition_EDITION_2023
		for _, f := range p.Files {
			if !f.Generate {
				continue
			}
			file := tsgen.FromProto(f.Desc)
			if file.Empty() {
				continue
			}
			o := opts
			o.Generator, o.Source = "protoc-gen-tether-ts", f.Desc.Path()
			src, err := tsgen.Write(file, o)
			if err != nil {
				return fmt.Errorf("%s: %w", f.Desc.Path(), err)
			}
			name := strings.TrimSuffix(f.Desc.Path(), ".proto") + "_tether.ts"
			if _, err := p.NewGeneratedFile(name, "").Write(src); err != nil {
				return err
			}
		}
		return nil
	})
}

// flagSet takes the plugin's options (name=value, comma-separated).
type flagSet map[string]func(string) error

func (f flagSet) set(name, value string) error {
	set, ok := f[name]
	if !ok {
		return fmt.Errorf("unknown option %q (want transport or client_module)", name)
	}
	if err := set(value); err != nil {
		return fmt.Errorf("option %s: %w", name, err)
	}
	return nil
}
