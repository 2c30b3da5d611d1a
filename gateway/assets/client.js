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

// src/stream.ts
var RETRIABLE = /* @__PURE__ */ new Set(["unavailable", "internal", "unknown", "deadline_exceeded", "resource_exhausted", "aborted"]);
function retriable(err, status) {
  if (status !== void 0) return status >= 500 || status === 408 || status === 429;
  return RETRIABLE.has(err.code);
}
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
function backoff(attempt, base) {
  const r = reconnectSettings();
  return Math.min(r.maxDelayMs, (base ?? r.initialDelayMs) * 2 ** Math.min(attempt, 20)) * (0.8 + 0.4 * Math.random());
}
function base64ToBuffer(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}
function parseChannelFrame(data) {
  let v;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  const id = Number(v.id);
  if (!Number.isSafeInteger(id)) return null;
  if (v.gone === true) {
    const e = v.error;
    return { id, gone: true, error: e ? new TetherError(e.code ?? "unknown", e.message ?? "", e.details) : void 0 };
  }
  const index = Number(v.index);
  if (!Number.isSafeInteger(index) || index < 0) return null;
  if (v.end === true) return { id, index, end: true };
  if (typeof v.bytes === "string") return { id, index, message: base64ToBuffer(v.bytes) };
  return { id, index, message: v.message };
}
var PageStream = class {
  constructor() {
    __publicField(this, "id", "");
    __publicField(this, "ctrl", null);
    /** Resolves with the stream id once it is connected. */
    __publicField(this, "opening", null);
    __publicField(this, "settleOpen", null);
    __publicField(this, "subs", /* @__PURE__ */ new Map());
    __publicField(this, "routes", /* @__PURE__ */ new Map());
    __publicField(this, "users", 0);
    __publicField(this, "retryMs");
    __publicField(this, "attempt", null);
    /** The highest event id the stream delivered: a resume point for subscriptions that saw none. */
    __publicField(this, "lastId", "");
    // since holds, for each subscription, the stream's last id when it began:
    // renewed before it saw an event of its own, it resumes there.
    __publicField(this, "since", /* @__PURE__ */ new Map());
  }
  /** open returns the id of the live stream, connecting first if needed. */
  open() {
    if (this.opening) return this.opening;
    this.opening = new Promise((resolve, reject) => {
      this.settleOpen = { resolve, reject };
    });
    this.opening.catch(() => {
    });
    this.ctrl = new AbortController();
    void this.run(this.ctrl);
    return this.opening;
  }
  /** hold marks a user of the stream (a subscription, a call with channels); release undoes it. */
  hold() {
    this.users++;
  }
  release(n = 1) {
    this.users -= n;
    if (this.users <= 0) {
      this.users = 0;
      queueMicrotask(() => {
        if (this.users === 0 && this.subs.size === 0 && this.routes.size === 0) this.close();
      });
    }
  }
  /** stale says the server no longer knows the stream id: drop it and connect again at once. */
  stale(id) {
    if (id !== this.id || !this.ctrl) return;
    this.attempt?.abort();
  }
  close() {
    this.ctrl?.abort();
    this.ctrl = null;
    this.opening = null;
    this.id = "";
    this.settleOpen = null;
  }
  /** subscribe asks the server for sub's events; it resolves once they flow. */
  async subscribe(sub) {
    this.subs.set(sub.id, sub);
    try {
      await this.post(sub, false);
    } catch (err) {
      this.subs.delete(sub.id);
      throw err;
    }
  }
  async post(sub, renewal) {
    const id = await this.open();
    const body = { id: sub.id, events: sub.events };
    const after = sub.after() || (renewal ? this.since.get(sub.id) ?? "" : "");
    if (after !== "") body.after = after;
    if (!renewal) this.since.set(sub.id, this.lastId);
    let res;
    try {
      res = await request(url(`/ipc/stream/${encodeURIComponent(id)}/listen`), {
        method: "POST",
        headers: headers({ "Content-Type": "application/json" }),
        body: JSON.stringify(body)
      });
    } catch (err) {
      const e = toTetherError(err);
      if (e.code === "already_exists") return;
      if (isNoStream(e)) {
        this.stale(id);
        return this.post(sub, true);
      }
      throw err;
    }
    await res.body?.cancel().catch(() => {
    });
  }
  /** unsubscribe drops a subscription (the server is told; errors are ignored). */
  // The server is told after the microtasks already queued, so that a
  // stream that closes because nothing uses it any more (release) is not
  // told first: closing it drops its subscriptions anyway.
  unsubscribe(subId) {
    this.since.delete(subId);
    if (!this.subs.delete(subId)) return;
    const id = this.id;
    if (id === "") return;
    queueMicrotask(() => {
      if (this.id !== id) return;
      void request(url(`/ipc/stream/${encodeURIComponent(id)}/unlisten`), {
        method: "POST",
        headers: headers({ "Content-Type": "application/json" }),
        body: JSON.stringify({ id: subId })
      }).then((r) => r.body?.cancel()).catch(() => {
      });
    });
  }
  async run(ctrl) {
    let attempt = 0;
    let everLive = false;
    while (!ctrl.signal.aborted) {
      const attemptCtrl = new AbortController();
      this.attempt = attemptCtrl;
      const stop = () => attemptCtrl.abort();
      ctrl.signal.addEventListener("abort", stop, { once: true });
      let healthy = false;
      let liveSince = 0;
      let fatal;
      try {
        let res;
        try {
          res = await request(url("/ipc/stream"), { method: "GET", headers: headers({ Accept: "text/event-stream" }), signal: attemptCtrl.signal });
        } catch (err) {
          const e = toTetherError(err);
          if (!everLive || !retriable(e, e.status)) fatal = e;
          throw e;
        }
        const id = res.headers.get("Tether-Stream");
        if (!id || !res.body) throw new TetherError("unavailable", "tether: the page stream answered without its id");
        liveSince = Date.now();
        const wasLive = everLive;
        everLive = true;
        this.id = id;
        const parser = new SSEParser(
          {
            onMessage: (m) => {
              if (attemptCtrl.signal.aborted) return;
              if (m.event === "error" && !m.hasId) {
                const e = errorFromBody(m.data, 500);
                if (!retriable(e)) fatal = e;
                attemptCtrl.abort();
                return;
              }
              healthy = true;
              this.dispatch(m);
            },
            onRetry: (ms) => {
              this.retryMs = ms;
            }
          },
          ""
        );
        this.settleOpen?.resolve(id);
        this.settleOpen = null;
        if (wasLive) this.resubscribe();
        await readSSE(res.body, parser, attemptCtrl.signal);
      } catch {
      } finally {
        ctrl.signal.removeEventListener("abort", stop);
      }
      this.id = "";
      this.dropRoutes();
      if (ctrl.signal.aborted) return;
      if (fatal) {
        this.fail(fatal);
        return;
      }
      if (!this.settleOpen) {
        this.opening = new Promise((resolve, reject) => {
          this.settleOpen = { resolve, reject };
        });
        this.opening.catch(() => {
        });
      }
      if (healthy || liveSince > 0 && Date.now() - liveSince > 5e3) attempt = 0;
      const delay = backoff(attempt, this.retryMs);
      attempt++;
      await sleep(delay, ctrl.signal);
    }
  }
  // fail ends the stream for good: waiting opens reject, subscriptions end.
  fail(err) {
    const settle = this.settleOpen;
    this.close();
    settle?.reject(err);
    for (const sub of [...this.subs.values()]) {
      this.subs.delete(sub.id);
      sub.ended(err, false);
    }
  }
  // resubscribe makes every subscription again after a reconnection, from
  // its last id.
  resubscribe() {
    for (const sub of [...this.subs.values()]) void this.renew(sub, this.id);
  }
  // renew subscribes sub again on stream sid, retrying a retriable refusal
  // with backoff while the stream lasts; a final one ends it.
  async renew(sub, sid) {
    for (let attempt = 0; this.subs.get(sub.id) === sub && this.id === sid; attempt++) {
      try {
        await this.post(sub, true);
        return;
      } catch (err) {
        const e = toTetherError(err);
        if (this.subs.get(sub.id) !== sub || this.id !== sid) return;
        if (!(retriable(e, e.status) || e.code === "not_found")) {
          this.subs.delete(sub.id);
          sub.ended(e, false);
          return;
        }
        await sleep(backoff(attempt), this.ctrl?.signal ?? new AbortController().signal);
      }
    }
  }
  // dropRoutes tells the channels of a stream that ended that they are gone.
  dropRoutes() {
    const routes = [...this.routes.entries()];
    this.routes.clear();
    for (const [id, r] of routes) {
      try {
        r.frame({ id, gone: true, error: new TetherError("unavailable", "tether: the page stream ended") });
      } catch {
      }
    }
  }
  dispatch(m) {
    if (m.event === "tether.channel") {
      const f = parseChannelFrame(m.data);
      if (!f) return;
      const r = this.routes.get(f.id);
      if (!r) return;
      if ("gone" in f || "end" in f) this.routes.delete(f.id);
      r.frame(f);
      if (this.routes.size === 0) this.release(0);
      return;
    }
    if (m.event === "tether.open") return;
    if (m.event === "tether.lagged" || m.event === "tether.unlisten") {
      let v;
      try {
        v = JSON.parse(m.data);
      } catch {
        return;
      }
      const sub = v.id !== void 0 ? this.subs.get(v.id) : void 0;
      if (!sub) return;
      if (m.event === "tether.lagged") {
        sub.lagged(Number(v.dropped) || 0);
        return;
      }
      const e = new TetherError(v.error?.code ?? "unavailable", v.error?.message ?? "subscription ended", v.error?.details);
      if (retriable(e)) {
        void this.renew(sub, this.id);
        return;
      }
      this.subs.delete(sub.id);
      sub.ended(e, false);
      return;
    }
    if (!m.hasId) return;
    if (m.lastEventId !== "" && (this.lastId === "" || compareIds(m.lastEventId, this.lastId) > 0)) this.lastId = m.lastEventId;
    for (const sub of this.subs.values()) if (sub.events.includes(m.event)) sub.event(m);
  }
};
function isNoStream(e) {
  return e.code === "not_found" && e.message.startsWith("no such page stream");
}
function compareIds(a, b) {
  if (/^[0-9]+$/.test(a) && /^[0-9]+$/.test(b)) {
    const x = a.replace(/^0+(?=.)/, "");
    const y = b.replace(/^0+(?=.)/, "");
    if (x.length !== y.length) return x.length - y.length;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}
var theStream = null;
function pageStream() {
  theStream ?? (theStream = new PageStream());
  return theStream;
}
function stringifyArgs(cmd, value, replacer) {
  try {
    return JSON.stringify(value, replacer) ?? "null";
  } catch (err) {
    if (err instanceof TetherError) throw err;
    throw new TetherError(
      "invalid_argument",
      `tether: the arguments of ${JSON.stringify(cmd)} cannot be sent as JSON: ${err?.message ?? String(err)}`
    );
  }
}

// src/invoke.ts
var Route = class {
  constructor(onFrame) {
    __publicField(this, "onFrame", onFrame);
    __publicField(this, "received", 0);
    __publicField(this, "done", false);
    __publicField(this, "waits", []);
  }
  frame(f) {
    if ("gone" in f) this.done = true;
    else this.received++;
    try {
      this.onFrame(f);
    } finally {
      this.waits = this.waits.filter((w) => {
        if (this.done || this.received >= w.n) {
          w.resolve();
          return false;
        }
        return true;
      });
    }
  }
  wait(n) {
    if (this.done || this.received >= n) return Promise.resolve();
    return new Promise((resolve) => this.waits.push({ n, resolve }));
  }
};
function parseFrames(h) {
  const out = /* @__PURE__ */ new Map();
  for (const part of (h ?? "").split(",")) {
    const [k, v] = part.split("=");
    const id = Number(k);
    const n = Number(v);
    if (part !== "" && Number.isSafeInteger(id) && Number.isSafeInteger(n)) out.set(id, n);
  }
  return out;
}
async function sendWithChannels(cmd, json, routes, options = {}) {
  const stream = pageStream();
  stream.hold();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        return await sendOnStream(stream, cmd, json, routes, options);
      } catch (err) {
        const e = toTetherError(err);
        if (attempt > 0 || !isNoStream(e)) throw e;
      }
    }
  } finally {
    stream.release();
  }
}
async function sendOnStream(stream, cmd, json, routes, options) {
  const { ctrl, unlink } = linkSignal(options.signal);
  try {
    const sid = await stream.open();
    for (const [id, r] of routes) stream.routes.set(id, r);
    const h = headers(options.headers);
    h.set("Content-Type", "application/json");
    h.set("Accept", "application/json, application/octet-stream");
    h.set("Tether-Stream", sid);
    h.set("Tether-Channels", [...routes.keys()].join(","));
    let res;
    try {
      res = await request(url("/ipc/invoke/" + encodeURIComponent(cmd)), { method: "POST", headers: h, body: json, signal: ctrl.signal });
    } catch (err) {
      const e = toTetherError(err);
      if (e.status === void 0 || isNoStream(e)) for (const id of routes.keys()) stream.routes.delete(id);
      if (isNoStream(e)) stream.stale(sid);
      throw err;
    }
    const frames = parseFrames(res.headers.get("Tether-Channel-Frames"));
    const result = await decodeResult(res, (res.headers.get("Content-Type") || "").toLowerCase());
    await Promise.all([...frames].map(([id, n]) => routes.get(id)?.wait(n)));
    return result;
  } catch (err) {
    throw toTetherError(err);
  } finally {
    unlink();
  }
}
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
async function send(cmd, body, options = {}) {
  const h = headers(options.headers);
  let payload;
  if ("bytes" in body) {
    h.set("Content-Type", "application/octet-stream");
    payload = body.bytes;
  } else {
    h.set("Content-Type", "application/json");
    payload = body.json;
  }
  h.set("Accept", "application/json, application/octet-stream");
  const { ctrl, unlink } = linkSignal(options.signal);
  try {
    const res = await request(url("/ipc/invoke/" + encodeURIComponent(cmd)), {
      method: "POST",
      headers: h,
      body: payload,
      signal: ctrl.signal
    });
    return await decodeResult(res, (res.headers.get("Content-Type") || "").toLowerCase());
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
var _onmessage, _next, _pending, _end, _used, _closed, _Channel_instances, close_fn, frame_fn;
var Channel = class {
  constructor(onmessage) {
    __privateAdd(this, _Channel_instances);
    /** An id, unique in this page, for parity with Tauri's Channel. */
    __publicField(this, "id");
    /** Called once when the channel ends: closed by the command (no error), or gone with its call (the error). */
    __publicField(this, "onclose");
    __privateAdd(this, _onmessage);
    __privateAdd(this, _next, 0);
    __privateAdd(this, _pending, /* @__PURE__ */ new Map());
    __privateAdd(this, _end);
    __privateAdd(this, _used, false);
    __privateAdd(this, _closed, false);
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
  /** Serializes as Tauri's Channel does: "__CHANNEL__:<id>". */
  toJSON() {
    return `__CHANNEL__:${this.id}`;
  }
  /** @internal The route the page stream feeds. A Channel serves one invoke. */
  _route() {
    if (__privateGet(this, _used)) throw new TetherError("invalid_argument", "tether: a Channel can be passed to one invoke only");
    __privateSet(this, _used, true);
    return new Route((f) => __privateMethod(this, _Channel_instances, frame_fn).call(this, f));
  }
};
_onmessage = new WeakMap();
_next = new WeakMap();
_pending = new WeakMap();
_end = new WeakMap();
_used = new WeakMap();
_closed = new WeakMap();
_Channel_instances = new WeakSet();
close_fn = function(err) {
  if (__privateGet(this, _closed)) return;
  __privateSet(this, _closed, true);
  try {
    this.onclose?.(err);
  } catch (e) {
    rethrowLater(e);
  }
};
frame_fn = function(f) {
  if ("gone" in f) {
    __privateMethod(this, _Channel_instances, close_fn).call(this, f.error ?? new TetherError("unavailable", "tether: the channel ended without its end message"));
    return;
  }
  if ("end" in f) {
    if (__privateGet(this, _end) === void 0 && f.index >= __privateGet(this, _next)) __privateSet(this, _end, f.index);
  } else if (f.index >= __privateGet(this, _next) && !__privateGet(this, _pending).has(f.index) && (__privateGet(this, _end) === void 0 || f.index < __privateGet(this, _end))) {
    __privateGet(this, _pending).set(f.index, f.message);
  }
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
  if (__privateGet(this, _end) !== void 0 && __privateGet(this, _next) >= __privateGet(this, _end)) __privateMethod(this, _Channel_instances, close_fn).call(this);
};

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
var nextListenerId = 1;
var nextSubId = 1;
var Hub = class {
  constructor(name) {
    __publicField(this, "name", name);
    __publicField(this, "listeners", /* @__PURE__ */ new Map());
    __publicField(this, "id", `s${nextSubId++}`);
    __publicField(this, "events");
    __publicField(this, "live", false);
    __publicField(this, "subscribing", false);
    /** The last id delivered: where a renewed subscription resumes. */
    __publicField(this, "lastId", "");
    this.events = [name];
  }
  /** add registers a listener; its promise settles when its events are flowing (or cannot). */
  add(handler, opts) {
    const listener = { id: nextListenerId++, name: this.name, handler, opts, removed: false };
    const ready = new Promise((resolve, reject) => {
      listener.settle = { resolve, reject };
    });
    ready.catch(() => {
    });
    this.listeners.set(listener.id, listener);
    if (this.live) this.settle(listener);
    else if (!this.subscribing) this.subscribe();
    return { listener, ready };
  }
  subscribe() {
    this.subscribing = true;
    const stream = pageStream();
    stream.hold();
    stream.subscribe(this).then(
      () => {
        this.subscribing = false;
        if (this.listeners.size === 0) {
          stream.release();
          stream.unsubscribe(this.id);
          return;
        }
        this.live = true;
        for (const l of this.listeners.values()) this.settle(l);
      },
      (err) => {
        this.subscribing = false;
        stream.release();
        const e = toTetherError(err);
        for (const l of [...this.listeners.values()]) this.remove(l, e);
      }
    );
  }
  /** remove unregisters a listener at any stage; calling it again does nothing. */
  remove(listener, reason) {
    if (listener.removed) return;
    listener.removed = true;
    listener.cleanup?.();
    this.listeners.delete(listener.id);
    this.settle(listener, reason ?? new TetherError("canceled", "tether: unlistened before the subscription was established"));
    if (this.listeners.size === 0) this.drop();
  }
  drop() {
    if (hubs.get(this.name) === this) hubs.delete(this.name);
    if (this.live) {
      this.live = false;
      const stream = pageStream();
      stream.release();
      stream.unsubscribe(this.id);
    }
  }
  settle(l, err) {
    const s = l.settle;
    if (!s) return;
    l.settle = void 0;
    if (err) s.reject(err);
    else s.resolve();
  }
  after() {
    return this.lastId;
  }
  lagged(dropped) {
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
    if (!told) console.warn(`tether: the server dropped ${dropped} event(s) of ${this.name} for this page (lagged)`);
  }
  ended(err) {
    const wasLive = this.live;
    this.live = false;
    if (hubs.get(this.name) === this) hubs.delete(this.name);
    if (wasLive) pageStream().release();
    for (const l of [...this.listeners.values()]) {
      const established = !l.settle;
      this.remove(l, err);
      if (established) {
        if (l.opts.onError) l.opts.onError(err);
        else console.warn(`tether: listen ${l.name} ended: ${err.code}: ${err.message}`);
      }
    }
  }
  event(m) {
    if (this.lastId !== "" && compareIds(m.lastEventId, this.lastId) <= 0) return;
    this.lastId = m.lastEventId;
    let payload;
    try {
      payload = JSON.parse(m.data);
    } catch {
      payload = m.data;
    }
    for (const l of [...this.listeners.values()]) {
      if (l.removed) continue;
      try {
        l.handler({ event: m.event, id: l.id, payload });
      } catch (err) {
        rethrowLater(err);
      }
    }
  }
};
var hubs = /* @__PURE__ */ new Map();
function hubFor(name) {
  let h = hubs.get(name);
  if (!h) {
    h = new Hub(name);
    hubs.set(name, h);
  }
  return h;
}
function subscribe(event, handler, opts = {}) {
  checkEventName(event);
  targetLabel(opts.target);
  const hub = hubFor(event);
  const { listener, ready } = hub.add(handler, opts);
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
  const body = payload === void 0 ? "null" : stringifyArgs(event, payload);
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
    const routes = /* @__PURE__ */ new Map();
    const json = stringifyArgs(cmd, args, function(key, value) {
      const orig = key === "" ? value : this[key];
      if (orig instanceof Channel) {
        if (routes.has(orig.id)) throw new TetherError("invalid_argument", "tether: a Channel appears twice in one invoke");
        routes.set(orig.id, orig._route());
      }
      return value;
    });
    if (routes.size === 0) return await send(cmd, { json }, options);
    return await sendWithChannels(cmd, json, routes, options);
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
