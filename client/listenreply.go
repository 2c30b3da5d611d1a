package client

import (
	"errors"
	"unicode/utf8"

	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/bufpool"
	"github.com/tether-ipc/tether/internal/bulk"
)

// listenCodec is the codec of the client's Listen calls: the codec of its
// other calls (internal/bulk), except that a listenReply decodes the Listen
// response itself, straight into the Events the handler gets — no
// tetherv1.Event per event, event names shared rather than allocated for
// each.
type listenCodec struct{}

func (listenCodec) Name() string { return grpcproto.Name }

func (listenCodec) Marshal(v any) (mem.BufferSlice, error) { return bulk.Codec{}.Marshal(v) }

func (listenCodec) Unmarshal(data mem.BufferSlice, v any) error {
	r, ok := v.(*listenReply)
	if !ok {
		return bulk.Codec{}.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(joinPool) // a copy only when data spans buffers
	defer buf.Free()
	return r.decode(buf.ReadOnlyData())
}

// joinPool holds the buffers a response spanning several HTTP/2 frames is
// joined in for decoding; they are overwritten whole, so not zeroed.
var joinPool = bufpool.New(10, 20)

// listenReply receives the Listen responses of one stream, one at a time:
// the events of the last response (one, or a batch) or its Lagged notice.
// It is a proto.Message whose ProtoReflect is the tetherv1.ListenResponse,
// built on first use, so that client interceptors that look at received
// messages see the real response (and a change they make is what the
// handler gets).
type listenReply struct {
	events []Event
	lagged *tetherv1.Lagged
	msg    *tetherv1.ListenResponse
	names  map[string]string // names, targets and sources seen, shared
}

func newListenReply(names []string) *listenReply {
	r := &listenReply{names: make(map[string]string, len(names)+1)}
	r.names[""] = ""
	for _, n := range names {
		if utf8.ValidString(n) {
			r.names[n] = n
		}
	}
	return r
}

// maxSharedNames bounds the strings a reply keeps for sharing (a wildcard
// listener may see many names).
const maxSharedNames = 256

// reset readies the reply for the next response. The events slice is kept
// for the next response while responses fill a quarter of it or more; a
// listener whose burst is over lets it go.
func (r *listenReply) reset() {
	if cap(r.events) > 64 && len(r.events) < cap(r.events)/4 {
		r.events = nil
	}
	clear(r.events) // the handler has them; do not keep payloads alive
	r.events = r.events[:0]
	r.lagged, r.msg = nil, nil
}

// ProtoReflect implements proto.Message.
func (r *listenReply) ProtoReflect() protoreflect.Message {
	if r.msg == nil {
		r.msg = r.message()
	}
	return r.msg.ProtoReflect()
}

// message builds the ListenResponse of what was decoded.
func (r *listenReply) message() *tetherv1.ListenResponse {
	switch {
	case r.lagged != nil:
		return &tetherv1.ListenResponse{Kind: &tetherv1.ListenResponse_Lagged{Lagged: r.lagged}}
	case len(r.events) == 1:
		return &tetherv1.ListenResponse{Kind: &tetherv1.ListenResponse_Event{Event: r.events[0].proto()}}
	case len(r.events) > 1:
		b := &tetherv1.EventBatch{Events: make([]*tetherv1.Event, len(r.events))}
		for i := range r.events {
			b.Events[i] = r.events[i].proto()
		}
		return &tetherv1.ListenResponse{Kind: &tetherv1.ListenResponse_Batch{Batch: b}}
	}
	return &tetherv1.ListenResponse{}
}

// settle makes the events and notice those of r.msg if something built it
// (an interceptor that looked, or a codec other than listenCodec that filled
// it), so what the handler gets is the message as it stands.
func (r *listenReply) settle() {
	m := r.msg
	if m == nil {
		return
	}
	r.events = r.events[:0]
	r.lagged = nil
	switch k := m.GetKind().(type) {
	case *tetherv1.ListenResponse_Event:
		r.events = append(r.events, eventOf(k.Event))
	case *tetherv1.ListenResponse_Batch:
		for _, e := range k.Batch.GetEvents() {
			r.events = append(r.events, eventOf(e))
		}
	case *tetherv1.ListenResponse_Lagged:
		r.lagged = k.Lagged
	}
}

func eventOf(e *tetherv1.Event) Event {
	return Event{ID: e.GetId(), Name: e.GetName(), Target: e.GetTarget(), Source: e.GetSource(), Payload: e.GetPayload()}
}

func (e *Event) proto() *tetherv1.Event {
	return &tetherv1.Event{Id: e.ID, Name: e.Name, Target: e.Target, Source: e.Source, Payload: e.Payload}
}

// Field numbers of the messages decodeEvent reads.
const (
	fieldRespEvent   protowire.Number = 1 // ListenResponse.event
	fieldRespLagged  protowire.Number = 2 // ListenResponse.lagged
	fieldRespBatch   protowire.Number = 3 // ListenResponse.batch
	fieldBatchEvents protowire.Number = 1 // EventBatch.events
	fieldEventID     protowire.Number = 1
	fieldEventName   protowire.Number = 2
	fieldEventPay    protowire.Number = 3
	fieldEventTarget protowire.Number = 4
	fieldEventSource protowire.Number = 5
	fieldPayJSON     protowire.Number = 1
	fieldPayProto    protowire.Number = 2
	fieldPayRaw      protowire.Number = 3
)

var errMalformed = errors.New("proto: cannot parse invalid wire-format data")

// consumeTag is protowire.ConsumeTag limited to the field numbers messages
// may use (protowire also takes MessageSet's larger ones).
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n > 0 && num > protowire.MaxValidNumber {
		return 0, 0, -1
	}
	return num, typ, n
}

