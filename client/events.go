package client

import (
	"context"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/payload"
)

// Event is an event delivered to a listener.
type Event struct {
	ID      uint64
	Name    string
	Target  string
	Source  string
	Payload *tetherv1.Payload
}

// Decode decodes the payload into out: a proto message, *[]byte for raw
// payloads, or anything encoding/json decodes into.
func (e Event) Decode(out any) error { return payload.Decode(e.Payload, out) }

// Handler receives the events of a listener, one at a time and in order, on
// the listener's own goroutine.
type Handler func(Event)

// ListenOption configures Listen.
type ListenOption func(*listenOptions)

type listenOptions struct {
	afterID    uint64
	onLag      func(dropped, resumeAfter uint64)
	minBackoff time.Duration
	maxBackoff time.Duration
	once       bool
}

// AfterID starts the listener after an event id it already saw, replaying
// what the server still holds.
func AfterID(id uint64) ListenOption { return func(o *listenOptions) { o.afterID = id } }

// OnLag sets a function told when events were dropped because the listener
// fell behind (or were lost while it was away): dropped is their number, 0
// if unknown.
func OnLag(f func(dropped, resumeAfter uint64)) ListenOption {
	return func(o *listenOptions) { o.onLag = f }
}

// Backoff bounds the wait between reconnection attempts (default 50ms to 2s,
// doubling, with jitter).
func Backoff(min, max time.Duration) ListenOption {
	return func(o *listenOptions) { o.minBackoff, o.maxBackoff = min, max }
}

// Emit publishes an event to every listener. payload may be a proto message,
// []byte (raw), json.RawMessage, nil, or any value encoding/json accepts.
func (c *Client) Emit(ctx context.Context, event string, payload any) (uint64, error) {
	return c.EmitTo(ctx, "", event, payload)
}

// EmitTo publishes an event that only listeners of client label target receive.
func (c *Client) EmitTo(ctx context.Context, target, event string, v any) (uint64, error) {
	p, err := payload.Event(v)
	if err != nil {
		return 0, err
	}
	res, err := c.ipc.Emit(ctx, &tetherv1.EmitRequest{Event: event, Target: target, Payload: p})
	if err != nil {
		return 0, tether.FromError(err)
	}
	return res.GetId(), nil
}

// Subscription is a running listener. It reconnects by itself when the
// core goes away (for instance across a restart) and resumes after the last
// event it delivered, so nothing the core still holds is missed.
type Subscription struct {
	cancel context.CancelFunc
	done   chan struct{}
	lastID atomic.Uint64
	mu     sync.Mutex
	err    error
}

// Unlisten stops the listener; it returns once the handler will not be
// called again. It is safe to call more than once and from the handler.
func (s *Subscription) Unlisten() {
	s.cancel()
}

// Done is closed when the listener has stopped.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err says why the listener stopped: nil after Unlisten or the end of its
// context, else the error that could not be retried (e.g. permission_denied).
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// LastID is the id of the last event delivered.
func (s *Subscription) LastID() uint64 { return s.lastID.Load() }

