// Tether isolation sandbox guards. Runs before any hook file, in a closure
// the hooks cannot reach, and replaces the builtins that could run or
// allocate without bound in one native step — where goja's interrupt cannot
// reach them — with checked or interruptible versions. MAX_ARRAY,
// MAX_STRING, NATIVE_SORT and REGEXP_GATE are defined by the Go side before
// this runs, and removed after.
(function (MAX_ARRAY, MAX_STRING, NATIVE_SORT, REGEXP_GATE) {
  "use strict";
  var OrigArray = Array, AP = Array.prototype, SP = String.prototype;
  var origStringify = JSON.stringify, origIsArray = Array.isArray;
  var apply = Function.prototype.call.bind(Function.prototype.apply);
  function tooBig(what, n, max) {
    throw new RangeError("isolation sandbox: " + what + " of " + n + " exceeds the limit of " + max);
  }
  function lenOf(o) {
    if (o === null || o === undefined) return 0;
    var n = Number(o.length);
    return n > 0 ? n : 0;
  }
  function checkArray(n) { if (n > MAX_ARRAY) tooBig("array length", n, MAX_ARRAY); }
  function checkString(n) { if (n > MAX_STRING) tooBig("string length", n, MAX_STRING); }
  function define(obj, name, fn) {
    Object.defineProperty(obj, name, { value: fn, writable: true, configurable: true, enumerable: false });
  }
  function guardThis(obj, name, check) {
    var orig = obj[name];
    if (typeof orig !== "function") return;
    define(obj, name, function () { check(this, arguments); return apply(orig, this, arguments); });
  }

  // new Array(n), Array(n)
  var ArrayProxy = new Proxy(OrigArray, {
    construct: function (t, args, nt) { if (args.length === 1 && typeof args[0] === "number") checkArray(args[0]); return Reflect.construct(t, args, nt); },
    apply: function (t, self, args) { if (args.length === 1 && typeof args[0] === "number") checkArray(args[0]); return apply(t, self, args); }
  });
  globalThis.Array = ArrayProxy;
  define(AP, "constructor", ArrayProxy);
  var origFrom = OrigArray.from;
  define(OrigArray, "from", function (src) { checkArray(lenOf(src)); return apply(origFrom, this, arguments); });

  // Methods that loop natively over this.length.
  ["fill", "copyWithin", "reverse", "toReversed", "with", "toSpliced", "slice", "splice",
   "indexOf", "lastIndexOf", "includes", "keys", "values", "entries", "toLocaleString"].forEach(function (name) {
    guardThis(AP, name, function (self) { checkArray(lenOf(self)); });
  });
  guardThis(AP, "concat", function (self, args) {
    var n = lenOf(self);
    for (var i = 0; i < args.length; i++) n += origIsArray(args[i]) ? lenOf(args[i]) : 1;
    checkArray(n);
  });
  guardThis(AP, "flat", function (self, args) {
    var depth = args.length > 0 && args[0] !== undefined ? Number(args[0]) : 1, budget = 0;
    (function count(a, d) {
      var n = lenOf(a); checkArray(n);
      for (var i = 0; i < n; i++) {
        var e = a[i];
        if (d > 0 && origIsArray(e)) count(e, d - 1); else if (++budget > MAX_ARRAY) tooBig("flattened array", budget, MAX_ARRAY);
      }
    })(self, depth);
  });
  var origFlatMap = AP.flatMap;
  define(AP, "flatMap", function (cb, thisArg) {
    checkArray(lenOf(this));
    var total = 0;
    return apply(origFlatMap, this, [function () {
      var r = apply(cb, this, arguments);
      total += origIsArray(r) ? lenOf(r) : 1;
      checkArray(total);
      return r;
    }, thisArg]);
  });
  // sort and toSorted: goja's native sort cannot be interrupted and takes
  // seconds on a few hundred thousand elements, so longer arrays are sorted
  // by a merge sort in JavaScript (stable, as the native one), which the
  // time limit stops.
  var origSort = AP.sort;
  function compareDefault(x, y) {
    var a = String(x), b = String(y);
    return a < b ? -1 : a > b ? 1 : 0;
  }
  function mergeSort(a, cmp) {
    var n = a.length, buf = new OrigArray(n), src = a, dst = buf, width, i;
    for (width = 1; width < n; width *= 2) {
      for (i = 0; i < n; i += 2 * width) {
        var lo = i, mid = Math.min(i + width, n), hi = Math.min(i + 2 * width, n), l = lo, r = mid, k = lo;
        while (l < mid && r < hi) {
          var c = cmp(src[r], src[l]);
          if (c !== c) c = 0; // NaN
          dst[k++] = c < 0 ? src[r++] : src[l++];
        }
        while (l < mid) dst[k++] = src[l++];
        while (r < hi) dst[k++] = src[r++];
      }
      var t = src; src = dst; dst = t;
    }
    return src;
  }
  function sortInPlace(o, cmpfn) {
    if (cmpfn !== undefined && typeof cmpfn !== "function") throw new TypeError("The comparison function must be either a function or undefined");
    var n = lenOf(o);
    checkArray(n);
    if (n <= NATIVE_SORT) return apply(origSort, o, [cmpfn]);
    // As the spec: holes and undefined go last, unsorted; the rest sorted.
    var vals = [], undef = 0, i;
    for (i = 0; i < n; i++) {
      if (!(i in o)) continue;
      var v = o[i];
      if (v === undefined) undef++; else vals.push(v);
    }
    var cmp = cmpfn === undefined ? compareDefault : function (x, y) { return Number(cmpfn(x, y)); };
    var sorted = mergeSort(vals, cmp), k = 0;
    for (i = 0; i < sorted.length; i++) o[k++] = sorted[i];
    for (i = 0; i < undef; i++) o[k++] = undefined;
    for (; k < n; k++) delete o[k];
    return o;
  }
  define(AP, "sort", function sort(cmpfn) { return sortInPlace(Object(this), cmpfn); });
  define(AP, "toSorted", function toSorted(cmpfn) {
    if (cmpfn !== undefined && typeof cmpfn !== "function") throw new TypeError("The comparison function must be either a function or undefined");
    var n = lenOf(this); checkArray(n);
    var copy = new OrigArray(n);
    for (var i = 0; i < n; i++) copy[i] = this[i];
    return sortInPlace(copy, cmpfn);
  });

  // join and toString build their result in a loop that stops at the limit.
  define(AP, "join", function (sep) {
    var n = lenOf(this); checkArray(n);
    sep = sep === undefined ? "," : String(sep);
    var out = "";
    for (var i = 0; i < n; i++) {
      if (i > 0) out += sep;
      var e = this[i];
      if (e !== undefined && e !== null) out += String(e);
      checkString(out.length);
    }
    return out;
  });
  define(AP, "toString", function () { return AP.join.call(this); });

  // Strings.
  guardThis(SP, "repeat", function (self, args) { checkString(String(self).length * Number(args[0] || 0)); });
  guardThis(SP, "padStart", function (self, args) { checkString(Number(args[0] || 0)); });
  guardThis(SP, "padEnd", function (self, args) { checkString(Number(args[0] || 0)); });
  guardThis(SP, "concat", function (self, args) {
    var n = String(self).length;
    for (var i = 0; i < args.length; i++) n += String(args[i]).length;
    checkString(n);
  });
  ["replace", "replaceAll"].forEach(function (name) {
    var orig = SP[name];
    define(SP, name, function (pattern, repl) {
      var s = String(this);
      if (typeof repl === "function") {
        var total = s.length, fn = repl;
        repl = function () { var r = String(apply(fn, this, arguments)); total += r.length; checkString(total); return r; };
      } else {
        checkString(s.length * (String(repl).length + 1));
      }
      return apply(orig, s, [pattern, repl]);
    });
  });

  // split stops at the array limit: asked for at most MAX_ARRAY + 1 pieces,
  // it never makes more, and more than MAX_ARRAY is refused.
  var origSplit = SP.split;
  define(SP, "split", function split(sep, limit) {
    var max = limit === undefined ? MAX_ARRAY + 1 : Math.min(limit >>> 0, MAX_ARRAY + 1);
    var out = apply(origSplit, this, [sep, max]);
    if (out.length > MAX_ARRAY) tooBig("split result", out.length, MAX_ARRAY);
    return out;
  });

  // Regular expressions: goja runs those with lookaround or backreferences
  // in a backtracking engine that its interrupt cannot stop, and turns the
  // engine's own errors (time out, stack limit) into "no match". exec and
  // test — which every other regexp method and String method calls once
  // these are replaced — first let the Go side run the same match under
  // the call's remaining time; a match that fails there throws, and blocks
  // the call even if the hook catches it.
  // The Go side passes null for hook files that can only run regular
  // expressions goja runs in Go's linear-time engine.
  if (REGEXP_GATE !== null) {
    var RP = RegExp.prototype, exec0 = RP.exec, test0 = RP.test, compile0 = RP.compile;
    var str = function (s) {
      if (typeof s === "symbol") throw new TypeError("Cannot convert a Symbol value to a string");
      return String(s);
    };
    define(RP, "exec", function exec(s) { s = str(s); REGEXP_GATE(this, s); return apply(exec0, this, [s]); });
    define(RP, "test", function test(s) { s = str(s); REGEXP_GATE(this, s); return apply(test0, this, [s]); });
    if (typeof compile0 === "function") {
      define(RP, "compile", function compile() { var r = apply(compile0, this, arguments); REGEXP_GATE(this, null); return r; });
    }
  }

  // JSON.stringify counts what it writes through a replacer.
  define(JSON, "stringify", function (value, replacer, space) {
    var total = 0, user = replacer;
    if (origIsArray(replacer)) {
      var allow = {};
      for (var i = 0; i < replacer.length; i++) allow[String(replacer[i])] = true;
      user = function (k, v) { return k === "" || origIsArray(this) || allow[k] === true ? v : undefined; };
    } else if (typeof replacer !== "function") {
      user = null;
    }
    return apply(origStringify, JSON, [value, function (k, v) {
      if (user) v = apply(user, this, [k, v]);
      total += String(k).length + 16 + (typeof v === "string" ? v.length : 0);
      checkString(total);
      return v;
    }, space]);
  });
})(MAX_ARRAY, MAX_STRING, NATIVE_SORT, REGEXP_GATE);
delete globalThis.MAX_ARRAY;
delete globalThis.MAX_STRING;
delete globalThis.NATIVE_SORT;
delete globalThis.REGEXP_GATE;
