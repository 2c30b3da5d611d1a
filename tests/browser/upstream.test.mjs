// Real Tauri v2 frontends, unchanged but for the shim line, in Chromium
// against a Go backend (backend/main.go, on package app): create-tauri-app's
// v2 templates (vanilla with withGlobalTauri, vanilla-ts, react-ts,
// svelte-ts) and tauri-apps/tauri's examples/api, built with their own
// bundlers (fixtures/upstream/rebuild.mjs); the official store and log
// plugins from npm; and greet's latency with 10 channels and 10 listeners
// open on the page.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startApp, REPO } from './lib/tether.mjs';
import { launch } from './lib/browser.mjs';

const UPSTREAM = fileURLToPath(new URL('./fixtures/upstream/', import.meta.url));
const PLUGINS = fileURLToPath(new URL('./fixtures/plugins/dist/', import.meta.url));
const BACKEND = process.env.TETHER_BACKEND || `${REPO}bin/tauri-backend`;
const cleanups = [];

after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function serve(frontend, extra = []) {
  const data = mkdtempSync(join(tmpdir(), 'tether-upstream-'));
  const app = await startApp(BACKEND, [
    '--grpc', '127.0.0.1:0', '--http', '127.0.0.1:0', '--frontend', frontend, '--data', data,
    '--product-name', 'Tauri API', '--app-version', '1.0.0', '--identifier', 'com.tauri.api', '--with-global-tauri', ...extra,
  ]);
  cleanups.push(async () => {
    const r = await app.stop();
    rmSync(data, { recursive: true, force: true });
    assert.equal(r.code, 0, `backend should exit 0 on SIGINT:\n${app.logs()}`);
  });
  return { ...app, data };
}

async function browser() {
  const b = await launch({ timeoutMs: 15000 });
  cleanups.push(() => b.close());
  // A webview asks for no favicon; a browser tab does, and the templates
  // without one would log its 404.
  await b.context.route('**/favicon.ico', (r) => r.fulfill({ status: 204 }));
  return b;
}

const GREETING = 'Hello, Tether! You\'ve been greeted from Go!';

for (const name of ['vanilla', 'vanilla-ts', 'react-ts', 'svelte-ts']) {
  test(`create-tauri-app's ${name} template greets through the shim`, async () => {
    const dir = join(UPSTREAM, name);
    assert.ok(existsSync(join(dir, 'index.html')), `fixtures/upstream/${name} is built`);
    assert.match(readFileSync(join(dir, 'index.html'), 'utf8'), /<script src="\/ipc\/tauri-shim\.js"><\/script>/);
    const app = await serve(dir);
    const { page, errors } = await browser();
    await app.login(page);
    await page.locator('#greet-input').fill('Tether');
    await page.locator('button[type=submit]').click();
    await page.getByText(GREETING).waitFor();
    assert.deepEqual(errors, [], 'the page logged no errors');
  });
}

test("tauri's examples/api: the Welcome view shows the configured name and version, and no implemented plugin rejects", async () => {
  const app = await serve(join(UPSTREAM, 'api'));
  const { page, errors } = await browser();
  const rejections = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Uncaught \(in promise\)/.test(m.text())) rejections.push(m.text());
  });
  page.on('pageerror', (e) => rejections.push(e.message));
  await app.login(page);
  const welcome = page.locator('pre').filter({ hasText: 'App name:' });
  await welcome.filter({ hasText: 'Tauri API' }).waitFor();
  await welcome.filter({ hasText: 'App version: 1.0.0' }).waitFor();
  const text = await welcome.textContent();
  assert.match(text, /Tauri version: 2\.0\.0/);
  await page.waitForTimeout(500); // late rejections
  // What rejects is what a browser cannot have (windows, menus) or the
  // example's own Rust plugin; never app, event or resources.
  for (const r of rejections) {
    assert.doesNotMatch(r, /plugin "(app|event|resources|store|log)"|plugin:(app|event|resources)\|/, r);
  }
  const implemented = errors.filter((e) => /plugin "(app|event|resources)"/.test(e));
  assert.deepEqual(implemented, []);
  console.log(`examples/api: ${rejections.length} unhandled rejections, all of unimplemented plugins: ${[...new Set(rejections.map((r) => /plugin "([^"]+)"/.exec(r)?.[1] ?? r.slice(0, 60)))].join(', ')}`);
});

