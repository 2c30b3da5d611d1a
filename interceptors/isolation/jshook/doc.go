// Package jshook runs Tauri-style isolation hooks — JavaScript that sets
// window.__TAURI_ISOLATION_HOOK__ — in a sandbox built on goja, a JavaScript
// engine in pure Go, and offers them as an isolation.Hook.
//
// # Payload shapes
//
// Two shapes of hook payload exist in the wild, and a hook folder pasted
// from either runs unchanged:
//
//   - the seed's (Tauri v1 style): hook(payload) with
//     invoke {cmd: "invoke", message: {cmd: "<command>", args: {…}}, client: {label, origin}},
//     emit {cmd: "emit", event, payload, target?, client},
//     listen {cmd: "listen", event, client}. Each argument also reads as
//     message.<key> (message.path, as the seed's own example reads it).
//   - Tauri v2's: hook(payload, options) with
//     {cmd: "<command>", callback, error, payload: {…args}, options: {headers}};
//     events are the commands plugin:event|emit ({event, payload}),
//     plugin:event|emit_to ({target: {kind: "AnyLabel", label}, event, payload})
//     and plugin:event|listen ({event, target: {kind: "Any"}, handler}).
//     The view also carries, hidden from enumeration and JSON, the seed's
//     message (message.cmd and message.args are cmd and payload), event and
//     client.
//
// The two differ where it matters most — cmd is "invoke" in one and the
// command's name in the other — so Tether decides which one a hook reads,
// from its source (Options.Shape overrides the decision):
//
//  1. A hook that compares a cmd property with "invoke", "emit" or "listen"
//     (==, ===, !=, !== or a switch case) reads the seed's payload.
//  2. A hook that names one of those words anywhere else (a string, a
//     template, a property name) runs twice, on the seed's payload and on
//     Tauri v2's, and a call passes only if both runs let it through; a
//     change the two runs make differently blocks it.
//  3. Any other hook reads Tauri v2's payload, which carries the seed's
//     message, event and client too.
//
// So no hook silently lets through what it meant to block: a hook's checks
// of cmd hold in the shape it was written for; a Tauri v2 hook that happens
// to use a seed word still sees its own payload; a seed-style hook that never
// tests cmd still finds message, event and client. Runner.Shape reports the
// decision. One difference remains: in Tauri v2's view an emit's top-level
// payload is the command's arguments ({event, payload}), not the event's
// payload.
//
// A hook lets a call through by returning the payload (the one it got or a
// new object), changed or not, synchronously or through a promise; it blocks
// it by returning null or undefined, throwing, or rejecting — the thrown
// message is the reason of the permission_denied error. Of what it returns,
// Tether takes the command name (message.cmd, or cmd in Tauri v2's shape),
// the arguments, the headers (options.headers), and an event's name, payload
// and target; a changed command name is honoured (the arguments are then
// put in the new command's keys; see isolation.Stage). Changing the kind
// (an invoke into an emit) blocks. The arguments are those the handler will
// bind (canonical keys, see isolation.Stage), parsed from JSON only when the
// hook first reads them: a hook that never does keeps the call's bytes.
//
// # The sandbox
//
// window (and self, and globalThis) is a fresh object for each call,
// inheriting from the global object. console.log/info/debug/warn/error go to
// the *slog.Logger of Options. There is no require, no import(), no fetch,
// XMLHttpRequest or WebSocket, no file or process access, and no timers:
// setTimeout and setInterval are absent (undefined), so a promise still
// pending once the job queue is empty can never settle and blocks the call at
// once. Date.now and Math.random work. ArrayBuffer, the typed arrays,
// DataView, Atomics, WeakRef and FinalizationRegistry are removed.
//
// No state crosses calls or callers. The hook files run afresh for each call
// — their top-level declarations, closures and window properties are the
// call's own; the files' top-level console output shows once, at load — and
// with FreezePrototype (Tauri's app.security.freezePrototype; on unless set
// to false) every object a script can reach without making it — the global
// object, every builtin, their prototypes, including those of generators,
// async functions and iterators — is frozen before any hook file runs, so
// that a deep merge of a payload's "__proto__" cannot reach
// Object.prototype. The properties code commonly overrides on objects that
// inherit them (constructor, name, message, toString, valueOf,
// toLocaleString, toJSON) are accessors that define the property on the
// object assigned to, so class Err extends Error { … this.name = … } works. A
// sloppy-mode assignment to an undeclared name (an implicit global) fails.
// With FreezePrototype false, builtins stay writable within a call, and each
// call gets a runtime of its own instead, which costs a runtime per call
// (about 0.25 ms, made ahead in the background) rather than a frozen runtime
// per slot (about 15 ms, once).
//
// The hook files run for each call, rather than once per runtime with
// everything reachable from the global object frozen afterwards, because
// freezing cannot reach a closure's variables (let calls = 0; … calls++), a
// top-level object held only by a closure, or a Set's or Map's entries:
// state kept there would cross calls.
//
// # Limits
//
// Each call is answered within Options.Timeout (100 ms by default) of
// getting a slot and its runtime, whatever the script does. Runtimes are
// made ahead — PoolSize and a spare at load, more in the background as calls
// use them up — and making one is never counted against a call's limit. The
// call runs on its runtime's own goroutine, and at the limit (or when the caller's context ends) the
// caller gets "isolation hook exceeded 100ms" while the runtime is
// interrupted. A native step goja's interrupt cannot reach (a sort, a JSON
// parse of a large string) runs on until it ends, on a runtime that no longer
// holds the call's slot (Runner.Abandoned counts them); the next call uses a
// spare runtime. These steps are bounded besides, so that such a runtime is
// soon free again:
//
//   - Regular expressions with lookaround or backreferences run in regexp2,
//     a backtracking engine goja's interrupt cannot stop and whose errors
//     (time out, stack limit) goja turns into "no match". When the hook
//     files may run one (a literal that needs it, or a way to make one at run
//     time: RegExp, match, matchAll, search, compile, eval, Function,
//     constructor), RegExp.prototype.exec and test first run the same match
//     under the call's remaining time; a match that fails there throws a
//     RangeError and blocks the call even if the hook catches it. The
//     package sets regexp2's clock to tick every 5 ms (so a match stops
//     within 10 ms of its limit) and, as a backstop, its default match
//     timeout to two minutes; both are process-wide.
//   - sort and toSorted of arrays longer than 4096 elements run as a merge
//     sort in JavaScript, which the limit stops; split makes at most
//     MaxArrayLength pieces.
//   - Builtins that could allocate without bound in one step are replaced by
//     checked versions the hooks cannot bypass: new Array(n)/Array(n)/
//     Array.from, fill, join, concat, flat, flatMap and the other
//     length-driven Array methods; String repeat/padStart/padEnd/concat/
//     replace/replaceAll; JSON.stringify. They throw a RangeError
//     "isolation sandbox: … exceeds the limit of …" past MaxArrayLength or
//     MaxStringLength.
//   - A call shown more than MaxPayloadBytes of JSON (1 MiB) is blocked
//     before any script runs.
//   - Growth through ordinary statements (s += s, a.push in a loop) is
//     caught by a watchdog that samples the process heap every millisecond
//     while calls run and interrupts a call once the heap grew by more than
//     MaxHeapGrowth since it began (128 MiB; process-wide and counting
//     garbage, so deliberately generous).
//   - The call depth is bounded with SetMaxCallStackSize.
//
// Blocks for a limit are isolation.Exceeded errors (isolation.Refusal.Limit).
// Hook files are meant to be written by the application's developers: the
// sandbox contains their bugs and anything a hostile payload (which is only
// ever data) can trigger. It is not a boundary for hostile code — for that,
// run hooks in a separate process under OS limits (not provided).
//
// Options.PoolSize runtimes (GOMAXPROCS by default) serve calls at once;
// goja runtimes are not safe for concurrent use, so each serves one call at
// a time.
package jshook
