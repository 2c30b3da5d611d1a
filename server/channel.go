package server

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"runtime"
	"strconv"
	"sync"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// channelPrefix starts a channel's form in arguments, as Tauri's Channel
// serializes: "__CHANNEL__:<id>".
const channelPrefix = "__CHANNEL__:"

// MaxKeptCallsPerClient bounds the calls one client label may keep open
// through their channels after the handler returned; past it a new call
// with channels fails with resource_exhausted.
const MaxKeptCallsPerClient = 256

// Channel is Tauri's Channel<T> for Go function commands: put one (or
// several) anywhere in a command's argument type, and the caller's
// Channel objects arrive there. Send delivers messages to the caller in
// order; Close ends the channel (the caller's Channel sees its end).
//
//	type DownloadArgs struct {
//		URL        string                  `json:"url"`
//		OnProgress server.Channel[Progress] `json:"onProgress"`
//	}
//	server.Handle(srv, "download", func(ctx context.Context, a DownloadArgs) (string, error) {
//		go func() { // the channel outlives the handler's return
//			defer a.OnProgress.Close()
//			for p := range progress(a.URL) {
//				if a.OnProgress.Send(p) != nil {
//					return // the caller has gone
//				}
//			}
//		}()
//		return "started", nil
//	})
//
// A Channel outlives its handler's return: it stays open until it is
// closed, the caller goes (its page, or the gRPC call), or the server
// stops; Done tells which. One that nothing references any more is closed
// by the garbage collector, as Rust drops Tauri's. The invoke's result
// reaches the caller when the handler returns, and messages sent before
// that are delivered before the result resolves the caller's invoke.
//
// Messages are encoded as results are: JSON, or raw bytes for []byte (the
// page's Channel gets an ArrayBuffer, as in Tauri). A Channel value is safe
// to copy and to use from several goroutines; Send calls are delivered in
// the order they are made. Its zero value is not connected: Send fails.
//
// A Channel reaches a handler when the call came through the gateway, or
// by the Channel method of tether.v1.IPC (the Go client's InvokeChannels).
// A plain Invoke carries no stream for its messages: Send then fails with
// failed_precondition.
type Channel[T any] struct {
	ref *chanRef
}

// chanRef is what a Channel's copies share; when the last goes, the
// garbage collector closes the channel.
type chanRef struct {
	st *chanState
}

// chanState is a channel's delivery state, held by its call.
type chanState struct {
	id   uint64
	call *channelCall // nil until bound; detached calls have no stream

	mu     sync.Mutex
	next   uint64
	closed bool
	done   chan struct{}
}

// UnmarshalJSON reads Tauri's form, "__CHANNEL__:<id>".
func (c *Channel[T]) UnmarshalJSON(b []byte) error {
	id, ok := parseChannel(b)
	if !ok {
		return tether.Errorf(tether.CodeInvalidArgument, "expected a channel (%q), got %s", channelPrefix+"<id>", clipJSON(b))
	}
	st := &chanState{id: id, done: make(chan struct{})}
	ref := &chanRef{st: st}
	// Off the cleanup goroutine: sending the end may wait for the caller.
	runtime.AddCleanup(ref, func(st *chanState) { go st.close(nil) }, st) //nolint:errcheck
	c.ref = ref
	return nil
}

// MarshalJSON writes Tauri's form.
func (c Channel[T]) MarshalJSON() ([]byte, error) {
	return json.Marshal(channelPrefix + strconv.FormatUint(c.ID(), 10))
}

// TetherSchema describes a channel argument in /ipc/commands.
func (Channel[T]) TetherSchema() map[string]any {
	return map[string]any{"type": "string", "pattern": "^__CHANNEL__:[0-9]+$", "description": "a Channel (Tauri's Channel serialized)"}
}

func (c Channel[T]) state() *chanState {
	if c.ref == nil {
		return nil
	}
	return c.ref.st
}

