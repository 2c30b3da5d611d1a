// A page on an origin the gateway does not allow cannot invoke, emit or
// listen — neither with CORS requests (blocked at the preflight) nor with
// "simple" requests that skip the preflight (no-cors fetch, sendBeacon),
// which the gateway refuses by their Origin header — though the browser
// holds the gateway's session cookie and sends it (the foreign page is on
// 127.0.0.1 too: the same site, so SameSite=Strict lets it go). The test
// process listens on the gateway to prove nothing the foreign page sent
// ran. Then the same page, on the same origin, works once --allow-origin
// names it: its credentialed requests carry the cookie.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startTether } from './lib/tether.mjs';
import { launch } from './lib/browser.mjs';

// The foreign page: ?gw=GATEWAY&tag=TAG. Every attempt is bounded; the page
// always finishes with #status "done" and window.__results.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>another origin</title></head>
<body><p>Status: <span id="status">running</span></p><pre id="out"></pre>
<script>
const q = new URLSearchParams(location.search);
const GW = q.get('gw');
const TAG = q.get('tag');
const results = {};
window.__results = results;
const timeout = () => AbortSignal.timeout(5000);
async function attempt(name, fn) {
  try {
    results[name] = { ok: true, value: await fn() };
  } catch (e) {
    results[name] = { ok: false, error: String(e && e.name) + ': ' + String(e && e.message) };
  }
}
async function json(res) {
  const text = await res.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  return { status: res.status, body };
}
(async () => {
  // CORS requests: application/json makes the browser ask first (preflight).
  await attempt('invoke', async () => json(await fetch(GW + '/ipc/invoke/greet', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, credentials: 'include',
    body: JSON.stringify({ name: 'Foreign' }), signal: timeout(),
  })));
  await attempt('emit', async () => json(await fetch(GW + '/ipc/emit/foreign-event', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, credentials: 'include',
    body: JSON.stringify({ tag: TAG, how: 'cors' }), signal: timeout(),
  })));
  // Simple requests: no preflight, the request reaches the gateway; the
  // page cannot read the answer, so the server side must refuse it.
  await attempt('emitNoCors', async () => {
    const res = await fetch(GW + '/ipc/emit/foreign-event', {
      method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, credentials: 'include',
      body: JSON.stringify({ tag: TAG, how: 'no-cors' }), signal: timeout(),
    });
    return { type: res.type };
  });
  await attempt('frontendNoCors', async () => {
    const res = await fetch(GW + '/ipc/emit/frontend-event', {
      method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, credentials: 'include',
      body: JSON.stringify({ message: 'foreign ' + TAG }), signal: timeout(),
    });
    return { type: res.type };
  });
  await attempt('beacon', async () =>
    navigator.sendBeacon(GW + '/ipc/emit/foreign-event', JSON.stringify({ tag: TAG, how: 'beacon' })));
  // Reading events: EventSource of the listen stream.
  await attempt('listen', () => new Promise((resolve, reject) => {
    const es = new EventSource(GW + '/ipc/listen?event=foreign-event', { withCredentials: true });
    const t = setTimeout(() => { es.close(); reject(new Error('no open and no error within 5 s')); }, 5000);
    es.onopen = () => { clearTimeout(t); es.close(); resolve('open'); };
    es.onerror = () => { clearTimeout(t); es.close(); reject(new Error('EventSource error')); };
  }));
  document.getElementById('out').textContent = JSON.stringify(results, null, 1);
  document.getElementById('status').textContent = 'done';
})();
</script></body></html>`;

// The clickjacker: the app's page in a frame (?gw=GATEWAY), as an
// invisible one would lie under a decoy button. window.__framed is set once
// the frame has loaded something.
const FRAMER = `<!doctype html>
<html><head><meta charset="utf-8"><title>a framing page</title></head>
<body><iframe id="f" width="800" height="600"></iframe>
<script>
const f = document.getElementById('f');
f.onload = () => { window.__framed = true; };
f.src = new URLSearchParams(location.search).get('gw') + '/';
</script></body></html>`;

let site; // the foreign origin's HTTP server
let origin;
let browser;

before(async () => {
  site = createServer((req, res) => {
    if (req.url.startsWith('/?') || req.url === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    } else if (req.url.startsWith('/frame?')) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(FRAMER);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${site.address().port}`;
  browser = await launch();
});

