package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/tether-ipc/tether/bus"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// busFrame is a Listen message of a core in this process whose events
// are the bus's own (server's listenFrame): each is encoded once for every
// SSE stream that sends it.
type busFrame interface {
	BusEvents() ([]*bus.Event, bool)
}

// frameEntry is a cached SSE frame of a published event.
type frameEntry struct {
	ev    *bus.Event
	frame []byte
}

// frameCache holds the SSE frames of recent events, by id, so that an event
// sent to many streams is encoded once: the first stream encodes it, the
// others find it. Entries are replaced, never changed; a race just encodes
// twice.
var frameCache [4096]atomic.Pointer[frameEntry]

// eventFrame returns the SSE frame of a published event: "event: NAME",
// "id: N", "data: PAYLOAD". The bytes are shared: never modify them.
func eventFrame(ev *bus.Event) []byte {
	slot := &frameCache[ev.ID%uint64(len(frameCache))]
	if e := slot.Load(); e != nil && e.ev == ev {
		return e.frame
	}
	b := appendEventFrame(nil, ev.Name, ev.ID, ev.Payload)
	slot.Store(&frameEntry{ev: ev, frame: b})
	return b
}

// appendEventFrame appends an event's SSE frame; a name that could break
// the frame syntax is left out (names are checked at emit).
func appendEventFrame(b []byte, name string, id uint64, p *tetherv1.Payload) []byte {
	if validName("event", name) != nil {
		return b
	}
	b = append(b, "event: "...)
	b = append(b, name...)
	b = append(b, "\nid: "...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, "\ndata: "...)
	b = appendPayload(b, p)
	return append(b, "\n\n"...)
}

// appendPayload appends a payload as one line of JSON: JSON payloads as
// they are (checked when emitted or returned; a line break in valid JSON is
// whitespace, so it becomes a space), raw and proto bytes as a base64
// string, none as null.
func appendPayload(b []byte, p *tetherv1.Payload) []byte {
	switch body := p.GetBody().(type) {
	case *tetherv1.Payload_Json:
		js := bytes.TrimSpace(body.Json)
		if len(js) == 0 {
			return append(b, "null"...)
		}
		if bytes.IndexAny(js, " \t\r\n") >= 0 {
			// Compact (once per event on the pushed paths): line breaks
			// would split the data line.
			buf := bytes.NewBuffer(b)
			if json.Compact(buf, js) == nil {
				return buf.Bytes()
			}
			start := len(b)
			b = append(b, js...)
			for i := start; i < len(b); i++ {
				if b[i] == '\r' || b[i] == '\n' {
					b[i] = ' '
				}
			}
			return b
		}
		return append(b, js...)
	case *tetherv1.Payload_Raw:
		return appendBase64(b, body.Raw)
	case *tetherv1.Payload_Proto:
		return appendBase64(b, body.Proto)
	}
	return append(b, "null"...)
}

func appendBase64(b, raw []byte) []byte {
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, raw)
	return append(b, '"')
}

// appendLagged appends a lagged notice: on a listen stream without a
// subscription id (sub ""), on a page stream with one.
func appendLagged(b []byte, sub string, l *tetherv1.Lagged) []byte {
	if sub == "" {
		return fmt.Appendf(b, "event: lagged\ndata: {\"dropped\":%d,\"resume_after\":%d}\n\n", l.GetDropped(), l.GetResumeAfter())
	}
	return fmt.Appendf(b, "event: tether.lagged\ndata: {\"id\":%q,\"dropped\":%d,\"resume_after\":%d}\n\n", sub, l.GetDropped(), l.GetResumeAfter())
}

// appendListen appends the frames of one Listen message (a busFrame, or a
// tetherv1.ListenResponse): each event, or the lagged notice.
func appendListen(b []byte, sub string, m any) []byte {
	if f, ok := m.(busFrame); ok {
		if evs, ok := f.BusEvents(); ok {
			for _, ev := range evs {
				b = append(b, eventFrame(ev)...)
			}
			return b
		}
	}
	r := listenResponse(m)
	switch k := r.GetKind().(type) {
	case *tetherv1.ListenResponse_Event:
		b = appendEventFrame(b, k.Event.GetName(), k.Event.GetId(), k.Event.GetPayload())
	case *tetherv1.ListenResponse_Batch:
		for _, ev := range k.Batch.GetEvents() {
			b = appendEventFrame(b, ev.GetName(), ev.GetId(), ev.GetPayload())
		}
	case *tetherv1.ListenResponse_Lagged:
		b = appendLagged(b, sub, k.Lagged)
	}
	return b
}

// appendChannel appends the page-stream frame of a channel message:
// {"id","index","message"} (JSON), {"id","index","bytes"} (raw bytes, as
// base64) or {"id","index","end":true}.
func appendChannel(b []byte, m *tetherv1.ChannelMessage) []byte {
	b = fmt.Appendf(b, "event: tether.channel\ndata: {\"id\":%d,\"index\":%d,", m.GetChannel(), m.GetIndex())
	switch body := m.GetMessage().GetBody().(type) {
	case *tetherv1.Payload_Raw:
		b = append(b, `"bytes":`...)
		b = appendBase64(b, body.Raw)
	case *tetherv1.Payload_Proto:
		b = append(b, `"bytes":`...)
		b = appendBase64(b, body.Proto)
	default:
		if m.GetEnd() {
			b = append(b, `"end":true`...)
		} else {
			b = append(b, `"message":`...)
			b = appendPayload(b, m.GetMessage())
		}
	}
	return append(b, "}\n\n"...)
}
