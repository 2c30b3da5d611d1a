// Pages that call the demo through its generated TypeScript bindings
// (gen/ts/*/demo/v1/demo_tether.ts, from protoc-gen-tether-ts), bundled by
// esbuild (fixtures/bindings) and served by `tether serve --frontend`: one
// over Tether's own client (/ipc/client.js), one over the real
// @tauri-apps/api with the shim. Both invoke, stream count, listen and emit
// through the same generated API; the test checks what each page saw.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startTether, REPO } from './lib/tether.mjs';
import { launch } from './lib/browser.mjs';

const DATA = `${REPO}examples/demo/data`;
const HELLO = readFileSync(`${DATA}/hello.txt`, 'utf8');
const pages = {};

for (const transport of ['tether', 'tauri']) {
  const dist = fileURLToPath(new URL(`./fixtures/bindings/dist-${transport}/`, import.meta.url));
  const page = { tether: null, browser: null, results: null };
  pages[transport] = page;

  before(async () => {
    assert.ok(existsSync(`${dist}index.html`), `fixtures/bindings/dist-${transport} is built (npm run build)`);
    page.tether = await startTether(['--frontend', dist, '--data', DATA]);
    page.browser = await launch();
    await page.tether.login(page.browser.page);
    await page.browser.page.locator('#status').filter({ hasText: /^done$/ }).waitFor({ timeout: 60000 });
    page.results = await page.browser.page.evaluate(() => window.__results);
    if (process.env.DEBUG_RESULTS) console.log(transport, JSON.stringify(page.results, null, 1));
  });

  after(async () => {
    await page.browser?.close();
    const r = await page.tether?.stop();
    assert.equal(r?.code, 0, `tether serve should exit 0 on SIGINT:\n${page.tether?.logs()}`);
  });
}

const ok = (transport, name) => {
  const r = pages[transport].results[name];
  assert.ok(r, `${transport}: step ${name} ran`);
  assert.equal(r.ok, true, `${transport}: step ${name} failed: ${JSON.stringify(r.error)}`);
  return r.value;
};
const rejected = (transport, name) => {
  const r = pages[transport].results[name];
  assert.ok(r, `${transport}: step ${name} ran`);
  assert.equal(r.ok, false, `${transport}: step ${name} should have rejected, got ${JSON.stringify(r.value)}`);
  assert.equal(r.error.commandError, true, `${transport}: ${name} rejects with the bindings' CommandError`);
  assert.equal(r.error.name, 'CommandError');
  return r.error;
};

for (const transport of ['tether', 'tauri']) {
  test(`${transport}: the page is the fixture${transport === 'tauri' ? ', with the shim first' : ''}`, async () => {
    const t = pages[transport].tether;
    const html = await (await fetch(`${t.url}/`, { headers: t.headers(), signal: AbortSignal.timeout(5000) })).text();
    if (transport === 'tauri') assert.match(html, /<script src="\/ipc\/tauri-shim\.js"><\/script>\s*<script type="module"/);
    else assert.doesNotMatch(html, /tauri-shim/);
  });

  test(`${transport}: greet, processData, readFile`, () => {
    assert.equal(ok(transport, 'greet'), 'Hello, Bindings!');
    assert.equal(ok(transport, 'processData'), 'Processed: typed');
    assert.equal(ok(transport, 'readFile'), HELLO);
  });

  test(`${transport}: count streams 1..50 in order and resolves after the last`, () => {
    const v = ok(transport, 'count');
    assert.equal(v.result, undefined, 'count resolves with nothing');
    assert.equal(v.atResolve, 50);
    assert.equal(v.after, 50, 'no message after the promise resolved');
    assert.deepEqual(v.messages, Array.from({ length: 50 }, (_, i) => ({ n: i + 1, of: 50 })));
  });

  test(`${transport}: listenFrontendEvent receives what emitFrontendEvent sent`, () => {
    const v = ok(transport, 'listenEmit');
    assert.equal(v.event, 'frontend-event');
    assert.match(v.payload.message, /^typed \d+$/);
    assert.deepEqual(Object.keys(v.payload), ['message']);
    assert.equal(v.typeofId, 'number');
    assert.equal(v.typeofUnlisten, 'function');
  });

  test(`${transport}: onceFrontendEvent fires once; unlisten stops one listener only`, () => {
    assert.deepEqual(ok(transport, 'once'), { once: ['one'], all: ['one', 'two', 'three'] });
    assert.deepEqual(ok(transport, 'unlisten'), { gone: ['before'], stay: ['before', 'after'] });
  });

  test(`${transport}: an emit the declared payload type refuses rejects with a CommandError`, () => {
    const e = rejected(transport, 'badPayload');
    assert.equal(e.command, 'plugin:event|emit');
    assert.match(e.message, /frontend-event/);
    if (transport === 'tether') assert.equal(e.code, 'invalid_argument');
  });

  test(`${transport}: the page ran without errors`, () => {
    // The rejected steps (fail, invalid, badPayload) and the favicon show as
    // failed loads in the console; nothing else may.
    const errors = pages[transport].browser.errors.filter((e) => !/^console: Failed to load resource: /.test(e));
    assert.deepEqual(errors, []);
  });
}

// Over Tether's client a rejection keeps Tether's code and the command's
// details; over @tauri-apps/api the shim rejects as Tauri does (the
// command's own error value, or the message), and the CommandError carries
// that value as details with code "unknown".
test('tether: typed rejections carry the code and details', () => {
  const fail = rejected('tether', 'fail');
  assert.deepEqual(
    { code: fail.code, message: fail.message, details: fail.details, command: fail.command },
    { code: 'failed_precondition', message: 'fail: bindings', details: { reason: 'bindings', retryable: false }, command: 'fail' },
  );
  const invalid = rejected('tether', 'invalid');
  assert.equal(invalid.code, 'invalid_argument');
  assert.equal(invalid.details[0].field, 'name');
});

test('tauri: Tauri-style rejections become CommandErrors with the value as details', () => {
  const fail = rejected('tauri', 'fail');
  assert.deepEqual(
    { code: fail.code, details: fail.details, command: fail.command },
    { code: 'unknown', details: { reason: 'bindings', retryable: false }, command: 'fail' },
  );
  const invalid = rejected('tauri', 'invalid');
  assert.equal(invalid.code, 'unknown');
  assert.equal(invalid.details[0].field, 'name');
});
