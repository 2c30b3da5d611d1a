// Channel: ordered messages from one channel command, as Tauri's Channel.

import { TetherError } from './errors';
import type { ChannelFrame, StreamSink } from './invoke';

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
 * Channel receives the messages a channel command streams, in index order.
 * Pass one as a value of the args object of invoke; invoke then streams the
 * call over SSE and resolves once every message up to the end marker has been
 * delivered to onmessage. Messages are reordered by their numeric index.
 */
export class Channel<T = unknown> {
  /** An id, unique in this page, for parity with Tauri's Channel. */
  readonly id: number;
  #onmessage: (message: T) => void;
  #next = 0;
  #pending = new Map<number, T>();
  #end: number | undefined;
  #used = false;

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

  /** Serializes as Tauri's Channel does, so a Channel nested where invoke does not look for it is visible. */
  toJSON(): string {
    return `__CHANNEL__:${this.id}`;
  }

  // sink hands the transport a fresh frame consumer. A Channel serves one invoke.
  /** @internal */
  _sink(): StreamSink {
    if (this.#used) throw new TetherError('invalid_argument', 'tether: a Channel can be passed to one invoke only');
    this.#used = true;
    return {
      frame: (f: ChannelFrame) => this.#frame(f),
      done: () => this.#end !== undefined && this.#next >= this.#end,
    };
  }

  #frame(f: ChannelFrame): void {
    if ('end' in f) {
      if (this.#end !== undefined) throw new TetherError('internal', 'tether: two end messages on one channel');
      if (f.index < this.#next || [...this.#pending.keys()].some((i) => i >= f.index)) {
        throw new TetherError('internal', 'tether: channel end message before a message it should follow');
      }
      this.#end = f.index;
      return;
    }
    if (f.index < this.#next || this.#pending.has(f.index) || (this.#end !== undefined && f.index >= this.#end)) {
      throw new TetherError('internal', `tether: unexpected channel message index ${f.index}`);
    }
    this.#pending.set(f.index, f.message as T);
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
  }
}
