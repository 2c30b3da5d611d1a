// Client configuration and the one place requests are made.

import { TetherError, errorFromBody, toTetherError } from './errors';

/** The header carrying the page's label hint; the gateway treats it as untrusted. */
export const LABEL_HEADER = 'Tether-Client-Label';

export interface ReconnectOptions {
  /** The first delay after a listen stream drops, in ms (default 250). A server retry: field replaces it. */
  initialDelayMs?: number;
  /** The longest delay between attempts, in ms (default 10000). */
  maxDelayMs?: number;
}

export interface Config {
  /**
   * The gateway's origin (and optional path prefix), e.g. "http://127.0.0.1:8080".
   * Empty means the page's own origin (relative URLs).
   */
  baseUrl: string;
  /** This client's label, sent as the Tether-Client-Label hint and shown in metadata. Default "main". */
  label: string;
  /** The fetch to use; default globalThis.fetch. */
  fetch: typeof fetch;
  /** Headers added to every request. */
  headers: Record<string, string>;
  reconnect: Required<ReconnectOptions>;
}

export type ConfigOptions = Partial<Omit<Config, 'reconnect'>> & { reconnect?: ReconnectOptions };

const config: Config = {
  baseUrl: '',
  label: 'main',
  fetch: (input, init) => globalThis.fetch(input, init),
  headers: {},
  reconnect: { initialDelayMs: 250, maxDelayMs: 10_000 },
};

/** configure changes the client's settings and returns them. Fields left out keep their values. */
export function configure(opts: ConfigOptions = {}): Readonly<Config> {
  if (opts.baseUrl !== undefined) config.baseUrl = opts.baseUrl.replace(/\/+$/, '');
  if (opts.label !== undefined) config.label = opts.label;
  if (opts.fetch !== undefined) config.fetch = opts.fetch;
  if (opts.headers !== undefined) config.headers = { ...opts.headers };
  if (opts.reconnect !== undefined) config.reconnect = { ...config.reconnect, ...opts.reconnect };
  return getConfig();
}

export function getConfig(): Readonly<Config> {
  return { ...config, headers: { ...config.headers }, reconnect: { ...config.reconnect } };
}

/** The Tauri-shaped window metadata for this client's label. */
export function metadata(): {
  currentWindow: { label: string };
  currentWebview: { label: string; windowLabel: string };
} {
  return {
    currentWindow: { label: config.label },
    currentWebview: { label: config.label, windowLabel: config.label },
  };
}

export function url(path: string, query?: [string, string][]): string {
  let u = config.baseUrl + path;
  if (query && query.length > 0) {
    u += '?' + query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  }
  return u;
}

export function headers(extra?: HeadersInit): Headers {
  const h = new Headers(config.headers);
  if (config.label) h.set(LABEL_HEADER, config.label);
  if (extra) new Headers(extra).forEach((v, k) => h.set(k, v));
  return h;
}

// request sends one request and returns the response if its status is 2xx.
// Anything else rejects with a TetherError: the gateway's error body parsed,
// a network failure as unavailable, an abort as canceled.
export async function request(input: string, init: RequestInit): Promise<Response> {
  let res: Response;
  try {
    res = await config.fetch(input, init);
  } catch (err) {
    throw toTetherError(err);
  }
  if (res.ok) return res;
  let text = '';
  try {
    text = await res.text();
  } catch {
    // keep the status alone
  }
  throw errorFromBody(text, res.status, res.statusText);
}

export function reconnectSettings(): Required<ReconnectOptions> {
  return config.reconnect;
}

export { TetherError };
