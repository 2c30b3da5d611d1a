// Tether's JS client: Tauri-style invoke, Channel and events over the Tether
// gateway's HTTP/JSON and SSE routes. No runtime dependencies; runs in
// browsers and in Node 20+.

import { Channel } from './channel';
import { configure } from './config';
import { TetherError, toTetherError } from './errors';
import { type InvokeOptions, type StreamSink, bytesOf, isBytes, send } from './invoke';

export { Channel } from './channel';
export { configure, getConfig, metadata, LABEL_HEADER } from './config';
export type { Config, ConfigOptions, ReconnectOptions } from './config';
export { TetherError } from './errors';
export type { Code } from './errors';
export type { InvokeOptions } from './invoke';
export { listen, once, emit, emitTo } from './events';
export type { Event, EventCallback, EventTarget, ListenOptions, UnlistenFn } from './events';
export { SSEParser } from './sse';
export type { SSEMessage } from './sse';

/** Command arguments: an object, or bytes sent raw as application/octet-stream. */
export type InvokeArgs = Record<string, unknown> | ArrayBuffer | ArrayBufferView;

/**
 * invoke runs a command and resolves with its result: the parsed JSON, or an
 * ArrayBuffer when the command answers with raw bytes. It rejects with a
 * TetherError.
 *
 * If one value of args is a Channel, the call is streamed: its key is left out
 * of the JSON body, the messages go to the Channel in index order, and the
 * promise resolves with null once the end message (and every message before
 * it) has been delivered. At most one Channel per call, at the top level of args.
 */
export async function invoke<T>(cmd: string, args: InvokeArgs = {}, options?: InvokeOptions): Promise<T> {
  try {
    if (isBytes(args)) return (await send(cmd, { bytes: bytesOf(args) }, options)) as T;
    if (args === null || typeof args !== 'object' || Array.isArray(args)) {
      throw new TetherError('invalid_argument', 'tether: invoke args must be an object, an ArrayBuffer or a Uint8Array');
    }
    let channel: Channel<unknown> | undefined;
    const rest: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(args)) {
      if (v instanceof Channel) {
        if (channel) throw new TetherError('invalid_argument', 'tether: one Channel per invoke');
        channel = v;
      } else {
        rest[k] = v;
      }
    }
    const sink: StreamSink | undefined = channel?._sink();
    return (await send(cmd, { json: JSON.stringify(rest) }, options, sink)) as T;
  } catch (err) {
    throw toTetherError(err);
  }
}

// Loaded from the gateway (…/ipc/client.js), the client talks to that gateway
// by default, even from a page of another origin.
try {
  const here = new URL(import.meta.url);
  const m = /^(.*)\/ipc\/client\.js$/.exec(here.pathname);
  if ((here.protocol === 'http:' || here.protocol === 'https:') && m) configure({ baseUrl: here.origin + m[1] });
} catch {
  // not loaded from a URL we understand: same origin
}
