package jshook

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/metrics"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/interceptors/isolation"
)

//go:embed guards.js
var guardsJS string

//go:embed driver.js
var driverJS string

// HookName is the global the hook files set.
const HookName = "__TAURI_ISOLATION_HOOK__"

// Defaults for Options.
const (
	DefaultTimeout          = 100 * time.Millisecond
	DefaultMaxCallStackSize = 1024
	DefaultMaxHeapGrowth    = 128 << 20
	DefaultMaxArrayLength   = 1 << 20
	DefaultMaxStringLength  = 1 << 22
	// maxSourceBytes bounds one hook file.
	maxSourceBytes = 4 << 20
)

// Options configure a Runner. The zero value is usable.
type Options struct {
	// Logger receives console.log (Info), console.info, console.debug,
	// console.warn and console.error from the hooks. Default: slog.Default().
	Logger *slog.Logger
	// Timeout bounds the CPU time of each hook call, and of the run of the
	// hook files when a runtime is made (default DefaultTimeout); a call's
	// wall time is bounded at 20 times Timeout.
	Timeout time.Duration
	// PoolSize is how many runtimes may run at once (default GOMAXPROCS).
	PoolSize int
	// MaxCallStackSize bounds the JS call depth (default DefaultMaxCallStackSize).
	MaxCallStackSize int
	// MaxHeapGrowth bounds how much the process heap may grow during one call
	// before the call is aborted (default DefaultMaxHeapGrowth; see the
	// package doc for what this measures). Negative disables the check.
	MaxHeapGrowth int64
	// MaxArrayLength and MaxStringLength bound the arrays and strings that
	// builtins may produce in one native step (defaults DefaultMaxArrayLength
	// and DefaultMaxStringLength, in elements and UTF-16 units).
	MaxArrayLength  int64
	MaxStringLength int64
}

func (o *Options) fill() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.PoolSize <= 0 {
		o.PoolSize = runtime.GOMAXPROCS(0)
	}
	if o.MaxCallStackSize <= 0 {
		o.MaxCallStackSize = DefaultMaxCallStackSize
	}
	if o.MaxHeapGrowth == 0 {
		o.MaxHeapGrowth = DefaultMaxHeapGrowth
	}
	if o.MaxArrayLength <= 0 {
		o.MaxArrayLength = DefaultMaxArrayLength
	}
	if o.MaxStringLength <= 0 {
		o.MaxStringLength = DefaultMaxStringLength
	}
}

// Source is one hook script.
type Source struct {
	Name string
	Code string
}

// Runner runs isolation hook scripts in a pool of sandboxed goja runtimes.
// It is safe for concurrent use; each runtime serves one call at a time,
// and a runtime whose call was aborted (time, memory, stack) is dropped,
// never reused.
type Runner struct {
	opts     Options
	programs []*goja.Program
	guards   *goja.Program
	driver   *goja.Program

	slots chan struct{}
	mu    sync.Mutex
	idle  []*sandbox
}

