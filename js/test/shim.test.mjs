// The Tauri shim (gateway/assets/tauri-shim.js, as built) driving the real,
// unchanged @tauri-apps/api v2 modules from npm, against the mock gateway or
// TETHER_URL. Node has no window: globalThis plays it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { startGateway, mockOnly, within, waitFor, sleep, stats, testLabel } from './helpers.mjs';

const SHIM = fileURLToPath(new URL('../../gateway/assets/tauri-shim.js', import.meta.url));
const LABEL = testLabel('shim-page');
let gw;
let core;
let event;

function loadShim(settings) {
  globalThis.__TETHER__ = settings;
  vm.runInThisContext(readFileSync(SHIM, 'utf8'), { filename: SHIM });
}

before(async () => {
  gw = await startGateway();
  globalThis.window = globalThis;
  loadShim({ baseUrl: gw.url, label: LABEL });
  core = await import('@tauri-apps/api/core');
  event = await import('@tauri-apps/api/event');
});

after(async () => {
  await gw.close();
});

function collector() {
  const events = [];
  const fn = (e) => events.push(e);
  fn.events = events;
  return fn;
}

test('the shim defines what @tauri-apps/api calls', async () => {
  const i = window.__TAURI_INTERNALS__;
  for (const f of ['invoke', 'transformCallback', 'unregisterCallback', 'runCallback', 'convertFileSrc']) {
    assert.equal(typeof i[f], 'function', f);
  }
  assert.ok(i.callbacks instanceof Map);
  assert.equal(typeof window.__TAURI_EVENT_PLUGIN_INTERNALS__.unregisterListener, 'function');
  assert.deepEqual(i.metadata, {
    currentWindow: { label: LABEL },
    currentWebview: { label: LABEL, windowLabel: LABEL },
  });
  assert.equal(core.isTauri(), true);
  assert.equal(core.convertFileSrc('/tmp/a b.png'), `${gw.url}/ipc/asset/%2Ftmp%2Fa%20b.png`);
  assert.equal(core.convertFileSrc('/x', 'stream'), 'stream://localhost/%2Fx');
  const id = core.transformCallback((x) => x, true);
  assert.equal(typeof id, 'number');
  assert.ok(i.callbacks.has(id));
  i.runCallback(id, 1);
  assert.ok(!i.callbacks.has(id), 'a once callback unregisters itself');
});

test('getCurrentWindow / getCurrentWebview read the label', async () => {
  const { getCurrentWindow } = await import('@tauri-apps/api/window');
  const { getCurrentWebview } = await import('@tauri-apps/api/webview');
  assert.equal(getCurrentWindow().label, LABEL);
  assert.equal(getCurrentWebview().label, LABEL);
});

test('invoke of an app command', async () => {
  assert.equal(await core.invoke('greet', { name: 'Tauri' }), 'Hello, Tauri!');
});

test('invoke headers and the label hint reach the gateway', { skip: mockOnly }, async () => {
  const r = await core.invoke('whoami', { k: 'v' }, { headers: { 'X-Custom': 'hi' } });
  assert.deepEqual(r, { label: LABEL, custom: 'hi', args: { k: 'v' } });
});

test('SERIALIZE_TO_IPC_FN values are serialized as Tauri does', { skip: mockOnly }, async () => {
  class UserId {
    constructor(id) {
      this.id = id;
    }
    [core.SERIALIZE_TO_IPC_FN]() {
      return { String: this.id };
    }
  }
  const r = await core.invoke('whoami', { user: new UserId('u1'), list: [new UserId('u2')] });
  assert.deepEqual(r.args, { user: { String: 'u1' }, list: [{ String: 'u2' }] });
});

test('a command error rejects with its own error value, as Tauri', { skip: mockOnly }, async () => {
  await assert.rejects(core.invoke('fail', { a: 1 }), (e) => {
    assert.deepEqual(e, { reason: 'on purpose', got: { a: 1 } });
    return true;
  });
  await assert.rejects(core.invoke('nope_not_here'), (e) => typeof e === 'string' && /not found/.test(e));
});

test('raw bytes in and out', { skip: mockOnly }, async () => {
  const bytes = new Uint8Array([0, 1, 2, 253, 254, 255]);
  const r = await core.invoke('echo_bytes', bytes);
  assert.ok(r instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(r)], [...bytes]);
  const r2 = await core.invoke('echo_bytes', bytes.buffer);
  assert.deepEqual([...new Uint8Array(r2)], [...bytes]);
});

