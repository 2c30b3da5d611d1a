// Generated from js/src by js/build.mjs (esbuild). Do not edit.
var __defProp = Object.defineProperty;
var __typeError = (msg) => {
  throw TypeError(msg);
};
var __defNormalProp = (obj, key, value) => key in obj ? __defProp(obj, key, { enumerable: true, configurable: true, writable: true, value }) : obj[key] = value;
var __publicField = (obj, key, value) => __defNormalProp(obj, typeof key !== "symbol" ? key + "" : key, value);
var __accessCheck = (obj, member, msg) => member.has(obj) || __typeError("Cannot " + msg);
var __privateGet = (obj, member, getter) => (__accessCheck(obj, member, "read from private field"), getter ? getter.call(obj) : member.get(obj));
var __privateAdd = (obj, member, value) => member.has(obj) ? __typeError("Cannot add the same private member more than once") : member instanceof WeakSet ? member.add(obj) : member.set(obj, value);
var __privateSet = (obj, member, value, setter) => (__accessCheck(obj, member, "write to private field"), setter ? setter.call(obj, value) : member.set(obj, value), value);
var __privateMethod = (obj, member, method) => (__accessCheck(obj, member, "access private method"), method);
var __privateWrapper = (obj, member, setter, getter) => ({
  set _(value) {
    __privateSet(obj, member, value, setter);
  },
  get _() {
    return __privateGet(obj, member, getter);
  }
});

// src/errors.ts
var TetherError = class extends Error {
  constructor(code, message, details) {
    super(message);
    __publicField(this, "code");
    __publicField(this, "details");
    /** The HTTP status of the answer the error came from, if any. */
    __publicField(this, "status");
    this.name = "TetherError";
    this.code = code;
    this.details = details;
  }
  toJSON() {
    return this.details === void 0 ? { code: this.code, message: this.message } : { code: this.code, message: this.message, details: this.details };
  }
};
function codeForStatus(status) {
  switch (status) {
    case 400:
      return "invalid_argument";
    case 401:
      return "unauthenticated";
    case 403:
      return "permission_denied";
    case 404:
      return "not_found";
    case 408:
    case 504:
      return "deadline_exceeded";
    case 409:
      return "aborted";
    case 413:
    case 429:
      return "resource_exhausted";
    case 499:
      return "canceled";
    case 501:
      return "unimplemented";
    case 502:
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "internal" : "unknown";
  }
}
function errorFromBody(text, status, statusText = "") {
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = void 0;
  }
  if (body !== null && typeof body === "object" && typeof body.code === "string") {
    const b = body;
    const message2 = typeof b.message === "string" ? b.message : b.code;
    const err2 = new TetherError(b.code, message2, b.details);
    err2.status = status;
    return err2;
  }
  const message = text.trim() || statusText || `HTTP ${status}`;
  const err = new TetherError(codeForStatus(status), message);
  err.status = status;
  return err;
}
function toTetherError(err) {
  if (err instanceof TetherError) return err;
  const name = err?.name;
  if (name === "AbortError") return new TetherError("canceled", "the request was canceled");
  const message = err instanceof Error ? err.message : String(err);
  return new TetherError("unavailable", `tether: gateway unreachable: ${message}`);
}

