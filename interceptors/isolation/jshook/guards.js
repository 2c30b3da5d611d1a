// Tether isolation sandbox guards. Runs before any hook file, in a closure
// the hooks cannot reach, and replaces the builtins that could allocate
// without bound in one native step with checked versions. MAX_ARRAY and
// MAX_STRING are defined by the Go side before this runs.
(function (MAX_ARRAY, MAX_STRING) {
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
  ["fill", "copyWithin", "reverse", "sort", "toSorted", "toReversed", "with", "toSpliced", "slice", "splice",
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
})(MAX_ARRAY, MAX_STRING);
delete globalThis.MAX_ARRAY;
delete globalThis.MAX_STRING;
