package bus

import (
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// encoded is an event's wire encoding, made once on first use and shared by
// every subscriber that sends the event.
type encoded struct {
	owner *Event // the event as published
	size  int64  // what the event counts against window and queue bounds
	once  sync.Once
	resp  []byte // tetherv1.ListenResponse{event: ev.Proto()}
	at    int    // where the tetherv1.Event starts in resp
	err   error
}

// heldEvent is the allocation Publish makes: the event and its encoding
// cache together.
type heldEvent struct {
	ev  Event
	enc encoded
}

// listenResponseEventField is the field number of the event in a
// tetherv1.ListenResponse, whose tag starts the encoding Encoded returns.
const listenResponseEventField protowire.Number = 1

// Encoded returns the protobuf encoding of the Listen response that carries
// the event (Message{Event: e}.Proto(), a tetherv1.ListenResponse) and the
// part of it that is the encoding of e.Proto() (a tetherv1.Event), to
// send to many listeners without encoding the event again for each. An event
// handed out by a bus (or a copy of it left unchanged) encodes itself once, on
// the first call, and later calls from any goroutine return the same bytes:
// they must not be modified. For other events each call encodes anew.
func (e *Event) Encoded() (response, event []byte, err error) {
	c := e.enc
	if c == nil || e != c.owner && !e.same(c.owner) {
		var c encoded
		c.encode(e)
		return c.resp, c.resp[c.at:], c.err
	}
	c.once.Do(func() { c.encode(c.owner) })
	if c.err != nil {
		return nil, nil, c.err
	}
	return c.resp, c.resp[c.at:], nil
}

// same reports whether e has the fields of o, which a bus published.
func (e *Event) same(o *Event) bool {
	return e.ID == o.ID && e.Name == o.Name && e.Payload == o.Payload && e.Target == o.Target && e.Source == o.Source
}

func (c *encoded) encode(e *Event) {
	pe := tetherv1.Event{Id: e.ID, Name: e.Name, Payload: e.Payload, Target: e.Target, Source: e.Source}
	n := proto.Size(&pe)
	b := make([]byte, 0, 1+protowire.SizeVarint(uint64(n))+n)
	b = protowire.AppendTag(b, listenResponseEventField, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	c.at = len(b)
	b, c.err = proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(b, &pe)
	if c.err != nil {
		c.resp, c.at = nil, 0
		return
	}
	c.resp = b
}

// size is what e counts against the window and queue bounds.
func (e *Event) size() int64 {
	if e.enc != nil && e.enc.size != 0 {
		return e.enc.size
	}
	return eventBytes(e)
}
