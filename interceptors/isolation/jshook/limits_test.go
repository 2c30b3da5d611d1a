package jshook_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/interceptors/isolation/jshook"
)

// slack is what a call may take past its limit: the caller is answered by a
// timer, not by the script.
const slack = 50 * time.Millisecond

// timed runs f and returns how long it took, and how late a plain timer of
// d set at the same time fired: on a shared, loaded machine every timer is
// late, and a call answered by a timer can be no earlier than one.
func timed(d time.Duration, f func()) (took, late time.Duration) {
	start := time.Now()
	fired := make(chan time.Duration, 1)
	timer := time.NewTimer(d)
	go func() { <-timer.C; fired <- time.Since(start) - d }()
	f()
	took = time.Since(start)
	select {
	case late = <-fired:
	case <-time.After(10 * time.Second):
	}
	return took, late
}

// validateHook checks an email-like argument with the two regular
// expressions of the adversarial review: /^(a+)+$/ (which goja runs in Go's
// linear-time engine) and the lookahead form (which it runs in regexp2, a
// backtracking engine its interrupt cannot stop). A hostile 30–40 character
// value makes the second run for tens of seconds.
const validateHook = `
const REPEAT = /^(a+)+$/;
const EMAIL = /^(?=.{1,254}$)([a-z0-9]+)*@x$/;
window.__TAURI_ISOLATION_HOOK__ = (payload) => {
  if (payload.cmd !== "invoke") return payload;
  const v = payload.message.args.value;
  if (payload.message.cmd === "repeat" && REPEAT.test(v)) return null;
  if (payload.message.cmd === "email") {
    let ok = false;
    try { ok = EMAIL.test(v); } catch (e) { ok = true; } // a hook that swallows errors
    if (!ok) return null;
  }
  return payload;
};`

// Every call ends within its limit whatever the regular expression does,
// a timed-out match blocks the call (never a silent "no match" that would
// let it through), its slot is freed, and 100 greet calls made meanwhile
// all succeed.
func TestBacktrackingRegexpCannotOutrun(t *testing.T) {
	// A limit that ordinary calls meet on a loaded 2-core machine.
	const limit = 200 * time.Millisecond
	// A slot for every call that can be in flight at once (three hostile,
	// four greeting goroutines), so that each call is timed from its start,
	// not from a wait for a slot.
	r := newRunner(t, validateHook, jshook.Options{Timeout: limit, PoolSize: 7})
	// The expressions work on ordinary input.
	if _, err := r.Run(context.Background(), invokePayload("email", `{"value":"abc@x"}`)); err != nil {
		t.Fatalf("valid email: %v", err)
	}
	_, err := r.Run(context.Background(), invokePayload("email", `{"value":"abc@y"}`))
	wantBlocked(t, err, "no payload")

	hostile := []struct{ cmd, value string }{
		{"repeat", strings.Repeat("a", 30) + "!"},
		{"email", strings.Repeat("a", 30) + "!"},
		{"email", strings.Repeat("a1", 20) + "!"},
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(format string, a ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, a...))
		mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for round := range 3 {
			var hw sync.WaitGroup
			for _, h := range hostile {
				hw.Add(1)
				go func() {
					defer hw.Done()
					var err error
					el, late := timed(limit, func() {
						_, err = r.Run(context.Background(), invokePayload(h.cmd, fmt.Sprintf(`{"value":%q}`, h.value)))
					})
					if h.cmd == "repeat" {
						// Linear time: no match, let through.
						if err != nil {
							fail("round %d repeat: %v", round, err)
						}
						return
					}
					if tether.CodeOf(err) != tether.CodePermissionDenied || isolation.ReasonOf(err) != isolation.ReasonBlocked {
						fail("round %d %s: %v, want blocked", round, h.cmd, err)
					}
					if el > limit+slack+late {
						fail("round %d %s took %v (a timer of %v was %v late)", round, h.cmd, el, limit, late)
					}
				}()
			}
			hw.Wait()
		}
	}()
	var greetErrs []error
	var gmu sync.Mutex
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if _, err := r.Run(context.Background(), invokePayload("greet", `{"name":"World"}`)); err != nil {
					gmu.Lock()
					greetErrs = append(greetErrs, err)
					gmu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if len(greetErrs) > 0 {
		t.Errorf("%d of 100 greet calls failed, first: %v", len(greetErrs), greetErrs[0])
	}

	// One call on its own: within limit + slack, with the reason.
	for _, v := range []string{strings.Repeat("a", 30) + "!", strings.Repeat("a", 40) + "!"} {
		var err error
		el, late := timed(limit, func() {
			_, err = r.Run(context.Background(), invokePayload("email", fmt.Sprintf(`{"value":%q}`, v)))
		})
		if el > limit+slack+late {
			t.Errorf("%d characters: the call took %v, limit %v (a timer was %v late)", len(v), el, limit, late)
		}
		if !errors.As(err, new(*tether.Error)) || !strings.Contains(err.Error(), "regular expression") && !strings.Contains(err.Error(), "exceeded") {
			t.Errorf("%d characters: %v", len(v), err)
		}
	}
	waitAbandoned(t, r)
}

