// Events: listen, once, emit, emitTo over GET /ipc/listen (SSE) and
// POST /ipc/emit/{event}.
//
// Multiplexing: every listener with the same listen target shares ONE SSE
// connection whose query names every event that has a listener (browsers
// allow only six HTTP/1.1 connections per origin, so one stream per listen
// call would starve invokes). When a listener needs a name the connection
// lacks, a new connection for the larger set is opened (listen calls made in
// the same tick share it); once it is live the old one keeps delivering until
// it has caught up with the new one (or for a short grace period), then it
// closes, so no event is lost or duplicated and order holds. Removing a
// listener never reopens: its events are just ignored until the next reopen;
// the last listener's removal closes the connection.
//
// Event ids are the server's global, increasing sequence ids. The hub delivers
// each id once, in increasing order, and resumes a dropped connection with
// Last-Event-ID = the last id delivered, after a backoff (initialDelayMs, or the
// server's retry: field, doubled per failed attempt up to maxDelayMs, with
// ±20% jitter). A 4xx answer other than 408/429 during a reconnect is final:
// the listeners get onError and are removed.

import { headers, reconnectSettings, request, url } from './config';
import { TetherError, errorFromBody, toTetherError } from './errors';
import { rethrowLater } from './channel';
import { SSEParser, readSSE, type SSEMessage } from './sse';

/** An event as Tauri's Event<T>: id is the listener's id (the one Tauri unlistens with). */
export interface Event<T> {
  event: string;
  id: number;
  payload: T;
}

export type EventCallback<T> = (event: Event<T>) => void;
export type UnlistenFn = () => void;

/** Tauri's event targets. A string means { kind: 'AnyLabel', label }. */
export type EventTarget =
  | string
  | { kind: 'Any' }
  | { kind: 'AnyLabel'; label: string }
  | { kind: 'App' }
  | { kind: 'Window'; label: string }
  | { kind: 'Webview'; label: string }
  | { kind: 'WebviewWindow'; label: string };

export interface ListenOptions {
  /** Narrows the stream to events sent to this target (sent as ?target=LABEL; the gateway decides what a client may see). */
  target?: EventTarget;
  /** Aborting before the subscription is live rejects with "canceled"; after, it unlistens. */
  signal?: AbortSignal;
  /** Called if the subscription ends for good after it was established (e.g. permission revoked). */
  onError?: (err: TetherError) => void;
  /** Called when the server reports that it dropped events for this stream (its queue overflowed). */
  onLagged?: (dropped: number) => void;
}

const NAME_RE = /^[A-Za-z0-9\-/:_]+$/;

export function checkEventName(name: string): void {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new TetherError(
      'invalid_argument',
      `tether: invalid event name ${JSON.stringify(name)}: use letters, digits, '-', '/', ':' and '_'`,
    );
  }
}

// targetLabel returns the label an emit or listen target names, '' for any.
export function targetLabel(target: EventTarget | undefined): string {
  if (target === undefined) return '';
  if (typeof target === 'string') return target;
  if (target.kind === 'Any') return '';
  if (target.kind === 'App') {
    throw new TetherError('unimplemented', 'tether: the App event target is not reachable through the gateway');
  }
  if (typeof target.label !== 'string' || target.label === '') {
    throw new TetherError('invalid_argument', 'tether: event target without a label');
  }
  return target.label;
}

