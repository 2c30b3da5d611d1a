package jshook

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/interceptors/isolation"
)

// HookName is the global the hook files set.
const HookName = "__TAURI_ISOLATION_HOOK__"

// Defaults for Options.
const (
	DefaultTimeout          = 100 * time.Millisecond
	DefaultMaxCallStackSize = 1024
	DefaultMaxHeapGrowth    = 128 << 20
	DefaultMaxArrayLength   = 1 << 20
	DefaultMaxStringLength  = 1 << 22
	DefaultMaxPayloadBytes  = 1 << 20
	// MaxTimeout is the longest Timeout a Runner takes.
	MaxTimeout = time.Minute
	// maxSourceBytes bounds one hook file.
	maxSourceBytes = 4 << 20
)

// Options configure a Runner. The zero value is usable.
type Options struct {
	// Logger receives console.log (Info), console.info, console.debug,
	// console.warn and console.error from the hooks. Default: slog.Default().
	Logger *slog.Logger
	// Timeout bounds each hook call: the caller has its answer by then,
	// whatever the hook does (default DefaultTimeout, at most MaxTimeout).
	Timeout time.Duration
	// PoolSize is how many calls may run at once (default GOMAXPROCS).
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
	// MaxPayloadBytes bounds the JSON a call is shown to the hooks as
	// (default DefaultMaxPayloadBytes); a larger call is blocked.
	MaxPayloadBytes int
	// FreezePrototype is Tauri's app.security.freezePrototype. Nil or true
	// (the default in Tether's isolation): every builtin prototype and
	// object is frozen once per runtime, and runtimes serve call after call.
	// False: builtins stay writable, so each call gets a runtime of its own
	// (which costs more; see the package doc). Either way no state crosses
	// calls.
	FreezePrototype *bool
	// Shape is the payload shape the hooks read; ShapeAuto (the default)
	// decides from their source (see the package doc).
	Shape Shape
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
	if o.MaxPayloadBytes <= 0 {
		o.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
}

// Source is one hook script.
type Source struct {
	Name string
	Code string
}

// Runner runs isolation hook scripts in a pool of sandboxed goja runtimes.
// It is safe for concurrent use. Each call runs the hook files afresh on a
// frozen realm (or, without FreezePrototype, a runtime of its own); a call
// that outlives its limit is answered at the limit and its runtime dropped.
type Runner struct {
	opts    Options
	freeze  bool
	gate    bool // the hook files may run regexps in regexp2: gate them
	shape   Shape
	factory *goja.Program
	lines   []sourceLines // where each source starts in the factory

	slots     chan struct{}
	mu        sync.Mutex
	idle      []*sandbox
	closed    bool
	workers   sync.WaitGroup // calls running, replenishing
	loops     sync.WaitGroup // the goroutines of the runtimes
	abandoned atomic.Int64
	replacing atomic.Bool

	exceededWhy *abortError // the interrupt and the answer of a call past its limit
	exceededRun *callRun
}

type sourceLines struct {
	name  string
	first int // the factory's line of the source's first line
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

const factoryName = "isolation-hooks.js"

// New compiles sources and checks that they set the hook, by running them
// once. A script that does not compile, throws, loops or never sets
// window.__TAURI_ISOLATION_HOOK__ to a function is an error. Top-level
// console output of the scripts shows at this load only.
func New(sources []Source, opts Options) (*Runner, error) {
	opts.fill()
	if opts.Timeout > MaxTimeout {
		return nil, tether.Errorf(tether.CodeInvalidArgument, "jshook: timeout %v is longer than %v", opts.Timeout, MaxTimeout)
	}
	r := &Runner{opts: opts, freeze: opts.FreezePrototype == nil || *opts.FreezePrototype,
		slots: make(chan struct{}, opts.PoolSize)}
	r.exceededWhy = &abortError{msg: fmt.Sprintf("isolation hook exceeded %v", opts.Timeout), limit: true}
	r.exceededRun = &callRun{err: isolation.Exceeded(r.exceededWhy.msg)}
	// Each source on its own first, for errors that name it; then all of
	// them as the body of one function, run for each call with a fresh
	// window, sharing their top-level declarations as scripts of one page.
	var body strings.Builder
	body.WriteString("(function (window, self, globalThis) {\n")
	line := 2
	for _, s := range sources {
		if _, err := goja.Compile(s.Name, s.Code, false); err != nil {
			return nil, tether.Errorf(tether.CodeInvalidArgument, "jshook: %v", err)
		}
		r.lines = append(r.lines, sourceLines{name: s.Name, first: line})
		body.WriteString(s.Code)
		body.WriteString("\n;\n")
		line += strings.Count(s.Code, "\n") + 2
	}
	body.WriteString("})")
	p, err := goja.Compile(factoryName, body.String(), false)
	if err != nil {
		return nil, tether.Errorf(tether.CodeInvalidArgument, "jshook: %v", err)
	}
	r.factory = p
	r.shape = opts.Shape
	if r.shape == ShapeAuto {
		r.shape = detectShape(sources)
	}
	r.gate = needsRegexpGate(sources)
	sb, err := r.newSandbox()
	if err != nil {
		return nil, err
	}
	if err := r.load(sb); err != nil {
		sb.stop()
		return nil, err
	}
	if !r.freeze {
		sb.stop() // its builtins may have been changed by the files' top level
	} else {
		r.idle = append(r.idle, sb)
	}
	// A runtime for each slot and the spare, made now rather than by the
	// first calls.
	for len(r.idle) < opts.PoolSize+spare {
		sb, err := r.newSandbox()
		if err != nil {
			for _, sb := range r.idle {
				sb.stop()
			}
			return nil, err
		}
		r.idle = append(r.idle, sb)
	}
	return r, nil
}

// load runs the hook files once, with console on, and checks the hook.
func (r *Runner) load(sb *sandbox) error {
	var isFn bool
	var msg string // a thrown value's reason, read by JS: under the limit too
	err := r.bounded(context.Background(), sb, r.opts.Timeout, func() error {
		v, err := sb.load(goja.Undefined(), sb.newWindow())
		if err != nil {
			if !aborted(err) {
				msg = sb.errText(err)
			}
			return err
		}
		isFn = v.ToBoolean()
		return nil
	})
	if err != nil {
		if msg == "" {
			msg = errText(err)
		}
		return tether.Errorf(tether.CodeInvalidArgument, "jshook: loading hook: %s", r.where(msg))
	}
	if !isFn {
		return tether.NewError(tether.CodeInvalidArgument, "jshook: the scripts do not set window."+HookName+" to a function")
	}
	return nil
}

var factoryPos = regexp.MustCompile(regexp.QuoteMeta(factoryName) + `:(\d+):(\d+)`)

// where names the source and line of positions in the factory.
func (r *Runner) where(msg string) string {
	return factoryPos.ReplaceAllStringFunc(msg, func(m string) string {
		sub := factoryPos.FindStringSubmatch(m)
		n, _ := strconv.Atoi(sub[1])
		for i := len(r.lines) - 1; i >= 0; i-- {
			if n >= r.lines[i].first {
				return fmt.Sprintf("%s:%d:%s", r.lines[i].name, n-r.lines[i].first+1, sub[2])
			}
		}
		return m
	})
}

// Shape returns the payload shape the Runner shows its hooks: ShapeSeed,
// ShapeV2, or, when it runs them in both, ShapeAuto.
func (r *Runner) Shape() Shape {
	if r.shape == shapeBoth {
		return ShapeAuto
	}
	return r.shape
}

// Abandoned returns how many calls answered at their limit are still
// running (in a native step a limit cannot interrupt) on runtimes that will
// be dropped.
func (r *Runner) Abandoned() int { return int(r.abandoned.Load()) }

// Hook returns the runner as an isolation.Hook.
func (r *Runner) Hook() isolation.Hook { return r.Run }

// Close drops the idle runtimes and waits for the calls still running,
// including those answered at their limit, to end.
func (r *Runner) Close() {
	r.mu.Lock()
	idle := r.idle
	r.idle, r.closed = nil, true
	r.mu.Unlock()
	for _, sb := range idle {
		sb.stop()
	}
	r.workers.Wait()
	r.loops.Wait()
}

// setupTimeout bounds the making of a runtime (Tether's own scripts; the
// freeze takes about 15 ms).
const setupTimeout = 5 * time.Second

// bounded runs f on sb under a time limit, ctx and the heap watchdog,
// waiting for it; for setting up and loading runtimes, not for calls.
func (r *Runner) bounded(ctx context.Context, sb *sandbox, limit time.Duration, f func() error) error {
	sb.vm.ClearInterrupt()
	sb.deadline = time.Now().Add(limit)
	w := watch.add(sb.vm, r.opts.MaxHeapGrowth)
	defer watch.remove(w)
	t := time.AfterFunc(limit, func() {
		sb.vm.Interrupt(&abortError{msg: fmt.Sprintf("isolation hook exceeded %v", limit), limit: true})
	})
	defer t.Stop()
	stop := context.AfterFunc(ctx, func() { sb.vm.Interrupt(&abortError{msg: "isolation hook canceled: " + ctx.Err().Error()}) })
	defer stop()
	return f()
}

// get takes a ready runtime, made ahead (at New, or in the background), and
// has the pool replenished; it makes one itself only if none is ready.
// Either way the making is not part of a call: the call's limit starts once
// it has its runtime.
func (r *Runner) get() (*sandbox, error) {
	r.mu.Lock()
	n := len(r.idle)
	var sb *sandbox
	if n > 0 {
		sb = r.idle[n-1]
		r.idle = r.idle[:n-1]
	}
	r.mu.Unlock()
	if !r.freeze || sb == nil {
		r.replenish() // a runtime serves one call, or the pool ran dry
	}
	if sb != nil {
		return sb, nil
	}
	return r.newSandbox()
}

// spare is how many runtimes a Runner keeps ready beyond one per slot, so
// that a call arriving while an abandoned call still holds its runtime does
// not wait for a new one to be made (a freeze takes about 15 ms).
const spare = 1

// replenish makes runtimes in the background until there are enough ready
// ones: with a frozen realm, when a call is abandoned with its runtime or
// the pool ran dry; without, after every call, whose runtime serves it only.
func (r *Runner) replenish() {
	if !r.replacing.CompareAndSwap(false, true) {
		return
	}
	r.workers.Add(1)
	go r.replenishing()
}

// ready is how many idle runtimes replenishing makes: with a frozen realm
// the spare (the slots' runtimes come back after their calls), without one
// a runtime for each slot and the spare.
func (r *Runner) ready() int {
	if r.freeze {
		return spare
	}
	return r.opts.PoolSize + spare
}

func (r *Runner) replenishing() {
	defer r.workers.Done()
	defer r.replacing.Store(false)
	for {
		r.mu.Lock()
		enough := r.closed || len(r.idle) >= r.ready()
		r.mu.Unlock()
		if enough {
			return
		}
		sb, err := r.newSandbox()
		if err != nil {
			return
		}
		r.keep(sb)
	}
}

// keep adds a new runtime to the pool, or drops it if the pool is full or
// closed.
func (r *Runner) keep(sb *sandbox) {
	r.mu.Lock()
	ok := !r.closed && len(r.idle) < r.opts.PoolSize+spare
	if ok {
		r.idle = append(r.idle, sb)
	}
	r.mu.Unlock()
	if !ok {
		sb.stop()
	}
}

// put returns a runtime to the pool after a call — also one the call was
// interrupted on: with the realm frozen and the hook files run afresh for
// each call, nothing of the call survives in it. Beyond a runtime per slot
// and the spare, or without a frozen realm, the runtime is dropped.
func (r *Runner) put(sb *sandbox) {
	if r.freeze {
		r.keep(sb)
		return
	}
	sb.stop()
}

// The states of a call between the caller and the goroutine that runs it.
const (
	callRunning int32 = iota
	callFinished
	callAbandoned
)

type callRun struct {
	state   atomic.Int32
	done    chan struct{}
	out     []result
	reason  string
	tainted string
	err     error
}

// Run calls window.__TAURI_ISOLATION_HOOK__ with p, in the payload shape the
// hook reads, awaiting a returned promise, and returns the payload as the
// hook changed it. Returning null or undefined, throwing, rejecting, never
// settling or exceeding a limit blocks the call with a permission_denied
// *tether.Error carrying the reason. Run returns by the time limit whatever
// the hook does.
func (r *Runner) Run(ctx context.Context, p *isolation.Payload) (*isolation.Payload, error) {
	in, err := inputOf(p)
	if err != nil {
		return nil, err
	}
	if n := in.size(); n > r.opts.MaxPayloadBytes {
		return nil, isolation.Exceeded(fmt.Sprintf("%s %s is %d bytes as JSON, more than the isolation hook's limit of %d", p.Cmd, p.Name(), n, r.opts.MaxPayloadBytes))
	}
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, tether.FromError(ctx.Err())
	}
	sb, err := r.get()
	if err != nil {
		<-r.slots
		return nil, isolation.Block(err.Error())
	}
	// The limit counts from here: the runtime was made ahead (or, if none
	// was ready, just now), and its making is never part of the call.
	deadline := time.Now().Add(r.opts.Timeout)
	c, ok := r.start(ctx, sb, in, deadline)
	<-r.slots
	if !ok {
		r.replenish()
		return nil, c.err
	}
	r.put(sb)
	if c.err != nil {
		return nil, blockErr(c.err)
	}
	tainted := c.tainted
	if tainted != "" {
		return nil, isolation.Exceeded(tainted)
	}
	if c.reason != "" {
		return nil, isolation.Block(c.reason)
	}
	return r.apply(p, c.out)
}

// start runs the call on a goroutine of its own and waits for it until the
// time limit or ctx ends; then it interrupts the runtime and, reporting
// false, leaves the call to end on its own, its runtime to be dropped.
func (r *Runner) start(ctx context.Context, sb *sandbox, in *callInput, deadline time.Time) (*callRun, bool) {
	sb.vm.ClearInterrupt() // no Interrupt can race: the runtime is ours alone
	sb.deadline = deadline
	sb.tainted, sb.quiet = "", false
	clear(sb.rx)
	c := &callRun{done: make(chan struct{})}
	w := watch.add(sb.vm, r.opts.MaxHeapGrowth)
	r.workers.Add(1)
	sb.jobs <- func() {
		defer r.workers.Done()
		c.out, c.reason, c.err = sb.exec(in, r.shape)
		c.tainted = sb.tainted
		watch.remove(w)
		if !c.state.CompareAndSwap(callRunning, callFinished) {
			// Abandoned: the runtime is free again now.
			r.put(sb)
			r.abandoned.Add(-1)
			return
		}
		close(c.done)
	}
	// Once the limit passes, the answer is made without allocating
	// (r.exceededRun): a call that allocates fast keeps the collector busy,
	// and a goroutine that allocates then is made to help it, which can hold
	// the answer back by as long as the collection takes. The timer is the
	// runtime's own, reset for each call.
	if sb.timer == nil {
		sb.timer = time.NewTimer(time.Until(sb.deadline))
	} else {
		sb.timer.Reset(time.Until(sb.deadline))
	}
	timer := sb.timer
	defer timer.Stop()
	var why *abortError
	select {
	case <-c.done:
		return c, true
	case <-timer.C:
		why = r.exceededWhy
	case <-ctx.Done():
		why = &abortError{msg: "isolation hook canceled: " + ctx.Err().Error()}
	}
	r.abandoned.Add(1)
	if !c.state.CompareAndSwap(callRunning, callAbandoned) {
		r.abandoned.Add(-1)
		<-c.done
		return c, true
	}
	sb.vm.Interrupt(why)
	if why.limit {
		return r.exceededRun, false
	}
	return &callRun{err: isolation.Block(why.msg)}, false
}

// exec runs one call through the driver and returns its results, or a
// reason it blocked.
func (sb *sandbox) exec(in *callInput, shape Shape) ([]result, string, error) {
	vm := sb.vm
	c := vm.NewObject()
	_ = c.Set("kind", in.kind)
	_ = c.Set("name", in.name)
	_ = c.Set("label", in.label)
	_ = c.Set("origin", in.origin)
	if in.target != "" {
		_ = c.Set("target", in.target)
	}
	if len(in.headers) > 0 {
		h := vm.NewObject()
		for k, v := range in.headers {
			_ = h.Set(k, v)
		}
		_ = c.Set("headers", h)
	}
	sb.args = in.args
	defer func() { sb.args = nil }()
	sb.settled, sb.out, sb.reason = false, nil, ""
	// The job queue has run when the call returns; with no timers in the
	// sandbox, a promise still pending then can never settle.
	if _, err := sb.call(goja.Undefined(), sb.newWindow(), c, vm.ToValue(len(in.args) > 0), sb.shapes(shape), sb.done); err != nil {
		return nil, "", err
	}
	if !sb.settled {
		return nil, "isolation hook returned a promise that never settles", nil
	}
	return sb.out, sb.reason, nil
}

// finish is the driver's done(results).
func (sb *sandbox) finish(call goja.FunctionCall) goja.Value {
	if !sb.settled {
		sb.settled = true
		sb.out, sb.reason = sb.results(call.Argument(0))
	}
	return goja.Undefined()
}

// results reads the driver's results.
func (sb *sandbox) results(v goja.Value) ([]result, string) {
	arr, ok := v.(*goja.Object)
	if !ok {
		return nil, "isolation hook returned no result"
	}
	l := arr.Get("length")
	if l == nil {
		return nil, "isolation hook returned no result"
	}
	n := int(l.ToInteger())
	out := make([]result, 0, n)
	str := func(o *goja.Object, k string) (string, bool) {
		x := o.Get(k)
		if x == nil || goja.IsUndefined(x) || goja.IsNull(x) {
			return "", false
		}
		return x.String(), true
	}
	for i := 0; i < n; i++ {
		o, ok := arr.Get(strconv.Itoa(i)).(*goja.Object)
		if !ok {
			return nil, "isolation hook returned no result"
		}
		var r result
		r.OK = truthy(o.Get("ok"))
		r.Reason, _ = str(o, "reason")
		r.Same = truthy(o.Get("same"))
		if s, ok := str(o, "name"); ok {
			r.Name = &s
		}
		if s, ok := str(o, "args"); ok {
			r.Args = []byte(s)
		}
		if s, ok := str(o, "headers"); ok {
			r.Headers = []byte(s)
		}
		if s, ok := str(o, "target"); ok {
			r.Target = &s
		}
		out = append(out, r)
	}
	return out, ""
}

func truthy(v goja.Value) bool { return v != nil && v.ToBoolean() }

// newWindow is a fresh window for a run of the hook files: an object
// inheriting from the (frozen) global object, its own window, self and
// globalThis.
func (sb *sandbox) newWindow() *goja.Object {
	w := sb.vm.CreateObject(sb.vm.GlobalObject())
	_ = w.DefineDataProperty("window", w, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE)
	_ = w.DefineDataProperty("self", w, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE)
	_ = w.DefineDataProperty("globalThis", w, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	return w
}

func (sb *sandbox) shapes(s Shape) goja.Value {
	if v, ok := sb.shapeArrays[s]; ok {
		return v
	}
	var v goja.Value
	switch s {
	case ShapeSeed:
		v = sb.vm.NewArray("seed")
	case shapeBoth:
		v = sb.vm.NewArray("seed", "v2")
	default:
		v = sb.vm.NewArray("v2")
	}
	if sb.shapeArrays == nil {
		sb.shapeArrays = map[Shape]goja.Value{}
	}
	sb.shapeArrays[s] = v
	return v
}

// errText is errText, except that a thrown value is shown through the
// driver's text function, in the runtime; call it only under bounded.
func (sb *sandbox) errText(err error) string {
	if ex, ok := err.(*goja.Exception); ok && sb.text != nil {
		if v, terr := sb.text(goja.Undefined(), ex.Value()); terr == nil {
			if s := ex.String(); strings.Contains(s, factoryName) {
				// Keep the position of the throw: "msg at file:line:col".
				if i := strings.Index(s, factoryName); i >= 0 {
					end := strings.IndexAny(s[i:], "()\n ")
					if end < 0 {
						end = len(s) - i
					}
					return v.String() + " at " + s[i:i+end]
				}
			}
			return v.String()
		}
	}
	return errText(err)
}