var scriptTag = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script\s*>`)

// Load reads a hook folder, Tauri's isolation "dir": every *.js file in it,
// in name order, then the inline <script> elements of its index.html, if
// any, in document order (a <script src> is skipped: the files it names are
// the *.js files already loaded). Sub-folders are not read.
func Load(dir string, opts Options) (*Runner, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, tether.Errorf(tether.CodeInvalidArgument, "jshook: reading %s: %v", dir, err)
	}
	var srcs []Source
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".js") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		code, err := readLimited(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, Source{Name: name, Code: code})
	}
	if html, err := readLimited(filepath.Join(dir, "index.html")); err == nil {
		for i, m := range scriptTag.FindAllStringSubmatch(html, -1) {
			if strings.Contains(strings.ToLower(m[1]), "src=") {
				continue
			}
			srcs = append(srcs, Source{Name: fmt.Sprintf("index.html#script%d", i+1), Code: m[2]})
		}
	}
	if len(srcs) == 0 {
		return nil, tether.Errorf(tether.CodeInvalidArgument, "jshook: no hook script in %s", dir)
	}
	return New(srcs, opts)
}

func readLimited(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSourceBytes+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxSourceBytes {
		return "", tether.Errorf(tether.CodeInvalidArgument, "jshook: %s is larger than %d bytes", path, maxSourceBytes)
	}
	return string(b), nil
}

// New compiles sources and checks that they set the hook, by making one
// runtime. A script that throws, loops or never sets
// window.__TAURI_ISOLATION_HOOK__ to a function is an error.
func New(sources []Source, opts Options) (*Runner, error) {
	opts.fill()
	r := &Runner{opts: opts, slots: make(chan struct{}, opts.PoolSize)}
	var err error
	if r.guards, err = goja.Compile("tether-guards.js", guardsJS, true); err != nil {
		return nil, tether.Errorf(tether.CodeInternal, "jshook: guards: %v", err)
	}
	if r.driver, err = goja.Compile("tether-driver.js", driverJS, true); err != nil {
		return nil, tether.Errorf(tether.CodeInternal, "jshook: driver: %v", err)
	}
	for _, s := range sources {
		p, err := goja.Compile(s.Name, s.Code, false)
		if err != nil {
			return nil, tether.Errorf(tether.CodeInvalidArgument, "jshook: %v", err)
		}
		r.programs = append(r.programs, p)
	}
	sb, err := r.newSandbox()
	if err != nil {
		return nil, err
	}
	r.idle = append(r.idle, sb)
	return r, nil
}

// Hook returns the runner as an isolation.Hook.
func (r *Runner) Hook() isolation.Hook { return r.Run }

// Close drops the idle runtimes. Calls still running finish normally.
func (r *Runner) Close() {
	r.mu.Lock()
	r.idle = nil
	r.mu.Unlock()
}

// sandbox is one goja runtime with the hook loaded.
type sandbox struct {
	vm        *goja.Runtime
	stringify goja.Callable // the original JSON.stringify, for console
	call      goja.Callable // driver.call
	text      goja.Callable // driver.text
	logger    *slog.Logger
}

// Errors that abort a call; the runtime is dropped after any of them.
type abortError struct{ msg string }

func (e *abortError) Error() string { return e.msg }

func (r *Runner) newSandbox() (*sandbox, error) {
	vm := goja.New()
	vm.SetMaxCallStackSize(r.opts.MaxCallStackSize)
	sb := &sandbox{vm: vm, logger: r.opts.Logger}
	g := vm.GlobalObject()
	sb.stringify, _ = goja.AssertFunction(g.Get("JSON").ToObject(vm).Get("stringify"))
	// No binary buffers, no weak references, no eval-like escape hatches
	// beyond the sandbox itself; goja has no require, fetch, XMLHttpRequest,
	// WebSocket, timers or file access to begin with.
	for _, name := range []string{"ArrayBuffer", "SharedArrayBuffer", "DataView", "Atomics", "WeakRef",
		"FinalizationRegistry", "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
		"Int32Array", "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array"} {
		_ = g.Delete(name)
	}
	_ = g.Set("MAX_ARRAY", r.opts.MaxArrayLength)
	_ = g.Set("MAX_STRING", r.opts.MaxStringLength)
	_ = g.Set("window", g)
	_ = g.Set("self", g)
	console := vm.NewObject()
	for name, level := range map[string]slog.Level{"log": slog.LevelInfo, "info": slog.LevelInfo,
		"debug": slog.LevelDebug, "warn": slog.LevelWarn, "error": slog.LevelError} {
		_ = console.Set(name, sb.consoleFunc(level))
	}
	_ = g.Set("console", console)

	var loadErr string
	run := func() error {
		if _, err := vm.RunProgram(r.guards); err != nil {
			return err
		}
		d, err := vm.RunProgram(r.driver)
		if err != nil {
			return err
		}
		dobj := d.ToObject(vm)
		sb.call, _ = goja.AssertFunction(dobj.Get("call"))
		sb.text, _ = goja.AssertFunction(dobj.Get("text"))
		for i, p := range r.programs {
			if _, err := vm.RunProgram(p); err != nil {
				loadErr = fmt.Sprintf("script %d: %s", i+1, sb.errText(err))
				return err
			}
		}
		return nil
	}
	if err := r.bounded(context.Background(), vm, run); err != nil {
		if loadErr == "" || aborted(err) {
			loadErr = errText(err)
		}
		return nil, tether.Errorf(tether.CodeInvalidArgument, "jshook: loading hook: %s", loadErr)
	}
	if _, ok := goja.AssertFunction(g.Get(HookName)); !ok {
		return nil, tether.NewError(tether.CodeInvalidArgument, "jshook: the scripts do not set window."+HookName+" to a function")
	}
	return sb, nil
}

func (sb *sandbox) consoleFunc(level slog.Level) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		parts := make([]string, len(call.Arguments))
		for i, a := range call.Arguments {
			if o, ok := a.(*goja.Object); ok && o.ClassName() != "Function" && o.ClassName() != "Error" {
				if s, err := sb.stringify(goja.Undefined(), a); err == nil && !goja.IsUndefined(s) {
					parts[i] = s.String()
					continue
				}
			}
			parts[i] = a.String()
		}
		msg := strings.Join(parts, " ")
		if len(msg) > 4096 {
			msg = msg[:4096] + "…"
		}
		sb.logger.Log(context.Background(), level, msg, slog.String("source", "isolation-hook"))
		return goja.Undefined()
	}
}

// errText is the reason an error gives, without running any JS: for a
// thrown value, see sandbox.errText.
func errText(err error) string {
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		if ae, ok := ie.Value().(*abortError); ok {
			return ae.msg
		}
		return "isolation hook was interrupted"
	}
	var so *goja.StackOverflowError
	if errors.As(err, &so) {
		return "isolation hook exceeded the call stack limit"
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		if v := ex.Value(); v != nil {
			if _, isObj := v.(*goja.Object); !isObj {
				return v.String()
			}
		}
		return "isolation hook threw an error"
	}
	return err.Error()
}

// errText is errText, except that a thrown value is shown through the
// driver's text function, in the runtime; call it only under bounded.
func (sb *sandbox) errText(err error) string {
	var ex *goja.Exception
	if errors.As(err, &ex) && !aborted(err) && sb.text != nil {
		if v, terr := sb.text(goja.Undefined(), ex.Value()); terr == nil {
			return v.String()
		}
	}
	return errText(err)
}

// aborted reports whether err ended the runtime's usefulness.
func aborted(err error) bool {
	var ie *goja.InterruptedError
	var so *goja.StackOverflowError
	return errors.As(err, &ie) || errors.As(err, &so)
}

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
var heapMu sync.Mutex

func heapBytes() uint64 {
	heapMu.Lock()
	defer heapMu.Unlock()
	metrics.Read(heapSample)
	if heapSample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return heapSample[0].Value.Uint64()
}

// wallFactor bounds the wall time of a call, as a multiple of the time
// limit, for a call whose thread CPU time cannot be read or that somehow
// waits without running (a console writer that never returns).
const wallFactor = 20

// bounded runs f on vm under the time limit, ctx and the heap watchdog. It
// returns an *goja.InterruptedError carrying an *abortError when it
// interrupted f.
//
// The time limit counts the CPU time of the thread that runs f (f runs
// locked to it), so that a call waiting for a core on a busy machine, or
// descheduled by the Go scheduler, is not refused for time it did not run;
// its wall time is bounded too, at wallFactor times the limit. Where the
// thread's CPU time cannot be read, the limit is wall time.
func (r *Runner) bounded(ctx context.Context, vm *goja.Runtime, f func() error) error {
	vm.ClearInterrupt()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	clock := threadClock()
	cpu0, cpuOK := clock.now()
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		limit := r.opts.Timeout
		timer := time.NewTimer(limit)
		defer timer.Stop()
		var tick <-chan time.Time
		var base uint64
		if r.opts.MaxHeapGrowth > 0 {
			base = heapBytes()
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-done:
				return
			case <-timer.C:
				if cpuOK {
					if cpu, ok := clock.now(); ok && cpu-cpu0 < limit && time.Since(start) < wallFactor*limit {
						// Not yet run for the limit: wait for the rest.
						timer.Reset(max(limit-(cpu-cpu0), time.Millisecond))
						continue
					}
				}
				vm.Interrupt(&abortError{fmt.Sprintf("isolation hook exceeded %v", limit)})
				return
			case <-ctx.Done():
				vm.Interrupt(&abortError{"isolation hook canceled: " + ctx.Err().Error()})
				return
			case <-tick:
				if h := heapBytes(); h > base && h-base > uint64(r.opts.MaxHeapGrowth) {
					vm.Interrupt(&abortError{fmt.Sprintf("isolation hook exceeded the memory limit (%d MiB of heap growth)", r.opts.MaxHeapGrowth>>20)})
					return
				}
			}
		}
	}()
	err := f()
	close(done)
	wg.Wait()
	return err
}

func (r *Runner) get(ctx context.Context) (*sandbox, error) {
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, tether.FromError(ctx.Err())
	}
	r.mu.Lock()
	if n := len(r.idle); n > 0 {
		sb := r.idle[n-1]
		r.idle = r.idle[:n-1]
		r.mu.Unlock()
		return sb, nil
	}
	r.mu.Unlock()
	sb, err := r.newSandbox()
	if err != nil {
		<-r.slots
		return nil, err
	}
	return sb, nil
}

func (r *Runner) put(sb *sandbox) {
	if sb != nil {
		r.mu.Lock()
		r.idle = append(r.idle, sb)
		r.mu.Unlock()
	}
	<-r.slots
}

// Run calls window.__TAURI_ISOLATION_HOOK__ with p, awaiting a returned
// promise, and returns the payload the hook returned. Returning null or
// undefined, throwing, rejecting, never settling or exceeding a limit blocks
// the call with a permission_denied *tether.Error carrying the reason.
func (r *Runner) Run(ctx context.Context, p *isolation.Payload) (*isolation.Payload, error) {
	in, err := json.Marshal(p)
	if err != nil {
		return nil, isolation.Block("payload does not encode: " + err.Error())
	}
	sb, err := r.get(ctx)
	if err != nil {
		return nil, err
	}
	var out []byte
	var blockReason string
	err = r.bounded(ctx, sb.vm, func() error {
		var err error
		out, blockReason, err = sb.run(string(in))
		return err
	})
	if err != nil {
		if aborted(err) {
			r.put(nil) // the runtime is dropped
		} else {
			r.put(sb)
		}
		return nil, isolation.Block(errText(err))
	}
	r.put(sb)
	if blockReason != "" {
		return nil, isolation.Block(blockReason)
	}
	if bytes.Equal(out, in) {
		// The hook gave back what it got, to the byte: decoding it would
		// make the same payload.
		return p, nil
	}
	return PayloadFromJSON(out, p)
}

// run calls the hook once through the driver. It returns the JSON of the
// payload the hook returned, or a reason it blocked.
func (sb *sandbox) run(in string) ([]byte, string, error) {
	var out []byte
	var reason string
	settled := false
	done := func(call goja.FunctionCall) goja.Value {
		if settled {
			return goja.Undefined()
		}
		settled = true
		if s := call.Argument(0); !goja.IsNull(s) && !goja.IsUndefined(s) {
			out = []byte(s.String())
		} else {
			reason = call.Argument(1).String()
		}
		return goja.Undefined()
	}
	// The job queue has run when the call returns; with no timers in the
	// sandbox, a promise still pending then can never settle.
	if _, err := sb.call(goja.Undefined(), sb.vm.ToValue(in), sb.vm.ToValue(done)); err != nil {
		return nil, "", err
	}
	if !settled {
		return nil, "isolation hook returned a promise that never settles", nil
	}
	return out, reason, nil
}

// PayloadFromJSON decodes what a hook returned, as JSON, into a payload of
// the same kind as orig. Anything but a JSON object is an error.
func PayloadFromJSON(b []byte, orig *isolation.Payload) (*isolation.Payload, error) {
	var got isolation.Payload
	if len(b) == 0 || b[0] != '{' {
		return nil, isolation.Block("isolation hook returned a value that is not an object")
	}
	if err := json.Unmarshal(b, &got); err != nil {
		return nil, isolation.Block("isolation hook returned a payload that does not decode: " + err.Error())
	}
	got.Kind = orig.Kind
	return &got, nil
}