test("Tauri's Channel gets 30 messages in order; invoke resolves after the end", { skip: mockOnly }, async () => {
  const got = [];
  const ch = new core.Channel();
  ch.onmessage = (m) => got.push(m.i);
  const r = await within(core.invoke('count', { n: 30, onEvent: ch }), 5000, 'count');
  assert.equal(r, null);
  assert.deepEqual(got, Array.from({ length: 30 }, (_, i) => i));
  assert.ok(!window.__TAURI_INTERNALS__.callbacks.has(ch.id), 'the Channel cleaned up its callback');
  const inv = (await stats(gw)).invokes.at(-1);
  assert.match(inv.stream, /^st[0-9]+$/, 'on the page stream');
});

test('a Channel stream error rejects with the error value', { skip: mockOnly }, async () => {
  const got = [];
  const ch = new core.Channel((m) => got.push(m.i));
  await assert.rejects(within(core.invoke('count', { n: 10, failAt: 4, ch }), 5000), (e) => {
    assert.deepEqual(e, { at: 4 });
    return true;
  });
  await waitFor(() => got.length === 4, 3000, 'the frames before the error');
  assert.deepEqual(got, [0, 1, 2, 3]);
});

test('several Channels in one invoke, anywhere in the args, go as Tauri serializes them', { skip: mockOnly }, async () => {
  const a = new core.Channel();
  const b = new core.Channel();
  const r = await core.invoke('whoami', { a, deep: { list: [b] } });
  assert.deepEqual(r.args, { a: `__CHANNEL__:${a.id}`, deep: { list: [`__CHANNEL__:${b.id}`] } });
  assert.equal((await stats(gw)).invokes.at(-1).channels, `${a.id},${b.id}`);
});

test('a BigInt in args rejects at once with a clear message, not "unreachable"', async () => {
  await assert.rejects(core.invoke('greet', { name: 1n }), (e) => typeof e === 'string' && /cannot be sent as JSON/.test(e) && /BigInt/.test(e));
});

test('tauri:// window events come from the page, not the gateway', async () => {
  const before = (await stats(gw).catch(() => ({ listenRequests: [] }))).listenRequests?.length ?? 0;
  const got = [];
  const un = await event.listen('tauri://focus', (e) => got.push(e));
  if (!mockOnly) assert.equal((await stats(gw)).listenRequests.length, before, 'no subscription for a window event');
  await un();
});

test('listen + emit: Event {event, id, payload}; unlisten closes the stream', async () => {
  const h = collector();
  const un = await within(event.listen('shim-1', h), 3000, 'listen');
  await event.emit('shim-1', { hello: 'world' });
  await event.emit('shim-1', 2);
  await waitFor(() => h.events.length === 2, 3000);
  assert.deepEqual(h.events[0].payload, { hello: 'world' });
  assert.equal(h.events[0].event, 'shim-1');
  assert.equal(typeof h.events[0].id, 'number');
  const before = window.__TAURI_INTERNALS__.callbacks.size;
  await un();
  assert.equal(window.__TAURI_INTERNALS__.callbacks.size, before - 1, 'handler callback released');
  await un(); // twice is fine
  if (!mockOnly) await waitFor(async () => (await stats(gw)).active === 0, 3000, 'stream closed');
  await event.emit('shim-1', 3);
  await sleep(50);
  assert.equal(h.events.length, 2);
});

test('once: Tauri unlistens by event.id, which must be the listener id', async () => {
  const h = collector();
  await event.once('shim-2', h);
  await event.emit('shim-2', 'first');
  await event.emit('shim-2', 'second');
  await waitFor(() => h.events.length >= 1, 3000);
  await sleep(50);
  assert.deepEqual(
    h.events.map((e) => e.payload),
    ['first'],
  );
  if (!mockOnly) await waitFor(async () => (await stats(gw)).active === 0, 3000, 'stream closed');
});

