// Command backend is the Go backend the browser tests run real Tauri
// frontends against: a Tether app (package app, so it takes tether serve's
// flags) with the create-tauri-app templates' greet, the store and log
// plugins, and a command that keeps a channel open, for the test that
// measures invokes while channels and listeners are open.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tether-ipc/tether/app"
	tlog "github.com/tether-ipc/tether/plugins/log"
	"github.com/tether-ipc/tether/plugins/store"
	"github.com/tether-ipc/tether/server"
)

type greetArgs struct {
	Name string `json:"name"`
}

type ticksArgs struct {
	EveryMs int                 `json:"everyMs"`
	OnTick  server.Channel[int] `json:"onTick"`
}

func main() {
	app.Main(func(s *server.Server) error {
		// The templates' Rust greet, in Go.
		server.Handle(s, "greet", func(_ context.Context, a greetArgs) (string, error) {
			return fmt.Sprintf("Hello, %s! You've been greeted from Go!", a.Name), nil
		})
		// ticks returns at once and keeps its channel, sending a tick now
		// and then, until the page goes.
		server.Handle(s, "ticks", func(_ context.Context, a ticksArgs) (string, error) {
			every := time.Duration(max(a.EveryMs, 50)) * time.Millisecond
			go func() {
				t := time.NewTicker(every)
				defer t.Stop()
				for n := 0; ; n++ {
					select {
					case <-a.OnTick.Done():
						return
					case <-t.C:
						if a.OnTick.Send(n) != nil {
							return
						}
					}
				}
			}()
			return "ticking", nil
		})
		if err := store.Register(s); err != nil {
			return err
		}
		tlog.Register(s)
		return nil
	})
}
