package bus

import (
	"context"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// Bus carries events from publishers to subscribers. Memory is the
// in-process implementation; package natsbus spreads a bus over several core
// replicas. All methods are safe for concurrent use.
type Bus interface {
	// Publish gives the event the next sequence id, stores it in the resume
	// window and queues it for every matching subscriber. It never blocks on a
	// subscriber: one whose queue is full misses the event and is told so
	// with a Lagged notice. Event.ID is ignored; the assigned id is returned.
	Publish(ctx context.Context, ev Event) (id uint64, err error)

	// Subscribe starts a subscription for the events that match f. It ends
	// when ctx ends, when Unsubscribe is called, or when the bus closes.
	Subscribe(ctx context.Context, f Filter) (*Subscription, error)

	// Listen calls h, on a goroutine of its own, for every untargeted event
	// named name (or every event, for Wildcard), in order, until unlisten is
	// called or the bus closes. Lagged notices are not passed to h.
	Listen(name string, h Handler) (unlisten func(), err error)

	// Once is Listen for the first matching event only.
	Once(name string, h Handler) (unlisten func(), err error)

	// Close ends every subscription and makes further calls fail with
	// ErrClosed. It is safe to call more than once.
	Close() error
}

// Handler is called by a backend listener for each event. The event, and
// the payload it points to, are shared with other subscribers and must not be
// modified.
type Handler func(ev Event)

// Event is one event. Publishers set Name, Payload and optionally Target and
// Source; the bus sets ID.
//
// Events handed out by a bus are shared by every subscriber that receives
// them: treat them, and the Payload they point to, as read-only.
type Event struct {
	// ID is the sequence id, assigned by the bus: the first id (1 unless
	// set with WithFirstID), then increasing by one for each published
	// event. A bus that copies a log (WithHistory) keeps the log's ids,
	// which increase but may skip.
	ID uint64
	// Name is the event name; see ValidName.
	Name string
	// Payload is the event's value (JSON, protobuf or raw bytes). It may be
	// nil. The bus keeps the pointer; it never copies or decodes the bytes.
	Payload *tetherv1.Payload
	// Target, when not empty, is the only client label that receives the
	// event.
	Target string
	// Source is the client label of the emitter, if known.
	Source string

	enc *encoded // set by Memory.Publish: the shared wire encoding (see Encoded)
}

// Proto returns the event as a tetherv1.Event sharing the payload.
func (e *Event) Proto() *tetherv1.Event {
	return &tetherv1.Event{Id: e.ID, Name: e.Name, Payload: e.Payload, Target: e.Target, Source: e.Source}
}

// EventFromProto returns the Event that p describes, sharing the payload.
func EventFromProto(p *tetherv1.Event) Event {
	return Event{ID: p.GetId(), Name: p.GetName(), Payload: p.GetPayload(), Target: p.GetTarget(), Source: p.GetSource()}
}

// Lagged tells a subscriber that events it should have received were
// dropped at this point of its stream.
type Lagged struct {
	// Dropped is the number of matching events dropped because the
	// subscriber's queue was full. For a resume that reaches back beyond the
	// window, and for ids the log a bus copies lost before the copy read
	// them (Memory.Lost), it is the number of sequence ids no longer held (an
	// upper bound of the matching events missed); 0 means unknown, as when
	// AfterID is ahead of the bus (after a restart of the core).
	Dropped uint64
	// ResumeAfter is the id after which events are missing: every matching
	// event with an id up to ResumeAfter was delivered. Subscribing again
	// with AfterID set to it recovers the missing events the window still
	// holds.
	ResumeAfter uint64
}

// Proto returns the notice as a tetherv1.Lagged.
func (l *Lagged) Proto() *tetherv1.Lagged {
	return &tetherv1.Lagged{Dropped: l.Dropped, ResumeAfter: l.ResumeAfter}
}

// Message is what a subscription delivers: exactly one of Event and Lagged
// is set.
type Message struct {
	Event  *Event
	Lagged *Lagged
}

// Proto returns the message as a Listen response.
func (m Message) Proto() *tetherv1.ListenResponse {
	if m.Lagged != nil {
		return &tetherv1.ListenResponse{Kind: &tetherv1.ListenResponse_Lagged{Lagged: m.Lagged.Proto()}}
	}
	if m.Event != nil {
		return &tetherv1.ListenResponse{Kind: &tetherv1.ListenResponse_Event{Event: m.Event.Proto()}}
	}
	return &tetherv1.ListenResponse{}
}

// Filter selects the events of a subscription.
type Filter struct {
	// Names are the event names to receive, matched exactly; at least one.
	// Wildcard ("*") selects every name.
	Names []string
	// Label is the subscriber's client label. A targeted event reaches only
	// subscribers whose Label equals its Target; an untargeted one reaches
	// all.
	Label string
	// AfterID, when not 0, resumes after the last event id the subscriber
	// saw: the matching events with larger ids that the window (or the
	// history, see WithHistory) still holds are delivered first, then live
	// ones, with no gap or duplicate between them. Where events after
	// AfterID are no longer held, a Lagged notice comes first. 0 means live
	// events only.
	AfterID uint64
}

// match reports whether ev passes the filter of a subscription whose names
// were already matched.
func (f *Filter) matchTarget(ev *Event) bool {
	return ev.Target == "" || ev.Target == f.Label
}

// Errors of the bus. Compare with errors.Is.
var (
	// ErrClosed is returned after the bus was closed.
	ErrClosed = tether.NewError(tether.CodeUnavailable, "bus: closed")
	// ErrUnsubscribed is returned by Next after Unsubscribe.
	ErrUnsubscribed = tether.NewError(tether.CodeCanceled, "bus: unsubscribed")
)

// Health is implemented by a bus that depends on something outside the
// process, such as package natsbus on its NATS connection. server.New
// watches it: the server's gRPC health service (and so the gateway's
// /readyz) says NOT_SERVING while Healthy reports an error.
type Health interface {
	// Healthy returns nil while the bus can carry events, otherwise why
	// not (code unavailable).
	Healthy() error
	// NotifyHealth calls f with the new result of Healthy after each
	// change, on a goroutine of the bus, one call at a time, until stop is
	// called.
	NotifyHealth(f func(error)) (stop func())
}
