// The Tauri shim: a classic script that, loaded before an app's bundle,
// provides window.__TAURI_INTERNALS__ and window.__TAURI_EVENT_PLUGIN_INTERNALS__
// so that an unchanged @tauri-apps/api v2 talks to a Tether gateway.
//
// Settings: window.__TETHER__ = { label, baseUrl, errors } set before the
// script, or data-label / data-base-url / data-errors on its <script> tag.
//   label   — this page's label (a hint; the gateway decides): default "main"
//   baseUrl — the gateway; default the origin the shim was loaded from
//   errors  — "tauri" (default): a failed invoke rejects with the command's own
//             error value (details) or else the message string, as Tauri does;
//             "tether": it rejects with a TetherError {code, message, details}.

import { configure, metadata } from './config';
import { TetherError, toTetherError } from './errors';
import { type Listener, type Hub, subscribe, emit, emitTo, type EventTarget } from './events';
import { type ChannelFrame, type InvokeOptions, bytesOf, isBytes, send } from './invoke';

type Callback = (data: unknown) => unknown;
type AnyRecord = Record<string, unknown>;

const SERIALIZE_TO_IPC_FN = '__TAURI_TO_IPC_KEY__';
const CHANNEL_RE = /^__CHANNEL__:(\d+)$/;

(() => {
  const w = globalThis as unknown as AnyRecord & { document?: { currentScript?: unknown } };
  const settings = (w.__TETHER__ ?? {}) as { label?: string; baseUrl?: string; errors?: string };
  const script = (w.document?.currentScript ?? null) as { dataset?: Record<string, string>; src?: string } | null;
  const data = script?.dataset ?? {};

  let baseUrl = settings.baseUrl ?? data.baseUrl;
  if (baseUrl === undefined && script?.src) {
    try {
      const u = new URL(script.src);
      const m = /^(.*)\/ipc\/tauri-shim\.js$/.exec(u.pathname);
      if (m) baseUrl = u.origin + m[1];
    } catch {
      // same origin
    }
  }
  configure({ baseUrl: baseUrl ?? '', label: settings.label ?? data.label ?? 'main' });
  const tauriErrors = (settings.errors ?? data.errors ?? 'tauri') !== 'tether';

  const callbacks = new Map<number, Callback>();
  let nextCallback = 1;

  function transformCallback(callback?: Callback, once = false): number {
    const id = nextCallback++;
    callbacks.set(id, (data) => {
      if (once) callbacks.delete(id);
      return callback?.(data);
    });
    return id;
  }

  function unregisterCallback(id: number): void {
    callbacks.delete(id);
  }

  function runCallback(id: number, data: unknown): void {
    const cb = callbacks.get(id);
    if (cb) cb(data);
    else console.warn(`[tether] no callback with id ${id}; it was unregistered`);
  }

  // Event listeners by the id listen returned (Tauri's eventId).
  const listeners = new Map<number, { hub: Hub; listener: Listener; handler: number }>();

  function dropListener(eventId: number): void {
    const l = listeners.get(eventId);
    if (!l) return;
    listeners.delete(eventId);
    l.hub.remove(l.listener);
    unregisterCallback(l.handler);
  }

  async function eventListen(args: AnyRecord): Promise<number> {
    const event = args.event as string;
    const handler = args.handler as number;
    const target = args.target as EventTarget | undefined;
    const ref: { id: number } = { id: 0 };
    const sub = subscribe(
      event,
      (e) => runCallback(handler, { event: e.event, id: ref.id, payload: e.payload }),
      { target: target && typeof target === 'object' && target.kind === 'Any' ? undefined : target },
    );
    ref.id = sub.listener.id;
    listeners.set(ref.id, { hub: sub.hub, listener: sub.listener, handler });
    try {
      await sub.ready;
    } catch (err) {
      // Unlistened before the subscription was live: nothing leaks, and the
      // caller gets its id as usual (unlistening it again does nothing).
      if (sub.listener.removed && (err as TetherError).code === 'canceled') return ref.id;
      dropListener(ref.id);
      throw err;
    }
    return ref.id;
  }

  async function appInvoke(cmd: string, args: unknown, options?: InvokeOptions): Promise<unknown> {
    if (isBytes(args)) return send(cmd, { bytes: bytesOf(args) }, options);
    let channelId: number | undefined;
    let channels = 0;
    const root = args ?? {};
    const json = JSON.stringify(root, function (this: unknown, _key: string, value: unknown) {
      if (value !== null && typeof value === 'object' && typeof (value as AnyRecord)[SERIALIZE_TO_IPC_FN] === 'function') {
        value = ((value as AnyRecord)[SERIALIZE_TO_IPC_FN] as () => unknown)();
      }
      if (this === root && typeof value === 'string') {
        const m = CHANNEL_RE.exec(value);
        if (m) {
          channels++;
          channelId = Number(m[1]);
          return undefined;
        }
      }
      return value;
    });
    if (channels > 1) throw new TetherError('invalid_argument', 'tether: one Channel per invoke');
    if (channelId === undefined) return send(cmd, { json }, options);
    const id = channelId;
    let end: number | undefined;
    const seen = new Set<number>();
    return send(cmd, { json }, options, {
      frame: (f: ChannelFrame) => {
        if ('end' in f) end = f.index;
        else seen.add(f.index);
        // Tauri's Channel reorders by index itself; frames go through as they come.
        runCallback(id, f);
      },
      done: () => end !== undefined && seen.size >= end,
    });
  }

  async function dispatch(cmd: string, args: AnyRecord, options?: InvokeOptions): Promise<unknown> {
    switch (cmd) {
      case 'plugin:event|listen':
        return eventListen(args);
      case 'plugin:event|unlisten':
        dropListener(args.eventId as number);
        return null;
      case 'plugin:event|emit':
        await emit(args.event as string, args.payload);
        return null;
      case 'plugin:event|emit_to':
        await emitTo(args.target as EventTarget, args.event as string, args.payload);
        return null;
      default:
        return appInvoke(cmd, args, options);
    }
  }

  async function invoke(cmd: string, args: AnyRecord = {}, options?: InvokeOptions): Promise<unknown> {
    try {
      return await dispatch(cmd, args, options);
    } catch (err) {
      const e = toTetherError(err);
      if (!tauriErrors) throw e;
      throw e.details !== undefined && e.details !== null ? e.details : e.message;
    }
  }

  function convertFileSrc(filePath: string, protocol = 'asset'): string {
    return `${protocol}://localhost/${encodeURIComponent(filePath)}`;
  }

  const internals = (w.__TAURI_INTERNALS__ ?? {}) as AnyRecord;
  Object.assign(internals, {
    invoke,
    transformCallback,
    unregisterCallback,
    runCallback,
    callbacks,
    convertFileSrc,
    metadata: metadata(),
  });
  w.__TAURI_INTERNALS__ = internals;
  const eventInternals = (w.__TAURI_EVENT_PLUGIN_INTERNALS__ ?? {}) as AnyRecord;
  eventInternals.unregisterListener = (_event: string, eventId: number) => dropListener(eventId);
  w.__TAURI_EVENT_PLUGIN_INTERNALS__ = eventInternals;
  // @tauri-apps/api's isTauri() checks this; the app should take its Tauri path.
  w.isTauri = true;
})();
// An ES module to esbuild (a file without exports would be wrapped as CommonJS).
export {};