// ID returns the caller's id of the channel.
func (c Channel[T]) ID() uint64 {
	if st := c.state(); st != nil {
		return st.id
	}
	return 0
}

// Send delivers m to the caller. It blocks while the caller is slow to
// read (flow control), and fails once the channel is closed or the caller
// has gone.
func (c Channel[T]) Send(m T) error {
	st := c.state()
	if st == nil {
		return tether.NewError(tether.CodeFailedPrecondition, "channel: not connected (no caller passed it)")
	}
	p, err := encodeValue(m, encJSON)
	if err != nil {
		return err
	}
	return st.send(p)
}

// Close ends the channel: the caller's Channel gets its end. Later Sends
// fail; closing again does nothing.
func (c Channel[T]) Close() error {
	if st := c.state(); st != nil {
		return st.close(nil)
	}
	return nil
}

// Done is closed when the channel ends: closed, the caller gone, or the
// server stopping. A nil Channel's Done is never closed.
func (c Channel[T]) Done() <-chan struct{} {
	if st := c.state(); st != nil {
		return st.done
	}
	return nil
}

// handle lets bindChannels find the channels in decoded arguments.
func (c Channel[T]) handle() *chanState { return c.state() }

type channelHandle interface{ handle() *chanState }

func (st *chanState) send(p *tetherv1.Payload) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return tether.NewError(tether.CodeFailedPrecondition, "channel: closed")
	}
	if st.call == nil || st.call.send == nil {
		return tether.Errorf(tether.CodeFailedPrecondition, "channel %d: the caller opened no stream for it (invoke through the gateway, or the Channel call)", st.id)
	}
	err := st.call.write(&tetherv1.ChannelMessage{Channel: st.id, Index: st.next, Message: p})
	if err == nil {
		st.next++
	}
	return err
}

// close ends the channel: with cause nil it was closed (its end is sent);
// otherwise the call ended and cause says why.
func (st *chanState) close(cause error) error {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return nil
	}
	st.closed = true
	var err error
	if cause == nil && st.call != nil && st.call.send != nil {
		err = st.call.write(&tetherv1.ChannelMessage{Channel: st.id, Index: st.next, End: true})
	}
	close(st.done)
	call := st.call
	st.mu.Unlock()
	if call != nil {
		call.closed()
	}
	return err
}

// channelCall is the call a command's channels belong to.
type channelCall struct {
	send func(*tetherv1.ChannelMessage) error // nil: no stream (a plain Invoke)

	mu     sync.Mutex
	chans  []*chanState
	open   int
	ended  bool
	idle   chan struct{} // closed when no bound channel is open
	failed error
}

type channelCallKey struct{}

func newChannelCall(send func(*tetherv1.ChannelMessage) error) *channelCall {
	return &channelCall{send: send, idle: make(chan struct{})}
}

// write sends one message; after the call ended it fails.
func (cc *channelCall) write(m *tetherv1.ChannelMessage) error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.ended {
		return tether.NewError(tether.CodeFailedPrecondition, "channel: the call has ended (the caller has gone, or the server is stopping)")
	}
	if cc.failed != nil {
		return cc.failed
	}
	if err := cc.send(m); err != nil {
		cc.failed = tether.FromError(err)
		return cc.failed
	}
	return nil
}

func (cc *channelCall) bind(st *chanState) {
	st.mu.Lock()
	if st.call != nil || st.closed {
		st.mu.Unlock()
		return
	}
	st.call = cc
	st.mu.Unlock()
	cc.mu.Lock()
	cc.chans = append(cc.chans, st)
	cc.open++
	cc.mu.Unlock()
}

// closed counts a channel closed.
func (cc *channelCall) closed() {
	cc.mu.Lock()
	cc.open--
	if cc.open == 0 && !cc.ended {
		close(cc.idle)
		cc.idle = nil
	}
	cc.mu.Unlock()
}

// waitIdle returns a channel closed once no bound channel is open.
func (cc *channelCall) waitIdle() <-chan struct{} {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.open == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	return cc.idle
}