after(async () => {
  await browser?.close();
  site?.closeAllConnections();
  await new Promise((resolve) => (site ? site.close(resolve) : resolve()));
});

/**
 * tap listens on the gateway from the test process (no Origin header: the
 * same-origin "main" label; the secret as a bearer token) and collects every
 * event of the given names.
 */
async function tap(tether, names) {
  const res = await fetch(`${tether.url}/ipc/listen?${names.map((n) => `event=${n}`).join('&')}`, {
    headers: tether.headers({ Accept: 'text/event-stream' }),
    signal: AbortSignal.timeout(60000),
  });
  assert.equal(res.status, 200);
  const events = [];
  // Cancel the body to close (an abort here leaves undici holding an idle
  // socket, which delays the server's shutdown by up to 5 s).
  const reader = res.body.getReader();
  const done = (async () => {
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) return;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const name = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (name && data !== undefined && /^id: /m.test(frame)) events.push({ name, payload: JSON.parse(data) });
      }
    }
  })();
  return {
    events,
    close: async () => {
      await reader.cancel();
      await done.catch(() => {});
    },
  };
}

async function waitFor(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function emitFromTest(tether, name, payload) {
  const res = await fetch(`${tether.url}/ipc/emit/${name}`, {
    method: 'POST',
    headers: tether.headers({ 'Content-Type': 'application/json' }),
    body: JSON.stringify(payload),
    signal: AbortSignal.timeout(5000),
  });
  assert.equal(res.status, 200);
}

async function runForeignPage(tether, tag) {
  const page = await browser.context.newPage();
  try {
    // The browser has been to the gateway: it holds its session cookie.
    await tether.login(page);
    await page.goto(`${origin}/?gw=${encodeURIComponent(tether.url)}&tag=${tag}`);
    await page.locator('#status').filter({ hasText: /^done$/ }).waitFor({ timeout: 40000 });
    return await page.evaluate(() => window.__results);
  } finally {
    await page.close();
  }
}

test('a page on a non-allowed origin can neither invoke, emit nor listen', async () => {
  const tether = await startTether([]);
  try {
    const t = await tap(tether, ['foreign-event', 'frontend-event', 'backend-event']);
    try {
      const tag = `denied-${Date.now()}`;
      const r = await runForeignPage(tether, tag);
      // CORS: the preflight is refused, so fetch rejects and nothing is sent.
      assert.equal(r.invoke.ok, false, `invoke must fail, got ${JSON.stringify(r.invoke)}`);
      assert.match(r.invoke.error, /^TypeError: Failed to fetch/);
      assert.equal(r.emit.ok, false, `emit must fail, got ${JSON.stringify(r.emit)}`);
      assert.match(r.emit.error, /^TypeError: Failed to fetch/);
      // Simple requests are sent (the sentinel below shows they ran nothing);
      // the answer does not even come back opaque: Cross-Origin-Resource-Policy
      // same-origin, on every response, has the browser drop it.
      assert.equal(r.emitNoCors.ok, false, `a no-cors answer reached the page: ${JSON.stringify(r.emitNoCors)}`);
      assert.match(r.emitNoCors.error, /^TypeError: Failed to fetch/);
      assert.equal(r.frontendNoCors.ok, false, `a no-cors answer reached the page: ${JSON.stringify(r.frontendNoCors)}`);
      assert.equal(r.beacon.ok, true);
      assert.equal(r.listen.ok, false, 'the listen stream must not open');

      // The gateway itself says no to that origin (what the browser was shown).
      const direct = await fetch(`${tether.url}/ipc/invoke/greet`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Origin: origin },
        body: '{"name":"x"}',
        signal: AbortSignal.timeout(5000),
      });
      assert.equal(direct.status, 403);
      assert.equal((await direct.json()).code, 'permission_denied');
      assert.equal(direct.headers.get('access-control-allow-origin'), null);

      // Nothing the page sent ran: a sentinel emitted now is the first and only event seen.
      const sentinel = `sentinel-${Date.now()}`;
      await emitFromTest(tether, 'foreign-event', { sentinel });
      await waitFor(() => t.events.some((e) => e.payload?.sentinel === sentinel), 5000, 'the sentinel');
      await new Promise((r) => setTimeout(r, 100));
      const seen = t.events.filter((e) => e.name !== 'backend-event' || e.payload?.kind !== 'heartbeat');
      assert.deepEqual(seen, [{ name: 'foreign-event', payload: { sentinel } }]);
    } finally {
      await t.close();
    }
  } finally {
    const r = await tether.stop();
    assert.equal(r.code, 0, tether.logs());
  }
});