test('@tauri-apps/plugin-store and plugin-log from npm: set, get, save, reload the page, get again', async () => {
  const app = await serve(PLUGINS);
  const { page, errors } = await browser();
  await app.login(page, '/?step=write');
  await page.locator('#status').filter({ hasText: /^done$/ }).waitFor();
  const w = await page.evaluate(() => window.__results);
  for (const k of ['set', 'get', 'has', 'set2', 'entries', 'save', 'log', 'warn']) assert.equal(w[k]?.ok, true, `${k}: ${JSON.stringify(w[k])}`);
  assert.deepEqual(w.get.value, { dark: true, accent: 'teal' });
  assert.equal(w.has.value, true);
  assert.deepEqual(w.entries.value, [['count', 3], ['theme', { dark: true, accent: 'teal' }]]);
  assert.deepEqual(w.changes, [{ dark: true, accent: 'teal' }], 'onKeyChange saw the set');
  const file = JSON.parse(readFileSync(join(app.data, 'settings.json'), 'utf8'));
  assert.deepEqual(file, { count: 3, theme: { dark: true, accent: 'teal' } });
  await page.goto(`${app.url}/?step=read`);
  await page.locator('#status').filter({ hasText: /^done$/ }).waitFor();
  const r = await page.evaluate(() => window.__results);
  assert.deepEqual(r.get, { ok: true, value: { dark: true, accent: 'teal' } });
  assert.deepEqual(r.count, { ok: true, value: 3 });
  assert.equal(r.missing.ok, true);
  assert.equal(r.missing.value, undefined);
  assert.deepEqual(r.length, { ok: true, value: 2 });
  assert.equal(r.close.ok, true, JSON.stringify(r.close));
  assert.deepEqual(errors, []);
  const logs = app.logs();
  assert.match(logs, /level=INFO msg="store saved by the page" source=page label=main location=\S+ kv\.keys=2/);
  assert.match(logs, /level=WARN msg="a warning from the page" source=page/);
});

test("greet's median latency with 10 open channels and 10 listeners is within 2x of a page with none", async () => {
  const app = await serve(join(UPSTREAM, 'vanilla'));
  const { page, errors } = await browser();
  await app.login(page);
  const res = await page.evaluate(async () => {
    const { invoke, Channel } = window.__TAURI__.core;
    const { listen } = window.__TAURI__.event;
    const median = async (n) => {
      const ts = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await invoke('greet', { name: 'x' });
        ts.push(performance.now() - t0);
      }
      ts.sort((a, b) => a - b);
      return ts[Math.floor(ts.length / 2)];
    };
    await median(10); // warm up
    const none = await median(40);
    const ticks = Array.from({ length: 10 }, () => 0);
    for (let i = 0; i < 10; i++) {
      const ch = new Channel(() => ticks[i]++);
      await invoke('ticks', { everyMs: 100, onTick: ch });
    }
    const unlisten = [];
    for (let i = 0; i < 10; i++) unlisten.push(await listen(`load-${i}`, () => {}));
    await new Promise((r) => setTimeout(r, 300));
    const busy = await median(40);
    return { none, busy, ticks };
  });
  console.log(`greet median: ${res.none.toFixed(2)} ms with nothing open, ${res.busy.toFixed(2)} ms with 10 channels and 10 listeners open (${(res.busy / res.none).toFixed(2)}x)`);
  assert.ok(res.ticks.every((n) => n > 0), `every channel delivered (${res.ticks})`);
  assert.ok(res.busy <= 2 * Math.max(res.none, 1), `busy median ${res.busy} ms vs ${res.none} ms`);
  assert.deepEqual(errors, []);
});
