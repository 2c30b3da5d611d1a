// Channel: ordered messages from one channel command, as Tauri's Channel.

import { TetherError } from './errors';
import { Route } from './invoke';
import type { StreamChannelFrame } from './stream';

let nextChannelId = 1;

// rethrowLater reports a handler's exception without stalling delivery:
// through reportError where there is one (browsers: window 'error' event),
// else thrown from a microtask, as an uncaught exception.
export function rethrowLater(err: unknown): void {
  const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
  if (typeof report === 'function') {
    report(err);
    return;
  }
  queueMicrotask(() => {
    throw err;
  });
}

/**
 * Channel receives the messages a command sends on it, in index order, as
 * Tauri's Channel. Pass one (or several) anywhere in the args of invoke: the
 * command's Go side gets a server.Channel for each. invoke resolves with the
 * command's result once the messages sent before it have been delivered; the
 * channel goes on after that until the command closes it (onclose() with no
 * error), or the call ends (onclose(err)). Raw-bytes messages arrive as
 * ArrayBuffers.
 */
export class Channel<T = unknown> {
  /** An id, unique in this page, for parity with Tauri's Channel. */
  readonly id: number;
  /** Called once when the channel ends: closed by the command (no error), or gone with its call (the error). */
  onclose: ((err?: TetherError) => void) | undefined;
  #onmessage: (message: T) => void;
  #next = 0;
  #pending = new Map<number, T>();
  #end: number | undefined;
  #used = false;
  #closed = false;

  constructor(onmessage?: (message: T) => void) {
    this.id = nextChannelId++;
    this.#onmessage = onmessage ?? (() => {});
  }

  /** The handler called for each message, in order. Messages that arrived before it was set are not replayed. */
  set onmessage(handler: (message: T) => void) {
    this.#onmessage = handler;
  }

  get onmessage(): (message: T) => void {
    return this.#onmessage;
  }

  /** Serializes as Tauri's Channel does: "__CHANNEL__:<id>". */
  toJSON(): string {
    return `__CHANNEL__:${this.id}`;
  }

  /** @internal The route the page stream feeds. A Channel serves one invoke. */
  _route(): Route {
    if (this.#used) throw new TetherError('invalid_argument', 'tether: a Channel can be passed to one invoke only');
    this.#used = true;
    return new Route((f) => this.#frame(f));
  }

  #close(err?: TetherError): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.onclose?.(err);
    } catch (e) {
      rethrowLater(e);
    }
  }

  #frame(f: StreamChannelFrame): void {
    if ('gone' in f) {
      this.#close(f.error ?? new TetherError('unavailable', 'tether: the channel ended without its end message'));
      return;
    }
    if ('end' in f) {
      if (this.#end === undefined && f.index >= this.#next) this.#end = f.index;
    } else if (f.index >= this.#next && !this.#pending.has(f.index) && (this.#end === undefined || f.index < this.#end)) {
      this.#pending.set(f.index, f.message as T);
    }
    while (this.#pending.has(this.#next)) {
      const m = this.#pending.get(this.#next) as T;
      this.#pending.delete(this.#next);
      this.#next++;
      try {
        this.#onmessage(m);
      } catch (err) {
        rethrowLater(err);
      }
    }
    if (this.#end !== undefined && this.#next >= this.#end) this.#close();
  }
}