// src/channel.ts
var nextChannelId = 1;
function rethrowLater(err) {
  const report = globalThis.reportError;
  if (typeof report === "function") {
    report(err);
    return;
  }
  queueMicrotask(() => {
    throw err;
  });
}
var _onmessage, _next, _pending, _end, _used, _Channel_instances, frame_fn;
var Channel = class {
  constructor(onmessage) {
    __privateAdd(this, _Channel_instances);
    /** An id, unique in this page, for parity with Tauri's Channel. */
    __publicField(this, "id");
    __privateAdd(this, _onmessage);
    __privateAdd(this, _next, 0);
    __privateAdd(this, _pending, /* @__PURE__ */ new Map());
    __privateAdd(this, _end);
    __privateAdd(this, _used, false);
    this.id = nextChannelId++;
    __privateSet(this, _onmessage, onmessage ?? (() => {
    }));
  }
  /** The handler called for each message, in order. Messages that arrived before it was set are not replayed. */
  set onmessage(handler) {
    __privateSet(this, _onmessage, handler);
  }
  get onmessage() {
    return __privateGet(this, _onmessage);
  }
  /** Serializes as Tauri's Channel does, so a Channel nested where invoke does not look for it is visible. */
  toJSON() {
    return `__CHANNEL__:${this.id}`;
  }
  // sink hands the transport a fresh frame consumer. A Channel serves one invoke.
  /** @internal */
  _sink() {
    if (__privateGet(this, _used)) throw new TetherError("invalid_argument", "tether: a Channel can be passed to one invoke only");
    __privateSet(this, _used, true);
    return {
      frame: (f) => __privateMethod(this, _Channel_instances, frame_fn).call(this, f),
      done: () => __privateGet(this, _end) !== void 0 && __privateGet(this, _next) >= __privateGet(this, _end)
    };
  }
};
_onmessage = new WeakMap();
_next = new WeakMap();
_pending = new WeakMap();
_end = new WeakMap();
_used = new WeakMap();
_Channel_instances = new WeakSet();
frame_fn = function(f) {
  if ("end" in f) {
    if (__privateGet(this, _end) !== void 0) throw new TetherError("internal", "tether: two end messages on one channel");
    if (f.index < __privateGet(this, _next) || [...__privateGet(this, _pending).keys()].some((i) => i >= f.index)) {
      throw new TetherError("internal", "tether: channel end message before a message it should follow");
    }
    __privateSet(this, _end, f.index);
    return;
  }
  if (f.index < __privateGet(this, _next) || __privateGet(this, _pending).has(f.index) || __privateGet(this, _end) !== void 0 && f.index >= __privateGet(this, _end)) {
    throw new TetherError("internal", `tether: unexpected channel message index ${f.index}`);
  }
  __privateGet(this, _pending).set(f.index, f.message);
  while (__privateGet(this, _pending).has(__privateGet(this, _next))) {
    const m = __privateGet(this, _pending).get(__privateGet(this, _next));
    __privateGet(this, _pending).delete(__privateGet(this, _next));
    __privateWrapper(this, _next)._++;
    try {
      __privateGet(this, _onmessage).call(this, m);
    } catch (err) {
      rethrowLater(err);
    }
  }
};

// src/config.ts
var LABEL_HEADER = "Tether-Client-Label";
var config = {
  baseUrl: "",
  label: "main",
  fetch: (input, init) => globalThis.fetch(input, init),
  headers: {},
  reconnect: { initialDelayMs: 250, maxDelayMs: 1e4 }
};
function configure(opts = {}) {
  if (opts.baseUrl !== void 0) config.baseUrl = opts.baseUrl.replace(/\/+$/, "");
  if (opts.label !== void 0) config.label = opts.label;
  if (opts.fetch !== void 0) config.fetch = opts.fetch;
  if (opts.headers !== void 0) config.headers = { ...opts.headers };
  if (opts.reconnect !== void 0) config.reconnect = { ...config.reconnect, ...opts.reconnect };
  return getConfig();
}
function getConfig() {
  return { ...config, headers: { ...config.headers }, reconnect: { ...config.reconnect } };
}
function metadata() {
  return {
    currentWindow: { label: config.label },
    currentWebview: { label: config.label, windowLabel: config.label }
  };
}
function url(path, query) {
  let u = config.baseUrl + path;
  if (query && query.length > 0) {
    u += "?" + query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
  }
  return u;
}
function headers(extra) {
  const h = new Headers(config.headers);
  if (config.label) h.set(LABEL_HEADER, config.label);
  if (extra) new Headers(extra).forEach((v, k) => h.set(k, v));
  return h;
}
async function request(input, init) {
  let res;
  try {
    res = await config.fetch(input, init);
  } catch (err) {
    throw toTetherError(err);
  }
  if (res.ok) return res;
  let text = "";
  try {
    text = await res.text();
  } catch {
  }
  throw errorFromBody(text, res.status, res.statusText);
}
function reconnectSettings() {
  return config.reconnect;
}

