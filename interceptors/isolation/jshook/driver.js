// Tether isolation driver. Evaluated after the guards and before the realm
// is frozen; the object it returns is held by Go only, so hooks cannot
// replace it. For each call it runs the hook files afresh on a new window
// (so no state of theirs outlives the call), shows the hook the call in the
// payload shape it reads, awaits a thenable, and reports what the hook
// returned, through done(results).
//
// The arguments (an emit's payload) are parsed when the hook first reads
// them: a hook that never does — a whitelist of command names — costs no
// parse, and its call keeps its arguments byte for byte.
//
// parse and stringify are JSON's own, from before the guards; factory runs
// the hook files with (window, self, globalThis); quiet(bool) mutes console
// while they run, so that a file's top-level logging shows once, at load;
// args() is the call's arguments as JSON text, read from Go only when the
// hook first reads them.
(function (parse, stringify, factory, quiet, args) {
  "use strict";
  var P = Promise, resolve = P.resolve.bind(P), then = P.prototype.then;
  var create = Object.create, defProp = Object.defineProperty, isArray = Array.isArray, keys = Object.keys;
  var getProto = Object.getPrototypeOf, OP = Object.prototype;
  var hasOwn = Function.prototype.call.bind(OP.hasOwnProperty);
  var R = Reflect, rget = R.get, rhas = R.has;
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

  // The objects of the call in progress (a runtime serves one call at a
  // time), each list as pairs [object, what it stands for]: emptied for each
  // call, so an object kept past its call (it cannot be: no state crosses
  // calls) finds nothing. Plain lists, not WeakMaps, whose entries cost the
  // collector a weak handle each.
  var boxes = [], links = [], flats = [];
  function put(list, o, v) { var n = list.length; list[n] = o; list[n + 1] = v; }
  function find(list, o) {
    for (var i = 0; i < list.length; i += 2) if (list[i] === o) return list[i + 1];
    return undefined;
  }
  // A box holds the arguments: parsed at the first read; touched once read
  // or replaced. The accessors that show a box are shared: they find the
  // box of the object they are read on (or of the view it inherits from).
  function lookup(list, o) {
    for (var x = o; x !== null && x !== undefined; x = getProto(x)) {
      var v = find(list, x);
      if (v !== undefined) return v;
    }
    throw new TypeError("isolation hook read the payload off an object that is not the payload");
  }
  function boxGet(b) {
    b.touched = true;
    if (!b.loaded) {
      b.loaded = true;
      b.value = b.text ? parse(args()) : b.invoke ? {} : undefined;
    }
    return b.value;
  }
  // The arguments' accessors are not configurable, so that a hook replaces
  // the arguments only by assigning them, which the box sees.
  var ARGS = { get: function () { return boxGet(lookup(boxes, this)); },
    set: function (v) { var b = lookup(boxes, this); b.touched = b.loaded = true; b.value = v; },
    enumerable: true, configurable: false };
  var ARGS_HIDDEN = { get: ARGS.get, set: ARGS.set, enumerable: false, configurable: false };
  // The v2 view's message mirrors the view: message.cmd is cmd; for an
  // event, message.args is payload.
  var MIRROR_CMD = { get: function () { return lookup(links, this).cmd; },
    set: function (v) { lookup(links, this).cmd = v; }, enumerable: false, configurable: false };
  var MIRROR_PAYLOAD = { get: function () { return lookup(links, this).payload; },
    set: function (v) { lookup(links, this).payload = v; }, enumerable: false, configurable: false };
  var EVENT = { get: function () { var a = this.payload; return isObj(a) ? a.event : undefined; },
    set: function (v) { var a = this.payload; if (isObj(a)) a.event = v; }, enumerable: false, configurable: true };
  function hiddenValue(v) { return { value: v, writable: true, enumerable: false, configurable: true }; }

  // Each argument also reads as message.<key> (message.path), as the seed's
  // examples read it: message inherits from a proxy that answers, for a key
  // message does not have itself, from the arguments (or Object.prototype),
  // and writes such keys into the arguments.
  function flatArgs(t) {
    var m = find(flats, t);
    if (m === undefined || !hasOwn(m, "args")) return undefined;
    var a = m.args;
    return isObj(a) && !isArray(a) ? a : undefined;
  }
  var FLAT = {
    get: function (t, k, r) {
      if (typeof k === "string") {
        var a = flatArgs(t);
        if (a !== undefined && hasOwn(a, k)) return a[k];
      }
      return rget(OP, k, r);
    },
    set: function (t, k, v) {
      var a = typeof k === "string" ? flatArgs(t) : undefined;
      if (a === undefined) return false;
      a[k] = v;
      return true;
    },
    has: function (t, k) {
      var a = typeof k === "string" ? flatArgs(t) : undefined;
      return (a !== undefined && k in a) || rhas(OP, k);
    }
  };
  function newMessage() {
    var t = {}, m = create(new Proxy(t, FLAT));
    put(flats, t, m);
    return m;
  }

  // The seed's shape: {cmd: "invoke", message: {cmd, args}, client}, and so
  // on. holder is the object whose args (or payload) is the box.
  var holder;
  function seedView(c, b) {
    var p = { cmd: c.kind };
    holder = null;
    if (c.kind === "invoke") {
      var m = newMessage();
      put(boxes, m, b);
      defProp(m, "args", ARGS);
      defProp(m, "cmd", { value: c.name, writable: true, enumerable: true, configurable: true });
      p.message = holder = m;
    } else {
      p.event = c.name;
      if (c.kind === "emit") {
        put(boxes, p, b);
        defProp(p, "payload", ARGS);
        holder = p;
        if (c.target) p.target = c.target;
      }
    }
    p.client = { label: c.label, origin: c.origin };
    return p;
  }

  function headersOf(c) {
    var h = {};
    if (c.headers) { var ks = keys(c.headers); for (var i = 0; i < ks.length; i++) h[ks[i]] = c.headers[ks[i]]; }
    return h;
  }

  // Tauri v2's shape: {cmd: "<command>", callback, error, payload: {…args},
  // options: {headers}}, events as plugin:event|… commands. It also carries,
  // hidden from enumeration and JSON, the seed's message (message.cmd and
  // message.args are cmd and payload), event and client.
  function v2View(c, b) {
    var p = { cmd: c.name, callback: 1, error: 2 }, m = newMessage();
    holder = null;
    put(links, m, p);
    defProp(m, "cmd", MIRROR_CMD);
    if (c.kind === "invoke") {
      put(boxes, p, b);
      defProp(p, "payload", ARGS);
      holder = p;
      p.options = { headers: headersOf(c) };
      put(boxes, m, b);
      defProp(m, "args", ARGS_HIDDEN);
    } else {
      var a;
      if (c.kind === "emit") {
        p.cmd = c.target ? EMIT_TO : EMIT;
        a = c.target ? { target: { kind: "AnyLabel", label: c.target }, event: c.name } : { event: c.name };
        put(boxes, a, b);
        defProp(a, "payload", ARGS);
        holder = a;
      } else {
        p.cmd = LISTEN;
        a = { event: c.name, target: { kind: "Any" }, handler: 0 };
      }
      p.payload = a;
      p.options = { headers: {} };
      defProp(m, "args", MIRROR_PAYLOAD);
      defProp(p, "event", EVENT);
    }
    defProp(p, "message", hiddenValue(m));
    defProp(p, "client", hiddenValue({ label: c.label, origin: c.origin }));
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

  // argsOut is what a result says of the arguments: same when the hook
  // left the box in place and unread (the Go side keeps the bytes), else
  // their JSON (absent for undefined).
  function argsOut(out, b, o, key, viewHolder) {
    var v;
    if (o === viewHolder) {
      if (!b.touched) { out.same = true; return; }
      v = b.value;
    } else {
      v = o[key];
    }
    out.args = stringify(v);
  }
  function nameOut(out, name) {
    if (typeof name !== "string") throw new TypeError("isolation hook set a name that is not a string");
    out.name = name;
  }
  // headersOut gives the headers only if the hook changed them.
  function headersOut(out, c, h) {
    if (!isObj(h)) return;
    var ks = keys(h), orig = c.headers || {}, same = ks.length === keys(orig).length;
    for (var i = 0; same && i < ks.length; i++) same = hasOwn(orig, ks[i]) && orig[ks[i]] === h[ks[i]];
    if (!same) out.headers = stringify(h);
  }

  // What the hook returned, as {name, args, headers, target}: the parts of a
  // call a hook may change. A change of kind blocks.
  function seedResult(c, r, b, vh) {
    if (r.cmd !== c.kind) return { reason: "isolation hook changed cmd from " + c.kind + " to " + text(r.cmd) };
    var out = { ok: true };
    if (c.kind === "invoke") {
      var m = r.message;
      if (!isObj(m)) return { reason: "isolation hook returned an invoke without message" };
      nameOut(out, m.cmd);
      argsOut(out, b, m, "args", vh);
      return out;
    }
    nameOut(out, r.event);
    if (c.kind === "emit") {
      argsOut(out, b, r, "payload", vh);
      out.target = targetLabel(r.target);
    }
    return out;
  }
  function v2Result(c, r, b, vh) {
    var out = { ok: true };
    if (c.kind === "invoke") {
      if (r.cmd === EMIT || r.cmd === EMIT_TO || r.cmd === LISTEN) return { reason: "isolation hook turned command " + c.name + " into " + r.cmd };
      nameOut(out, r.cmd);
      if (isObj(r.options)) headersOut(out, c, r.options.headers);
      argsOut(out, b, r, "payload", vh);
      return out;
    }
    var a = r.payload;
    if (c.kind === "emit") {
      if (r.cmd !== EMIT && r.cmd !== EMIT_TO) return { reason: "isolation hook turned an emit into " + text(r.cmd) };
      if (!isObj(a)) return { reason: "isolation hook returned an emit without payload" };
      out.target = targetLabel(a.target);
      nameOut(out, a.event);
      argsOut(out, b, a, "payload", vh);
      return out;
    }
    if (r.cmd !== LISTEN) return { reason: "isolation hook turned a listen into " + text(r.cmd) };
    if (!isObj(a)) return { reason: "isolation hook returned a listen without payload" };
    nameOut(out, a.event);
    return out;
  }

  // result is what a hook's answer r (not a thenable) says of the call.
  function result(c, r, b, vh, seed) {
    if (r === null || r === undefined) return { reason: "isolation hook returned no payload" };
    if (!isObj(r)) return { reason: "isolation hook returned a value that is not an object" };
    try { return seed ? seedResult(c, r, b, vh) : v2Result(c, r, b, vh); } catch (e) { return { reason: text(e) }; }
  }

  // run calls the hook files and the hook for each of shapes from the i-th,
  // each on a fresh window (win, for the first), and then done(results). A
  // hook that returns a thenable goes on once it settles; a synchronous one
  // makes no function of the driver's for the call.
  function run(win, c, hasArgs, shapes, i, results, done) {
    for (; i < shapes.length; i++, win = null) {
      if (win === null) win = newWindow();
      var seed = shapes[i] === "seed", hook;
      quiet(true);
      try {
        factory.call(win, win, win, win);
        hook = win.__TAURI_ISOLATION_HOOK__;
      } catch (e) {
        quiet(false);
        results.push({ reason: text(e) });
        continue;
      }
      quiet(false);
      if (typeof hook !== "function") { results.push({ reason: "window.__TAURI_ISOLATION_HOOK__ is not a function" }); continue; }
      var b = { touched: false, loaded: false, value: undefined, text: hasArgs, invoke: c.kind === "invoke" };
      var view = seed ? seedView(c, b) : v2View(c, b), vh = holder;
      var res;
      try { res = hook.call(win, view, seed ? undefined : view.options); } catch (e) { results.push({ reason: text(e) }); continue; }
      var thenable = false;
      try { thenable = isObj(res) && typeof res.then === "function"; } catch (e) { results.push({ reason: text(e) }); continue; }
      if (!thenable) { results.push(result(c, res, b, vh, seed)); continue; }
      later(res, c, b, vh, seed, hasArgs, shapes, i, results, done);
      return;
    }
    done(results);
  }

  // later goes on with run once the thenable res a hook returned settles.
  function later(res, c, b, vh, seed, hasArgs, shapes, i, results, done) {
    var goOn = function (r) { results.push(r); run(null, c, hasArgs, shapes, i + 1, results, done); };
    then.call(resolve(res), function (r) { goOn(result(c, r, b, vh, seed)); }, function (e) { goOn({ reason: text(e) }); });
  }

  function newWindow() {
    var win = create(G);
    defProp(win, "window", { value: win, writable: true, enumerable: true, configurable: true });
    defProp(win, "self", { value: win, writable: true, enumerable: true, configurable: true });
    defProp(win, "globalThis", { value: win, writable: true, enumerable: false, configurable: true });
    return win;
  }

  return {
    text: text,
    // load runs the hook files once and reports whether they set the hook.
    load: function (win) {
      factory.call(win, win, win, win);
      return typeof win.__TAURI_ISOLATION_HOOK__ === "function";
    },
    // call runs the call c (kind, name, headers, target, label, origin, from
    // Go), with arguments or not (hasArgs: args() gives them), in each of shapes
    // ("seed", "v2") and reports the results, in order: done(results). win
    // is the window of the first run (a fresh one, from Go).
    call: function (win, c, hasArgs, shapes, done) {
      boxes.length = links.length = flats.length = 0;
      run(win, c, hasArgs, shapes, 0, [], done);
    }
  };
})
