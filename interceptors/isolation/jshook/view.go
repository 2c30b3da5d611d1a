package jshook

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/tether-ipc/tether/interceptors/isolation"
)

// inputOf is the call as the driver reads it: kind, name, args (an
// invoke's args, an emit's payload), headers, target and client.
func inputOf(p *isolation.Payload) (string, error) {
	var args json.RawMessage
	switch p.Cmd {
	case isolation.CmdInvoke:
		if p.Message == nil {
			return "", isolation.Block("invoke without message")
		}
		args = p.Message.Args
	case isolation.CmdEmit:
		args = p.Payload
	case isolation.CmdListen:
	default:
		return "", isolation.Block("unknown cmd " + p.Cmd)
	}
	args = bytes.TrimSpace(args)
	b := make([]byte, 0, 128+len(args))
	b = append(b, `{"kind":`...)
	b = appendString(b, p.Cmd)
	b = append(b, `,"name":`...)
	b = appendString(b, p.Name())
	if len(args) > 0 {
		b = append(b, `,"args":`...)
		b = append(b, args...)
	}
	if len(p.Headers) > 0 {
		hb, err := json.Marshal(p.Headers)
		if err != nil {
			return "", isolation.Block("headers do not encode")
		}
		b = append(b, `,"headers":`...)
		b = append(b, hb...)
	}
	if p.Target != "" {
		b = append(b, `,"target":`...)
		b = appendString(b, p.Target)
	}
	b = append(b, `,"client":{"label":`...)
	b = appendString(b, p.Client.Label)
	b = append(b, `,"origin":`...)
	b = appendString(b, p.Client.Origin)
	b = append(b, "}}"...)
	return string(b), nil
}

// appendString appends s as a JSON string (invalid UTF-8 as U+FFFD).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\ufffd"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// result is what the driver reports for one shape: a reason it blocked, or
// the parts of the call as the hook returned them (absent: not given).
type result struct {
	OK      bool            `json:"ok"`
	Reason  string          `json:"reason"`
	Name    json.RawMessage `json:"name"`
	Args    json.RawMessage `json:"args"`
	Headers json.RawMessage `json:"headers"`
	Target  json.RawMessage `json:"target"`
}

// change is what a hook changed in a call.
type change struct {
	name    *string
	args    *json.RawMessage // nil: unchanged; empty: removed
	headers map[string]string
	hset    bool
	target  *string
}

// apply turns the driver's results into the payload to send: with two
// shapes, both must have let the call through, and what they changed must
// agree.
func (r *Runner) apply(p *isolation.Payload, out string) (*isolation.Payload, error) {
	var rs []result
	if err := json.Unmarshal([]byte(out), &rs); err != nil || len(rs) == 0 {
		return nil, isolation.Block("isolation hook returned a payload that does not decode")
	}
	var ch change
	for i, res := range rs {
		if !res.OK {
			reason := res.Reason
			if reason == "" {
				reason = "isolation hook blocked " + p.Cmd + " " + p.Name()
			}
			return nil, isolation.Block(reason)
		}
		c, err := changeOf(p, res)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			ch = c
			continue
		}
		if ch, err = merge(ch, c); err != nil {
			return nil, err
		}
	}
	out2 := p.Clone()
	if ch.name != nil {
		if out2.Message != nil {
			out2.Message.Cmd = *ch.name
		} else {
			out2.Event = *ch.name
		}
	}
	if ch.args != nil {
		if out2.Message != nil {
			out2.Message.Args = *ch.args
		} else {
			out2.Payload = *ch.args
		}
	}
	if ch.hset {
		out2.Headers = ch.headers
	}
	if ch.target != nil {
		out2.Target = *ch.target
	}
	return out2, nil
}

// changeOf compares one shape's result with the call it was shown.
func changeOf(p *isolation.Payload, res result) (change, error) {
	var c change
	if len(res.Name) > 0 {
		var name string
		if err := json.Unmarshal(res.Name, &name); err != nil {
			return c, isolation.Block("isolation hook set the name of " + p.Cmd + " " + p.Name() + " to a value that is not a string")
		}
		if name != p.Name() {
			c.name = &name
		}
	}
	orig := p.Payload
	if p.Message != nil {
		orig = p.Message.Args
	}
	orig = bytes.TrimSpace(orig)
	switch {
	case len(res.Args) == 0 || string(res.Args) == "null":
		if p.Cmd == isolation.CmdListen {
			break
		}
		if len(orig) > 0 && string(orig) != "null" && !(p.Message != nil && string(orig) == "{}") {
			empty := json.RawMessage(nil)
			c.args = &empty
		}
	case len(orig) == 0 && p.Message != nil:
		if !sameJSON(res.Args, []byte("{}")) {
			a := res.Args
			c.args = &a
		}
	case !sameJSON(res.Args, orig):
		a := res.Args
		c.args = &a
	}
	if len(res.Headers) > 0 && string(res.Headers) != "null" {
		var h map[string]string
		if err := json.Unmarshal(res.Headers, &h); err != nil {
			return c, isolation.Block("isolation hook set headers that are not strings")
		}
		if len(h) == 0 {
			h = nil
		}
		if !maps.Equal(h, p.Headers) && !(len(h) == 0 && len(p.Headers) == 0) {
			c.headers, c.hset = h, true
		}
	}
	if len(res.Target) > 0 {
		var t string
		if err := json.Unmarshal(res.Target, &t); err != nil {
			return c, isolation.Block("isolation hook set an event target that is not a label")
		}
		if t != p.Target {
			c.target = &t
		}
	}
	return c, nil
}

// merge combines the changes of the two shapes: each part changed by at
// most one, or by both alike.
func merge(a, b change) (change, error) {
	conflict := isolation.Block("isolation hook changed the call differently when shown the seed's payload and Tauri v2's")
	switch {
	case a.name == nil:
		a.name = b.name
	case b.name != nil && *a.name != *b.name:
		return a, conflict
	}
	switch {
	case a.args == nil:
		a.args = b.args
	case b.args != nil && !sameJSON(*a.args, *b.args):
		return a, conflict
	}
	switch {
	case !a.hset:
		a.headers, a.hset = b.headers, b.hset
	case b.hset && !maps.Equal(a.headers, b.headers):
		return a, conflict
	}
	switch {
	case a.target == nil:
		a.target = b.target
	case b.target != nil && *a.target != *b.target:
		return a, conflict
	}
	return a, nil
}

// sameJSON reports whether a and b are the same JSON value as JavaScript
// sees it: numbers as doubles (so a hook that passes a large integer on
// unchanged does not round it), objects regardless of key order.
func sameJSON(a, b []byte) bool {
	a, b = bytes.TrimSpace(a), bytes.TrimSpace(b)
	if bytes.Equal(a, b) {
		return true
	}
	va, errA := decodeNumbers(a)
	vb, errB := decodeNumbers(b)
	return errA == nil && errB == nil && equalJS(va, vb)
}

func decodeNumbers(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

func equalJS(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		fx, e1 := strconv.ParseFloat(string(x), 64)
		fy, e2 := strconv.ParseFloat(string(y), 64)
		if e1 != nil || e2 != nil {
			// Beyond a double's range: JavaScript reads both as Infinity.
			return math.IsInf(fx, 0) && fx == fy
		}
		return fx == fy
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equalJS(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalJS(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}
