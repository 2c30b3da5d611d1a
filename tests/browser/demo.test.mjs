// The demo page (GET / of `tether serve`) in Chromium: every button, the
// structured errors, the event log and the count channel's progress bar.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTether, REPO } from './lib/tether.mjs';
import { launch } from './lib/browser.mjs';

let tether;
let browser;
let page;
let dataDir;
const secret = `file content ${process.pid}-${Date.now()}`;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'tether-data-'));
  await writeFile(join(dataDir, 'note.txt'), secret);
  tether = await startTether(['--data', dataDir]);
  browser = await launch();
  page = browser.page;
  await tether.login(page); // the address tether printed: the page gets its session cookie
  await page.locator('#status').filter({ hasText: /^ready$/ }).waitFor();
});

after(async () => {
  await browser?.close();
  const r = await tether?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  assert.equal(r?.code, 0, `tether serve should exit 0 on SIGINT:\n${tether?.logs()}`);
});

const text = (id) => page.locator(id).textContent();

/** click clears #result/#error first, so a stale value never passes a test. */
async function click(button) {
  await page.evaluate(() => {
    for (const id of ['result', 'error', 'error-code', 'error-message', 'error-details']) {
      document.getElementById(id).textContent = '';
    }
  });
  await page.click(button);
  await page.waitForFunction(
    () => document.getElementById('result').textContent || document.getElementById('error').textContent,
  );
}

async function expectResult(want) {
  assert.equal(await text('#error'), '', 'no error');
  assert.equal(await text('#result'), want);
}

async function expectError(code, message, details) {
  assert.equal(await text('#result'), '', 'no result');
  assert.equal(await text('#error-code'), code);
  const msg = await text('#error-message');
  if (message instanceof RegExp) assert.match(msg, message);
  else assert.equal(msg, message);
  assert.equal(await text('#error'), `${code}: ${msg}`);
  if (details !== undefined) assert.deepEqual(JSON.parse(await text('#error-details')), details);
}

test('greet and process_data show their results', async () => {
  await page.fill('#name', 'Chromium');
  await click('#greet-btn');
  await expectResult('Hello, Chromium!');
  await page.fill('#input', 'from the browser');
  await click('#process-btn');
  await expectResult('Processed: from the browser');
});

test('read_file reads the --data folder and refuses ../ with permission_denied', async () => {
  await page.fill('#path', 'note.txt');
  await click('#read-btn');
  await expectResult(secret);
  await page.fill('#path', '../x');
  await click('#read-btn');
  await expectError('permission_denied', /outside the data folder/);
  await page.fill('#path', 'missing.txt');
  await click('#read-btn');
  await expectError('not_found', /missing\.txt/);
});

test('fail shows failed_precondition with its message and details', async () => {
  await click('#fail-btn');
  await expectError('failed_precondition', 'fail: demo', { reason: 'demo', retryable: false });
  await mkdir(join(REPO, 'artifacts'), { recursive: true });
  await page.screenshot({ path: join(REPO, 'artifacts', 'demo-error.png'), fullPage: true });
});

test('echo_bytes sends 256 raw bytes and gets them back', async () => {
  await click('#bytes-btn');
  await expectResult('echo_bytes: 256 bytes ok');
});

test('the count channel fills the progress bar to 100%', async () => {
  assert.equal(await page.locator('#progress').evaluate((p) => p.value), 0);
  // Record every value the bar takes, to see the messages arrive in order.
  await page.evaluate(() => {
    window.__progress = [];
    const p = document.getElementById('progress');
    const desc = Object.getOwnPropertyDescriptor(HTMLProgressElement.prototype, 'value');
    window.__progressAt = [];
    Object.defineProperty(p, 'value', {
      get() { return desc.get.call(this); },
      set(v) { window.__progress.push(Number(v)); window.__progressAt.push(performance.now()); desc.set.call(this, v); },
    });
  });
  await click('#count-btn');
  await page.locator('#progress-done').filter({ hasText: /^done$/ }).waitFor();
  await expectResult('count: done');
  assert.equal(await page.locator('#progress').evaluate((p) => p.value), 100);
  const seen = await page.evaluate(() => window.__progress);
  // the click resets the bar to 0, then 1..100 in order
  assert.deepEqual(seen, [0, ...Array.from({ length: 100 }, (_, i) => i + 1)]);
  // and it visibly moves: 100 messages 10 ms apart take most of a second
  const at = await page.evaluate(() => window.__progressAt);
  assert.ok(at[at.length - 1] - at[1] >= 500, `the bar filled in ${Math.round(at[at.length - 1] - at[1])} ms`);
  assert.equal(await page.locator('#progress-label').textContent(), '100 / 100');
});

test('events: the page emits frontend-event, the backend replies with backend-event', async () => {
  const message = `hi-${Date.now()}`;
  await page.fill('#emit-text', message);
  await click('#emit-btn');
  await expectResult('emitted frontend-event');
  const log = page.locator('#event-log li');
  await log.filter({ hasText: new RegExp(`^frontend-event #\\d+: \\{"message":"${message}"\\}$`) }).waitFor();
  const reply = log.filter({ hasText: `backend heard: ${message}` });
  await reply.waitFor();
  assert.match(await reply.textContent(), /^backend-event #\d+: \{.*"kind":"reply".*\}$/);
});

test('events: a backend-event emitted by another client reaches the page', async () => {
  const marker = `from-node-${Date.now()}`;
  const res = await fetch(`${tether.url}/ipc/emit/backend-event`, {
    method: 'POST',
    headers: tether.headers({ 'Content-Type': 'application/json' }),
    body: JSON.stringify({ marker }),
    signal: AbortSignal.timeout(5000),
  });
  assert.equal(res.status, 200);
  await page.locator('#event-log li').filter({ hasText: `backend-event` }).filter({ hasText: marker }).waitFor();
});

test('events: the 5 s heartbeat reaches the page', async () => {
  await page
    .locator('#event-log li')
    .filter({ hasText: /^backend-event #\d+: .*"kind":"heartbeat"/ })
    .first()
    .waitFor({ timeout: 8000 });
});

test('the page has a favicon and fits a narrow screen', async () => {
  const icon = await page.locator('link[rel="icon"]').getAttribute('href');
  const res = await fetch(new URL(icon, `${tether.url}/`), { headers: tether.headers() });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^image\/svg\+xml/);
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  await mkdir(join(REPO, 'artifacts'), { recursive: true });
  await page.screenshot({ path: join(REPO, 'artifacts', 'demo-narrow.png'), fullPage: true });
  await page.setViewportSize({ width: 900, height: 1100 });
});

test('screenshot, and the page logged no errors', async () => {
  // Leave a readable state on screen: a result and the log.
  await page.fill('#name', 'Screenshot');
  await click('#greet-btn');
  await mkdir(join(REPO, 'artifacts'), { recursive: true });
  await page.screenshot({ path: join(REPO, 'artifacts', 'demo.png'), fullPage: true });
  // The ../x and fail clicks answer 4xx: Chromium logs those as failed
  // resources; anything else is a page bug.
  const unexpected = browser.errors.filter((e) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(e));
  assert.deepEqual(unexpected, []);
});
