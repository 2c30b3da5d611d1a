// The developer console (GET /_tether/ of `tether serve`) in Chromium: the
// command list and forms built from /ipc/commands, a result, a structured
// error, a channel streaming into a progress display, the live event monitor
// with its filter, emit, a narrow screen. Screenshots go to artifacts/.
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
const ARTIFACTS = join(REPO, 'artifacts');

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'tether-console-'));
  await writeFile(join(dataDir, 'note.txt'), 'a note');
  await mkdir(ARTIFACTS, { recursive: true });
  tether = await startTether(['--data', dataDir]);
  browser = await launch();
  page = browser.page;
  await page.setViewportSize({ width: 1400, height: 900 });
  await tether.login(page);
  await page.goto(`${tether.url}/_tether/`);
  await page.locator('#console-status').filter({ hasText: /^ready$/ }).waitFor();
});

after(async () => {
  await browser?.close();
  const r = await tether?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  assert.equal(r?.code, 0, `tether serve should exit 0 on SIGINT:\n${tether?.logs()}`);
});

const text = (sel) => page.locator(sel).textContent();
const shot = (name) => page.screenshot({ path: join(ARTIFACTS, name) });

async function open(command) {
  await page.click(`.cmd-item[data-command="${command}"] a`);
  await page.locator('#cmd-title').filter({ hasText: new RegExp(`^${command}$`) }).waitFor();
}

async function invokeAndWait(states) {
  await page.click('#invoke-btn');
  await page.locator(states.map((s) => `#response[data-state="${s}"]`).join(', ')).waitFor();
}

test('every command of /ipc/commands is listed, with its kind and a form from its schema', async () => {
  const res = await fetch(`${tether.url}/ipc/commands`, { headers: tether.headers() });
  const commands = await res.json();
  const listed = await page.locator('.cmd-item').evaluateAll((els) => els.map((e) => e.dataset.command));
  assert.deepEqual(listed, commands.map((c) => c.name).sort());
  assert.equal(await page.locator('.cmd-item[data-command="count"] .badge-channel').count(), 1);
  await open('greet');
  // greet's schema has one property, name, a string: one text input
  assert.equal(await page.locator('#cmd-form [data-field="name"] input[type="text"]').count(), 1);
  assert.equal(await text('#cmd-method'), '/demo.v1.Demo/Greet');
  await open('count');
  assert.equal(await page.locator('#cmd-form [data-field="to"] input[type="number"]').count(), 1);
  assert.equal(await text('#invoke-btn'), 'Open channel');
  // the filter narrows the list
  await page.fill('#cmd-search', 'proc');
  assert.deepEqual(await page.locator('.cmd-item').evaluateAll((els) => els.map((e) => e.dataset.command)), ['process_data']);
  await page.fill('#cmd-search', '');
});

test('a command form and its result, with the latency', async () => {
  await open('greet');
  await page.fill('#cmd-form [data-field="name"] input', 'Console');
  assert.match(await text('#curl'), /\/ipc\/invoke\/greet -d '\{"name":"Console"\}'$/);
  await shot('console-form.png');
  await invokeAndWait(['ok', 'error']);
  assert.equal(await page.locator('#response').getAttribute('data-state'), 'ok');
  assert.equal(JSON.parse(await text('#resp-body')), 'Hello, Console!');
  assert.equal(await text('#resp-status'), '200 OK');
  assert.match(await text('#resp-latency'), /^\d+(\.\d+)? (ms|s)$/);
  assert.equal(await page.locator('#history li').first().getAttribute('data-command'), 'greet');
  await shot('console-result.png');
});

test('raw JSON arguments and raw bytes', async () => {
  await open('process_data');
  await page.fill('#cmd-form [data-field="input"] input', 'from the form');
  await page.click('#raw summary');
  // Opened, it shows the form's values, already when the click returns.
  assert.deepEqual(JSON.parse(await page.inputValue('#raw-args')), { input: 'from the form' });
  await page.fill('#raw-args', '{"input": "typed as JSON"}');
  await invokeAndWait(['ok', 'error']);
  assert.equal(await page.locator('#response').getAttribute('data-state'), 'ok',
    `${await text('#err-code')}: ${await text('#err-message')} (raw arguments ${JSON.stringify(await page.inputValue('#raw-args'))}, raw view open ${await page.locator('#raw').evaluate((d) => d.open)})`);
  assert.equal(JSON.parse(await text('#resp-body')), 'Processed: typed as JSON');
  await open('echo_bytes');
  await page.fill('#cmd-form [data-field="value"] textarea', 'héllo');
  await invokeAndWait(['ok', 'error']);
  assert.match(await text('#resp-body'), /^6 bytes\n000000  68 c3 a9 6c 6c 6f/);
});

test('a structured error: code, message and details', async () => {
  await open('fail');
  await page.fill('#cmd-form [data-field="reason"] input', 'shown in the console');
  await invokeAndWait(['ok', 'error']);
  assert.equal(await page.locator('#response').getAttribute('data-state'), 'error');
  assert.equal(await text('#err-code'), 'failed_precondition');
  assert.equal(await text('#err-message'), 'fail: shown in the console');
  assert.deepEqual(JSON.parse(await text('#err-details')), { reason: 'shown in the console', retryable: false });
  assert.equal(await text('#resp-status'), '400 failed_precondition');
  await shot('console-error.png');
  await open('read_file');
  await page.fill('#cmd-form [data-field="path"] input', '../outside');
  await invokeAndWait(['ok', 'error']);
  assert.equal(await text('#err-code'), 'permission_denied');
  assert.match(await text('#err-message'), /outside the data folder/);
});

