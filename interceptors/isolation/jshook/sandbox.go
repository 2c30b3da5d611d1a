package jshook

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf16"

	"github.com/dlclark/regexp2/v2"
	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"

	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/internal/jsonargs"
)

//go:embed guards.js
var guardsJS string

//go:embed driver.js
var driverJS string

//go:embed freeze.js
var freezeJS string

// The compiled sandbox scripts, shared by every Runner.
var (
	guardsProgram = goja.MustCompile("tether-guards.js", guardsJS, true)
	driverProgram = goja.MustCompile("tether-driver.js", driverJS, true)
	freezeProgram = goja.MustCompile("tether-freeze.js", freezeJS, true)
)

// nativeSort is the longest array sorted by goja's own (uninterruptible)
// sort; longer ones are sorted in JavaScript.
const nativeSort = 4096

func init() {
	// regexp2 checks its match time limits against a clock it advances
	// every 100 ms by default, so a match could outlive its limit by up to
	// 200 ms; 5 ms keeps a hook's regular expressions within 10 ms of the
	// hook's limit. This is process-wide (it is regexp2's only clock), set
	// before any match can run; the clock goroutine only runs while a match
	// with a time limit is in flight, and for a second after.
	regexp2.SetTimeoutCheckPeriod(5 * time.Millisecond)
	// A backstop for a regular expression that runs in regexp2 without the
	// gate (the hook files were judged not to make one): none runs for
	// longer than two minutes, past any call's limit (MaxTimeout), when the
	// call has long been answered. regexp2 reads this when goja compiles a
	// pattern; left alone if a program set it already.
	if regexp2.DefaultMatchTimeout == time.Duration(math.MaxInt64) {
		regexp2.DefaultMatchTimeout = 2 * MaxTimeout
	}
}

// sandbox is one goja runtime with the driver and the hook factory loaded.
// It serves one call at a time.
type sandbox struct {
	vm        *goja.Runtime
	logger    *slog.Logger
	stringify goja.Callable // JSON.stringify from before the guards, for console
	call      goja.Callable // driver.call
	text      goja.Callable // driver.text
	load      goja.Callable // driver.load
	quiet     bool

	// jobs feeds the runtime's goroutine, which runs its calls: one
	// goroutine for the runtime's life, so its stack, grown by goja's
	// recursion, is not grown again for each call.
	jobs     chan func()
	stopOnce sync.Once

	shapeArrays map[Shape]goja.Value
	done        goja.Value // driver's done: sb.finish

	// The current call's arguments (JSON), which the driver reads only if
	// the hook does.
	args []byte

	// What the driver reported for the current call.
	settled bool
	out     []result
	reason  string

	// Set for each call, by the caller before it starts.
	deadline time.Time
	timer    *time.Timer // the caller's, for the call's limit (see start)
	tainted  string      // why a regular expression failed during the call

	// The regular expressions of the current call, the regexp2 form of each
	// pattern seen (nil: goja uses Go's regexp), and RegExp's own getters.
	rx       map[*goja.Object]*rxInfo
	patterns map[string]*regexp2.Regexp
	rxSource goja.Callable
	rxFlags  [6]goja.Callable // global, ignoreCase, multiline, dotAll, unicode, sticky
	rangeErr goja.Value
	lastIn   string
	lastRun  []rune
	lastUni  bool
}

// abortError is the value of an interrupt that ends a call; limit says it
// was a sandbox limit (not the caller going away).
type abortError struct {
	msg   string
	limit bool
}

func (e *abortError) Error() string { return e.msg }

// slowMaking, when set (by tests), is how much longer newSandbox takes.
var slowMaking atomic.Int64

