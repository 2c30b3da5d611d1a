// Events: listen, once, emit, emitTo over the page stream (stream.ts) and
// POST /ipc/emit/{event}.
//
// Every listener of one event name shares ONE subscription on the page's one
// stream: the first listen of a name subscribes (POST …/listen; listen
// resolves once the server holds it, so an emit after `await listen` is
// seen), later ones join it, and the last unlisten drops it. Event ids are
// the server's global, increasing ids: each subscription delivers an id once,
// in increasing order, and is made again after a reconnection with the last
// id it delivered, so that the server replays what was missed. A refused
// subscription fails only the listens that asked for it.

import { headers, request, url } from './config';
import { TetherError, toTetherError } from './errors';
import { rethrowLater } from './channel';
import type { SSEMessage } from './sse';
import { compareIds, pageStream, stringifyArgs, type StreamSub } from './stream';

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

let nextSubId = 1;

// Hub owns the listeners of one event name and their subscription.
export class Hub implements StreamSub {
  readonly listeners = new Map<number, Listener>();
  readonly id = `s${nextSubId++}`;
  readonly events: string[];
  private live = false;
  private subscribing = false;
  /** The last id delivered: where a renewed subscription resumes. */
  private lastId = '';

  constructor(readonly name: string) {
    this.events = [name];
  }

  /** add registers a listener; its promise settles when its events are flowing (or cannot). */
  add(handler: (e: Event<unknown>) => void, opts: ListenOptions): { listener: Listener; ready: Promise<void> } {
    const listener: Listener = { id: nextListenerId++, name: this.name, handler, opts, removed: false };
    const ready = new Promise<void>((resolve, reject) => {
      listener.settle = { resolve, reject };
    });
    ready.catch(() => {});
    this.listeners.set(listener.id, listener);
    if (this.live) this.settle(listener);
    else if (!this.subscribing) this.subscribe();
    return { listener, ready };
  }

  private subscribe(): void {
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
      },
    );
  }

  /** remove unregisters a listener at any stage; calling it again does nothing. */
  remove(listener: Listener, reason?: TetherError): void {
    if (listener.removed) return;
    listener.removed = true;
    listener.cleanup?.();
    this.listeners.delete(listener.id);
    this.settle(listener, reason ?? new TetherError('canceled', 'tether: unlistened before the subscription was established'));
    if (this.listeners.size === 0) this.drop();
  }

  private drop(): void {
    if (hubs.get(this.name) === this) hubs.delete(this.name);
    if (this.live) {
      this.live = false;
      const stream = pageStream();
      stream.release();
      stream.unsubscribe(this.id);
    }
  }

  private settle(l: Listener, err?: TetherError): void {
    const s = l.settle;
    if (!s) return;
    l.settle = undefined;
    if (err) s.reject(err);
    else s.resolve();
  }

  after(): string {
    return this.lastId;
  }

  lagged(dropped: number): void {
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

  ended(err: TetherError): void {
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

  event(m: SSEMessage): void {
    // Ids only grow: an event a replay repeats is delivered once.
    if (this.lastId !== '' && compareIds(m.lastEventId, this.lastId) <= 0) return;
    this.lastId = m.lastEventId;
    let payload: unknown;
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
}

const hubs = new Map<string, Hub>();

export function hubFor(name: string): Hub {
  let h = hubs.get(name);
  if (!h) {
    h = new Hub(name);
    hubs.set(name, h);
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
  targetLabel(opts.target); // checked; the gateway decides what a client sees
  const hub = hubFor(event);
  const { listener, ready } = hub.add(handler, opts);
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
  const body = payload === undefined ? 'null' : stringifyArgs(event, payload);
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