// src/sse.ts
var SSEParser = class {
  constructor(handlers, lastEventId = "") {
    __publicField(this, "handlers", handlers);
    __publicField(this, "buf", "");
    __publicField(this, "sawCR", false);
    __publicField(this, "started", false);
    __publicField(this, "data", []);
    __publicField(this, "eventType", "");
    __publicField(this, "frameHasId", false);
    __publicField(this, "lastEventId");
    this.lastEventId = lastEventId;
  }
  /** feed parses a chunk of text. */
  feed(chunk) {
    if (!this.started) {
      if (chunk.length === 0) return;
      this.started = true;
      if (chunk.charCodeAt(0) === 65279) chunk = chunk.slice(1);
    }
    let text = chunk;
    if (this.sawCR) {
      this.sawCR = false;
      if (text.startsWith("\n")) text = text.slice(1);
    }
    this.buf += text;
    let start = 0;
    for (let i = 0; i < this.buf.length; i++) {
      const c = this.buf.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(this.buf.slice(start, i));
      if (c === 13) {
        if (i + 1 < this.buf.length) {
          if (this.buf.charCodeAt(i + 1) === 10) i++;
        } else {
          this.sawCR = true;
        }
      }
      start = i + 1;
    }
    this.buf = this.buf.slice(start);
  }
  /** end discards an unterminated last frame, as the spec says. */
  end() {
    this.buf = "";
    this.data = [];
    this.eventType = "";
    this.frameHasId = false;
  }
  line(line) {
    if (line === "") {
      this.dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58) return;
    const colon = line.indexOf(":");
    let field;
    let value;
    if (colon === -1) {
      field = line;
      value = "";
    } else {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
    }
    switch (field) {
      case "event":
        this.eventType = value;
        break;
      case "data":
        this.data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) {
          this.lastEventId = value;
          this.frameHasId = true;
        }
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) this.handlers.onRetry?.(parseInt(value, 10));
        break;
      default:
        break;
    }
  }
  dispatch() {
    const hasData = this.data.length > 0;
    const msg = {
      event: this.eventType || "message",
      data: this.data.join("\n"),
      lastEventId: this.lastEventId,
      hasId: this.frameHasId
    };
    this.data = [];
    this.eventType = "";
    this.frameHasId = false;
    if (hasData) this.handlers.onMessage(msg);
  }
};
async function readSSE(body, parser, stop) {
  const reader = body.getReader();
  const decoder = new TextDecoder("utf-8");
  const cancel = () => {
    reader.cancel().catch(() => {
    });
  };
  stop?.addEventListener("abort", cancel, { once: true });
  try {
    for (; ; ) {
      if (stop?.aborted) return;
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
    if (stop?.aborted) return;
    parser.feed(decoder.decode());
    parser.end();
  } finally {
    stop?.removeEventListener("abort", cancel);
    if (stop?.aborted) cancel();
    try {
      reader.releaseLock();
    } catch {
    }
  }
}

// src/invoke.ts
function isBytes(v) {
  return v instanceof ArrayBuffer || ArrayBuffer.isView(v);
}
function bytesOf(v) {
  return v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}
function linkSignal(signal) {
  const ctrl = new AbortController();
  if (!signal) return { ctrl, unlink: () => {
  } };
  if (signal.aborted) {
    ctrl.abort();
    return { ctrl, unlink: () => {
    } };
  }
  const onAbort = () => ctrl.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  return { ctrl, unlink: () => signal.removeEventListener("abort", onAbort) };
}
async function send(cmd, body, options = {}, sink) {
  const h = headers(options.headers);
  let payload;
  if ("bytes" in body) {
    h.set("Content-Type", "application/octet-stream");
    payload = body.bytes;
  } else {
    h.set("Content-Type", "application/json");
    payload = body.json;
  }
  h.set("Accept", sink ? "text/event-stream" : "application/json, application/octet-stream");
  const { ctrl, unlink } = linkSignal(options.signal);
  try {
    const res = await request(url("/ipc/invoke/" + encodeURIComponent(cmd)), {
      method: "POST",
      headers: h,
      body: payload,
      signal: ctrl.signal
    });
    const type = (res.headers.get("Content-Type") || "").toLowerCase();
    if (sink && type.startsWith("text/event-stream") && res.body) {
      return await readChannel(res.body, sink, ctrl);
    }
    return await decodeResult(res, type);
  } catch (err) {
    throw toTetherError(err);
  } finally {
    unlink();
  }
}
async function decodeResult(res, type) {
  if (type.startsWith("application/octet-stream")) return await res.arrayBuffer();
  const text = await res.text();
  if (text === "") return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new TetherError("internal", "tether: the gateway answered with invalid JSON");
  }
}
function parseFrame(data) {
  let v;
  try {
    v = JSON.parse(data);
  } catch {
    throw new TetherError("internal", "tether: malformed channel frame");
  }
  const f = v;
  const index = typeof f?.index === "string" ? Number(f.index) : f?.index;
  if (typeof index !== "number" || !Number.isSafeInteger(index) || index < 0) {
    throw new TetherError("internal", "tether: channel frame without a valid index");
  }
  if (f.end === true) return { index, end: true };
  return { index, message: f.message };
}
async function readChannel(body, sink, ctrl) {
  let failure;
  let sawEnd = false;
  const stop = (err) => {
    if (!failure && err) failure = err;
    ctrl.abort();
  };
  const parser = new SSEParser({
    onMessage: (m) => {
      if (failure || ctrl.signal.aborted) return;
      if (m.event === "error") {
        stop(errorFromBody(m.data, 500));
        return;
      }
      if (m.event !== "message") return;
      try {
        const frame = parseFrame(m.data);
        if ("end" in frame) sawEnd = true;
        sink.frame(frame);
      } catch (err) {
        stop(toTetherError(err));
        return;
      }
      if (sink.done()) stop();
    }
  });
  try {
    await readSSE(body, parser, ctrl.signal);
  } catch (err) {
    if (!ctrl.signal.aborted) throw toTetherError(err);
  }
  if (failure) throw failure;
  if (sink.done()) return null;
  if (ctrl.signal.aborted) throw new TetherError("canceled", "the request was canceled");
  if (sawEnd) throw new TetherError("data_loss", "tether: channel stream ended with messages missing");
  throw new TetherError("unavailable", "tether: channel stream closed before its end message");
}