test('a channel streams its messages into a progress display that moves', async () => {
  await open('count');
  await page.fill('#cmd-form [data-field="to"] input', '150');
  // Record the label's every value as it changes.
  await page.evaluate(() => {
    window.__labels = [];
    new MutationObserver(() => window.__labels.push(document.getElementById('channel-progress-label').textContent))
      .observe(document.getElementById('channel-progress-label'), { childList: true, characterData: true, subtree: true });
  });
  await page.click('#invoke-btn');
  // Mid-stream: the bar is partly full while messages keep coming.
  await page.waitForFunction(() => {
    const p = document.getElementById('channel-progress');
    return p.value >= 40 && p.value <= 110;
  });
  assert.equal(await page.locator('#response').getAttribute('data-state'), 'streaming');
  await shot('console-channel.png');
  await page.locator('#response[data-state="done"]').waitFor();
  assert.equal(await text('#channel-progress-label'), '150 / 150 (100%) · done');
  const messages = await page.locator('#channel-messages li .msg-body').allTextContents();
  assert.equal(messages.length, 150);
  messages.forEach((m, i) => assert.deepEqual(JSON.parse(m), { n: i + 1, of: 150 }));
  const width = await page.locator('#channel-bar').evaluate((b) => b.style.width);
  assert.equal(width, '100%');
  // The display went through many values on the way, in order.
  const values = (await page.evaluate(() => window.__labels))
    .map((l) => /^(\d+) \/ 150/.exec(l)?.[1]).filter(Boolean).map(Number);
  const distinct = [...new Set(values)];
  assert.ok(distinct.length >= 20, `the progress display took only ${distinct.length} values`);
  assert.deepEqual(distinct, [...distinct].sort((a, b) => a - b));
  assert.match(await text('#resp-latency'), /150 messages, first after/);
});

test('a channel can be cancelled midway', async () => {
  await open('count');
  await page.fill('#cmd-form [data-field="to"] input', '100000');
  await page.click('#invoke-btn');
  await page.waitForFunction(() => document.querySelectorAll('#channel-messages li').length >= 5);
  await page.click('#cancel-btn');
  await page.locator('#response[data-state="cancelled"]').waitFor();
  assert.equal(await text('#resp-status'), 'cancelled');
});

test('live events: listen, emit from the console, the backend reply, another client, the filter', async () => {
  await page.fill('#listen-names', 'frontend-event, backend-event');
  await page.click('#listen-form button');
  await page.locator('#events-state').filter({ hasText: 'listening to 2' }).waitFor();
  const marker = `console-${Date.now()}`;
  await page.fill('#emit-name', 'frontend-event');
  await page.fill('#emit-payload', JSON.stringify({ message: marker }));
  await page.click('#emit-btn');
  await page.locator('#emit-result').filter({ hasText: /^emitted #\d+ · \d/ }).waitFor();
  const log = page.locator('#events-log li');
  await log.filter({ hasText: `{"message":"${marker}"}` }).and(page.locator('[data-event="frontend-event"]')).waitFor();
  await log.filter({ hasText: `backend heard: ${marker}` }).and(page.locator('[data-event="backend-event"]')).waitFor();
  // from another client, through the gateway
  const other = `other-${Date.now()}`;
  const res = await fetch(`${tether.url}/ipc/emit/backend-event`, {
    method: 'POST',
    headers: tether.headers({ 'Content-Type': 'application/json' }),
    body: JSON.stringify({ other }),
  });
  assert.equal(res.status, 200);
  const { id } = await res.json();
  const fromOther = log.filter({ hasText: other });
  await fromOther.waitFor();
  assert.equal(await fromOther.getAttribute('data-id'), String(id));
  await shot('console-events.png');
  // the filter hides what does not match, and shows it again
  await page.fill('#events-filter', other);
  assert.equal(await log.filter({ hasText: marker }).first().isHidden(), true);
  assert.equal(await fromOther.isVisible(), true);
  await shot('console-events-filtered.png');
  await page.fill('#events-filter', '');
  assert.equal(await log.filter({ hasText: marker }).first().isVisible(), true);
});

test('a narrow screen: one column, nothing wider than the screen', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await open('count');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  const box = (sel) => page.locator(sel).boundingBox();
  const [side, main, events] = [await box('.sidebar'), await box('.main'), await box('.events')];
  assert.ok(side.y + side.height <= main.y && main.y + main.height <= events.y, 'sidebar, command and events stack');
  await page.screenshot({ path: join(ARTIFACTS, 'console-narrow.png'), fullPage: true });
  await page.setViewportSize({ width: 1400, height: 900 });
});

test('the console is off unless configured; the page logged no errors but the refused calls', async () => {
  const off = await startTether(['--data', dataDir, '--console=false']);
  try {
    const res = await fetch(`${off.url}/_tether/`, { headers: off.headers() });
    assert.equal(res.status, 404);
    assert.equal((await res.json()).code, 'not_found');
  } finally {
    await off.stop();
  }
  const res = await fetch(`${tether.url}/_tether/console.js`, { headers: tether.headers() });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-security-policy'), /frame-ancestors 'none'/);
  // The console fetches errors on purpose (fail, read_file ../); Chromium
  // logs each refused fetch. Nothing else may appear.
  const unexpected = browser.errors.filter((e) => !/the server responded with a status of (400|403)/.test(e));
  assert.deepEqual(unexpected, []);
});
