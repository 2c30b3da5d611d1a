package server

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/tether-ipc/tether"
)

// Registrar is where Handle and HandleChannel register a command: a
// *Server (the command is named as given) or a *Plugin of one (the command
// is plugin:<plugin>|<name>, as Tauri names a plugin's commands).
type Registrar interface {
	// qualify returns the server, the command's full name and method, and
	// its plugin (nil for an app command).
	qualify(name string) (s *Server, full, method string, p *Plugin)
}

func (s *Server) qualify(name string) (*Server, string, string, *Plugin) {
	return s, name, "/" + funcService + "/" + name, nil
}

// Plugin is a group of commands named plugin:<name>|<command>, Tauri's form
// ("plugin:store|get"), which the official @tauri-apps/plugin-* packages
// invoke. Register its commands with Handle and HandleChannel, passing the
// Plugin instead of the Server:
//
//	p := srv.Plugin("store")
//	server.Handle(p, "get", get) // the command plugin:store|get
//
// In capability files its commands have Tauri's permission ids:
// <plugin>:allow-<command> and <plugin>:deny-<command> (underscores as
// hyphens: store:allow-get-store), and <plugin>:default, the plugin's
// default set (every command, unless DefaultPermissions says otherwise).
// The method of a plugin command, as interceptors see it, is
// "/tether.plugin.<name>/<command>".
//
// A Plugin is safe for concurrent use; register before serving.
type Plugin struct {
	s    *Server
	name string

	mu            sync.Mutex
	defaults      map[string]bool // nil: every command is in the default set
	unimplemented string          // set: unregistered commands fail with unimplemented
}

// PluginOption configures a Plugin.
type PluginOption func(*Plugin)

// DefaultPermissions limits the plugin's default permission set
// (<plugin>:default) to the named commands; without it the set holds every
// command of the plugin.
func DefaultPermissions(commands ...string) PluginOption {
	return func(p *Plugin) {
		if p.defaults == nil {
			p.defaults = map[string]bool{}
		}
		for _, c := range commands {
			p.defaults[c] = true
		}
	}
}

// Unimplemented makes the plugin's commands that are not registered fail at
// once with unimplemented and why (for commands a browser page cannot
// have), instead of not_found.
func Unimplemented(why string) PluginOption {
	return func(p *Plugin) { p.unimplemented = why }
}

// Plugin returns the plugin group name, made on first use; later calls
// return the same group, with opts applied too. A name is letters, digits,
// '-', '/' and '_'; a bad one panics, as a bad command name does.
func (s *Server) Plugin(name string, opts ...PluginOption) *Plugin {
	if err := tether.CheckCommandName(tether.PluginPrefix + name + "|x"); err != nil || name == "" {
		panic(fmt.Sprintf("tether/server: invalid plugin name %q", name))
	}
	s.pluginsMu.Lock()
	defer s.pluginsMu.Unlock()
	if s.plugins == nil {
		s.plugins = map[string]*Plugin{}
	}
	p := s.plugins[name]
	if p == nil {
		p = &Plugin{s: s, name: name}
		s.plugins[name] = p
	}
	p.mu.Lock()
	for _, o := range opts {
		o(p)
	}
	p.mu.Unlock()
	return p
}

// Name returns the plugin's name ("store").
func (p *Plugin) Name() string { return p.name }

// Server returns the server the plugin belongs to.
func (p *Plugin) Server() *Server { return p.s }

func (p *Plugin) qualify(name string) (*Server, string, string, *Plugin) {
	return p.s, tether.PluginPrefix + p.name + "|" + name, "/tether.plugin." + p.name + "/" + name, p
}

// inDefault reports whether the plugin's default set covers command.
func (p *Plugin) inDefault(command string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.defaults == nil || p.defaults[command]
}

// browserless are Tauri's core plugins for what a browser page does not
// have: windows, webviews, tray icons, menus and their images. Their
// commands fail at once with unimplemented, naming the plugin, unless an
// app registers a plugin of that name itself.
var browserless = map[string]string{
	"window":  "a browser page has no native window",
	"webview": "a browser page has no native webview",
	"tray":    "a browser page has no tray icon",
	"menu":    "a browser page has no native menu",
	"image":   "a browser page has no native images (they serve windows, trays and menus)",
}

// unknownCommand is the error for a command name the registry lacks.
func (s *Server) unknownCommand(name string) error {
	if plugin, cmd, ok := tether.SplitPluginCommand(name); ok {
		s.pluginsMu.Lock()
		p := s.plugins[plugin]
		s.pluginsMu.Unlock()
		why := browserless[plugin]
		if p != nil {
			p.mu.Lock()
			why = p.unimplemented
			p.mu.Unlock()
		}
		if why != "" {
			return tether.Errorf(tether.CodeUnimplemented, "plugin %q: %s is not available: %s", plugin, cmd, why)
		}
		if p == nil {
			return tether.Errorf(tether.CodeNotFound, "unknown command %q: no plugin %q is registered", name, plugin)
		}
	}
	return tether.Errorf(tether.CodeNotFound, "unknown command %q", name)
}

// Plugins lists the registered plugins and, for each, the commands of its
// default permission set, sorted.
func (s *Server) Plugins() map[string][]string {
	out := map[string][]string{}
	for _, c := range s.reg.list() {
		if c.plugin == nil {
			continue
		}
		_, cmd, _ := tether.SplitPluginCommand(c.name)
		list := out[c.plugin.name]
		if c.plugin.inDefault(cmd) {
			list = append(list, cmd)
		}
		out[c.plugin.name] = list
	}
	for _, l := range out {
		sort.Strings(l)
	}
	return out
}

// pluginOf returns the plugin and whether its default set covers the
// command, for the call.
func pluginOf(c *command) (string, bool) {
	if c.plugin == nil {
		return "", false
	}
	cmd := c.name[strings.IndexByte(c.name, '|')+1:]
	return c.plugin.name, c.plugin.inDefault(cmd)
}