// src/events.ts
var NAME_RE = /^[A-Za-z0-9\-/:_]+$/;
function checkEventName(name) {
  if (typeof name !== "string" || !NAME_RE.test(name)) {
    throw new TetherError(
      "invalid_argument",
      `tether: invalid event name ${JSON.stringify(name)}: use letters, digits, '-', '/', ':' and '_'`
    );
  }
}
function targetLabel(target) {
  if (target === void 0) return "";
  if (typeof target === "string") return target;
  if (target.kind === "Any") return "";
  if (target.kind === "App") {
    throw new TetherError("unimplemented", "tether: the App event target is not reachable through the gateway");
  }
  if (typeof target.label !== "string" || target.label === "") {
    throw new TetherError("invalid_argument", "tether: event target without a label");
  }
  return target.label;
}
function compareIds(a, b) {
  if (/^[0-9]+$/.test(a) && /^[0-9]+$/.test(b)) {
    const x = a.replace(/^0+(?=.)/, "");
    const y = b.replace(/^0+(?=.)/, "");
    if (x.length !== y.length) return x.length - y.length;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}
var RETRIABLE = /* @__PURE__ */ new Set(["unavailable", "internal", "unknown", "deadline_exceeded", "resource_exhausted", "aborted"]);
function retriable(err, status) {
  if (status !== void 0) return status >= 500 || status === 408 || status === 429;
  return RETRIABLE.has(err.code);
}
var nextListenerId = 1;
function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
var Conn = class {
  constructor(hub, names, resumeFirst) {
    __publicField(this, "hub", hub);
    __publicField(this, "names", names);
    __publicField(this, "resumeFirst", resumeFirst);
    __publicField(this, "ctrl", new AbortController());
    __publicField(this, "live", false);
    __publicField(this, "everLive", false);
    /** Listeners whose listen() waits for this connection's first success. */
    __publicField(this, "waiting", /* @__PURE__ */ new Set());
    __publicField(this, "retryMs");
  }
  get closed() {
    return this.ctrl.signal.aborted;
  }
  close() {
    this.live = false;
    this.ctrl.abort();
  }
  async run() {
    let attempt = 0;
    while (!this.closed) {
      const attemptCtrl = new AbortController();
      let healthy = false;
      let liveSince = 0;
      const stopAttempt = () => attemptCtrl.abort();
      this.ctrl.signal.addEventListener("abort", stopAttempt, { once: true });
      let fatal;
      try {
        const h = headers({ Accept: "text/event-stream" });
        const last = this.hub.lastId;
        if (last !== "" && (this.everLive || this.resumeFirst)) h.set("Last-Event-ID", last);
        const query = [...this.names].map((n) => ["event", n]);
        if (this.hub.target) query.push(["target", this.hub.target]);
        let res;
        try {
          res = await request(url("/ipc/listen", query), { method: "GET", headers: h, signal: attemptCtrl.signal });
        } catch (err) {
          const e = toTetherError(err);
          if (!this.everLive || !retriable(e, e.status)) fatal = e;
          throw e;
        }
        if (!res.body) throw new TetherError("unavailable", "tether: listen stream without a body");
        this.live = true;
        this.everLive = true;
        liveSince = Date.now();
        this.hub.connLive(this);
        const parser = new SSEParser(
          {
            onMessage: (m) => {
              if (this.closed || attemptCtrl.signal.aborted) return;
              if (m.event === "error" && !m.hasId) {
                const e = errorFromBody(m.data, 500);
                if (!retriable(e)) fatal = e;
                attemptCtrl.abort();
                return;
              }
              healthy = true;
              this.hub.message(this, m);
            },
            onRetry: (ms) => {
              this.retryMs = ms;
            }
          },
          this.hub.lastId
        );
        await readSSE(res.body, parser, attemptCtrl.signal);
      } catch {
      } finally {
        this.ctrl.signal.removeEventListener("abort", stopAttempt);
        this.live = false;
      }
      if (this.closed) return;
      if (fatal) {
        this.hub.connFailed(this, fatal);
        return;
      }
      if (healthy || liveSince > 0 && Date.now() - liveSince > 5e3) attempt = 0;
      const r = reconnectSettings();
      const base = this.retryMs ?? r.initialDelayMs;
      const delay = Math.min(r.maxDelayMs, base * 2 ** Math.min(attempt, 20)) * (0.8 + 0.4 * Math.random());
      attempt++;
      await sleep(delay, this.ctrl.signal);
    }
  }
};
var HANDOFF_GRACE_MS = 500;
var Hub = class {
  constructor(target) {
    __publicField(this, "target", target);
    __publicField(this, "listeners", /* @__PURE__ */ new Map());
    /** The connection delivering events. */
    __publicField(this, "current", null);
    /** A connection for a larger name set, not live yet. */
    __publicField(this, "next", null);
    /** After next went live: the old connection, still delivering until it catches up. */
    __publicField(this, "handoff", null);
    __publicField(this, "reopenScheduled", false);
    /** The highest event id delivered: where a dropped connection resumes. */
    __publicField(this, "lastId", "");
    /** The last id delivered per event name: duplicates and stale replays stop here. */
    __publicField(this, "lastByName", /* @__PURE__ */ new Map());
    /** Set when a connection came back: the next id is taken as is (the server may have restarted). */
    __publicField(this, "restarted", false);
  }
  /** add registers a listener; its promise settles when its events are flowing (or cannot). */
  add(name, handler, opts) {
    const listener = { id: nextListenerId++, name, handler, opts, removed: false };
    const ready = new Promise((resolve, reject) => {
      listener.settle = { resolve, reject };
    });
    this.listeners.set(listener.id, listener);
    const serving = this.next ?? this.current;
    if (serving && serving.names.has(name)) {
      if (serving.live) this.settle(listener);
      else serving.waiting.add(listener);
    } else {
      this.scheduleReopen();
    }
    return { listener, ready };
  }
  /** remove unregisters a listener at any stage; calling it again does nothing. */
  remove(listener, reason) {
    if (listener.removed) return;
    listener.removed = true;
    listener.cleanup?.();
    this.listeners.delete(listener.id);
    for (const c of [this.current, this.next, this.handoff?.old]) c?.waiting.delete(listener);
    this.settle(listener, reason ?? new TetherError("canceled", "tether: unlistened before the subscription was established"));
    if (this.listeners.size === 0) this.closeAll();
  }
  settle(l, err) {
    const s = l.settle;
    if (!s) return;
    l.settle = void 0;
    if (err) s.reject(err);
    else s.resolve();
  }
  closeAll() {
    this.lastId = "";
    this.lastByName.clear();
    this.finishHandoff(false);
    this.next?.close();
    this.current?.close();
    this.next = null;
    this.current = null;
  }
  scheduleReopen() {
    if (this.reopenScheduled) return;
    this.reopenScheduled = true;
    queueMicrotask(() => {
      this.reopenScheduled = false;
      this.reopen();
    });
  }
  reopen() {
    const names = /* @__PURE__ */ new Set();
    for (const l of this.listeners.values()) names.add(l.name);
    if (names.size === 0) return;
    const serving = this.next ?? this.current;
    if (serving && [...names].every((n) => serving.names.has(n))) {
      for (const l of this.listeners.values()) if (l.settle) serving.live ? this.settle(l) : serving.waiting.add(l);
      return;
    }
    const resume = this.current !== null && !this.current.live;
    const conn = new Conn(this, names, resume);
    for (const l of this.listeners.values()) if (l.settle) conn.waiting.add(l);
    if (this.next) {
      for (const l of this.next.waiting) conn.waiting.add(l);
      this.next.close();
    }
    this.next = conn;
    void conn.run();
  }
  // connLive is called each time a connection (re)connects.
  connLive(conn) {
    if (conn === this.current && !this.handoff) {
      this.lastByName.clear();
      this.restarted = true;
    }
    if (conn === this.next) {
      this.next = null;
      const old = this.current;
      this.current = conn;
      if (old && old.live) {
        this.finishHandoff(true);
        this.handoff = { old, buffer: [], timer: setTimeout(() => this.finishHandoff(true), HANDOFF_GRACE_MS) };
      } else {
        old?.close();
      }
    }
    for (const l of conn.waiting) this.settle(l);
    conn.waiting.clear();
  }
  // connFailed is called when a connection gives up for good.
  connFailed(conn, err) {
    conn.close();
    if (conn === this.next) {
      this.next = null;
      for (const l of [...conn.waiting]) this.remove(l, err);
      return;
    }
    if (conn === this.current) {
      this.current = null;
      for (const l of [...this.listeners.values()]) {
        if (!conn.names.has(l.name)) continue;
        const wasLive = !l.settle;
        this.remove(l, err);
        if (wasLive) {
          if (l.opts.onError) l.opts.onError(err);
          else console.warn(`tether: listen ${l.name} ended: ${err.code}: ${err.message}`);
        }
      }
      if (this.listeners.size > 0) this.scheduleReopen();
    }
  }
  finishHandoff(flush) {
    const h = this.handoff;
    if (!h) return;
    this.handoff = null;
    clearTimeout(h.timer);
    h.old.close();
    if (flush) for (const m of h.buffer) this.deliver(m);
  }
  message(conn, m) {
    const h = this.handoff;
    if (h && conn === this.current) {
      if (h.old.names.has(m.event) || !m.hasId) h.buffer.push(m);
      else this.deliver(m);
      return;
    }
    if (h && conn === h.old) {
      this.deliver(m);
      const first = h.buffer.find((b) => b.hasId);
      if (first && m.hasId && compareIds(m.lastEventId, first.lastEventId) >= 0) this.finishHandoff(true);
      return;
    }
    if (conn !== this.current) return;
    this.deliver(m);
  }
  deliver(m) {
    if (m.event === "lagged" && !m.hasId) {
      let dropped = 0;
      try {
        dropped = Number(JSON.parse(m.data).dropped) || 0;
      } catch {
      }
      let told = false;
      for (const l of [...this.listeners.values()]) {
        if (l.opts.onLagged) {
          told = true;
          try {
            l.opts.onLagged(dropped);
          } catch (err) {
            rethrowLater(err);
          }
        }
      }
      if (!told) console.warn(`tether: the server dropped ${dropped} event(s) for this page (lagged)`);
      return;
    }
    if (m.hasId) {
      const id = m.lastEventId;
      const prev = this.lastByName.get(m.event);
      if (prev !== void 0 && compareIds(id, prev) <= 0) return;
      this.lastByName.set(m.event, id);
      if (this.lastId === "" || this.restarted || compareIds(id, this.lastId) > 0) this.lastId = id;
      this.restarted = false;
    }
    let payload;
    try {
      payload = JSON.parse(m.data);
    } catch {
      payload = m.data;
    }
    for (const l of [...this.listeners.values()]) {
      if (l.name !== m.event || l.removed) continue;
      try {
        l.handler({ event: m.event, id: l.id, payload });
      } catch (err) {
        rethrowLater(err);
      }
    }
  }
};
var hubs = /* @__PURE__ */ new Map();
function hubFor(target) {
  let h = hubs.get(target);
  if (!h) {
    h = new Hub(target);
    hubs.set(target, h);
  }
  return h;
}
function subscribe(event, handler, opts = {}) {
  checkEventName(event);
  const hub = hubFor(targetLabel(opts.target));
  const { listener, ready } = hub.add(event, handler, opts);
  const signal = opts.signal;
  if (signal) {
    const onAbort = () => hub.remove(listener);
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener("abort", onAbort, { once: true });
      listener.cleanup = () => signal.removeEventListener("abort", onAbort);
    }
  }
  return { listener, hub, ready };
}
async function listen(event, handler, options = {}) {
  const { listener, hub, ready } = subscribe(event, handler, options);
  await ready;
  return () => hub.remove(listener);
}
async function once(event, handler, options = {}) {
  let fired = false;
  let sub;
  sub = subscribe(
    event,
    (e) => {
      if (fired) return;
      fired = true;
      sub.hub.remove(sub.listener);
      handler(e);
    },
    options
  );
  try {
    await sub.ready;
  } catch (err) {
    if (!fired) throw err;
  }
  return () => sub.hub.remove(sub.listener);
}
async function emit(event, payload) {
  checkEventName(event);
  await emitRaw(event, payload, "");
}
async function emitTo(target, event, payload) {
  checkEventName(event);
  await emitRaw(event, payload, targetLabel(target));
}
async function emitRaw(event, payload, target) {
  const h = headers({ "Content-Type": "application/json" });
  const body = payload === void 0 ? "null" : JSON.stringify(payload);
  const res = await request(url("/ipc/emit/" + encodeURIComponent(event), target ? [["target", target]] : []), {
    method: "POST",
    headers: h,
    body
  });
  try {
    await res.body?.cancel();
  } catch {
  }
}