test('emitTo a label and listen with a target', async () => {
  const any = collector();
  const targeted = collector();
  const un1 = await event.listen('shim-3', any);
  const un2 = await event.listen('shim-3', targeted, { target: LABEL });
  await event.emitTo('somebody-else', 'shim-3', 'elsewhere');
  await event.emitTo(LABEL, 'shim-3', 'to me');
  await event.emitTo({ kind: 'WebviewWindow', label: LABEL }, 'shim-3', 'to my window');
  await event.emit('shim-3', 'broadcast');
  await waitFor(() => any.events.length === 3 && targeted.events.length === 3, 3000);
  await sleep(30);
  assert.deepEqual(
    any.events.map((e) => e.payload),
    ['to me', 'to my window', 'broadcast'],
  );
  // As in Tauri, whose `emit` reaches every listener: a listener with a
  // target also gets global emits, and never events sent to another label.
  assert.deepEqual(
    targeted.events.map((e) => e.payload),
    ['to me', 'to my window', 'broadcast'],
  );
  await un1();
  await un2();
});

test('unlisten racing a slow listen leaks nothing (tauri#15799)', { skip: mockOnly }, async () => {
  const h = collector();
  const cleaned = event.listen('slow', h).then((un) => un());
  await within(cleaned, 3000);
  await event.emit('slow', 'x');
  await sleep(50);
  assert.equal(h.events.length, 0);
  assert.equal((await stats(gw)).active, 0);
});

test('listen to a refused event rejects with the message', { skip: mockOnly }, async () => {
  const before = window.__TAURI_INTERNALS__.callbacks.size;
  await assert.rejects(event.listen('forbidden', () => {}), (e) => typeof e === 'string' && /not allowed/.test(e));
  // Tauri's listen registered the handler callback; the shim cannot know the app
  // will not retry, so only the listener itself is gone.
  assert.ok(window.__TAURI_INTERNALS__.callbacks.size <= before + 1);
});

test('errors: "tether" makes invoke reject with {code, message, details}', { skip: mockOnly }, async () => {
  loadShim({ baseUrl: gw.url, label: LABEL, errors: 'tether' });
  try {
    await assert.rejects(core.invoke('fail', {}), (e) => {
      assert.equal(e.name, 'TetherError');
      assert.equal(e.code, 'failed_precondition');
      assert.equal(e.message, 'fail always fails');
      assert.deepEqual(e.details, { reason: 'on purpose', got: {} });
      return true;
    });
  } finally {
    loadShim({ baseUrl: gw.url, label: LABEL });
  }
});

test('withGlobalTauri: window.__TAURI__ has core, event and app, on the same internals', async () => {
  const saved = { internals: { ...window.__TAURI_INTERNALS__ }, tauri: window.__TAURI__ };
  try {
    globalThis.__TETHER_GLOBAL_TAURI__ = true;
    loadShim({ baseUrl: gw.url, label: LABEL });
    const T = window.__TAURI__;
    assert.equal(typeof T.core.invoke, 'function');
    assert.equal(typeof T.core.Channel, 'function');
    assert.equal(typeof T.event.listen, 'function');
    assert.equal(typeof T.app.getVersion, 'function');
    assert.equal(await T.core.invoke('greet', { name: 'global' }), 'Hello, global!');
    const h = collector();
    const un = await T.event.listen('shim-global', h);
    await T.event.emit('shim-global', 7);
    await waitFor(() => h.events.length === 1, 3000);
    assert.equal(h.events[0].payload, 7);
    un();
  } finally {
    delete globalThis.__TETHER_GLOBAL_TAURI__;
    Object.assign(window.__TAURI_INTERNALS__, saved.internals); // the shim fills the object it finds
    window.__TAURI__ = saved.tauri;
  }
});

test('tauri://focus, blur and resize fire from the page, and stop after unlisten', async () => {
  const target = new EventTarget();
  const saved = { add: globalThis.addEventListener, remove: globalThis.removeEventListener, w: globalThis.innerWidth, h: globalThis.innerHeight };
  globalThis.addEventListener = target.addEventListener.bind(target);
  globalThis.removeEventListener = target.removeEventListener.bind(target);
  globalThis.innerWidth = 300;
  globalThis.innerHeight = 200;
  try {
    const got = [];
    const unFocus = await event.listen('tauri://focus', (e) => got.push(['focus', e.payload]));
    const unResize = await event.listen('tauri://resize', (e) => got.push(['resize', e.payload]));
    target.dispatchEvent(new Event('focus'));
    target.dispatchEvent(new Event('resize'));
    assert.deepEqual(got, [['focus', null], ['resize', { width: 300, height: 200 }]]);
    await unFocus();
    await unResize();
    target.dispatchEvent(new Event('focus'));
    assert.equal(got.length, 2);
  } finally {
    Object.assign(globalThis, { addEventListener: saved.add, removeEventListener: saved.remove, innerWidth: saved.w, innerHeight: saved.h });
  }
});
