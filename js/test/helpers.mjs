// Shared test helpers. With TETHER_URL set, tests run against that gateway
// and tests that need the mock's commands or /_mock controls are skipped.
import { startMockGateway } from './mock-gateway.mjs';

export const external = process.env.TETHER_URL || '';

// A real gateway wants the app's secret (TETHER_TOKEN, which with-tether.mjs
// sets), as a local program sends it: every request to it carries the
// bearer token, whoever makes it (the client, the shim, a test). The mock
// wants none.
if (external && process.env.TETHER_TOKEN) {
  const base = external.replace(/\/+$/, '') + '/';
  const token = process.env.TETHER_TOKEN;
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, init = {}) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (url.startsWith(base)) {
      const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
      if (!headers.has('authorization')) headers.set('Authorization', `Bearer ${token}`);
      init = { ...init, headers };
    }
    return realFetch(input, init);
  };
}
/** Pass as a test's skip option: set when a test needs the mock gateway. */
export const mockOnly = external ? 'needs the mock gateway (TETHER_URL is set)' : false;

/**
 * testLabel is the client label a suite asks for. The mock accepts any label;
 * a real gateway accepts only the labels its config gives the caller's origin
 * (Node sends no Origin header, so the same-origin labels: "main" by default)
 * and answers 403 permission_denied for any other. TETHER_LABEL overrides it.
 */
export function testLabel(mockLabel) {
  return external ? process.env.TETHER_LABEL || 'main' : mockLabel;
}

export async function startGateway() {
  if (external) return { url: external.replace(/\/+$/, ''), close: async () => {} };
  return startMockGateway();
}

/** within rejects if promise takes longer than ms. */
export function within(promise, ms, what = 'operation') {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(t));
}

/** waitFor polls cond until it returns a truthy value or ms pass. */
export async function waitFor(cond, ms = 3000, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function mock(gw, what, query = '') {
  const res = await fetch(`${gw.url}/_mock/${what}${query ? '?' + query : ''}`, { method: 'POST' });
  return res.json();
}

export async function stats(gw) {
  return mock(gw, 'stats');
}

/** A URL where nothing listens: a server that was opened and closed. */
export async function deadUrl() {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}
