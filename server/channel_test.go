package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/server"
)

type progressArgs struct {
	Steps      int                     `json:"steps"`
	OnProgress server.Channel[int]     `json:"onProgress"`
	OnDone     server.Channel[string]  `json:"onDone"`
	Log        *server.Channel[[]byte] `json:"log,omitempty"`
}

type job struct {
	Name string                 `json:"name"`
	Out  server.Channel[string] `json:"out"`
}

type nestedArgs struct {
	Jobs []job                            `json:"jobs"`
	ByID map[string]server.Channel[int]   `json:"byId"`
	Deep struct{ In *job }                `json:"deep"`
	Raw  map[string]*server.Channel[bool] `json:"raw,omitempty"`
}

// channelCommands registers commands that use Channel arguments the ways
// Tauri's do.
func channelCommands(release <-chan struct{}, held chan<- error) func(*server.Server) {
	return func(s *server.Server) {
		server.Handle(s, "progress", func(ctx context.Context, a progressArgs) (string, error) {
			for i := 1; i <= a.Steps; i++ {
				if err := a.OnProgress.Send(i); err != nil {
					return "", err
				}
			}
			if a.Log != nil {
				if err := a.Log.Send([]byte{0, 1, 2, 255}); err != nil {
					return "", err
				}
				a.Log.Close()
			}
			a.OnProgress.Close()
			a.OnDone.Send("done") //nolint:errcheck
			a.OnDone.Close()
			return "ok", nil
		})
		server.Handle(s, "nested", func(ctx context.Context, a nestedArgs) (int, error) {
			n := 0
			for _, j := range a.Jobs {
				j.Out.Send("job " + j.Name) //nolint:errcheck
				j.Out.Close()
				n++
			}
			keys := make([]string, 0, len(a.ByID))
			for k := range a.ByID {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for i, k := range keys {
				a.ByID[k].Send(i) //nolint:errcheck
				a.ByID[k].Close()
				n++
			}
			if a.Deep.In != nil {
				a.Deep.In.Out.Send("deep " + a.Deep.In.Name) //nolint:errcheck
				a.Deep.In.Out.Close()
				n++
			}
			return n, nil
		})
		// keep returns at once and sends from a goroutine afterwards, as a
		// Tauri command that spawns a task with its Channel.
		server.Handle(s, "keep", func(ctx context.Context, a struct {
			Ch server.Channel[int] `json:"ch"`
		}) (string, error) {
			go func() {
				<-release
				for i := 0; i < 3; i++ {
					if a.Ch.Send(i) != nil {
						return
					}
				}
				a.Ch.Close()
			}()
			return "kept", nil
		})
		// hold keeps its channel until the caller goes.
		server.Handle(s, "hold", func(ctx context.Context, a struct {
			Ch server.Channel[int] `json:"ch"`
		}) (string, error) {
			go func() {
				<-a.Ch.Done()
				held <- a.Ch.Send(1)
			}()
			return "holding", nil
		})
	}
}

type collected struct {
	mu  sync.Mutex
	msg map[uint64][]string
	end map[uint64]bool
}

func (c *collected) on(m client.ChannelMessage) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.msg == nil {
		c.msg, c.end = map[uint64][]string{}, map[uint64]bool{}
	}
	if c.end[m.Channel] {
		return fmt.Errorf("message after the end of channel %d", m.Channel)
	}
	if want := uint64(len(c.msg[m.Channel])); m.Index != want {
		return fmt.Errorf("channel %d: index %d, want %d", m.Channel, m.Index, want)
	}
	if m.End {
		c.end[m.Channel] = true
		return nil
	}
	var v json.RawMessage
	if raw := m.Payload.GetRaw(); raw != nil {
		v = json.RawMessage(fmt.Sprintf("bytes%v", raw))
	} else {
		v = m.Payload.GetJson()
	}
	c.msg[m.Channel] = append(c.msg[m.Channel], string(v))
	return nil
}

