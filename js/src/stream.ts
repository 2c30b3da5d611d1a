// The page stream: ONE SSE connection (GET /ipc/stream) carries every event
// subscription and every channel of the page, so that listeners and open
// channels never use up the browser's six HTTP/1.1 connections per origin.
//
// Subscriptions are POST /ipc/stream/{id}/listen {id, events, after} and
// /unlisten {id}; invokes with channels send Tether-Stream: {id} and
// Tether-Channels: 1,2 and their channel frames arrive here. The stream is
// opened on first use and closed when nothing uses it. A dropped stream
// reconnects with backoff (initialDelayMs, or the server's retry:, doubled
// per failed attempt up to maxDelayMs, ±20 % jitter) and every subscription
// is made again with its last event id, so that the server replays what was
// missed; channels of the old stream are gone (their calls ended with it).

import { headers, reconnectSettings, request, url } from './config';
import { TetherError, errorFromBody, toTetherError } from './errors';
import { SSEParser, readSSE, type SSEMessage } from './sse';

/** A channel frame as the stream delivers it. */
export type StreamChannelFrame =
  | { id: number; index: number; message: unknown }
  | { id: number; index: number; end: true }
  | { id: number; gone: true; error?: TetherError };

/** What the stream needs from a subscription. */
export interface StreamSub {
  readonly id: string;
  readonly events: string[];
  /** The id to resume after, '' for none. */
  after(): string;
  /** An event frame of one of its names. */
  event(m: SSEMessage): void;
  lagged(dropped: number): void;
  /** The server ended the subscription (retriable or not). */
  ended(err: TetherError, retriable: boolean): void;
}

export interface ChannelRoute {
  frame(f: StreamChannelFrame): void;
}

const RETRIABLE = new Set(['unavailable', 'internal', 'unknown', 'deadline_exceeded', 'resource_exhausted', 'aborted']);

