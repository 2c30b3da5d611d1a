package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/jsonargs"
	"github.com/tether-ipc/tether/internal/schema"
)

// command is one entry of the registry: a unary command (invoke) or a
// channel command (channel). The closures hide whether it is a method of a
// registered proto service or a Go function.
type command struct {
	name        string
	method      string
	kind        tether.Kind
	plugin      *Plugin // the group of a plugin command, or nil
	description string
	argsSchema  json.RawMessage
	resSchema   json.RawMessage
	// shape is how the handler binds JSON args (nil: raw bytes).
	shape *jsonargs.Shape

	// invoke decodes args, runs the chain and the handler, and encodes the
	// result. Set for kind invoke.
	invoke func(ctx context.Context, args *tetherv1.Payload) (*tetherv1.Payload, error)
	// open runs a channel command, sending each message through send. Set
	// for kind channel.
	open func(ctx context.Context, args *tetherv1.Payload, send func(*tetherv1.Payload) error) error
}

type registry struct {
	mu       sync.RWMutex
	byName   map[string]*command
	byMethod map[string]*command
}

func newRegistry() *registry {
	return &registry{byName: map[string]*command{}, byMethod: map[string]*command{}}
}

func (r *registry) add(c *command) {
	if err := validCommandName(c.name); err != nil {
		panic(fmt.Sprintf("tether/server: %v", err))
	}
	if _, _, ok := tether.SplitPluginCommand(c.name); ok != (c.plugin != nil) {
		panic(fmt.Sprintf("tether/server: command %q: plugin:<plugin>|<command> names are registered through (*Server).Plugin, and only they", c.name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, dup := r.byName[c.name]; dup {
		panic(fmt.Sprintf("tether/server: command %q registered twice (%s and %s)", c.name, old.method, c.method))
	}
	r.byName[c.name] = c
	r.byMethod[c.method] = c
}

func (r *registry) lookup(name string) (*command, bool) {
	r.mu.RLock()
	c, ok := r.byName[name]
	r.mu.RUnlock()
	return c, ok
}

func (r *registry) lookupMethod(method string) (*command, bool) {
	r.mu.RLock()
	c, ok := r.byMethod[method]
	r.mu.RUnlock()
	return c, ok
}

func (r *registry) list() []*command {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*command, 0, len(r.byName))
	for _, c := range r.byName {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// validCommandName applies Tauri's rule for names (tether.CheckCommandName).
func validCommandName(name string) error { return tether.CheckCommandName(name) }

// commandName returns the command name of a proto method: the
// tether.v1.command option when set, else the method name in snake_case.
func commandName(svc protoreflect.ServiceDescriptor, method string) (string, protoreflect.MethodDescriptor) {
	if svc != nil {
		if md := svc.Methods().ByName(protoreflect.Name(method)); md != nil {
			return schema.CommandName(md), md
		}
	}
	return jsonargs.Snake(method), nil
}

func serviceDescriptor(desc *grpc.ServiceDesc) protoreflect.ServiceDescriptor {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(desc.ServiceName))
	if err != nil {
		return nil
	}
	sd, _ := d.(protoreflect.ServiceDescriptor)
	return sd
}

// clipName shortens caller input quoted in an error message.
func clipName(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