// newSandbox makes a runtime: builtins checked by the guards, the driver,
// the hook factory, and, with freeze, every intrinsic frozen. It does not
// run the hook files.
func (r *Runner) newSandbox() (*sandbox, error) {
	vm := goja.New()
	vm.SetMaxCallStackSize(r.opts.MaxCallStackSize)
	sb := &sandbox{vm: vm, logger: r.opts.Logger, rx: map[*goja.Object]*rxInfo{}, patterns: map[string]*regexp2.Regexp{}}
	g := vm.GlobalObject()
	// No binary buffers or weak references; goja has no require, fetch,
	// XMLHttpRequest, WebSocket, timers or file access to begin with.
	for _, name := range []string{"ArrayBuffer", "SharedArrayBuffer", "DataView", "Atomics", "WeakRef",
		"FinalizationRegistry", "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
		"Int32Array", "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array"} {
		_ = g.Delete(name)
	}
	json := g.Get("JSON").ToObject(vm)
	parse, stringify := json.Get("parse"), json.Get("stringify")
	sb.stringify, _ = goja.AssertFunction(stringify)
	rp := g.Get("RegExp").ToObject(vm).Get("prototype").ToObject(vm)
	getter := func(name string) goja.Callable {
		d := vm.Get("Object").ToObject(vm).Get("getOwnPropertyDescriptor")
		gd, _ := goja.AssertFunction(d)
		desc, err := gd(goja.Undefined(), rp, vm.ToValue(name))
		if err != nil {
			return nil
		}
		f, _ := goja.AssertFunction(desc.ToObject(vm).Get("get"))
		return f
	}
	sb.rxSource = getter("source")
	for i, name := range []string{"global", "ignoreCase", "multiline", "dotAll", "unicode", "sticky"} {
		sb.rxFlags[i] = getter(name)
	}
	sb.rangeErr = g.Get("RangeError")
	if sb.rxSource == nil || sb.rxFlags[5] == nil {
		return nil, errors.New("jshook: this goja has no RegExp getters")
	}
	_ = g.Set("MAX_ARRAY", r.opts.MaxArrayLength)
	_ = g.Set("MAX_STRING", r.opts.MaxStringLength)
	_ = g.Set("NATIVE_SORT", nativeSort)
	if r.gate {
		_ = g.Set("REGEXP_GATE", sb.regexpGate)
	} else {
		_ = g.Set("REGEXP_GATE", goja.Null())
	}
	_ = g.Set("window", g)
	_ = g.Set("self", g)
	console := vm.NewObject()
	for name, level := range map[string]slog.Level{"log": slog.LevelInfo, "info": slog.LevelInfo,
		"debug": slog.LevelDebug, "warn": slog.LevelWarn, "error": slog.LevelError} {
		_ = console.Set(name, sb.consoleFunc(level))
	}
	_ = g.Set("console", console)

	setup := func() error {
		if _, err := vm.RunProgram(guardsProgram); err != nil {
			return err
		}
		fv, err := vm.RunProgram(r.factory)
		if err != nil {
			return err
		}
		mk, err := vm.RunProgram(driverProgram)
		if err != nil {
			return err
		}
		mkf, _ := goja.AssertFunction(mk)
		quiet := func(call goja.FunctionCall) goja.Value {
			sb.quiet = call.Argument(0).ToBoolean()
			return goja.Undefined()
		}
		args := func(goja.FunctionCall) goja.Value { return vm.ToValue(string(sb.args)) }
		d, err := mkf(goja.Undefined(), parse, stringify, fv, vm.ToValue(quiet), vm.ToValue(args))
		if err != nil {
			return err
		}
		dobj := d.ToObject(vm)
		sb.call, _ = goja.AssertFunction(dobj.Get("call"))
		sb.text, _ = goja.AssertFunction(dobj.Get("text"))
		sb.load, _ = goja.AssertFunction(dobj.Get("load"))
		if r.freeze {
			if _, err := vm.RunProgram(freezeProgram); err != nil {
				return err
			}
		}
		return nil
	}
	if err := r.bounded(context.Background(), sb, setupTimeout, setup); err != nil {
		return nil, fmt.Errorf("jshook: setting up the sandbox: %s", errText(err))
	}
	sb.done = vm.ToValue(sb.finish)
	if d := slowMaking.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	sb.jobs = make(chan func())
	r.loops.Add(1)
	go func() {
		defer r.loops.Done()
		for job := range sb.jobs {
			job()
		}
	}()
	return sb, nil
}

// stop ends the runtime's goroutine once its call, if any, is done.
func (sb *sandbox) stop() {
	sb.stopOnce.Do(func() { close(sb.jobs) })
}

