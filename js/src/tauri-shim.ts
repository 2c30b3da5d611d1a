// The Tauri shim: a classic script that, loaded before an app's bundle,
// provides window.__TAURI_INTERNALS__ and window.__TAURI_EVENT_PLUGIN_INTERNALS__
// so that an unchanged @tauri-apps/api v2 talks to a Tether gateway.
//
// Settings: window.__TETHER__ = { label, baseUrl, errors, globalTauri } set
// before the script, or data-label / data-base-url / data-errors /
// data-global-tauri on its <script> tag.
//   label   — this page's label (a hint; the gateway decides): default "main"
//   baseUrl — the gateway; default the origin the shim was loaded from
//   errors  — "tauri" (default): a failed invoke rejects with the command's own
//             error value (details) or else the message string, as Tauri does;
//             "tether": it rejects with a TetherError {code, message, details}.
//   globalTauri — define window.__TAURI__ (Tauri's app.withGlobalTauri); the
//             gateway sets it when the config does.

import { configure, getConfig, metadata } from './config';
import { TetherError, toTetherError } from './errors';
import { type Listener, type Hub, subscribe, emit, emitTo, type EventTarget } from './events';
import { type InvokeOptions, Route, bytesOf, isBytes, send, sendWithChannels } from './invoke';
import { channelIdOf, stringifyArgs } from './stream';

type Callback = (data: unknown) => unknown;
type AnyRecord = Record<string, unknown>;

const SERIALIZE_TO_IPC_FN = '__TAURI_TO_IPC_KEY__';

