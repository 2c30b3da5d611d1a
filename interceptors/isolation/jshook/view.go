package jshook

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"strconv"

	"github.com/tether-ipc/tether/interceptors/isolation"
)

// callInput is the call as the driver reads it: the arguments (an invoke's
// args, an emit's payload) as JSON, which the driver parses only if the
// hook reads them.
type callInput struct {
	kind, name, target, label, origin string
	headers                           map[string]string
	args                              []byte
}

// size is about how much JSON the call is.
func (c *callInput) size() int {
	n := len(c.args) + len(c.name) + len(c.target) + len(c.label) + len(c.origin) + 64
	for k, v := range c.headers {
		n += len(k) + len(v) + 6
	}
	return n
}

func inputOf(p *isolation.Payload) (*callInput, error) {
	c := &callInput{kind: p.Cmd, name: p.Name(), target: p.Target, label: p.Client.Label, origin: p.Client.Origin, headers: p.Headers}
	switch p.Cmd {
	case isolation.CmdInvoke:
		if p.Message == nil {
			return nil, isolation.Block("invoke without message")
		}
		c.args = p.Message.Args
	case isolation.CmdEmit:
		c.args = p.Payload
	case isolation.CmdListen:
	default:
		return nil, isolation.Block("unknown cmd " + p.Cmd)
	}
	c.args = bytes.TrimSpace(c.args)
	return c, nil
}

// result is what the driver reports for one shape: a reason it blocked, or
// the parts of the call as the hook returned them (absent: not given).
type result struct {
	OK     bool
	Reason string
	// Same: the hook left the arguments unread and in place.
	Same    bool
	Name    *string
	Args    json.RawMessage // JSON; nil: none
	Headers json.RawMessage // JSON; nil: not given
	Target  *string
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
func (r *Runner) apply(p *isolation.Payload, rs []result) (*isolation.Payload, error) {
	if len(rs) == 0 {
		return nil, isolation.Block("isolation hook returned no result")
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
	if ch.name == nil && ch.args == nil && !ch.hset && ch.target == nil {
		return p, nil // unchanged (a Hook may return the payload it got)
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
	if res.Name != nil && *res.Name != p.Name() {
		c.name = res.Name
	}
	orig := p.Payload
	if p.Message != nil {
		orig = p.Message.Args
	}
	orig = bytes.TrimSpace(orig)
	switch {
	case res.Same:
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
	if res.Target != nil && *res.Target != p.Target {
		c.target = res.Target
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
