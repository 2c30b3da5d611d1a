package server

import (
	"sync/atomic"

	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tether-ipc/tether/bus"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/bufpool"
	"github.com/tether-ipc/tether/internal/bulk"
)

// Field numbers of the Listen response and the event batch, for frames
// assembled from the events' cached encodings.
const (
	listenResponseBatchField protowire.Number = 3 // ListenResponse.batch
	eventBatchEventsField    protowire.Number = 1 // EventBatch.events
)

// listenCodec is the codec the server forces on its gRPC service: the
// proto codec (internal/bulk's), except that a listenFrame is sent as the
// cached encodings of its events (bus.Event.Encoded), so that an event sent
// to many listeners is encoded once, not once per listener. Everything else
// — every received message, every other sent one — goes to bulk.Codec.
type listenCodec struct{}

func (listenCodec) Name() string { return grpcproto.Name }

func (listenCodec) Marshal(v any) (mem.BufferSlice, error) {
	if f, ok := v.(*listenFrame); ok {
		return f.marshal()
	}
	return bulk.Codec{}.Marshal(v)
}

func (listenCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return bulk.Codec{}.Unmarshal(data, v)
}

// listenFrame is one Listen response of published events: the event itself
// (one event) or a batch (several). It is a proto.Message whose
// ProtoReflect is the tetherv1.ListenResponse it stands for, built on first
// use, so interceptors and stats handlers that look at sent messages see the
// real response; once built, the frame is sent as that message (an
// interceptor may have changed it) and no longer from the cache.
type listenFrame struct {
	events []*bus.Event
	msg    atomic.Pointer[tetherv1.ListenResponse]
}

// BusEvents returns the frame's events as published, for a consumer in this
// process that encodes them itself (the gateway's SSE streams, once per
// event), and false once an interceptor has looked at the frame as a
// message (it may have changed it: send the message then).
func (f *listenFrame) BusEvents() ([]*bus.Event, bool) {
	if f.msg.Load() != nil {
		return nil, false
	}
	return f.events, true
}

// ProtoReflect implements proto.Message.
func (f *listenFrame) ProtoReflect() protoreflect.Message { return f.message().ProtoReflect() }

// message returns the ListenResponse of the frame, building it once.
func (f *listenFrame) message() *tetherv1.ListenResponse {
	if m := f.msg.Load(); m != nil {
		return m
	}
	var m *tetherv1.ListenResponse
	if len(f.events) == 1 {
		m = bus.Message{Event: f.events[0]}.Proto()
	} else {
		b := &tetherv1.EventBatch{Events: make([]*tetherv1.Event, len(f.events))}
		for i, e := range f.events {
			b.Events[i] = e.Proto()
		}
		m = &tetherv1.ListenResponse{Kind: &tetherv1.ListenResponse_Batch{Batch: b}}
	}
	if f.msg.CompareAndSwap(nil, m) {
		return m
	}
	return f.msg.Load()
}

// size is the length of the frame's encoding (as marshal makes it).
func (f *listenFrame) size() int {
	if f.msg.Load() == nil {
		if len(f.events) == 1 {
			if resp, _, err := f.events[0].Encoded(); err == nil {
				return len(resp)
			}
		} else if inner, ok := f.batchInner(); ok {
			return protowire.SizeTag(listenResponseBatchField) + protowire.SizeBytes(inner)
		}
	}
	return proto.Size(f.message())
}

// batchInner is the length of a batch frame's EventBatch, made of the
// events' cached encodings; false if one of them has none.
func (f *listenFrame) batchInner() (int, bool) {
	inner := 0
	for _, e := range f.events {
		_, ev, err := e.Encoded()
		if err != nil {
			return 0, false
		}
		inner += protowire.SizeTag(eventBatchEventsField) + protowire.SizeBytes(len(ev))
	}
	return inner, true
}

// marshal returns the encoding of the frame: for one event, its cached
// Listen response itself (not copied); for a batch, the batch's framing
// around the events' cached encodings, in one buffer.
func (f *listenFrame) marshal() (mem.BufferSlice, error) {
	if m := f.msg.Load(); m != nil {
		return bulk.Codec{}.Marshal(m)
	}
	if len(f.events) == 1 {
		resp, _, err := f.events[0].Encoded()
		if err != nil {
			return bulk.Codec{}.Marshal(f.message()) // the proto codec's own error
		}
		return mem.BufferSlice{mem.SliceBuffer(resp)}, nil
	}
	inner, ok := f.batchInner()
	if !ok {
		return bulk.Codec{}.Marshal(f.message())
	}
	size := protowire.SizeTag(listenResponseBatchField) + protowire.SizeBytes(inner)
	buf := framePool.Get(size)
	b := (*buf)[:0]
	b = protowire.AppendTag(b, listenResponseBatchField, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(inner))
	for _, e := range f.events {
		_, ev, _ := e.Encoded()
		b = protowire.AppendTag(b, eventBatchEventsField, protowire.BytesType)
		b = protowire.AppendBytes(b, ev)
	}
	*buf = b
	return mem.BufferSlice{mem.NewBuffer(buf, framePool)}, nil
}

// framePool holds the buffers of batch frames, which the transport returns
// once written. Unlike grpc-go's default pool it does not zero a buffer it
// hands out (a frame overwrites all of it) and its classes are every power of
// two, so a frame takes at most twice its size, not a whole 1 MiB tier.
var framePool = bufpool.New(10, 20)
