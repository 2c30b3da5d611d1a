// Package jshook runs Tauri-style isolation hooks — JavaScript that sets
// window.__TAURI_ISOLATION_HOOK__ = (payload) => payload — in a sandbox built
// on goja, a JavaScript engine in pure Go, and offers them as an
// isolation.Hook.
//
// # The sandbox
//
// window (and self) is the global object. console.log/info/debug/warn/error
// go to the *slog.Logger of Options. There is no require, no import(), no
// fetch, XMLHttpRequest or WebSocket, no file or process access, and no
// timers: setTimeout and setInterval are absent (undefined), so a promise
// still pending once the job queue is empty can never settle and blocks the
// call at once. Date.now and Math.random work. ArrayBuffer, the typed arrays,
// DataView, Atomics, WeakRef and FinalizationRegistry are removed.
//
// The payload crosses into JS as JSON (JSON.parse of the Go encoding of
// isolation.Payload) and back out through JSON.stringify, so JS numbers are
// doubles (integers beyond 2^53 lose precision, as in Tauri). Non-JSON args
// appear as {"$bytes": base64} or {"$proto": base64}; see isolation.Payload.
//
// A hook blocks by returning null or undefined, by throwing, or by returning
// a promise that rejects; the thrown message becomes the reason of the
// permission_denied error. Async hooks are awaited.
//
// # Limits
//
// Each call runs under a time limit (Options.Timeout, 100 ms by default) and
// the caller's context, enforced with goja's Interrupt; the error says e.g.
// "isolation hook exceeded 100ms". On Linux the limit counts the CPU time
// the call's thread spends running it, so that a call that waits for a core
// on a busy machine is not refused for time it did not run; its wall time
// is bounded at 20 times the limit. Elsewhere the limit is wall time. The call depth is bounded with
// SetMaxCallStackSize. Memory is bounded in two layers, since goja has no
// allocator limit of its own:
//
//   - Builtins that could allocate without bound in one native step, where an
//     interrupt cannot reach them, are replaced before any hook file runs by
//     checked versions that the hooks cannot bypass (the originals are held
//     only in a closure): new Array(n)/Array(n)/Array.from, fill, join,
//     concat, flat, flatMap and the other length-driven Array methods;
//     String repeat/padStart/padEnd/concat/replace/replaceAll; JSON.stringify
//     (which counts its output through a replacer). They throw a RangeError
//     "isolation sandbox: … exceeds the limit of …" past MaxArrayLength or
//     MaxStringLength.
//   - Growth through ordinary statements (s += s, a.push in a loop, objects)
//     is caught by a watchdog that samples the process heap
//     (runtime/metrics /memory/classes/heap/objects:bytes) every millisecond
//     and interrupts the call once the heap grew by more than
//     MaxHeapGrowth since the call began. The measure is process-wide and
//     counts garbage, so it is deliberately generous (128 MiB); under heavy
//     concurrent allocation elsewhere in the process it can abort a hook
//     early, which blocks that one call.
//
// A runtime whose call was aborted (time, context, memory, stack) is dropped,
// never reused; the pool makes a new one on demand. Hook files are meant to be
// written by the application's developers: the sandbox contains their bugs
// and anything a hostile payload (which is only ever data) can trigger. It is
// not a boundary for hostile code — for that, run hooks in a separate process
// under OS limits (not provided).
//
// Runtimes are pooled (Options.PoolSize, GOMAXPROCS by default): goja
// runtimes are not safe for concurrent use, so each serves one call at a time.
package jshook
