// Tether isolation realm freeze (Tauri's freezePrototype, done thoroughly).
// Runs after the guards and the driver and before any hook file: freezes
// every object reachable from the global object and from the intrinsics a
// script can reach without naming them (the prototypes of generators, async
// functions and iterators), so that nothing a call does to them — say, a
// deep merge of a payload's "__proto__" into Object.prototype — outlives the
// call or reaches another caller.
//
// Assigning to a property that an object inherits from a frozen prototype
// fails in JavaScript (the "override mistake"): `this.name = "MyError"` in
// an Error subclass, `obj.toString = …`. For the properties that code
// commonly overrides that way, the data property becomes an accessor whose
// setter defines the property on the object assigned to, as SES does.
(function () {
  "use strict";
  var getProto = Object.getPrototypeOf, ownKeys = Reflect.ownKeys, getDesc = Object.getOwnPropertyDescriptor,
      defProp = Object.defineProperty, freeze = Object.freeze, isFrozen = Object.isFrozen, hasOwn = Object.prototype.hasOwnProperty;
  var call = Function.prototype.call.bind(Function.prototype.call);
  var overridable = ["constructor", "name", "message", "toString", "valueOf", "toLocaleString", "toJSON"];

  function tame(obj) {
    for (var i = 0; i < overridable.length; i++) {
      var key = overridable[i];
      var d = getDesc(obj, key);
      if (!d || !("value" in d) || !d.configurable) continue;
      (function (key, value) {
        defProp(obj, key, {
          get: function () { return value; },
          set: function (v) {
            if (this === obj) throw new TypeError("Cannot assign to read only property '" + key + "' of a frozen object");
            if (call(hasOwn, this, key)) { this[key] = v; return; }
            defProp(this, key, { value: v, writable: true, enumerable: true, configurable: true });
          },
          enumerable: d.enumerable,
          configurable: false
        });
      })(key, d.value);
    }
  }

  var roots = [globalThis];
  function add(f) { try { roots.push(f()); } catch (_) { /* not in this engine */ } }
  add(function () { return getProto(function* () {}); });
  add(function () { return getProto(async function () {}); });
  add(function () { return getProto([][Symbol.iterator]()); });
  add(function () { return getProto(new Map()[Symbol.iterator]()); });
  add(function () { return getProto(new Set()[Symbol.iterator]()); });
  add(function () { return getProto(""[Symbol.iterator]()); });
  add(function () { return getProto(/x/[Symbol.matchAll]("")); });
  add(function () { return getProto((function* () {})()); });
  add(function () { return (function () { return arguments; })(); });

  function reachable() {
    var seen = new Set(), queue = [];
    function visit(v) {
      if ((typeof v === "object" && v !== null) || typeof v === "function") {
        if (!seen.has(v)) { seen.add(v); queue.push(v); }
      }
    }
    for (var r = 0; r < roots.length; r++) visit(roots[r]);
    for (var q = 0; q < queue.length; q++) {
      var o = queue[q];
      visit(getProto(o));
      var keys = ownKeys(o);
      for (var k = 0; k < keys.length; k++) {
        var d = getDesc(o, keys[k]);
        if (!d) continue;
        if ("value" in d) visit(d.value); else { visit(d.get); visit(d.set); }
      }
    }
    return queue;
  }
  var all = reachable();
  for (var i = 0; i < all.length; i++) {
    if (typeof all[i] !== "function" && all[i] !== globalThis) tame(all[i]);
  }
  // Again, to reach the accessors tame made.
  all = reachable();
  for (var j = 0; j < all.length; j++) {
    if (!isFrozen(all[j])) freeze(all[j]);
  }
})();