// end ends the call: its open channels are done, without an end message.
func (cc *channelCall) end(cause error) {
	cc.mu.Lock()
	cc.ended = true
	chans := cc.chans
	cc.mu.Unlock()
	for _, st := range chans {
		st.close(cause) //nolint:errcheck // nothing is sent for a cause
	}
}

// bindChannels connects the channels found in v, the decoded arguments, to
// the call of ctx (or to none: their Send then fails).
func bindChannels(ctx context.Context, v reflect.Value) {
	if !mayHoldChannel(v.Type()) {
		return
	}
	cc, _ := ctx.Value(channelCallKey{}).(*channelCall)
	if cc == nil {
		cc = &channelCall{idle: make(chan struct{})}
	}
	walkChannels(v, func(st *chanState) { cc.bind(st) }, 0)
}

var handleType = reflect.TypeFor[channelHandle]()

// walkChannels calls f for each channel in v.
func walkChannels(v reflect.Value, f func(*chanState), depth int) {
	if depth > 64 || !v.IsValid() {
		return
	}
	t := v.Type()
	if t.Implements(handleType) && t.Kind() == reflect.Struct {
		if st := v.Interface().(channelHandle).handle(); st != nil {
			f(st)
		}
		return
	}
	if !mayHoldChannel(t) {
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkChannels(v.Elem(), f, depth+1)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if t.Field(i).IsExported() {
				walkChannels(v.Field(i), f, depth+1)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walkChannels(v.Index(i), f, depth+1)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			walkChannels(it.Value(), f, depth+1)
		}
	}
}

var holdsChannel sync.Map // reflect.Type -> bool

// mayHoldChannel reports whether a value of type t can contain a Channel.
func mayHoldChannel(t reflect.Type) bool {
	if v, ok := holdsChannel.Load(t); ok {
		return v.(bool)
	}
	holdsChannel.Store(t, false) // while deciding: a recursive type adds nothing
	r := false
	switch {
	case t.Implements(handleType) && t.Kind() == reflect.Struct:
		r = true
	case t.Kind() == reflect.Interface:
		r = false // arguments decode into concrete types only
	case t.Kind() == reflect.Pointer, t.Kind() == reflect.Slice, t.Kind() == reflect.Array, t.Kind() == reflect.Map:
		r = mayHoldChannel(t.Elem())
	case t.Kind() == reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).IsExported() && mayHoldChannel(t.Field(i).Type) {
				r = true
				break
			}
		}
	}
	holdsChannel.Store(t, r)
	return r
}

func parseChannel(b []byte) (uint64, bool) {
	var s string
	if json.Unmarshal(b, &s) != nil {
		return 0, false
	}
	return channelID(s)
}

func channelID(s string) (uint64, bool) {
	rest, ok := bytes.CutPrefix([]byte(s), []byte(channelPrefix))
	if !ok || len(rest) == 0 || len(rest) > 15 {
		return 0, false
	}
	id, err := strconv.ParseUint(string(rest), 10, 64)
	return id, err == nil
}

func clipJSON(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}

// stripChannels drops the top-level arguments of a JSON object whose value
// is a channel ("__CHANNEL__:<id>") and returns the first such id: a
// channel command gets its channel as its send function, not as an
// argument.
func stripChannels(args *tetherv1.Payload) (*tetherv1.Payload, uint64) {
	j, ok := args.GetBody().(*tetherv1.Payload_Json)
	if !ok || !bytes.Contains(j.Json, []byte(channelPrefix)) {
		return args, 0
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(j.Json, &m) != nil {
		return args, 0
	}
	var first uint64
	found := false
	for k, v := range m {
		if id, ok := parseChannel(v); ok {
			if !found || id < first {
				first, found = id, true
			}
			delete(m, k)
		}
	}
	if !found {
		return args, 0
	}
	b, err := json.Marshal(m)
	if err != nil {
		return args, 0
	}
	return &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: b}}, first
}
