// Start and stop a real `tether serve` (bin/tether, built by the Makefile).
// Only node built-ins: scripts/with-tether.mjs uses it before any npm ci.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
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
 * which takes tether serve's flags) and resolves as startTether does.
 */
export async function startApp(bin, args = [], { timeoutMs = 15000, cwd } = {}) {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: build it first (make test-browser does)`);
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd });
  let stdout = '';
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (d) => {
    stderr += d;
    if (process.env.TETHER_LOG) process.stderr.write(d);
  });
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const ready = new Promise((resolve, reject) => {
    proc.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d;
      const http = /tether: HTTP on (http:\/\/\S+)/.exec(stdout);
      const grpc = /tether: gRPC on (\S+)/.exec(stdout);
      if (http && grpc) resolve({ url: http[1].replace(/\/+$/, ''), grpc: grpc[1] });
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
