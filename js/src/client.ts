// Tether's JS client: Tauri-style invoke, Channel and events over the Tether
// gateway's HTTP/JSON and SSE routes. No runtime dependencies; runs in
// browsers and in Node 20+.

import { Channel } from './channel';
import { configure } from './config';
import { TetherError, toTetherError } from './errors';
import { type InvokeOptions, type Route, bytesOf, isBytes, send, sendWithChannels } from './invoke';
import { stringifyArgs } from './stream';

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
 * Channels may appear anywhere in args (several per call): their messages
 * arrive on the page's one stream, and invoke resolves once the messages sent
 * before the result have been delivered; a channel may go on after that.
 * Args that JSON cannot carry (a BigInt, a cycle) reject with
 * invalid_argument before any request.
 */
export async function invoke<T>(cmd: string, args: InvokeArgs = {}, options?: InvokeOptions): Promise<T> {
  try {
    if (isBytes(args)) return (await send(cmd, { bytes: bytesOf(args) }, options)) as T;
    if (args === null || typeof args !== 'object' || Array.isArray(args)) {
      throw new TetherError('invalid_argument', 'tether: invoke args must be an object, an ArrayBuffer or a Uint8Array');
    }
    const routes = new Map<number, Route>();
    const json = stringifyArgs(cmd, args, function (this: unknown, key: string, value: unknown) {
      const orig = key === '' ? value : (this as Record<string, unknown>)[key];
      if (orig instanceof Channel) {
        if (routes.has(orig.id)) throw new TetherError('invalid_argument', 'tether: a Channel appears twice in one invoke');
        routes.set(orig.id, orig._route());
      }
      return value;
    });
    if (routes.size === 0) return (await send(cmd, { json }, options)) as T;
    return (await sendWithChannels(cmd, json, routes, options)) as T;
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
