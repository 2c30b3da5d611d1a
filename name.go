package tether

import "strings"

// PluginPrefix starts the name of a plugin's command: Tauri names them
// plugin:<plugin>|<command> ("plugin:store|get").
const PluginPrefix = "plugin:"

// SplitPluginCommand splits a plugin command's name, "plugin:store|get", into
// its plugin ("store") and command ("get"). ok is false for any other name.
func SplitPluginCommand(name string) (plugin, command string, ok bool) {
	rest, found := strings.CutPrefix(name, PluginPrefix)
	if !found {
		return "", "", false
	}
	plugin, command, found = strings.Cut(rest, "|")
	if !found || plugin == "" || command == "" {
		return "", "", false
	}
	return plugin, command, true
}

// CheckCommandName applies Tauri's rule for command names: letters, digits,
// '-', '/', ':' and '_', at most 256 bytes; plugin commands
// (plugin:<plugin>|<command>) have one '|', between a plugin name and a
// command name that follow the rule. The error is invalid_argument.
func CheckCommandName(name string) error {
	if name == "" {
		return NewError(CodeInvalidArgument, "empty command name")
	}
	if len(name) > 256 {
		return Errorf(CodeInvalidArgument, "command name longer than 256 bytes")
	}
	check := name
	if plugin, cmd, ok := SplitPluginCommand(name); ok {
		if !plainName(plugin) || strings.IndexByte(plugin, ':') >= 0 || !plainName(cmd) {
			return Errorf(CodeInvalidArgument, "invalid plugin command name %q: want plugin:<plugin>|<command>, each of letters, digits, '-', '/' and '_'", clipName(name))
		}
		return nil
	}
	if !plainName(check) {
		return Errorf(CodeInvalidArgument, "invalid command name %q: only letters, digits, '-', '/', ':' and '_' are allowed", clipName(name))
	}
	return nil
}

// plainName reports whether s is made of letters, digits, '-', '/', ':'
// and '_'.
func plainName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '/' || c == ':' || c == '_') {
			return false
		}
	}
	return true
}

func clipName(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