// A match that fails in the backtracking engine within the limit (here its
// backtracking stack) blocks the call, even if the hook catches the error.
func TestRegexpFailureBlocksEvenIfCaught(t *testing.T) {
	r := newRunner(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => {
		let bad;
		try { bad = /(?=x)(?:^){60000}/.test("x"); } catch (e) { bad = false; }
		return bad ? null : p;
	};`, jshook.Options{})
	_, err := r.Run(context.Background(), invokePayload("greet", `{}`))
	wantBlocked(t, err, "regular expression")
}

// waitAbandoned waits for the calls answered at their limit to end.
func waitAbandoned(t *testing.T, r *jshook.Runner) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.Abandoned() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d abandoned calls still running after 5s", r.Abandoned())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Native steps an interrupt cannot reach — a huge sort, split or JSON parse
// — end the call at its limit all the same, and free its slot at once.
func TestNativeStepsAnsweredAtTheLimit(t *testing.T) {
	const limit = 200 * time.Millisecond
	for _, tc := range []struct{ name, code string }{
		{"sort numbers", `const a = []; for (let i = 0; i < 300000; i++) a.push(Math.random()); a.sort(); a.sort((x, y) => x - y);`},
		{"sort strings", `const a = []; for (let i = 0; i < 300000; i++) a.push("k" + Math.random()); a.toSorted();`},
		{"split", `const s = "x".repeat(1 << 22); for (;;) s.split("");`},
		{"parse", `const s = JSON.stringify(p.message.args); for (;;) JSON.parse(s);`},
		{"never settles", `return new Promise(() => {});`},
		{"awaits forever", `return (async () => { for (;;) await null; })();`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRunner(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => { if (p.message.cmd === "boom") { `+tc.code+` } return p; };`,
				jshook.Options{Timeout: limit, PoolSize: 1})
			args := fmt.Sprintf(`{"blob":%q}`, strings.Repeat("y", 900<<10))
			// On a shared machine a process can be held back for longer than
			// any timer compensates; an overrun of the script's own making
			// (the sort alone takes seconds) fails every try.
			var msgs []string
			for try := 0; try < 3; try++ {
				var err error
				el, late := timed(limit, func() { _, err = r.Run(context.Background(), invokePayload("boom", args)) })
				if err == nil || tether.CodeOf(err) != tether.CodePermissionDenied {
					t.Fatalf("not blocked: %v", err)
				}
				// The pool has one slot: the next call gets it now, not when
				// the abandoned one ends, and within its own limit.
				el2, late2 := timed(limit, func() { _, err = r.Run(context.Background(), invokePayload("greet", `{}`)) })
				if err != nil {
					t.Fatalf("next call: %v", err)
				}
				if el <= limit+slack+late && el2 <= limit+slack+late2 {
					msgs = nil
					break
				}
				msgs = append(msgs, fmt.Sprintf("try %d: answered after %v, the next call after %v, limit %v (timers %v and %v late)", try, el, el2, limit, late, late2))
				waitAbandoned(t, r)
			}
			for _, m := range msgs {
				t.Error(m)
			}
			waitAbandoned(t, r)
		})
	}
}

// A call shown more JSON than MaxPayloadBytes is blocked before any script
// runs, as a limit.
func TestMaxPayloadBytes(t *testing.T) {
	r := newRunner(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => p;`, jshook.Options{MaxPayloadBytes: 1024})
	_, err := r.Run(context.Background(), invokePayload("greet", fmt.Sprintf(`{"name":%q}`, strings.Repeat("x", 2000))))
	wantBlocked(t, err, "more than the isolation hook's limit of 1024")
	if _, err := r.Run(context.Background(), invokePayload("greet", `{"name":"x"}`)); err != nil {
		t.Fatal(err)
	}
}

// Sorting large arrays in the sandbox still sorts, stably, as the native
// sort does.
func TestLargeSortIsCorrect(t *testing.T) {
	r := newRunner(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => {
		const n = 5000, a = [], b = [];
		for (let i = 0; i < n; i++) { a.push((i * 7919) % n); b.push({k: i % 10, i}); }
		a.push(undefined); a[n + 5] = 3; // a hole, then a value
		a.sort((x, y) => x - y);
		b.sort((x, y) => x.k - y.k);
		const s = ["b", "a", "c", "B", 10, 9, 1].sort();
		let okA = a.length === n + 6;
		for (let i = 1; i <= n; i++) if (!(a[i - 1] <= a[i])) okA = false;
		let okB = true;
		for (let i = 1; i < n; i++) if (b[i - 1].k === b[i].k && b[i - 1].i > b[i].i) okB = false;
		p.message.args = {okA, okB, undef: a[n + 1] === undefined && !((n + 5) in a), s: s.join(",")};
		return p;
	};`, jshook.Options{Timeout: jshook.MaxTimeout})
	got, err := r.Run(context.Background(), invokePayload("greet", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Message.Args) != `{"okA":true,"okB":true,"undef":true,"s":"1,10,9,B,a,b,c"}` {
		t.Fatalf("sorted: %s", got.Message.Args)
	}
}

// Making a runtime is never part of a call's limit: runtimes are made at
// load and in the background, and a call that finds none ready has its own
// made before its limit starts. Here making one takes three times the
// limit; every call still passes, with the realm frozen (a runtime per slot)
// and without (a runtime per call).
func TestMakingRuntimesIsNotChargedToCalls(t *testing.T) {
	off := false
	for _, freeze := range []*bool{nil, &off} {
		r := newRunner(t, `window.__TAURI_ISOLATION_HOOK__ = (p) => { for (let i = 0; i < 1000; i++) {} return p; };`,
			jshook.Options{FreezePrototype: freeze, PoolSize: 1, Timeout: 100 * time.Millisecond})
		undo := jshook.SlowSandboxesForTest(300 * time.Millisecond)
		for i := range 4 {
			if _, err := r.Run(context.Background(), invokePayload("greet", `{"name":"x"}`)); err != nil {
				undo()
				t.Fatalf("freeze=%v call %d: %v", freeze == nil, i, err)
			}
		}
		undo()
	}
}
