// Tether isolation driver. Evaluated after the guards and before the realm
// is frozen; the object it returns is held by Go only, so hooks cannot
// replace it. For each call it runs the hook files afresh on a new window
// (so no state of theirs outlives the call), shows the hook the call in the
// payload shape it reads, awaits a thenable, and reports what the hook
// returned, through done(json, reason).
//
// parse and stringify are JSON's own, from before the guards; factory runs
// the hook files with (window, self, globalThis); quiet(bool) mutes console
// while they run, so that a file's top-level logging shows once, at load.
(function (parse, stringify, factory, quiet) {
  "use strict";
  var P = Promise, resolve = P.resolve.bind(P), then = P.prototype.then;
  var create = Object.create, defProp = Object.defineProperty, keys = Object.keys, isArray = Array.isArray;
  var G = globalThis;
  var EMIT = "plugin:event|emit", EMIT_TO = "plugin:event|emit_to", LISTEN = "plugin:event|listen";

  function text(e) {
    try {
      if (e !== null && typeof e === "object" && "message" in e) return String(e.message);
      return String(e);
    } catch (_) {
      return "isolation hook threw a value that cannot be shown";
    }
  }
  function isObj(v) { return v !== null && typeof v === "object"; }
  function hidden(o, k, get, set) {
    defProp(o, k, { get: get, set: set, enumerable: false, configurable: true });
  }
  // flatten shows each argument on message as well (message.path), as the
  // seed's examples read it; reads and writes go to message.args.
  function flatten(message, argsOf) {
    var a = argsOf();
    if (!isObj(a) || isArray(a)) return;
    var ks = keys(a);
    for (var i = 0; i < ks.length; i++) {
      var k = ks[i];
      if (k === "cmd" || k === "args") continue;
      (function (k) {
        hidden(message, k, function () { var x = argsOf(); return isObj(x) ? x[k] : undefined; },
          function (v) { var x = argsOf(); if (isObj(x)) x[k] = v; });
      })(k);
    }
  }

  // The seed's shape: {cmd: "invoke", message: {cmd, args}, client}, and so on.
  function seedView(c) {
    var p = { cmd: c.kind };
    if (c.kind === "invoke") {
      p.message = { cmd: c.name, args: c.args === undefined ? {} : c.args };
      flatten(p.message, function () { return p.message.args; });
    } else {
      p.event = c.name;
      if (c.kind === "emit") {
        p.payload = c.args;
        if (c.target) p.target = c.target;
      }
    }
    p.client = c.client;
    return p;
  }

  // Tauri v2's shape: {cmd: "<command>", callback, error, payload: {…args},
  // options: {headers}}, events as plugin:event|… commands. It also carries,
  // hidden from enumeration and JSON, the seed's message (message.cmd and
  // message.args are cmd and payload), event and client.
  function v2View(c) {
    var p = { cmd: c.name, callback: 1, error: 2, payload: undefined, options: { headers: c.headers || {} } };
    if (c.kind === "invoke") {
      p.payload = c.args === undefined ? {} : c.args;
    } else if (c.kind === "emit") {
      p.cmd = c.target ? EMIT_TO : EMIT;
      p.payload = c.target ? { target: { kind: "AnyLabel", label: c.target }, event: c.name, payload: c.args } : { event: c.name, payload: c.args };
    } else {
      p.cmd = LISTEN;
      p.payload = { event: c.name, target: { kind: "Any" }, handler: 0 };
    }
    var message = {};
    hidden(message, "cmd", function () { return p.cmd; }, function (v) { p.cmd = v; });
    hidden(message, "args", function () { return p.payload; }, function (v) { p.payload = v; });
    flatten(message, function () { return p.payload; });
    defProp(p, "message", { value: message, writable: true, enumerable: false, configurable: true });
    if (c.kind !== "invoke") {
      hidden(p, "event", function () { return isObj(p.payload) ? p.payload.event : undefined; },
        function (v) { if (isObj(p.payload)) p.payload.event = v; });
    }
    defProp(p, "client", { value: c.client, writable: true, enumerable: false, configurable: true });
    return p;
  }

  function targetLabel(t) {
    if (t === undefined || t === null) return "";
    if (typeof t === "string") return t;
    if (isObj(t)) {
      if (t.kind === "Any" || t.kind === "App") return "";
      if (typeof t.label === "string") return t.label;
    }
    throw new TypeError("isolation hook returned an event target Tether cannot send to");
  }

  // What the hook returned, as {name, args, headers, target}: the parts of a
  // call a hook may change. A change of kind blocks.
  function seedResult(c, r) {
    if (r.cmd !== c.kind) return { reason: "isolation hook changed cmd from " + c.kind + " to " + text(r.cmd) };
    if (c.kind === "invoke") {
      var m = r.message;
      if (!isObj(m)) return { reason: "isolation hook returned an invoke without message" };
      return { ok: true, name: m.cmd, args: m.args };
    }
    var out = { ok: true, name: r.event };
    if (c.kind === "emit") { out.args = r.payload; out.target = r.target === undefined ? "" : r.target; }
    return out;
  }
  function v2Result(c, r) {
    if (c.kind === "invoke") {
      if (r.cmd === EMIT || r.cmd === EMIT_TO || r.cmd === LISTEN) return { reason: "isolation hook turned command " + c.name + " into " + r.cmd };
      var h = isObj(r.options) ? r.options.headers : undefined;
      return { ok: true, name: r.cmd, args: r.payload, headers: h };
    }
    var a = r.payload;
    if (c.kind === "emit") {
      if (r.cmd !== EMIT && r.cmd !== EMIT_TO) return { reason: "isolation hook turned an emit into " + text(r.cmd) };
      if (!isObj(a)) return { reason: "isolation hook returned an emit without payload" };
      return { ok: true, name: a.event, args: a.payload, target: targetLabel(a.target) };
    }
    if (r.cmd !== LISTEN) return { reason: "isolation hook turned a listen into " + text(r.cmd) };
    if (!isObj(a)) return { reason: "isolation hook returned a listen without payload" };
    return { ok: true, name: a.event };
  }

  function newWindow() {
    var win = create(G);
    defProp(win, "window", { value: win, writable: true, enumerable: true, configurable: true });
    defProp(win, "self", { value: win, writable: true, enumerable: true, configurable: true });
    defProp(win, "globalThis", { value: win, writable: true, enumerable: false, configurable: true });
    return win;
  }

  // once runs the hook files on a fresh window and calls the hook on the
  // view of c in shape, then calls next(result).
  function once(c, shape, next) {
    var win = newWindow();
    var hook;
    quiet(true);
    try {
      factory.call(win, win, win, win);
      hook = win.__TAURI_ISOLATION_HOOK__;
    } catch (e) {
      quiet(false);
      next({ reason: text(e) });
      return;
    }
    quiet(false);
    if (typeof hook !== "function") { next({ reason: "window.__TAURI_ISOLATION_HOOK__ is not a function" }); return; }
    var view = shape === "seed" ? seedView(c) : v2View(c);
    var settle = function (r) {
      if (r === null || r === undefined) { next({ reason: "isolation hook returned no payload" }); return; }
      if (!isObj(r)) { next({ reason: "isolation hook returned a value that is not an object" }); return; }
      try { next(shape === "seed" ? seedResult(c, r) : v2Result(c, r)); } catch (e) { next({ reason: text(e) }); }
    };
    var res;
    try { res = hook.call(win, view, shape === "seed" ? undefined : view.options); } catch (e) { next({ reason: text(e) }); return; }
    var thenable = false;
    try { thenable = isObj(res) && typeof res.then === "function"; } catch (e) { next({ reason: text(e) }); return; }
    if (!thenable) { settle(res); return; }
    then.call(resolve(res), settle, function (e) { next({ reason: text(e) }); });
  }

  return {
    text: text,
    // load runs the hook files once and reports whether they set the hook.
    load: function () {
      var win = newWindow();
      factory.call(win, win, win, win);
      return typeof win.__TAURI_ISOLATION_HOOK__ === "function";
    },
    // call runs the call described by input (JSON: kind, name, args,
    // headers, target, client) in each of shapes ("seed", "v2") and reports
    // the results, in order, as JSON.
    call: function (input, shapes, done) {
      var results = [];
      function step(i) {
        if (i === shapes.length) {
          var out;
          try { out = stringify(results); } catch (e) { done(null, text(e)); return; }
          done(out, null);
          return;
        }
        var c;
        try { c = parse(input); } catch (e) { done(null, text(e)); return; }
        once(c, shapes[i], function (r) { results.push(r); step(i + 1); });
      }
      step(0);
    }
  };
})
