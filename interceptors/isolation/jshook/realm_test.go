package jshook_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/interceptors/isolation/jshook"
)

// deepMergeHook merges an invoke's options into a fresh object — the way
// hooks read settings — and refuses read_file unless they allow it. A
// "__proto__" key in a payload makes the merge write into Object.prototype.
const deepMergeHook = `
function merge(target, source) {
  for (const key in source) {
    const v = source[key];
    if (v && typeof v === "object") {
      if (!target[key]) target[key] = {};
      merge(target[key], v);
    } else {
      target[key] = v;
    }
  }
  return target;
}
window.__TAURI_ISOLATION_HOOK__ = (payload) => {
  if (payload.cmd !== "invoke") return payload;
  const opts = merge({}, payload.message.args.options || {});
  if (payload.message.cmd === "read_file" && !opts.allowed) return null;
  return payload;
};`

func withLabel(p *isolation.Payload, label string) *isolation.Payload {
	p.Client = isolation.Client{Label: label, Origin: "http://localhost"}
	return p
}

// Finding 8 of the adversarial review: one "__proto__" request through a
// deep-merge hook made another caller's blocked read_file succeed from then
// on. No state crosses calls or callers, with freezePrototype on (the
// default: a frozen realm, where the write into Object.prototype fails) and
// off (a runtime per call).
func TestPrototypePollutionDoesNotCrossCalls(t *testing.T) {
	off := false
	for _, tc := range []struct {
		name   string
		freeze *bool
	}{{"frozen", nil}, {"fresh runtimes", &off}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRunner(t, deepMergeHook, jshook.Options{FreezePrototype: tc.freeze, PoolSize: 1})
			_, err := r.Run(context.Background(), withLabel(invokePayload("read_file", `{"path":"/etc/shadow"}`), "victim"))
			wantBlocked(t, err, "no payload")
			for range 3 {
				attack := withLabel(invokePayload("set_prefs", `{"options":{"__proto__":{"allowed":true}}}`), "attacker")
				if _, err := r.Run(context.Background(), attack); err != nil {
					t.Fatalf("attacker's own call: %v", err)
				}
			}
			_, err = r.Run(context.Background(), withLabel(invokePayload("read_file", `{"path":"/etc/shadow"}`), "victim"))
			wantBlocked(t, err, "no payload")
			// In a frozen realm, the attacker cannot even unlock its own call.
			_, err = r.Run(context.Background(), withLabel(invokePayload("read_file", `{"path":"/etc/shadow","options":{"__proto__":{"allowed":true}}}`), "attacker"))
			if tc.freeze == nil {
				wantBlocked(t, err, "no payload")
			} else if err != nil {
				// Within one call of a writable realm the merge does reach
				// Object.prototype: the attack is real, and why freezing is
				// the default.
				t.Fatalf("the pollution did not work even within its call: %v", err)
			}
			if _, err := r.Run(context.Background(), invokePayload("read_file", `{"path":"a","options":{"allowed":true}}`)); err != nil {
				t.Fatalf("allowed read_file: %v", err)
			}
		})
	}
}

// Nothing a hook keeps — top-level variables, closures, window properties,
// a Set, a global regexp's lastIndex, a change to a builtin — reaches the
// next call.
func TestNoStateAcrossCalls(t *testing.T) {
	off := false
	for _, freeze := range []*bool{nil, &off} {
		r := newRunner(t, `
			let calls = 0;
			const seen = new Set();
			const counter = (() => { let n = 0; return () => ++n; })();
			const RE = /x/g;
			window.__TAURI_ISOLATION_HOOK__ = (p) => {
				calls++;
				seen.add(p.message.args.id);
				window.mark = (window.mark || 0) + 1;
				let proto = "";
				try { Array.prototype.tether = 1; } catch (e) { proto = "threw"; }
				try { Object.prototype.polluted = 1; } catch (e) {}
				p.message.args = {
					calls, closure: counter(), seen: seen.size, mark: window.mark, re: RE.test("x"),
					arrayProto: [].tether === undefined ? proto || "ignored" : "changed",
					objectProto: ({}).polluted === undefined,
				};
				return p;
			};`, jshook.Options{FreezePrototype: freeze, PoolSize: 1})
		for i := range 3 {
			got, err := r.Run(context.Background(), invokePayload("probe", `{"id":`+string(rune('0'+i))+`}`))
			if err != nil {
				t.Fatal(err)
			}
			var v map[string]any
			if err := json.Unmarshal(got.Message.Args, &v); err != nil {
				t.Fatal(err)
			}
			frozen := freeze == nil
			if v["calls"] != 1.0 || v["closure"] != 1.0 || v["seen"] != 1.0 || v["mark"] != 1.0 || v["re"] != true ||
				(frozen && (v["arrayProto"] != "ignored" || v["objectProto"] != true)) {
				t.Fatalf("freeze=%v call %d saw state: %s", frozen, i, got.Message.Args)
			}
		}
	}
}

// Code that assigns to a property its object inherits from a frozen
// prototype keeps working (the properties commonly overridden that way are
// accessors that define the property on the object), and ordinary builtins
// work as usual.
func TestFrozenRealmRunsOrdinaryCode(t *testing.T) {
	r := newRunner(t, `"use strict";
		class BlockedError extends Error {
			constructor(m) { super(m); this.name = "BlockedError"; }
		}
		function Legacy() {}
		Legacy.prototype = Object.create(Object.prototype);
		Legacy.prototype.constructor = Legacy;
		Legacy.prototype.toString = function () { return "legacy"; };
		window.__TAURI_ISOLATION_HOOK__ = async (p) => {
			const e = new BlockedError("no");
			const o = { valueOf() { return 41; } };
			o.toString = () => "custom";
			const m = new Map([["a", 1]]);
			function* gen() { yield 1; yield 2; }
			const out = {
				name: e.name, msg: String(e), custom: String(o), legacy: String(new Legacy()), plus: o + 1,
				map: m.get("a"), gen: [...gen()].join(","), sorted: [3, 1, 2].sort().join(""),
				json: JSON.stringify({a: [1, {b: 2}]}), ctor: [].constructor === Array,
				frozen: Object.isFrozen(Object.prototype) && Object.isFrozen(Array.prototype),
				awaited: await Promise.resolve(7),
			};
			p.message.args = out;
			return p;
		};`, jshook.Options{})
	got, err := r.Run(context.Background(), invokePayload("probe", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"BlockedError","msg":"BlockedError: no","custom":"custom","legacy":"legacy","plus":42,"map":1,"gen":"1,2","sorted":"123","json":"{\"a\":[1,{\"b\":2}]}","ctor":true,"frozen":true,"awaited":7}`
	if string(got.Message.Args) != want {
		t.Fatalf("got  %s\nwant %s", got.Message.Args, want)
	}
}
