// The invoke transport: POST /ipc/invoke/{command}, unary or streamed as SSE
// for channel commands.

import { headers, request, url } from './config';
import { TetherError, errorFromBody, toTetherError } from './errors';
import { SSEParser, readSSE } from './sse';

export interface InvokeOptions {
  /** Extra request headers, as Tauri's invoke options. */
  headers?: HeadersInit;
  /** Aborting rejects the call with code "canceled" and closes its stream. */
  signal?: AbortSignal;
}

/** One frame of a channel stream as the gateway sends it. */
export type ChannelFrame = { index: number; message: unknown } | { index: number; end: true };

// StreamSink receives the frames of a channel stream in arrival order.
export interface StreamSink {
  /** frame handles one frame; it may throw a TetherError to fail the call. */
  frame(f: ChannelFrame): void;
  /** done reports whether the sink has everything (the end frame and every message before it). */
  done(): boolean;
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

// send performs one invoke. With a sink it asks for an SSE stream and feeds the
// frames to the sink, resolving with null once the sink is done.
export async function send(cmd: string, body: Body, options: InvokeOptions = {}, sink?: StreamSink): Promise<unknown> {
  const h = headers(options.headers);
  let payload: BodyInit;
  if ('bytes' in body) {
    h.set('Content-Type', 'application/octet-stream');
    payload = body.bytes as BodyInit;
  } else {
    h.set('Content-Type', 'application/json');
    payload = body.json;
  }
  h.set('Accept', sink ? 'text/event-stream' : 'application/json, application/octet-stream');
  const { ctrl, unlink } = linkSignal(options.signal);
  try {
    const res = await request(url('/ipc/invoke/' + encodeURIComponent(cmd)), {
      method: 'POST',
      headers: h,
      body: payload,
      signal: ctrl.signal,
    });
    const type = (res.headers.get('Content-Type') || '').toLowerCase();
    if (sink && type.startsWith('text/event-stream') && res.body) {
      return await readChannel(res.body, sink, ctrl);
    }
    return await decodeResult(res, type);
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

function parseFrame(data: string): ChannelFrame {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    throw new TetherError('internal', 'tether: malformed channel frame');
  }
  const f = v as { index?: unknown; end?: unknown; message?: unknown } | null;
  const index = typeof f?.index === 'string' ? Number(f.index) : f?.index;
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) {
    throw new TetherError('internal', 'tether: channel frame without a valid index');
  }
  if (f!.end === true) return { index, end: true };
  return { index, message: f!.message };
}

async function readChannel(body: ReadableStream<Uint8Array>, sink: StreamSink, ctrl: AbortController): Promise<unknown> {
  let failure: TetherError | undefined;
  let sawEnd = false;
  const stop = (err?: TetherError) => {
    if (!failure && err) failure = err;
    ctrl.abort();
  };
  const parser = new SSEParser({
    onMessage: (m) => {
      if (failure || ctrl.signal.aborted) return;
      if (m.event === 'error') {
        stop(errorFromBody(m.data, 500));
        return;
      }
      if (m.event !== 'message') return;
      try {
        const frame = parseFrame(m.data);
        if ('end' in frame) sawEnd = true;
        sink.frame(frame);
      } catch (err) {
        stop(toTetherError(err));
        return;
      }
      if (sink.done()) stop();
    },
  });
  try {
    await readSSE(body, parser, ctrl.signal);
  } catch (err) {
    if (!ctrl.signal.aborted) throw toTetherError(err);
  }
  if (failure) throw failure;
  if (sink.done()) return null;
  if (ctrl.signal.aborted) throw new TetherError('canceled', 'the request was canceled');
  if (sawEnd) throw new TetherError('data_loss', 'tether: channel stream ended with messages missing');
  throw new TetherError('unavailable', 'tether: channel stream closed before its end message');
}
