// An app written against the real, unchanged @tauri-apps/api v2 from npm,
// bundled by esbuild, served by `tether serve --frontend dist`, with only
// <script src="/ipc/tauri-shim.js"> added to its <head>. The page runs its
// steps (fixtures/tauri-app/src/main.js) and the test checks what it saw.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startTether } from './lib/tether.mjs';
import { launch } from './lib/browser.mjs';

const DIST = fileURLToPath(new URL('./fixtures/tauri-app/dist/', import.meta.url));

let tether;
let browser;
let results;

before(async () => {
  assert.ok(existsSync(`${DIST}index.html`), 'fixtures/tauri-app/dist is built (npm run build)');
  tether = await startTether(['--frontend', DIST]);
  browser = await launch();
  const { page } = browser;
  await tether.login(page);
  await page.locator('#status').filter({ hasText: /^done$/ }).waitFor({ timeout: 60000 });
  results = await page.evaluate(() => window.__results);
  if (process.env.DEBUG_RESULTS) console.log(JSON.stringify(results, null, 1));
});

after(async () => {
  await browser?.close();
  const r = await tether?.stop();
  assert.equal(r?.code, 0, `tether serve should exit 0 on SIGINT:\n${tether?.logs()}`);
});

const ok = (name) => {
  const r = results[name];
  assert.ok(r, `step ${name} ran`);
  assert.equal(r.ok, true, `step ${name} failed: ${JSON.stringify(r.error)}`);
  return r.value;
};
const rejected = (name) => {
  const r = results[name];
  assert.ok(r, `step ${name} ran`);
  assert.equal(r.ok, false, `step ${name} should have rejected, got ${JSON.stringify(r.value)}`);
  return r.error;
};

test('the frontend folder is served and the page is the fixture, with the shim first', async () => {
  const html = await (await fetch(`${tether.url}/`, { headers: tether.headers(), signal: AbortSignal.timeout(5000) })).text();
  assert.match(html, /<script src="\/ipc\/tauri-shim\.js"><\/script>\s*<script type="module" src="\.\/main\.js">/);
});

test('invoke greet', () => {
  assert.equal(ok('greet'), 'Hello, Tauri!');
});

test("invoke fail rejects with the command's own error value, as Tauri does", () => {
  assert.deepEqual(rejected('fail'), { reason: 'tauri', retryable: false });
});

test('invoke of an unknown command rejects with a message string', () => {
  const e = rejected('unknown');
  assert.equal(typeof e, 'string');
  assert.match(e, /no_such_command/);
});

test('raw bytes in and out', () => {
  assert.deepEqual(ok('bytes'), { length: 300, same: true });
});

test('a Channel gets 50 ordered messages, then invoke resolves null', () => {
  const v = ok('channel');
  assert.equal(v.result, null);
  assert.equal(v.atResolve, 50, 'all 50 delivered before invoke resolved');
  assert.deepEqual(
    v.messages,
    Array.from({ length: 50 }, (_, i) => ({ n: i + 1, of: 50 })),
  );
});

test('listen receives the backend-event reply to an emitted frontend-event', () => {
  const v = ok('listen');
  assert.equal(v.typeofUnlisten, 'function');
  assert.equal(v.event, 'backend-event');
  assert.equal(typeof v.id, 'number');
  assert.equal(v.payload.kind, 'reply');
  assert.equal(v.payload.message, `backend heard: ${v.message}`);
  assert.equal(v.payload.from, 'main', 'the gateway gave the page its label');
});

test('once fires once; another listener gets every emit', () => {
  assert.deepEqual(ok('once'), { got: [1], stay: [1, 2, 3] });
});

test('no deliveries after unlisten', () => {
  assert.deepEqual(ok('unlisten'), { gone: ['before'], stay: ['before', 'after'] });
});

test("emitTo reaches the page's own label, not another's", () => {
  const v = ok('emitTo');
  assert.deepEqual(v.got, ['for main', 'for main window', 'for everyone']);
  // As in Tauri, a listener with a target also gets global emits.
  assert.deepEqual(v.targeted, ['for main', 'for main window', 'for everyone']);
});

test('the page logged no errors', () => {
  // fail and the unknown command answer 4xx, which Chromium logs as failed resources.
  const unexpected = browser.errors.filter((e) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(e));
  assert.deepEqual(unexpected, []);
});