// decode reads one ListenResponse. A response in the form the core sends —
// one field of the oneof — is read directly; anything else (a field
// repeated, which protobuf merges) goes through proto.Unmarshal, so the
// result is always what proto.Unmarshal makes of the bytes. Errors are
// proto.Unmarshal's kinds of errors; bad input never panics.
func (r *listenReply) decode(b []byte) error {
	num, typ, n := consumeTag(b)
	if n > 0 && typ == protowire.BytesType {
		v, m := protowire.ConsumeBytes(b[n:])
		if m >= 0 && n+m == len(b) {
			switch num {
			case fieldRespEvent:
				return r.decodeEvent(v)
			case fieldRespBatch:
				return r.decodeBatch(v)
			}
		}
	}
	if len(b) == 0 {
		return nil
	}
	m := new(tetherv1.ListenResponse)
	if err := proto.Unmarshal(b, m); err != nil {
		return err
	}
	r.msg = m
	r.settle()
	r.msg = nil
	return nil
}

func (r *listenReply) decodeBatch(b []byte) error {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return errMalformed
		}
		b = b[n:]
		if num == fieldBatchEvents && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return errMalformed
			}
			if err := r.decodeEvent(v); err != nil {
				return err
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return errMalformed
		}
		b = b[m:]
	}
	return nil
}

// decodeEvent appends the event encoded in b (a tetherv1.Event).
func (r *listenReply) decodeEvent(b []byte) error {
	var e Event
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return errMalformed
		}
		b = b[n:]
		switch {
		case num == fieldEventID && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return errMalformed
			}
			e.ID, b = v, b[m:]
			continue
		case typ == protowire.BytesType && (num == fieldEventName || num == fieldEventTarget || num == fieldEventSource):
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return errMalformed
			}
			s, err := r.str(v)
			if err != nil {
				return err
			}
			switch num {
			case fieldEventName:
				e.Name = s
			case fieldEventTarget:
				e.Target = s
			default:
				e.Source = s
			}
			b = b[m:]
			continue
		case num == fieldEventPay && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return errMalformed
			}
			p, err := decodePayload(e.Payload, v)
			if err != nil {
				return err
			}
			e.Payload, b = p, b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return errMalformed
		}
		b = b[m:]
	}
	r.events = append(r.events, e)
	return nil
}

// str returns b as a string, shared with earlier ones when it is a name
// already seen. Strings must be UTF-8, as protobuf requires.
func (r *listenReply) str(b []byte) (string, error) {
	if s, ok := r.names[string(b)]; ok {
		return s, nil
	}
	if !utf8.Valid(b) {
		return "", errors.New("proto: string field contains invalid UTF-8")
	}
	s := string(b)
	if len(r.names) < maxSharedNames {
		r.names[s] = s
	}
	return s, nil
}

// smallJSON is the size up to which a JSON payload is held in the same
// allocation as its message: one allocation per event, sized to a Go size
// class (144 bytes), and no event keeps another's bytes alive.
const smallJSON = 64

// One allocation per payload: the message and its body together (and, for a
// small JSON payload, its bytes).
type (
	smallJSONPayload struct {
		p   tetherv1.Payload
		b   tetherv1.Payload_Json
		buf [smallJSON]byte
	}
	jsonPayload struct {
		p tetherv1.Payload
		b tetherv1.Payload_Json
	}
	protoPayload struct {
		p tetherv1.Payload
		b tetherv1.Payload_Proto
	}
	rawPayload struct {
		p tetherv1.Payload
		b tetherv1.Payload_Raw
	}
)

// decodePayload decodes a tetherv1.Payload from b, merged into prev (a
// payload field seen twice, which protobuf merges), copying the bytes out of
// b.
func decodePayload(prev *tetherv1.Payload, b []byte) (*tetherv1.Payload, error) {
	kind, val := protowire.Number(0), []byte(nil)
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return nil, errMalformed
		}
		b = b[n:]
		if typ == protowire.BytesType && num >= fieldPayJSON && num <= fieldPayRaw {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, errMalformed
			}
			kind, val, b = num, v, b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil, errMalformed
		}
		b = b[m:]
	}
	if kind == 0 {
		if prev != nil {
			return prev, nil
		}
		return &tetherv1.Payload{}, nil
	}
	if kind == fieldPayJSON && len(val) <= smallJSON {
		x := &smallJSONPayload{}
		n := copy(x.buf[:], val)
		x.b.Json = x.buf[:n:n]
		x.p.Body = &x.b
		return &x.p, nil
	}
	val = append([]byte{}, val...)
	switch kind {
	case fieldPayJSON:
		x := &jsonPayload{b: tetherv1.Payload_Json{Json: val}}
		x.p.Body = &x.b
		return &x.p, nil
	case fieldPayProto:
		x := &protoPayload{b: tetherv1.Payload_Proto{Proto: val}}
		x.p.Body = &x.b
		return &x.p, nil
	}
	x := &rawPayload{b: tetherv1.Payload_Raw{Raw: val}}
	x.p.Body = &x.b
	return &x.p, nil
}