// src/client.ts
async function invoke(cmd, args = {}, options) {
  try {
    if (isBytes(args)) return await send(cmd, { bytes: bytesOf(args) }, options);
    if (args === null || typeof args !== "object" || Array.isArray(args)) {
      throw new TetherError("invalid_argument", "tether: invoke args must be an object, an ArrayBuffer or a Uint8Array");
    }
    let channel;
    const rest = {};
    for (const [k, v] of Object.entries(args)) {
      if (v instanceof Channel) {
        if (channel) throw new TetherError("invalid_argument", "tether: one Channel per invoke");
        channel = v;
      } else {
        rest[k] = v;
      }
    }
    const sink = channel?._sink();
    return await send(cmd, { json: JSON.stringify(rest) }, options, sink);
  } catch (err) {
    throw toTetherError(err);
  }
}
try {
  const here = new URL(import.meta.url);
  const m = /^(.*)\/ipc\/client\.js$/.exec(here.pathname);
  if ((here.protocol === "http:" || here.protocol === "https:") && m) configure({ baseUrl: here.origin + m[1] });
} catch {
}
export {
  Channel,
  LABEL_HEADER,
  SSEParser,
  TetherError,
  configure,
  emit,
  emitTo,
  getConfig,
  invoke,
  listen,
  metadata,
  once
};