func TestChannelsOverGRPC(t *testing.T) {
	release := make(chan struct{})
	held := make(chan error, 1)
	e := start(t, channelCommands(release, held))
	ctx := context.Background()

	t.Run("several channels, bytes, result", func(t *testing.T) {
		var c collected
		var res string
		err := e.cli.InvokeChannels(ctx, "progress", map[string]any{"steps": 3, "onProgress": client.ChannelArg(7), "onDone": client.ChannelArg(8), "log": client.ChannelArg(9)}, &res, c.on)
		if err != nil || res != "ok" {
			t.Fatalf("InvokeChannels = %q, %v", res, err)
		}
		want := map[uint64][]string{7: {"1", "2", "3"}, 8: {`"done"`}, 9: {"bytes[0 1 2 255]"}}
		if fmt.Sprint(c.msg) != fmt.Sprint(want) || len(c.end) != 3 {
			t.Fatalf("messages %v ends %v, want %v and three ends", c.msg, c.end, want)
		}
	})

	t.Run("nested anywhere", func(t *testing.T) {
		var c collected
		var n int
		args := map[string]any{
			"jobs": []any{map[string]any{"name": "a", "out": client.ChannelArg(1)}, map[string]any{"name": "b", "out": client.ChannelArg(2)}},
			"byId": map[string]any{"x": client.ChannelArg(3), "y": client.ChannelArg(4)},
			"deep": map[string]any{"In": map[string]any{"name": "d", "out": client.ChannelArg(5)}},
		}
		if err := e.cli.InvokeChannels(ctx, "nested", args, &n, c.on); err != nil || n != 5 {
			t.Fatalf("InvokeChannels = %d, %v", n, err)
		}
		want := map[uint64][]string{1: {`"job a"`}, 2: {`"job b"`}, 3: {"0"}, 4: {"1"}, 5: {`"deep d"`}}
		if fmt.Sprint(c.msg) != fmt.Sprint(want) || len(c.end) != 5 {
			t.Fatalf("messages %v ends %v, want %v", c.msg, c.end, want)
		}
	})

	t.Run("kept after the handler returned", func(t *testing.T) {
		var c collected
		var res string
		done := make(chan error, 1)
		got := make(chan string, 1)
		go func() {
			done <- e.cli.InvokeChannels(ctx, "keep", map[string]any{"ch": client.ChannelArg(1)}, &res, func(m client.ChannelMessage) error {
				if res != "" {
					select {
					case got <- res: // the result came before any message
					default:
					}
				}
				return c.on(m)
			})
		}()
		time.Sleep(50 * time.Millisecond) // the handler has returned; the call is still open
		select {
		case err := <-done:
			t.Fatalf("the call ended before its kept channel closed: %v", err)
		default:
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if <-got != "kept" || fmt.Sprint(c.msg[1]) != "[0 1 2]" || !c.end[1] {
			t.Fatalf("result %q, messages %v, end %v", res, c.msg, c.end)
		}
	})

	t.Run("the caller goes", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		var res string
		go func() {
			done <- e.cli.InvokeChannels(cctx, "hold", map[string]any{"ch": client.ChannelArg(1)}, &res, func(client.ChannelMessage) error { return nil })
		}()
		time.Sleep(50 * time.Millisecond)
		cancel()
		<-done
		select {
		case err := <-held:
			if tether.CodeOf(err) != tether.CodeFailedPrecondition {
				t.Fatalf("Send after the caller went: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Done was not closed when the caller went")
		}
	})

	t.Run("plain invoke has no stream for its channels", func(t *testing.T) {
		var res string
		err := e.srv.Invoke(ctx, "progress", map[string]any{"steps": 1, "onProgress": "__CHANNEL__:1", "onDone": "__CHANNEL__:2"}, &res)
		var te *tether.Error
		if !errors.As(err, &te) || te.Code() != tether.CodeFailedPrecondition {
			t.Fatalf("progress by plain invoke: %v", err)
		}
		err = e.srv.Invoke(ctx, "progress", map[string]any{"steps": 1, "onProgress": "nope", "onDone": "__CHANNEL__:2"}, &res)
		if !errors.As(err, &te) || te.Code() != tether.CodeInvalidArgument {
			t.Fatalf("a string that is not a channel: %v", err)
		}
	})
}

// A channel command called with Tauri's channel argument sends on that
// channel's id, and the argument is not taken as an unknown one.
func TestChannelCommandWithChannelArg(t *testing.T) {
	e := start(t, nil)
	var c collected
	err := e.cli.InvokeChannels(context.Background(), "count", map[string]any{"to": 3, "onEvent": client.ChannelArg(42)}, nil, c.on)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.msg[42]) != 3 || !c.end[42] {
		t.Fatalf("messages %v, ends %v", c.msg, c.end)
	}
}