test('with --allow-origin the same page invokes, emits and listens', async () => {
  const tether = await startTether(['--allow-origin', `${origin}=main`]);
  try {
    const t = await tap(tether, ['foreign-event', 'frontend-event', 'backend-event']);
    try {
      const tag = `allowed-${Date.now()}`;
      const r = await runForeignPage(tether, tag);
      assert.deepEqual(r.invoke, { ok: true, value: { status: 200, body: 'Hello, Foreign!' } });
      assert.equal(r.emit.ok, true, JSON.stringify(r.emit));
      assert.equal(r.emit.value.status, 200);
      assert.equal(r.listen.ok, true, JSON.stringify(r.listen));
      assert.equal(r.beacon.ok, true);
      // The CORS emit reached listeners, attributed to the label the origin was given.
      await waitFor(() => t.events.some((e) => e.payload?.tag === tag && e.payload.how === 'cors'), 5000, 'the page\'s emit');
      // text/plain bodies from a browser are refused even for an allowed origin
      // (415: only JSON or octet-stream), so the simple requests ran nothing.
      const sentinel = `sentinel-${Date.now()}`;
      await emitFromTest(tether, 'foreign-event', { sentinel });
      await waitFor(() => t.events.some((e) => e.payload?.sentinel === sentinel), 5000, 'the sentinel');
      const foreign = t.events.filter((e) => e.name === 'foreign-event').map((e) => e.payload);
      assert.deepEqual(foreign, [{ tag, how: 'cors' }, { sentinel }]);
    } finally {
      await t.close();
    }
  } finally {
    const r = await tether.stop();
    assert.equal(r.code, 0, tether.logs());
  }
});

// Clickjacking: another site cannot show the app's page in a frame, even to
// a browser that holds its session cookie (X-Frame-Options DENY and CSP
// frame-ancestors 'none' on every response); with --frame-ancestor naming
// that site, the same frame shows the page (so the test can fail).
test('no other site can frame the app\'s page', async () => {
  for (const allow of [false, true]) {
    const tether = await startTether(allow ? ['--frame-ancestor', origin] : []);
    const page = await browser.context.newPage();
    try {
      await tether.login(page);
      await page.goto(`${origin}/frame?gw=${encodeURIComponent(tether.url)}`);
      await page.waitForFunction(() => window.__framed === true, null, { timeout: 10000 });
      const frame = page.frames().find((f) => f !== page.mainFrame());
      assert.ok(frame, 'the frame exists');
      const rendered = await frame.locator('#status').count();
      if (allow) {
        assert.equal(rendered, 1, `with --frame-ancestor ${origin} the page shows in the frame (at ${frame.url()})`);
      } else {
        assert.equal(rendered, 0, `the app's page rendered inside another site's frame (at ${frame.url()})`);
      }
    } finally {
      await page.close();
      const r = await tether.stop();
      assert.equal(r.code, 0, tether.logs());
    }
  }
});
