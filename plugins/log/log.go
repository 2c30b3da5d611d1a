// Package log implements Tauri's log plugin for @tauri-apps/plugin-log
// (unchanged from npm): trace, debug, info, warn and error from a page
// become records of the server's slog.Logger, with the page's client label,
// the caller's location ("fn@file:line:col", as the package finds it), the
// file and line it was given, and its key-values as attributes.
//
//	log.Register(srv) // records go to srv.Logger()
//
// Trace is slog.LevelDebug-4. Messages longer than MaxMessage bytes are cut,
// and at most MaxKeyValues key-values are kept, so a page cannot make one
// record arbitrarily large. attachConsole and attachLogger listen to
// log://log events, which this plugin does not emit: the server's own
// records stay on the server.
//
// Its permission ids are Tauri's: log:default (which allows log),
// log:allow-log, log:deny-log.
package log

import (
	"context"
	"log/slog"
	"sort"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/server"
)

// Bounds of one record.
const (
	MaxMessage   = 16 << 10
	MaxKeyValues = 32
)

// LevelTrace is the level of the plugin's trace().
const LevelTrace = slog.LevelDebug - 4

// Option configures Register.
type Option func(*config)

type config struct{ logger *slog.Logger }

// WithLogger sends the records to l instead of the server's logger.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

type logArgs struct {
	Level     int               `json:"level"`
	Message   string            `json:"message"`
	Location  *string           `json:"location,omitempty"`
	File      *string           `json:"file,omitempty"`
	Line      *int              `json:"line,omitempty"`
	KeyValues map[string]string `json:"keyValues,omitempty"`
}

// Register registers plugin:log|log on s.
func Register(s *server.Server, opts ...Option) {
	c := config{logger: s.Logger()}
	for _, o := range opts {
		o(&c)
	}
	l := c.logger
	server.Handle(s.Plugin("log"), "log", func(ctx context.Context, a logArgs) (any, error) {
		var level slog.Level
		switch a.Level {
		case 1:
			level = LevelTrace
		case 2:
			level = slog.LevelDebug
		case 3:
			level = slog.LevelInfo
		case 4:
			level = slog.LevelWarn
		case 5:
			level = slog.LevelError
		default:
			return nil, tether.Errorf(tether.CodeInvalidArgument, "log level %d: want 1 (trace) to 5 (error)", a.Level)
		}
		if !l.Enabled(ctx, level) {
			return nil, nil
		}
		msg := a.Message
		if len(msg) > MaxMessage {
			msg = msg[:MaxMessage] + "…"
		}
		attrs := make([]slog.Attr, 0, 5+min(len(a.KeyValues), MaxKeyValues))
		if call, ok := tether.CallFromContext(ctx); ok {
			attrs = append(attrs, slog.String("label", call.ClientLabel))
		}
		if a.Location != nil {
			attrs = append(attrs, slog.String("location", clip(*a.Location)))
		}
		if a.File != nil {
			attrs = append(attrs, slog.String("file", clip(*a.File)))
		}
		if a.Line != nil {
			attrs = append(attrs, slog.Int("line", *a.Line))
		}
		keys := make([]string, 0, len(a.KeyValues))
		for k := range a.KeyValues {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) > MaxKeyValues {
			keys = keys[:MaxKeyValues]
		}
		for _, k := range keys {
			attrs = append(attrs, slog.String("kv."+clip(k), clip(a.KeyValues[k])))
		}
		l.LogAttrs(ctx, level, msg, append([]slog.Attr{slog.String("source", "page")}, attrs...)...)
		return nil, nil
	})
}

func clip(s string) string {
	if len(s) > 512 {
		return s[:512] + "…"
	}
	return s
}