// compareIds orders event ids: numerically when both are decimal integers
// (any length), else as strings.
function compareIds(a: string, b: string): number {
  if (/^[0-9]+$/.test(a) && /^[0-9]+$/.test(b)) {
    const x = a.replace(/^0+(?=.)/, '');
    const y = b.replace(/^0+(?=.)/, '');
    if (x.length !== y.length) return x.length - y.length;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

const RETRIABLE = new Set(['unavailable', 'internal', 'unknown', 'deadline_exceeded', 'resource_exhausted', 'aborted']);

function retriable(err: TetherError, status?: number): boolean {
  if (status !== undefined) return status >= 500 || status === 408 || status === 429;
  return RETRIABLE.has(err.code);
}

let nextListenerId = 1;

export interface Listener {
  readonly id: number;
  readonly name: string;
  readonly handler: (e: Event<unknown>) => void;
  readonly opts: ListenOptions;
  removed: boolean;
  /** Run once when the listener is removed. */
  cleanup?: () => void;
  settle?: { resolve(): void; reject(err: TetherError): void };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

// Conn is one logical SSE subscription for a fixed set of names: it connects,
// reads, and reconnects with backoff until closed.
class Conn {
  readonly ctrl = new AbortController();
  live = false;
  everLive = false;
  /** Listeners whose listen() waits for this connection's first success. */
  readonly waiting = new Set<Listener>();
  private retryMs: number | undefined;

  constructor(
    private readonly hub: Hub,
    readonly names: ReadonlySet<string>,
    /** Whether the first attempt resumes from the hub's last id (else it starts at the live head). */
    private resumeFirst: boolean,
  ) {}

  get closed(): boolean {
    return this.ctrl.signal.aborted;
  }

  close(): void {
    this.live = false;
    this.ctrl.abort();
  }

  async run(): Promise<void> {
    let attempt = 0;
    while (!this.closed) {
      const attemptCtrl = new AbortController();
      // A connection that delivered something, or stayed up a while, was
      // healthy: the next reconnect starts from the initial delay again. One
      // that the server accepts and closes at once keeps backing off.
      let healthy = false;
      let liveSince = 0;
      const stopAttempt = () => attemptCtrl.abort();
      this.ctrl.signal.addEventListener('abort', stopAttempt, { once: true });
      let fatal: TetherError | undefined;
      try {
        const h = headers({ Accept: 'text/event-stream' });
        const last = this.hub.lastId;
        if (last !== '' && (this.everLive || this.resumeFirst)) h.set('Last-Event-ID', last);
        const query: [string, string][] = [...this.names].map((n) => ['event', n]);
        if (this.hub.target) query.push(['target', this.hub.target]);
        let res: Response;
        try {
          res = await request(url('/ipc/listen', query), { method: 'GET', headers: h, signal: attemptCtrl.signal });
        } catch (err) {
          const e = toTetherError(err);
          if (!this.everLive || !retriable(e, e.status)) fatal = e;
          throw e;
        }
        if (!res.body) throw new TetherError('unavailable', 'tether: listen stream without a body');
        this.live = true;
        this.everLive = true;
        liveSince = Date.now();
        this.hub.connLive(this);
        const parser = new SSEParser(
          {
            onMessage: (m) => {
              if (this.closed || attemptCtrl.signal.aborted) return;
              if (m.event === 'error' && !m.hasId) {
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
            },
          },
          this.hub.lastId,
        );
        await readSSE(res.body, parser, attemptCtrl.signal);
      } catch {
        // a failed attempt: decided below
      } finally {
        this.ctrl.signal.removeEventListener('abort', stopAttempt);
        this.live = false;
      }
      if (this.closed) return;
      if (fatal) {
        this.hub.connFailed(this, fatal);
        return;
      }
      if (healthy || (liveSince > 0 && Date.now() - liveSince > 5000)) attempt = 0;
      const r = reconnectSettings();
      const base = this.retryMs ?? r.initialDelayMs;
      const delay = Math.min(r.maxDelayMs, base * 2 ** Math.min(attempt, 20)) * (0.8 + 0.4 * Math.random());
      attempt++;
      await sleep(delay, this.ctrl.signal);
    }
  }
}

const HANDOFF_GRACE_MS = 500;

// Hub owns the listeners of one listen target and the connection serving them.
export class Hub {
  readonly listeners = new Map<number, Listener>();
  /** The connection delivering events. */
  private current: Conn | null = null;
  /** A connection for a larger name set, not live yet. */
  private next: Conn | null = null;
  /** After next went live: the old connection, still delivering until it catches up. */
  private handoff: { old: Conn; buffer: SSEMessage[]; timer: ReturnType<typeof setTimeout> } | null = null;
  private reopenScheduled = false;
  /** The highest event id delivered: where a dropped connection resumes. */
  lastId = '';
  /** The last id delivered per event name: duplicates and stale replays stop here. */
  private readonly lastByName = new Map<string, string>();
  /** Set when a connection came back: the next id is taken as is (the server may have restarted). */
  private restarted = false;

  constructor(readonly target: string) {}

  /** add registers a listener; its promise settles when its events are flowing (or cannot). */
  add(name: string, handler: (e: Event<unknown>) => void, opts: ListenOptions): { listener: Listener; ready: Promise<void> } {
    const listener: Listener = { id: nextListenerId++, name, handler, opts, removed: false };
    const ready = new Promise<void>((resolve, reject) => {
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
  remove(listener: Listener, reason?: TetherError): void {
    if (listener.removed) return;
    listener.removed = true;
    listener.cleanup?.();
    this.listeners.delete(listener.id);
    for (const c of [this.current, this.next, this.handoff?.old]) c?.waiting.delete(listener);
    this.settle(listener, reason ?? new TetherError('canceled', 'tether: unlistened before the subscription was established'));
    if (this.listeners.size === 0) this.closeAll();
  }

  private settle(l: Listener, err?: TetherError): void {
    const s = l.settle;
    if (!s) return;
    l.settle = undefined;
    if (err) s.reject(err);
    else s.resolve();
  }

  private closeAll(): void {
    this.lastId = '';
    this.lastByName.clear();
    this.finishHandoff(false);
    this.next?.close();
    this.current?.close();
    this.next = null;
    this.current = null;
  }

  private scheduleReopen(): void {
    if (this.reopenScheduled) return;
    this.reopenScheduled = true;
    queueMicrotask(() => {
      this.reopenScheduled = false;
      this.reopen();
    });
  }

  private reopen(): void {
    const names = new Set<string>();
    for (const l of this.listeners.values()) names.add(l.name);
    if (names.size === 0) return;
    const serving = this.next ?? this.current;
    if (serving && [...names].every((n) => serving.names.has(n))) {
      // The set did not grow after all (listeners came and went); attach the waiters.
      for (const l of this.listeners.values()) if (l.settle) serving.live ? this.settle(l) : serving.waiting.add(l);
      return;
    }
    // Resume from the last id only when the current connection is down and
    // reconnecting; a fresh subscription starts at the live head.
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
  connLive(conn: Conn): void {
    if (conn === this.current && !this.handoff) {
      // A reconnect: the server replays exactly what follows Last-Event-ID,
      // and its ids may have started over after a restart.
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
  connFailed(conn: Conn, err: TetherError): void {
    conn.close();
    if (conn === this.next) {
      // The larger set failed (a name was refused, the server is down): the
      // listeners that needed it fail; the current connection carries on.
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

  private finishHandoff(flush: boolean): void {
    const h = this.handoff;
    if (!h) return;
    this.handoff = null;
    clearTimeout(h.timer);
    h.old.close();
    if (flush) for (const m of h.buffer) this.deliver(m);
  }

  message(conn: Conn, m: SSEMessage): void {
    const h = this.handoff;
    if (h && conn === this.current) {
      // Names the old connection also carries wait until it has caught up, so
      // their order holds; names only this connection carries flow at once.
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

  private deliver(m: SSEMessage): void {
    if (m.event === 'lagged' && !m.hasId) {
      let dropped = 0;
      try {
        dropped = Number((JSON.parse(m.data) as { dropped?: unknown }).dropped) || 0;
      } catch {
        // keep 0
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
      // Per name, ids only grow: an event two overlapping connections both
      // carried, or a replay, is delivered once.
      const id = m.lastEventId;
      const prev = this.lastByName.get(m.event);
      if (prev !== undefined && compareIds(id, prev) <= 0) return;
      this.lastByName.set(m.event, id);
      if (this.lastId === '' || this.restarted || compareIds(id, this.lastId) > 0) this.lastId = id;
      this.restarted = false;
    }
    let payload: unknown;
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
}

const hubs = new Map<string, Hub>();

export function hubFor(target: string): Hub {
  let h = hubs.get(target);
  if (!h) {
    h = new Hub(target);
    hubs.set(target, h);
  }
  return h;
}

// subscribe is listen's engine, shared by the client and the Tauri shim: it
// returns the listener at once (so it can be removed at any stage) and a
// promise that settles when its events flow.
export function subscribe(
  event: string,
  handler: (e: Event<unknown>) => void,
  opts: ListenOptions = {},
): { listener: Listener; hub: Hub; ready: Promise<void> } {
  checkEventName(event);
  const hub = hubFor(targetLabel(opts.target));
  const { listener, ready } = hub.add(event, handler, opts);
  const signal = opts.signal;
  if (signal) {
    const onAbort = () => hub.remove(listener);
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener('abort', onAbort, { once: true });
      listener.cleanup = () => signal.removeEventListener('abort', onAbort);
    }
  }
  return { listener, hub, ready };
}

/** listen calls handler for each event named event; it resolves once the subscription is live. */
export async function listen<T>(event: string, handler: EventCallback<T>, options: ListenOptions = {}): Promise<UnlistenFn> {
  const { listener, hub, ready } = subscribe(event, handler as (e: Event<unknown>) => void, options);
  await ready;
  return () => hub.remove(listener);
}

/** once calls handler for the next event named event only, then unlistens. */
export async function once<T>(event: string, handler: EventCallback<T>, options: ListenOptions = {}): Promise<UnlistenFn> {
  let fired = false;
  // eslint-disable-next-line prefer-const
  let sub: { listener: Listener; hub: Hub; ready: Promise<void> };
  sub = subscribe(
    event,
    (e) => {
      if (fired) return;
      fired = true;
      sub.hub.remove(sub.listener);
      handler(e as Event<T>);
    },
    options,
  );
  try {
    await sub.ready;
  } catch (err) {
    if (!fired) throw err;
  }
  return () => sub.hub.remove(sub.listener);
}

/** emit sends an event to every listener (the gateway decides who may hear it). */
export async function emit<T>(event: string, payload?: T): Promise<void> {
  checkEventName(event);
  await emitRaw(event, payload, '');
}

/** emitTo sends an event to one label: a string label, or a Tauri target object. */
export async function emitTo<T>(target: EventTarget, event: string, payload?: T): Promise<void> {
  checkEventName(event);
  await emitRaw(event, payload, targetLabel(target));
}

async function emitRaw(event: string, payload: unknown, target: string): Promise<void> {
  const h = headers({ 'Content-Type': 'application/json' });
  const body = payload === undefined ? 'null' : JSON.stringify(payload);
  const res = await request(url('/ipc/emit/' + encodeURIComponent(event), target ? [['target', target]] : []), {
    method: 'POST',
    headers: h,
    body,
  });
  try {
    await res.body?.cancel();
  } catch {
    // nothing to release
  }
}