func (sb *sandbox) consoleFunc(level slog.Level) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		if sb.quiet {
			return goja.Undefined()
		}
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

// blockErr is the error that blocks a call that failed with err.
func blockErr(err error) error {
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		if ae, ok := ie.Value().(*abortError); ok && !ae.limit {
			return isolation.Block(ae.msg)
		}
		return isolation.Exceeded(errText(err))
	}
	var so *goja.StackOverflowError
	if errors.As(err, &so) {
		return isolation.Exceeded(errText(err))
	}
	return isolation.Block(errText(err))
}

// aborted reports whether err ended the runtime's usefulness.
func aborted(err error) bool {
	var ie *goja.InterruptedError
	var so *goja.StackOverflowError
	return errors.As(err, &ie) || errors.As(err, &so)
}

// rxInfo is what the gate knows of one RegExp object: nil re for one goja
// matches with Go's regexp (linear time: nothing to check).
type rxInfo struct {
	re                      *regexp2.Regexp
	source                  string
	global, sticky, unicode bool
}

// regexpGate is REGEXP_GATE(rx, s): before goja's exec or test runs rx on
// s, it runs the same match, if goja would run it in regexp2, under the
// call's remaining time; a match that fails (time out, backtracking stack
// limit) throws a RangeError and taints the call, so that it is blocked even
// if the hook catches the error. REGEXP_GATE(rx, null) forgets rx (after
// compile).
func (sb *sandbox) regexpGate(call goja.FunctionCall) goja.Value {
	obj, ok := call.Argument(0).(*goja.Object)
	if !ok {
		return goja.Undefined()
	}
	if goja.IsNull(call.Argument(1)) {
		delete(sb.rx, obj)
		return goja.Undefined()
	}
	info := sb.rx[obj]
	if info == nil {
		info = sb.inspect(obj)
		if info == nil {
			return goja.Undefined() // not a RegExp: exec itself refuses it
		}
		if len(sb.rx) < 4096 {
			sb.rx[obj] = info
		}
	}
	if info.re == nil {
		return goja.Undefined()
	}
	s := call.Argument(1).String()
	start := 0
	if info.global || info.sticky {
		li := obj.Get("lastIndex").ToInteger()
		if li < 0 {
			li = 0
		}
		if li > int64(utf16Len(s)) {
			return goja.Undefined() // exec fails without matching
		}
		start = int(li)
	}
	runes := sb.runesOf(s, info.unicode)
	if info.unicode {
		start = codePointIndex(s, start)
	}
	remaining := time.Until(sb.deadline)
	if remaining < time.Millisecond {
		remaining = time.Millisecond
	}
	info.re.MatchTimeout = remaining
	if _, err := info.re.FindRunesMatchStartingAt(runes, start); err != nil {
		why := "exceeded the time limit"
		if errors.Is(err, regexp2.ErrBacktrackingStackLimit) {
			why = "exceeded the backtracking limit"
		}
		msg := fmt.Sprintf("isolation sandbox: regular expression /%s/ %s", jsonargs.Shorten(info.source, 64), why)
		if sb.tainted == "" {
			sb.tainted = msg
		}
		e, _ := sb.vm.New(sb.rangeErr, sb.vm.ToValue(msg))
		panic(e)
	}
	return goja.Undefined()
}

// inspect reads a RegExp's source and flags through RegExp's own getters
// and decides, as goja does, whether it runs in regexp2.
func (sb *sandbox) inspect(obj *goja.Object) *rxInfo {
	src, err := sb.rxSource(obj)
	if err != nil {
		return nil
	}
	var f [6]bool
	for i, g := range sb.rxFlags {
		v, err := g(obj)
		if err != nil {
			return nil
		}
		f[i] = v.ToBoolean()
	}
	info := &rxInfo{source: src.String(), global: f[0], sticky: f[5], unicode: f[4]}
	key := fmt.Sprintf("%v%v%v%v/%s", f[1], f[2], f[3], f[4], info.source)
	re, ok := sb.patterns[key]
	if !ok {
		re = compileBacktracking(info.source, f[1], f[2], f[3], f[4])
		if len(sb.patterns) >= 256 {
			clear(sb.patterns)
		}
		sb.patterns[key] = re
	}
	info.re = re
	return info
}

