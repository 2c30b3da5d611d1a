// The invoke transport: POST /ipc/invoke/{command}; a call with channels
// names the page stream (Tether-Stream), which carries their messages.

import { headers, request, url } from './config';
import { TetherError, toTetherError } from './errors';
import { isNoStream, pageStream, type ChannelRoute, type PageStream, type StreamChannelFrame } from './stream';

/**
 * Route is one channel of a call on the page stream: it hands each frame to
 * onFrame and counts them, so that the call resolves once the frames sent
 * before its result have arrived.
 */
export class Route implements ChannelRoute {
  received = 0;
  done = false;
  private waits: Array<{ n: number; resolve: () => void }> = [];

  constructor(private readonly onFrame: (f: StreamChannelFrame) => void) {}

  frame(f: StreamChannelFrame): void {
    if ('gone' in f) this.done = true;
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

  wait(n: number): Promise<void> {
    if (this.done || this.received >= n) return Promise.resolve();
    return new Promise((resolve) => this.waits.push({ n, resolve }));
  }
}

// parseFrames reads Tether-Channel-Frames: "5=3,6=0".
function parseFrames(h: string | null): Map<number, number> {
  const out = new Map<number, number>();
  for (const part of (h ?? '').split(',')) {
    const [k, v] = part.split('=');
    const id = Number(k);
    const n = Number(v);
    if (part !== '' && Number.isSafeInteger(id) && Number.isSafeInteger(n)) out.set(id, n);
  }
  return out;
}

/**
 * sendWithChannels performs an invoke whose channels deliver to the page
 * stream: it resolves with the result once every frame sent before it has
 * reached its route.
 */
export async function sendWithChannels(cmd: string, json: string, routes: Map<number, Route>, options: InvokeOptions = {}): Promise<unknown> {
  const stream = pageStream();
  stream.hold();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        return await sendOnStream(stream, cmd, json, routes, options);
      } catch (err) {
        const e = toTetherError(err);
        // The stream ended before the call reached it: once more, on the next.
        if (attempt > 0 || !isNoStream(e)) throw e;
      }
    }
  } finally {
    stream.release();
  }
}

async function sendOnStream(stream: PageStream, cmd: string, json: string, routes: Map<number, Route>, options: InvokeOptions): Promise<unknown> {
  const { ctrl, unlink } = linkSignal(options.signal);
  try {
    const sid = await stream.open();
    for (const [id, r] of routes) stream.routes.set(id, r);
    const h = headers(options.headers);
    h.set('Content-Type', 'application/json');
    h.set('Accept', 'application/json, application/octet-stream');
    h.set('Tether-Stream', sid);
    h.set('Tether-Channels', [...routes.keys()].join(','));
    let res: Response;
    try {
      res = await request(url('/ipc/invoke/' + encodeURIComponent(cmd)), { method: 'POST', headers: h, body: json, signal: ctrl.signal });
    } catch (err) {
      // An answer from the gateway about the call tells the channels it
      // carried that they are gone; no answer, or a stream it no longer
      // knows: nobody will.
      const e = toTetherError(err);
      if (e.status === undefined || isNoStream(e)) for (const id of routes.keys()) stream.routes.delete(id);
      if (isNoStream(e)) stream.stale(sid);
      throw err;
    }
    const frames = parseFrames(res.headers.get('Tether-Channel-Frames'));
    const result = await decodeResult(res, (res.headers.get('Content-Type') || '').toLowerCase());
    await Promise.all([...frames].map(([id, n]) => routes.get(id)?.wait(n)));
    return result;
  } catch (err) {
    throw toTetherError(err);
  } finally {
    unlink();
  }
}

export interface InvokeOptions {
  /** Extra request headers, as Tauri's invoke options. */
  headers?: HeadersInit;
  /** Aborting rejects the call with code "canceled" and closes its stream. */
  signal?: AbortSignal;
}

/** The request body: JSON text or raw bytes. */
export type Body = { json: string } | { bytes: Uint8Array };

export function isBytes(v: unknown): v is ArrayBuffer | ArrayBufferView {
  return v instanceof ArrayBuffer || ArrayBuffer.isView(v);
}

export function bytesOf(v: ArrayBuffer | ArrayBufferView): Uint8Array {
  return v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

// linkSignal returns a controller aborted when the caller's signal is.
function linkSignal(signal?: AbortSignal): { ctrl: AbortController; unlink: () => void } {
  const ctrl = new AbortController();
  if (!signal) return { ctrl, unlink: () => {} };
  if (signal.aborted) {
    ctrl.abort();
    return { ctrl, unlink: () => {} };
  }
  const onAbort = () => ctrl.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  return { ctrl, unlink: () => signal.removeEventListener('abort', onAbort) };
}

// send performs one invoke without channels.
export async function send(cmd: string, body: Body, options: InvokeOptions = {}): Promise<unknown> {
  const h = headers(options.headers);
  let payload: BodyInit;
  if ('bytes' in body) {
    h.set('Content-Type', 'application/octet-stream');
    payload = body.bytes as BodyInit;
  } else {
    h.set('Content-Type', 'application/json');
    payload = body.json;
  }
  h.set('Accept', 'application/json, application/octet-stream');
  const { ctrl, unlink } = linkSignal(options.signal);
  try {
    const res = await request(url('/ipc/invoke/' + encodeURIComponent(cmd)), {
      method: 'POST',
      headers: h,
      body: payload,
      signal: ctrl.signal,
    });
    return await decodeResult(res, (res.headers.get('Content-Type') || '').toLowerCase());
  } catch (err) {
    throw toTetherError(err);
  } finally {
    unlink();
  }
}

async function decodeResult(res: Response, type: string): Promise<unknown> {
  if (type.startsWith('application/octet-stream')) return await res.arrayBuffer();
  const text = await res.text();
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new TetherError('internal', 'tether: the gateway answered with invalid JSON');
  }
}