export function retriable(err: TetherError, status?: number): boolean {
  if (status !== undefined) return status >= 500 || status === 408 || status === 429;
  return RETRIABLE.has(err.code);
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

// backoff is the wait before retry number attempt (from 0): base (the
// server's retry:, else initialDelayMs) doubled per attempt, at most
// maxDelayMs, ±20 % jitter.
function backoff(attempt: number, base?: number): number {
  const r = reconnectSettings();
  return Math.min(r.maxDelayMs, (base ?? r.initialDelayMs) * 2 ** Math.min(attempt, 20)) * (0.8 + 0.4 * Math.random());
}

function base64ToBuffer(s: string): ArrayBuffer {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

// parseChannelFrame reads a tether.channel frame's data.
function parseChannelFrame(data: string): StreamChannelFrame | null {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(data) as Record<string, unknown>;
  } catch {
    return null;
  }
  const id = Number(v.id);
  if (!Number.isSafeInteger(id)) return null;
  if (v.gone === true) {
    const e = v.error as { code?: string; message?: string; details?: unknown } | undefined;
    return { id, gone: true, error: e ? new TetherError(e.code ?? 'unknown', e.message ?? '', e.details) : undefined };
  }
  const index = Number(v.index);
  if (!Number.isSafeInteger(index) || index < 0) return null;
  if (v.end === true) return { id, index, end: true };
  if (typeof v.bytes === 'string') return { id, index, message: base64ToBuffer(v.bytes) };
  return { id, index, message: v.message };
}

/** The page's stream. One per page (per baseUrl). */
export class PageStream {
  private id = '';
  private ctrl: AbortController | null = null;
  /** Resolves with the stream id once it is connected. */
  private opening: Promise<string> | null = null;
  private settleOpen: { resolve(id: string): void; reject(e: TetherError): void } | null = null;
  readonly subs = new Map<string, StreamSub>();
  readonly routes = new Map<number, ChannelRoute>();
  private users = 0;
  private retryMs: number | undefined;
  private attempt: AbortController | null = null;
  /** The highest event id the stream delivered: a resume point for subscriptions that saw none. */
  lastId = '';

  /** open returns the id of the live stream, connecting first if needed. */
  open(): Promise<string> {
    if (this.opening) return this.opening;
    this.opening = new Promise<string>((resolve, reject) => {
      this.settleOpen = { resolve, reject };
    });
    // A failure before anyone awaits must not be an unhandled rejection.
    this.opening.catch(() => {});
    this.ctrl = new AbortController();
    void this.run(this.ctrl);
    return this.opening;
  }

  /** hold marks a user of the stream (a subscription, a call with channels); release undoes it. */
  hold(): void {
    this.users++;
  }

  release(n = 1): void {
    this.users -= n;
    if (this.users <= 0) {
      this.users = 0;
      queueMicrotask(() => {
        if (this.users === 0 && this.subs.size === 0 && this.routes.size === 0) this.close();
      });
    }
  }

  /** stale says the server no longer knows the stream id: drop it and connect again at once. */
  stale(id: string): void {
    if (id !== this.id || !this.ctrl) return;
    this.attempt?.abort();
  }

  private close(): void {
    this.ctrl?.abort();
    this.ctrl = null;
    this.opening = null;
    this.id = '';
    this.settleOpen = null;
  }

  /** subscribe asks the server for sub's events; it resolves once they flow. */
  async subscribe(sub: StreamSub): Promise<void> {
    this.subs.set(sub.id, sub);
    try {
      await this.post(sub, false);
    } catch (err) {
      this.subs.delete(sub.id);
      throw err;
    }
  }

  // since holds, for each subscription, the stream's last id when it began:
  // renewed before it saw an event of its own, it resumes there.
  private readonly since = new Map<string, string>();

  private async post(sub: StreamSub, renewal: boolean): Promise<void> {
    const id = await this.open();
    const body: { id: string; events: string[]; after?: string } = { id: sub.id, events: sub.events };
    const after = sub.after() || (renewal ? (this.since.get(sub.id) ?? '') : '');
    if (after !== '') body.after = after;
    if (!renewal) this.since.set(sub.id, this.lastId);
    let res: Response;
    try {
      res = await request(url(`/ipc/stream/${encodeURIComponent(id)}/listen`), {
        method: 'POST',
        headers: headers({ 'Content-Type': 'application/json' }),
        body: JSON.stringify(body),
      });
    } catch (err) {
      const e = toTetherError(err);
      // Made twice across a reconnection: it exists, which is the point.
      if (e.code === 'already_exists') return;
      if (isNoStream(e)) {
        this.stale(id);
        return this.post(sub, true);
      }
      throw err;
    }
    await res.body?.cancel().catch(() => {});
  }

  /** unsubscribe drops a subscription (the server is told; errors are ignored). */
  // The server is told after the microtasks already queued, so that a
  // stream that closes because nothing uses it any more (release) is not
  // told first: closing it drops its subscriptions anyway.
  unsubscribe(subId: string): void {
    this.since.delete(subId);
    if (!this.subs.delete(subId)) return;
    const id = this.id;
    if (id === '') return;
    queueMicrotask(() => {
      if (this.id !== id) return;
      void request(url(`/ipc/stream/${encodeURIComponent(id)}/unlisten`), {
        method: 'POST',
        headers: headers({ 'Content-Type': 'application/json' }),
        body: JSON.stringify({ id: subId }),
      })
        .then((r) => r.body?.cancel())
        .catch(() => {});
    });
  }

  private async run(ctrl: AbortController): Promise<void> {
    let attempt = 0;
    let everLive = false;
    while (!ctrl.signal.aborted) {
      const attemptCtrl = new AbortController();
      this.attempt = attemptCtrl;
      const stop = () => attemptCtrl.abort();
      ctrl.signal.addEventListener('abort', stop, { once: true });
      let healthy = false;
      let liveSince = 0;
      let fatal: TetherError | undefined;
      try {
        let res: Response;
        try {
          res = await request(url('/ipc/stream'), { method: 'GET', headers: headers({ Accept: 'text/event-stream' }), signal: attemptCtrl.signal });
        } catch (err) {
          const e = toTetherError(err);
          if (!everLive || !retriable(e, e.status)) fatal = e;
          throw e;
        }
        const id = res.headers.get('Tether-Stream');
        if (!id || !res.body) throw new TetherError('unavailable', 'tether: the page stream answered without its id');
        liveSince = Date.now();
        const wasLive = everLive;
        everLive = true;
        this.id = id;
        const parser = new SSEParser(
          {
            onMessage: (m) => {
              if (attemptCtrl.signal.aborted) return;
              if (m.event === 'error' && !m.hasId) {
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
            },
          },
          '',
        );
        this.settleOpen?.resolve(id);
        this.settleOpen = null;
        if (wasLive) this.resubscribe();
        await readSSE(res.body, parser, attemptCtrl.signal);
      } catch {
        // decided below
      } finally {
        ctrl.signal.removeEventListener('abort', stop);
      }
      this.id = '';
      this.dropRoutes();
      if (ctrl.signal.aborted) return;
      if (fatal) {
        this.fail(fatal);
        return;
      }
      // The next open() waits for the reconnection.
      if (!this.settleOpen) {
        this.opening = new Promise<string>((resolve, reject) => {
          this.settleOpen = { resolve, reject };
        });
        this.opening.catch(() => {});
      }
      if (healthy || (liveSince > 0 && Date.now() - liveSince > 5000)) attempt = 0;
      const delay = backoff(attempt, this.retryMs);
      attempt++;
      await sleep(delay, ctrl.signal);
    }
  }

  // fail ends the stream for good: waiting opens reject, subscriptions end.
  private fail(err: TetherError): void {
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
  private resubscribe(): void {
    for (const sub of [...this.subs.values()]) void this.renew(sub, this.id);
  }

  // renew subscribes sub again on stream sid, retrying a retriable refusal
  // with backoff while the stream lasts; a final one ends it.
  private async renew(sub: StreamSub, sid: string): Promise<void> {
    for (let attempt = 0; this.subs.get(sub.id) === sub && this.id === sid; attempt++) {
      try {
        await this.post(sub, true);
        return;
      } catch (err) {
        const e = toTetherError(err);
        if (this.subs.get(sub.id) !== sub || this.id !== sid) return; // the next stream subscribes it
        if (!(retriable(e, e.status) || e.code === 'not_found')) {
          this.subs.delete(sub.id);
          sub.ended(e, false);
          return;
        }
        await sleep(backoff(attempt), this.ctrl?.signal ?? new AbortController().signal);
      }
    }
  }

  // dropRoutes tells the channels of a stream that ended that they are gone.
  private dropRoutes(): void {
    const routes = [...this.routes.entries()];
    this.routes.clear();
    for (const [id, r] of routes) {
      try {
        r.frame({ id, gone: true, error: new TetherError('unavailable', 'tether: the page stream ended') });
      } catch {
        // a route's own problem
      }
    }
  }

  private dispatch(m: SSEMessage): void {
    if (m.event === 'tether.channel') {
      const f = parseChannelFrame(m.data);
      if (!f) return;
      const r = this.routes.get(f.id);
      if (!r) return;
      if ('gone' in f || 'end' in f) this.routes.delete(f.id);
      r.frame(f);
      if (this.routes.size === 0) this.release(0);
      return;
    }
    if (m.event === 'tether.open') return;
    if (m.event === 'tether.lagged' || m.event === 'tether.unlisten') {
      let v: { id?: string; dropped?: number; error?: { code?: string; message?: string; details?: unknown } };
      try {
        v = JSON.parse(m.data);
      } catch {
        return;
      }
      const sub = v.id !== undefined ? this.subs.get(v.id) : undefined;
      if (!sub) return;
      if (m.event === 'tether.lagged') {
        sub.lagged(Number(v.dropped) || 0);
        return;
      }
      const e = new TetherError(v.error?.code ?? 'unavailable', v.error?.message ?? 'subscription ended', v.error?.details);
      if (retriable(e)) {
        // the core let go of it (it restarted, say): subscribe again
        void this.renew(sub, this.id);
        return;
      }
      this.subs.delete(sub.id);
      sub.ended(e, false);
      return;
    }
    if (!m.hasId) return;
    if (m.lastEventId !== '' && (this.lastId === '' || compareIds(m.lastEventId, this.lastId) > 0)) this.lastId = m.lastEventId;
    for (const sub of this.subs.values()) if (sub.events.includes(m.event)) sub.event(m);
  }
}

/** isNoStream reports the gateway's answer for a stream id it no longer knows. */
export function isNoStream(e: TetherError): boolean {
  return e.code === 'not_found' && e.message.startsWith('no such page stream');
}

// compareIds orders event ids: numerically when both are decimal integers
// (any length), else as strings.
export function compareIds(a: string, b: string): number {
  if (/^[0-9]+$/.test(a) && /^[0-9]+$/.test(b)) {
    const x = a.replace(/^0+(?=.)/, '');
    const y = b.replace(/^0+(?=.)/, '');
    if (x.length !== y.length) return x.length - y.length;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

let theStream: PageStream | null = null;

/** pageStream returns the page's stream (made on first use). */
export function pageStream(): PageStream {
  theStream ??= new PageStream();
  return theStream;
}

const CHANNEL_RE = /^__CHANNEL__:(\d+)$/;

/** channelIdOf returns the id of a serialized channel string, or undefined. */
export function channelIdOf(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const m = CHANNEL_RE.exec(v);
  return m ? Number(m[1]) : undefined;
}

/** stringifyArgs serializes args as JSON for cmd, with a clear error for what JSON cannot carry (a BigInt, a cycle). */
export function stringifyArgs(cmd: string, value: unknown, replacer?: (this: unknown, key: string, value: unknown) => unknown): string {
  try {
    return JSON.stringify(value, replacer as (this: unknown, key: string, value: unknown) => unknown) ?? 'null';
  } catch (err) {
    if (err instanceof TetherError) throw err;
    throw new TetherError(
      'invalid_argument',
      `tether: the arguments of ${JSON.stringify(cmd)} cannot be sent as JSON: ${(err as Error)?.message ?? String(err)}`,
    );
  }
}