// compileBacktracking returns the regexp2 form of a JavaScript pattern if
// goja runs it in regexp2 (it needs lookaround, backreferences or a repeat
// count RE2 refuses), or nil.
func compileBacktracking(pattern string, ignoreCase, multiline, dotAll, unicode bool) *regexp2.Regexp {
	if unicode {
		pattern = joinSurrogateEscapes(pattern)
	} else {
		pattern = splitAstral(pattern)
	}
	re2, err := parser.TransformRegExp(pattern, dotAll, unicode)
	if err == nil {
		flags := ""
		if multiline {
			flags += "m"
		}
		if dotAll {
			flags += "s"
		}
		if ignoreCase {
			flags += "i"
		}
		if flags != "" {
			re2 = "(?" + flags + ":" + re2 + ")"
		}
		_, cerr := regexp.Compile(re2)
		var se *syntax.Error
		if cerr == nil || !errors.As(cerr, &se) || se.Code != syntax.ErrInvalidRepeatSize {
			return nil
		}
	} else {
		var incompat parser.RegexpErrorIncompatible
		if !errors.As(err, &incompat) {
			return nil
		}
	}
	opts := regexp2.ECMAScript
	if multiline {
		opts |= regexp2.Multiline
	}
	if dotAll {
		opts |= regexp2.Singleline
	}
	if ignoreCase {
		opts |= regexp2.IgnoreCase
	}
	if unicode {
		opts |= regexp2.Unicode
	}
	re, err := regexp2.Compile(pattern, opts)
	if err != nil {
		return nil
	}
	return re
}

// splitAstral writes characters beyond the BMP in a pattern as escaped
// surrogate pairs, as goja does for a pattern matched on UTF-16.
func splitAstral(p string) string {
	var b strings.Builder
	prev := rune(0)
	for _, r := range p {
		if r > 0xFFFF {
			if prev == '\\' {
				b.WriteByte('\\')
			}
			hi, lo := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, hi, lo)
		} else {
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}

// joinSurrogateEscapes writes an escaped surrogate pair in a pattern as the
// character, as goja does for a pattern matched on code points.
func joinSurrogateEscapes(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); {
		if p[i] == '\\' && i+12 <= len(p) && p[i+1] == 'u' && p[i+6] == '\\' && p[i+7] == 'u' {
			hi, ok1 := hex4(p[i+2 : i+6])
			lo, ok2 := hex4(p[i+8 : i+12])
			if ok1 && ok2 && utf16.IsSurrogate(hi) && hi < 0xDC00 && lo >= 0xDC00 && lo <= 0xDFFF {
				b.WriteRune(utf16.DecodeRune(hi, lo))
				i += 12
				continue
			}
		}
		if p[i] == '\\' && i+1 < len(p) {
			b.WriteString(p[i : i+2])
			i += 2
			continue
		}
		b.WriteByte(p[i])
		i++
	}
	return b.String()
}

func hex4(s string) (rune, bool) {
	var v rune
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// runesOf is s as goja gives it to regexp2: UTF-16 code units, or code
// points for a unicode pattern. The last one is kept: a global regexp runs
// on one string many times.
func (sb *sandbox) runesOf(s string, unicode bool) []rune {
	if s == sb.lastIn && unicode == sb.lastUni && sb.lastRun != nil {
		return sb.lastRun
	}
	var rs []rune
	if unicode {
		rs = []rune(s)
	} else {
		u := utf16.Encode([]rune(s))
		rs = make([]rune, len(u))
		for i, c := range u {
			rs[i] = rune(c)
		}
	}
	sb.lastIn, sb.lastUni, sb.lastRun = s, unicode, rs
	return rs
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// codePointIndex maps a UTF-16 index into s to a code point index.
func codePointIndex(s string, u int) int {
	n, cp := 0, 0
	for _, r := range s {
		if n >= u {
			break
		}
		n += utf16.RuneLen(r)
		cp++
	}
	return cp
}