(() => {
  const w = globalThis as unknown as AnyRecord & { document?: { currentScript?: unknown } };
  const settings = (w.__TETHER__ ?? {}) as { label?: string; baseUrl?: string; errors?: string; globalTauri?: boolean };
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
  const globalTauri = w.__TETHER_GLOBAL_TAURI__ === true || settings.globalTauri === true || data.globalTauri === 'true';

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
    const undo = local.get(eventId);
    if (undo) {
      local.delete(eventId);
      undo();
      return;
    }
    const l = listeners.get(eventId);
    if (!l) return;
    listeners.delete(eventId);
    l.hub.remove(l.listener);
    unregisterCallback(l.handler);
  }

  // Window events a browser tab can give, from the DOM: tauri://focus,
  // tauri://blur and tauri://resize (payload: the physical size). Other
  // tauri:// events (drag-drop, close-requested, …) never fire.
  const local = new Map<number, () => void>();
  let nextLocal = 1 << 30;
  function windowListen(event: string, handler: number): number {
    const id = nextLocal++;
    const win = globalThis as unknown as {
      addEventListener?: (t: string, f: () => void) => void;
      removeEventListener?: (t: string, f: () => void) => void;
      innerWidth?: number;
      innerHeight?: number;
      devicePixelRatio?: number;
    };
    const dom = { 'tauri://focus': 'focus', 'tauri://blur': 'blur', 'tauri://resize': 'resize' }[event];
    if (!dom || !win.addEventListener) {
      local.set(id, () => unregisterCallback(handler));
      return id;
    }
    const fire = () => {
      const r = win.devicePixelRatio ?? 1;
      const payload = dom === 'resize' ? { width: Math.round((win.innerWidth ?? 0) * r), height: Math.round((win.innerHeight ?? 0) * r) } : null;
      if (callbacks.has(handler)) runCallback(handler, { event, id, payload });
    };
    win.addEventListener(dom, fire);
    local.set(id, () => {
      win.removeEventListener?.(dom, fire);
      unregisterCallback(handler);
    });
    return id;
  }

  async function eventListen(args: AnyRecord): Promise<number> {
    const event = args.event as string;
    const handler = args.handler as number;
    if (typeof event === 'string' && event.startsWith('tauri://')) return windowListen(event, handler);
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
    // Channels anywhere in the args: Tauri's Channel serializes to
    // "__CHANNEL__:<callback id>"; its frames go to runCallback as they come
    // (Tauri's Channel reorders by index itself).
    const routes = new Map<number, Route>();
    const json = stringifyArgs(cmd, args ?? {}, function (this: unknown, _key: string, value: unknown) {
      if (value !== null && typeof value === 'object' && typeof (value as AnyRecord)[SERIALIZE_TO_IPC_FN] === 'function') {
        value = ((value as AnyRecord)[SERIALIZE_TO_IPC_FN] as () => unknown)();
      }
      const id = channelIdOf(value);
      if (id !== undefined && callbacks.has(id) && !routes.has(id)) {
        routes.set(
          id,
          new Route((f) => {
            if ('gone' in f) {
              if (f.error) console.warn(`[tether] channel ${id} of ${cmd} ended: ${f.error.code}: ${f.error.message}`);
              return;
            }
            if (callbacks.has(id)) runCallback(id, 'end' in f ? { index: f.index, end: true } : { index: f.index, message: f.message });
          }),
        );
      }
      return value;
    });
    if (routes.size === 0) return send(cmd, { json }, options);
    return sendWithChannels(cmd, json, routes, options);
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

  // convertFileSrc: asset URLs are the gateway's /ipc/asset/ route, which
  // serves files within app.security.assetProtocol's scope.
  function convertFileSrc(filePath: string, protocol = 'asset'): string {
    const path = encodeURIComponent(filePath);
    if (protocol === 'asset') {
      const base = getConfig().baseUrl || (typeof location !== 'undefined' ? location.origin : '');
      return `${base}/ipc/asset/${path}`;
    }
    return `${protocol}://localhost/${path}`;
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
  if (globalTauri) w.__TAURI__ = globalAPI(invoke, transformCallback, unregisterCallback, convertFileSrc);
})();

type Invoke = (cmd: string, args?: AnyRecord, options?: InvokeOptions) => Promise<unknown>;

// globalAPI is window.__TAURI__ for withGlobalTauri: the parts of
// @tauri-apps/api a page script without a bundler uses (core, event, app),
// written on the same internals as the package itself.
function globalAPI(
  invoke: Invoke,
  transformCallback: (cb?: Callback, once?: boolean) => number,
  unregisterCallback: (id: number) => void,
  convertFileSrc: (path: string, protocol?: string) => string,
): AnyRecord {
  class Channel<T = unknown> {
    readonly id: number;
    onmessage: (m: T) => void;
    #next = 0;
    #pending = new Map<number, T>();
    #end: number | undefined;
    constructor(onmessage?: (m: T) => void) {
      this.onmessage = onmessage ?? (() => {});
      this.id = transformCallback((raw) => {
        const f = raw as { index: number; message?: T; end?: boolean };
        if (f.end) this.#end = f.index;
        else this.#pending.set(f.index, f.message as T);
        while (this.#pending.has(this.#next)) {
          const m = this.#pending.get(this.#next) as T;
          this.#pending.delete(this.#next++);
          try {
            this.onmessage(m);
          } catch (err) {
            queueMicrotask(() => {
              throw err;
            });
          }
        }
        if (this.#end !== undefined && this.#next >= this.#end) unregisterCallback(this.id);
      });
    }
    toJSON(): string {
      return `__CHANNEL__:${this.id}`;
    }
  }
  async function listen(event: string, handler: Callback, options: { target?: unknown } = {}): Promise<() => void> {
    const cb = transformCallback(handler);
    const eventId = (await invoke('plugin:event|listen', { event, target: options.target ?? { kind: 'Any' }, handler: cb })) as number;
    return () => {
      void invoke('plugin:event|unlisten', { event, eventId });
    };
  }
  async function once(event: string, handler: Callback, options: { target?: unknown } = {}): Promise<() => void> {
    let un: (() => void) | undefined;
    let fired = false;
    un = await listen(
      event,
      (e) => {
        if (fired) return;
        fired = true;
        un?.();
        handler(e);
      },
      options,
    );
    return un;
  }
  return {
    core: { invoke, transformCallback, Channel, convertFileSrc, isTauri: () => true },
    event: {
      listen,
      once,
      emit: (event: string, payload?: unknown) => invoke('plugin:event|emit', { event, payload }),
      emitTo: (target: unknown, event: string, payload?: unknown) => invoke('plugin:event|emit_to', { target, event, payload }),
      TauriEvent: {
        WINDOW_RESIZED: 'tauri://resize',
        WINDOW_FOCUS: 'tauri://focus',
        WINDOW_BLUR: 'tauri://blur',
      },
    },
    app: {
      getName: () => invoke('plugin:app|name'),
      getVersion: () => invoke('plugin:app|version'),
      getTauriVersion: () => invoke('plugin:app|tauri_version'),
      getIdentifier: () => invoke('plugin:app|identifier'),
    },
  };
}
// An ES module to esbuild (a file without exports would be wrapped as CommonJS).
export {};