// Listen calls h for every event with one of the given names (targeted
// events only when aimed at this client's label). It returns once the
// subscription exists on the core, so events emitted after Listen returns
// are delivered; errors that retrying cannot fix are returned at once.
// The listener runs until Unlisten, the end of ctx, or such an error.
//
// The listener asks the core for batches (ListenRequest.max_batch): events
// that queued up for it while it was busy come in one gRPC message, decoded
// straight into Events, and h still gets them one at a time, in order.
func (c *Client) Listen(ctx context.Context, events []string, h Handler, opts ...ListenOption) (*Subscription, error) {
	o := listenOptions{minBackoff: 50 * time.Millisecond, maxBackoff: 2 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Subscription{cancel: cancel, done: make(chan struct{})}
	s.lastID.Store(o.afterID)
	// The first connection is made here, so that bad requests fail Listen
	// itself and the subscription exists when Listen returns.
	stream, err := c.openListen(ctx, events, o.afterID)
	if err != nil {
		cancel()
		return nil, err
	}
	go s.run(ctx, c, events, h, &o, stream)
	return s, nil
}

// Once calls h for the first event named event, then stops.
func (c *Client) Once(ctx context.Context, event string, h Handler) (*Subscription, error) {
	var sub *Subscription
	var once sync.Once
	ready := make(chan struct{})
	sub, err := c.Listen(ctx, []string{event}, func(e Event) {
		once.Do(func() {
			<-ready
			h(e)
			sub.Unlisten()
		})
	})
	if err != nil {
		return nil, err
	}
	close(ready)
	return sub, nil
}

// listenBatch is how many queued events the core may send in one Listen
// response (ListenRequest.max_batch); the handler still gets them one by one.
const listenBatch = 1024

func (c *Client) openListen(ctx context.Context, events []string, after uint64) (tetherv1.IPC_ListenClient, error) {
	stream, err := c.ipc.Listen(ctx, &tetherv1.ListenRequest{Events: events, AfterId: after, MaxBatch: listenBatch},
		grpc.ForceCodecV2(listenCodec{}))
	if err != nil {
		return nil, tether.FromError(err)
	}
	// The server sends its header once the subscription exists, or ends
	// the call with the reason it refused.
	md, err := stream.Header()
	if err != nil {
		return nil, tether.FromError(err)
	}
	if len(md.Get(tether.MetadataSubscribed)) == 0 {
		_, err := stream.Recv()
		if err == nil || err == io.EOF {
			err = tether.NewError(tether.CodeUnavailable, "listen ended before it started")
		}
		return nil, tether.FromError(err)
	}
	return stream, nil
}

func (s *Subscription) run(ctx context.Context, c *Client, events []string, h Handler, o *listenOptions, stream tetherv1.IPC_ListenClient) {
	defer close(s.done)
	defer s.cancel()
	reply := newListenReply(events)
	backoff := o.minBackoff
	for {
		if stream != nil {
			err := s.receive(ctx, stream, h, o, reply)
			if ctx.Err() != nil {
				return
			}
			if !retryable(err) {
				s.setErr(err)
				return
			}
			backoff = o.minBackoff // the connection had worked
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(backoff*2, o.maxBackoff)
		var err error
		stream, err = c.openListen(ctx, events, s.lastID.Load())
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !retryable(err) {
				s.setErr(err)
				return
			}
			stream = nil
		}
	}
}

func (s *Subscription) receive(ctx context.Context, stream tetherv1.IPC_ListenClient, h Handler, o *listenOptions, r *listenReply) error {
	for {
		r.reset()
		if err := stream.RecvMsg(r); err != nil {
			if err == io.EOF {
				return tether.NewError(tether.CodeUnavailable, "listen stream ended")
			}
			return tether.FromError(err)
		}
		r.settle()
		for i := range r.events {
			if i > 0 && ctx.Err() != nil { // Unlisten, maybe by the handler: no more calls
				return tether.FromError(ctx.Err())
			}
			s.lastID.Store(r.events[i].ID)
			h(r.events[i])
		}
		if r.lagged != nil && o.onLag != nil {
			o.onLag(r.lagged.GetDropped(), r.lagged.GetResumeAfter())
		}
	}
}

func (s *Subscription) setErr(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// retryable reports the errors after which a listener reconnects.
func retryable(err error) bool {
	switch tether.CodeOf(err) {
	case tether.CodeUnavailable, tether.CodeAborted, tether.CodeResourceExhausted,
		tether.CodeInternal, tether.CodeUnknown, tether.CodeCanceled, tether.CodeDeadlineExceeded:
		return true
	}
	return false
}

// ChannelMessage is one message of a channel command, or of one of the
// channels of InvokeChannels (Channel says which; End marks its end).
type ChannelMessage struct {
	Channel uint64
	Index   uint64
	Payload *tetherv1.Payload
	End     bool
}

// ChannelArg is a channel to pass in the arguments of InvokeChannels, as
// Tauri's JS Channel is passed: it encodes as "__CHANNEL__:<id>", and the
// command's server.Channel arguments deliver to it. Choose the id; it
// tells the channels of one call apart in ChannelMessage.Channel.
type ChannelArg uint64

// MarshalJSON writes Tauri's form of a channel.
func (c ChannelArg) MarshalJSON() ([]byte, error) {
	return []byte(`"__CHANNEL__:` + strconv.FormatUint(uint64(c), 10) + `"`), nil
}

// InvokeChannels runs a command whose arguments hold channels (ChannelArg
// values, anywhere in args): onMessage gets each message and each end of
// them, in order per channel, result the command's result when its handler
// returns. It returns when the call ends: once every channel the command
// took is closed (nil), with the command's error, or with onMessage's
// (which cancels the call). A command may keep its channels after it
// returned; cancel ctx to let go of them.
func (c *Client) InvokeChannels(ctx context.Context, command string, args, result any, onMessage func(ChannelMessage) error) error {
	return c.channelCall(ctx, command, args, func(m *tetherv1.ChannelMessage) (bool, error) {
		if r := m.GetResult(); r != nil {
			if result != nil {
				return false, payload.Decode(r.GetResult(), result)
			}
			return false, nil
		}
		return false, onMessage(ChannelMessage{Channel: m.GetChannel(), Index: m.GetIndex(), Payload: m.GetMessage(), End: m.GetEnd()})
	}, nil)
}

// channelCall runs the Channel method, handing each message to each until
// it reports the end or fails; at the stream's end it returns atEOF.
func (c *Client) channelCall(ctx context.Context, command string, args any, each func(*tetherv1.ChannelMessage) (done bool, err error), atEOF error) error {
	p, err := payload.Of(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.ipc.Channel(ctx, &tetherv1.InvokeRequest{Command: command, Args: p})
	if err != nil {
		return tether.FromError(err)
	}
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return atEOF
		}
		if err != nil {
			return tether.FromError(err)
		}
		if done, err := each(m); done || err != nil {
			return err
		}
	}
}

// Decode decodes the message (see Event.Decode).
func (m ChannelMessage) Decode(out any) error { return payload.Decode(m.Payload, out) }

// Channel runs a channel command (Tauri's Channel) and calls onMessage for
// each message, in order. It returns nil after the end marker, the
// command's error if it failed midway, or onMessage's error (which cancels
// the command). Cancelling ctx stops the command on the server.
func (c *Client) Channel(ctx context.Context, command string, args any, onMessage func(ChannelMessage) error) error {
	return c.channelCall(ctx, command, args, func(m *tetherv1.ChannelMessage) (bool, error) {
		if m.GetEnd() {
			return true, nil
		}
		return false, onMessage(ChannelMessage{Channel: m.GetChannel(), Index: m.GetIndex(), Payload: m.GetMessage()})
	}, tether.NewError(tether.CodeDataLoss, "channel ended without its end marker"))
}
