// Start and stop a real `tether serve` (bin/tether, built by the Makefile).
// Only node built-ins: scripts/with-tether.mjs uses it before any npm ci.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = process.env.TETHER_BIN || `${REPO}bin/tether`;

/**
 * startTether spawns `tether serve --grpc 127.0.0.1:0 --http 127.0.0.1:0 ...args`
 * and resolves when it prints its HTTP address. stop() sends SIGINT and waits
 * (SIGKILL after a bound).
 */
export async function startTether(args = [], opts = {}) {
  return startApp(BIN, ['serve', '--grpc', '127.0.0.1:0', '--http', '127.0.0.1:0', ...args], opts);
}

/**
 * startApp spawns a Tether app of one's own (a binary built on package app,
 * which takes tether serve's flags) and resolves as startTether does, with
 * what it printed: url (the gateway), grpc, token (its secret, "" with
 * --auth none) and open (the address a browser opens to get the session
 * cookie: url/?token=…). Each app gets a runtime folder of its own
 * ($XDG_RUNTIME_DIR), where it writes its secret.
 *
 * Callers in the test process send the secret: headers() gives the header,
 * and login(page) opens the address in a page, so that the browser has the
 * cookie for every page of the gateway.
 */
export async function startApp(bin, args = [], { timeoutMs = 15000, cwd } = {}) {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: build it first (make test-browser does)`);
  const runtime = mkdtempSync(join(tmpdir(), 'tether-run-'));
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd, env: { ...process.env, XDG_RUNTIME_DIR: runtime } });
  let stdout = '';
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (d) => {
    stderr += d;
    if (process.env.TETHER_LOG) process.stderr.write(d);
  });
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  exited.then(() => rmSync(runtime, { recursive: true, force: true }));
  const ready = new Promise((resolve, reject) => {
    proc.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d;
      const http = /tether: HTTP on (http:\/\/\S+)/.exec(stdout);
      const grpc = /tether: gRPC on (\S+)/.exec(stdout);
      // The address to open follows the HTTP line, unless --auth none.
      const open = /tether: open (http:\/\/\S+)/.exec(stdout);
      const noAuth = args.some((a, i) => a === '--auth=none' || (a === '--auth' && args[i + 1] === 'none'));
      if (http && grpc && (open || noAuth)) {
        const url = http[1].replace(/\/+$/, '');
        const token = open ? new URL(open[1]).searchParams.get('token') || '' : '';
        resolve({ url, grpc: grpc[1], token, open: open ? open[1] : `${url}/` });
      }
    });
    proc.once('error', reject);
    exited.then(({ code, signal }) =>
      reject(new Error(`${bin} exited (code ${code}, signal ${signal}) before it was ready:\n${stderr}`)),
    );
  });
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${bin} not ready within ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
  });
  let addrs;
  try {
    addrs = await Promise.race([ready, timeout]);
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
  let stopping;
  return {
    ...addrs,
    proc,
    logs: () => stderr,
    /** headers returns extra with the secret as a bearer token, as curl would send it. */
    headers(extra = {}) {
      return addrs.token ? { Authorization: `Bearer ${addrs.token}`, ...extra } : { ...extra };
    },
    /**
     * login opens path (default "/") in page with the token, as the address
     * the app printed does: the browser keeps the session cookie and lands
     * on path without the token.
     */
    async login(page, path = '/') {
      if (!addrs.token) return page.goto(`${addrs.url}${path}`);
      const sep = path.includes('?') ? '&' : '?';
      return page.goto(`${addrs.url}${path}${sep}token=${encodeURIComponent(addrs.token)}`);
    },
    stop() {
      stopping ??= (async () => {
        if (proc.exitCode !== null || proc.signalCode !== null) return exited;
        proc.kill('SIGINT');
        const t = setTimeout(() => proc.kill('SIGKILL'), 12000);
        const r = await exited;
        clearTimeout(t);
        return r;
      })();
      return stopping;
    },
  };
}
