// node tests/browser/lib/with-tether.mjs [serve args…] -- CMD [args…]
// Starts a real `tether serve` on loopback ports, runs CMD with TETHER_URL set
// to its gateway and TETHER_TOKEN to its secret, stops the server with SIGINT
// and exits with CMD's status.
import { spawn } from 'node:child_process';
import { startTether } from './tether.mjs';

const argv = process.argv.slice(2);
const sep = argv.indexOf('--');
if (sep < 0 || sep === argv.length - 1) {
  console.error('usage: with-tether.mjs [serve args…] -- CMD [args…]');
  process.exit(2);
}
const t = await startTether(argv.slice(0, sep));
console.error(`with-tether: TETHER_URL=${t.url}`);
const child = spawn(argv[sep + 1], argv.slice(sep + 2), {
  stdio: 'inherit',
  env: { ...process.env, TETHER_URL: t.url, TETHER_TOKEN: t.token },
});
const forward = (sig) => child.kill(sig);
process.on('SIGINT', forward).on('SIGTERM', forward);
const code = await new Promise((resolve) => child.once('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
const r = await t.stop();
if (r.code !== 0) {
  console.error(`with-tether: tether serve exited with ${r.code ?? r.signal} after SIGINT\n${t.logs()}`);
  process.exit(code || 1);
}
process.exit(code);
