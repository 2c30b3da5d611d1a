package log_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/tether-ipc/tether"
	tlog "github.com/tether-ipc/tether/plugins/log"
	"github.com/tether-ipc/tether/server"
)

func TestRecordsReachSlog(t *testing.T) {
	var out bytes.Buffer
	l := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: tlog.LevelTrace}))
	s := server.New()
	defer s.Stop()
	tlog.Register(s, tlog.WithLogger(l))
	args := map[string]any{"level": 4, "message": "disk almost full", "location": "save@app.js:10:2",
		"file": "app.js", "line": 10, "keyValues": map[string]string{"free": "1%"}}
	if err := s.Invoke(context.Background(), "plugin:log|log", args, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Invoke(context.Background(), "plugin:log|log", map[string]any{"level": 1, "message": strings.Repeat("x", tlog.MaxMessage+10)}, nil); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{`level=WARN msg="disk almost full" source=page`, `location=save@app.js:10:2`, `file=app.js line=10 kv.free=1%`, "level=DEBUG-4"} {
		if !strings.Contains(got, want) {
			t.Errorf("log %q\nlacks %q", got, want)
		}
	}
	if strings.Contains(got, strings.Repeat("x", tlog.MaxMessage+1)) {
		t.Error("a message over MaxMessage was not cut")
	}
	err := s.Invoke(context.Background(), "plugin:log|log", map[string]any{"level": 9, "message": "?"}, nil)
	if tether.FromError(err).Code() != tether.CodeInvalidArgument {
		t.Errorf("level 9: %v", err)
	}
}
