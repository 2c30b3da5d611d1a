// The JS client (gateway/assets/client.js, as built) against the mock gateway,
// or against TETHER_URL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  invoke,
  Channel,
  TetherError,
  configure,
  listen,
  once,
  emit,
  emitTo,
  metadata,
} from '../../gateway/assets/client.js';
import { startGateway, mockOnly, within, waitFor, sleep, mock, stats, deadUrl, testLabel } from './helpers.mjs';

let gw;
const LABEL = testLabel('test-page');

before(async () => {
  gw = await startGateway();
  configure({ baseUrl: gw.url, label: LABEL, reconnect: { initialDelayMs: 40, maxDelayMs: 200 } });
});

after(async () => {
  await gw.close();
});

// ---- invoke ----

test('invoke returns the JSON result', async () => {
  assert.equal(await invoke('greet', { name: 'Ada' }), 'Hello, Ada!');
});

test('invoke sends the label hint and the caller headers', { skip: mockOnly }, async () => {
  const r = await invoke('whoami', { a: 1 }, { headers: { 'X-Custom': 'yes' } });
  assert.deepEqual(r, { label: LABEL, custom: 'yes', args: { a: 1 } });
  assert.deepEqual(metadata(), {
    currentWindow: { label: LABEL },
    currentWebview: { label: LABEL, windowLabel: LABEL },
  });
});

test('invoke with an empty 200 body resolves null', { skip: mockOnly }, async () => {
  assert.equal(await invoke('nothing'), null);
});

test('a failing command rejects with TetherError code, message, details', { skip: mockOnly }, async () => {
  const err = await invoke('fail', { x: 1 }).then(
    () => assert.fail('should reject'),
    (e) => e,
  );
  assert.ok(err instanceof TetherError);
  assert.ok(err instanceof Error);
  assert.equal(err.name, 'TetherError');
  assert.equal(err.code, 'failed_precondition');
  assert.equal(err.message, 'fail always fails');
  assert.deepEqual(err.details, { reason: 'on purpose', got: { x: 1 } });
  assert.equal(err.status, 400);
});

test('an unknown command rejects with not_found', async () => {
  await assert.rejects(invoke('no_such_command_here'), (e) => e instanceof TetherError && e.code === 'not_found');
});

test('missing argument: invalid_argument with details', { skip: mockOnly }, async () => {
  await assert.rejects(invoke('greet', {}), (e) => e.code === 'invalid_argument' && e.details?.field === 'name');
});

test('a non-gateway error body maps the HTTP status', { skip: mockOnly }, async () => {
  await assert.rejects(
    invoke('fail_plain'),
    (e) => e instanceof TetherError && e.code === 'unavailable' && e.message === 'bad gateway from a proxy',
  );
});

test('network failure rejects with unavailable', async () => {
  const dead = await deadUrl();
  configure({ baseUrl: dead });
  try {
    await assert.rejects(within(invoke('greet', { name: 'x' }), 5000), (e) => e instanceof TetherError && e.code === 'unavailable');
    await assert.rejects(within(emit('x', 1), 5000), (e) => e.code === 'unavailable');
    await assert.rejects(within(listen('x', () => {}), 5000), (e) => e.code === 'unavailable');
  } finally {
    configure({ baseUrl: gw.url });
  }
});

test('abort signal rejects with canceled', async () => {
  const ctrl = new AbortController();
  ctrl.abort();
  await assert.rejects(invoke('greet', { name: 'x' }, { signal: ctrl.signal }), (e) => e.code === 'canceled');
});

test('raw bytes both ways: Uint8Array, ArrayBuffer and an offset view', { skip: mockOnly }, async () => {
  const all = new Uint8Array(256).map((_, i) => i);
  const r1 = await invoke('echo_bytes', all);
  assert.ok(r1 instanceof ArrayBuffer);
  assert.deepEqual(new Uint8Array(r1), all);
  const r2 = await invoke('echo_bytes', all.buffer.slice(10, 20));
  assert.deepEqual([...new Uint8Array(r2)], [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  const view = all.subarray(250); // byteOffset 250
  const r3 = await invoke('echo_bytes', view);
  assert.deepEqual([...new Uint8Array(r3)], [250, 251, 252, 253, 254, 255]);
  const r4 = await invoke('bytes_out', { n: 300 });
  assert.ok(r4 instanceof ArrayBuffer);
  assert.equal(r4.byteLength, 300);
  assert.equal(new Uint8Array(r4)[299], 299 % 256);
  const last = (await stats(gw)).invokes.at(-2);
  assert.equal(last.type, 'application/octet-stream');
});

test('invoke rejects args that are neither object nor bytes', async () => {
  await assert.rejects(invoke('greet', 'nope'), (e) => e.code === 'invalid_argument');
  await assert.rejects(invoke('greet', [1]), (e) => e.code === 'invalid_argument');
});

// ---- channels ----

test('Channel delivers 25 messages in numeric index order, then invoke resolves', { skip: mockOnly }, async () => {
  const got = [];
  const ch = new Channel();
  ch.onmessage = (m) => got.push(m.i);
  const r = await within(invoke('count', { n: 25, onProgress: ch }), 5000, 'count');
  assert.equal(r, null);
  assert.deepEqual(got, Array.from({ length: 25 }, (_, i) => i));
  assert.ok(got.indexOf(10) === got.indexOf(9) + 1, '10 right after 9');
  const inv = (await stats(gw)).invokes.at(-1);
  assert.match(inv.stream, /^st[0-9]+$/, 'the call names the page stream');
  assert.equal(inv.channels, String(ch.id));
});

test('Channels go as Tauri sends them, several per call and anywhere in the args', { skip: mockOnly }, async () => {
  const a = new Channel();
  const b = new Channel();
  const r = await invoke('whoami', { a: 1, ch: a, nested: { list: [b] } });
  assert.deepEqual(r.args, { a: 1, ch: `__CHANNEL__:${a.id}`, nested: { list: [`__CHANNEL__:${b.id}`] } });
  const inv = (await stats(gw)).invokes.at(-1);
  assert.equal(inv.channels, `${a.id},${b.id}`);
});

test('args JSON cannot carry reject before any request, with a clear error', async () => {
  const before = mockOnly ? 0 : (await stats(gw)).invokes.length;
  await assert.rejects(invoke('greet', { name: 10n }), (e) => e instanceof TetherError && e.code === 'invalid_argument' && /BigInt/.test(e.message));
  const cyc = {};
  cyc.self = cyc;
  await assert.rejects(invoke('greet', cyc), (e) => e.code === 'invalid_argument' && /cannot be sent as JSON/.test(e.message));
  await assert.rejects(emit('t0-big', { n: 1n }), (e) => e.code === 'invalid_argument');
  if (!mockOnly) assert.equal((await stats(gw)).invokes.length, before);
});

test('Channel with zero messages resolves on the end frame', { skip: mockOnly }, async () => {
  const ch = new Channel(() => assert.fail('no messages expected'));
  assert.equal(await within(invoke('count', { n: 0, ch }), 3000), null);
});

test('an error frame mid-stream rejects with its TetherError', { skip: mockOnly }, async () => {
  const got = [];
  const ch = new Channel((m) => got.push(m.i));
  const err = await within(invoke('count', { n: 20, failAt: 6, ch }), 5000).then(
    () => assert.fail('should reject'),
    (e) => e,
  );
  assert.ok(err instanceof TetherError);
  assert.equal(err.code, 'aborted');
  assert.deepEqual(err.details, { at: 6 });
  // the first 6 frames on the wire were 3,2,1,0,7,6: 0..3 are deliverable in order
  await waitFor(() => got.length === 4, 3000, 'the frames before the error');
  assert.deepEqual(got, [0, 1, 2, 3]);
});

test('a stream cut before its end message rejects with unavailable', { skip: mockOnly }, async () => {
  const ch = new Channel();
  await assert.rejects(within(invoke('count', { n: 20, dropAt: 5, ch }), 5000), (e) => e.code === 'unavailable');
});

test('one Channel twice in a call, or in two calls, is refused', async () => {
  const twice = new Channel();
  await assert.rejects(invoke('count', { a: twice, b: twice }), (e) => e.code === 'invalid_argument');
  const ch = new Channel();
  if (!mockOnly) await invoke('count', { n: 1, ch });
  else ch._route();
  await assert.rejects(invoke('count', { n: 1, ch }), (e) => e.code === 'invalid_argument');
});

test('a channel command without a Channel is refused by the gateway', { skip: mockOnly }, async () => {
  await assert.rejects(invoke('count', { n: 3 }), (e) => e.code === 'invalid_argument');
});

test('a throwing onmessage does not stall the channel', { skip: mockOnly }, async () => {
  const got = [];
  const uncaught = [];
  globalThis.reportError = (e) => uncaught.push(e);
  try {
    const ch = new Channel((m) => {
      got.push(m.i);
      if (m.i === 2) throw new Error('handler bug');
    });
    await within(invoke('count', { n: 6, ch }), 5000);
    await sleep(10);
  } finally {
    delete globalThis.reportError;
  }
  assert.deepEqual(got, [0, 1, 2, 3, 4, 5]);
  assert.equal(uncaught.length, 1);
  assert.equal(uncaught[0].message, 'handler bug');
});

// ---- events ----

function collector() {
  const events = [];
  const fn = (e) => events.push(e);
  fn.events = events;
  return fn;
}

test('listen gets {event, id, payload}; emit reaches it; listeners share one stream', async () => {
  const a = collector();
  const b = collector();
  const c = collector();
  const unA = await within(listen('t1-a', a), 3000, 'listen a');
  const unB = await within(listen('t1-b', b), 3000, 'listen b');
  const unC = await within(listen('t1-a', c), 3000, 'listen c');
  if (!mockOnly) await waitFor(async () => (await stats(gw)).active === 1, 3000, 'one stream');
  await emit('t1-a', { n: 1, nested: { s: 'x\ny' } });
  await emit('t1-b', 'plain');
  await emit('t1-a', null);
  await emit('t1-b');
  await waitFor(() => a.events.length === 2 && b.events.length === 2 && c.events.length === 2, 3000, 'events');
  assert.deepEqual(
    a.events.map((e) => [e.event, e.payload]),
    [
      ['t1-a', { n: 1, nested: { s: 'x\ny' } }],
      ['t1-a', null],
    ],
  );
  assert.deepEqual(
    b.events.map((e) => e.payload),
    ['plain', null],
  );
  assert.equal(typeof a.events[0].id, 'number');
  assert.notEqual(a.events[0].id, c.events[0].id, 'each listener has its own id');
  unA();
  unB();
  unC();
  unC(); // twice is fine
  if (!mockOnly) await waitFor(async () => (await stats(gw)).active === 0, 3000, 'stream closed');
});

test('once fires once and then closes its stream', async () => {
  const h = collector();
  await once('t2-once', h);
  await emit('t2-once', 1);
  await emit('t2-once', 2);
  await waitFor(() => h.events.length >= 1, 3000);
  await sleep(50);
  assert.deepEqual(
    h.events.map((e) => e.payload),
    [1],
  );
  if (!mockOnly) await waitFor(async () => (await stats(gw)).active === 0, 3000, 'stream closed');
});

test('emitTo a label reaches that label only', async () => {
  const h = collector();
  const un = await listen('t3-to', h);
  await emitTo('someone-else', 't3-to', 'not for me');
  await emitTo(LABEL, 't3-to', 'by string');
  await emitTo({ kind: 'AnyLabel', label: LABEL }, 't3-to', 'by object');
  await emitTo({ kind: 'WebviewWindow', label: LABEL }, 't3-to', 'by window');
  await emitTo({ kind: 'Any' }, 't3-to', 'to all');
  await waitFor(() => h.events.length === 4, 3000);
  assert.deepEqual(
    h.events.map((e) => e.payload),
    ['by string', 'by object', 'by window', 'to all'],
  );
  await assert.rejects(emitTo({ kind: 'App' }, 't3-to', 1), (e) => e.code === 'unimplemented');
  un();
});

test('invalid event names are refused without a request', async () => {
  await assert.rejects(listen('bad name', () => {}), (e) => e.code === 'invalid_argument');
  await assert.rejects(emit('bad.name', 1), (e) => e.code === 'invalid_argument');
  await assert.rejects(emitTo('x', 'bad name'), (e) => e.code === 'invalid_argument');
});

test('unlisten before the subscription is established cancels it', { skip: mockOnly }, async () => {
  const h = collector();
  const ctrl = new AbortController();
  const p = listen('slow', h, { signal: ctrl.signal });
  await waitFor(async () => (await stats(gw)).listenRequests.some((r) => r.names.includes('slow')), 3000);
  ctrl.abort();
  await assert.rejects(within(p, 3000), (e) => e.code === 'canceled');
  await sleep(400); // past the mock's 300 ms delay
  await emit('slow', 'late');
  await sleep(50);
  assert.equal(h.events.length, 0);
  assert.equal((await stats(gw)).active, 0);
});

test('an unlisten racing the listen promise leaks nothing', { skip: mockOnly }, async () => {
  const h = collector();
  // the React-effect pattern: cleanup runs before listen resolved
  const p = listen('slow', h);
  const cleaned = p.then((un) => un());
  await within(cleaned, 3000);
  await emit('slow', 'x');
  await sleep(50);
  assert.equal(h.events.length, 0);
  assert.equal((await stats(gw)).active, 0);
});

test('a dropped stream reconnects and resumes with Last-Event-ID, in order, without duplicates', { skip: mockOnly }, async () => {
  await mock(gw, 'reset');
  const h = collector();
  const un = await listen('t4-tick', h);
  await emit('t4-tick', 1);
  await emit('t4-tick', 2);
  await waitFor(() => h.events.length === 2, 3000);
  const { dropped } = await mock(gw, 'drop');
  assert.equal(dropped, 1);
  // emitted while the client is away: the server holds them
  await emit('t4-tick', 3);
  await emit('t4-tick', 4);
  await waitFor(() => h.events.length === 4, 5000, 'resumed events');
  await emit('t4-tick', 5);
  await waitFor(() => h.events.length === 5, 3000);
  await sleep(50);
  assert.deepEqual(
    h.events.map((e) => e.payload),
    [1, 2, 3, 4, 5],
  );
  const reqs = (await stats(gw)).listenRequests;
  assert.equal(reqs.length, 2);
  assert.equal(reqs[0].lastEventId, null);
  assert.match(reqs[1].lastEventId, /^[0-9]+$/);
  un();
});

test('unlisten during reconnect backoff stops reconnecting', { skip: mockOnly }, async () => {
  configure({ reconnect: { initialDelayMs: 300, maxDelayMs: 300 } });
  try {
    await mock(gw, 'reset');
    const h = collector();
    const un = await listen('t5-x', h);
    await mock(gw, 'drop');
    await sleep(20);
    un();
    await sleep(500);
    assert.equal((await stats(gw)).listenRequests.length, 1, 'no reconnect after unlisten');
    assert.equal((await stats(gw)).active, 0);
  } finally {
    configure({ reconnect: { initialDelayMs: 40, maxDelayMs: 200 } });
  }
});

test('a retriable error frame on the listen stream reconnects', { skip: mockOnly }, async () => {
  await mock(gw, 'reset');
  const h = collector();
  const un = await listen('t6-x', h);
  await mock(gw, 'listen-error', 'code=unavailable');
  await waitFor(async () => (await stats(gw)).listenRequests.length === 2 && (await stats(gw)).active === 1, 3000, 'reconnect');
  await emit('t6-x', 'after');
  await waitFor(() => h.events.length === 1, 3000);
  un();
});

test('a refused reconnect is final: onError, no more attempts', { skip: mockOnly }, async () => {
  await mock(gw, 'reset');
  const errors = [];
  const un = await listen('t7-x', () => {}, { onError: (e) => errors.push(e) });
  await mock(gw, 'deny', 'code=permission_denied');
  try {
    await mock(gw, 'drop');
    await waitFor(() => errors.length === 1, 3000, 'onError');
    assert.equal(errors[0].code, 'permission_denied');
    const n = (await stats(gw)).listenRequests.length;
    await sleep(300);
    assert.equal((await stats(gw)).listenRequests.length, n);
  } finally {
    await mock(gw, 'deny');
  }
  un(); // harmless after the end
});

test('a refused name fails its listen only; the shared stream carries on', { skip: mockOnly }, async () => {
  const h = collector();
  const un = await listen('t8-ok', h);
  await assert.rejects(listen('forbidden', () => {}), (e) => e.code === 'permission_denied');
  await emit('t8-ok', 1);
  await waitFor(() => h.events.length === 1, 3000);
  un();
});

test('channels and listeners share the one page stream', { skip: mockOnly }, async () => {
  await mock(gw, 'reset');
  const opens = (await stats(gw)).streamOpens;
  const unA = await listen('t13-a', () => {});
  const unB = await listen('t13-b', () => {});
  await invoke('count', { n: 3, ch: new Channel() });
  await invoke('count', { n: 3, ch: new Channel() });
  assert.equal((await stats(gw)).active, 1);
  assert.equal((await stats(gw)).streamOpens, opens + 1);
  unA();
  unB();
  await waitFor(async () => (await stats(gw)).active === 0, 3000, 'closed when unused');
});

test('lagged frames reach onLagged', { skip: mockOnly }, async () => {
  const lags = [];
  const un = await listen('t9-x', () => {}, { onLagged: (n) => lags.push(n) });
  await mock(gw, 'lag', 'dropped=17');
  await waitFor(() => lags.length === 1, 3000);
  assert.deepEqual(lags, [17]);
  un();
});

test('adding a name while events flow loses, duplicates and reorders nothing', { skip: mockOnly }, async () => {
  const a = collector();
  const b = collector();
  const unA = await listen('t10-a', a);
  let stop = false;
  let sent = 0;
  const pump = (async () => {
    while (!stop) {
      await emit('t10-a', ++sent);
      await sleep(2);
    }
  })();
  await sleep(30);
  const unB = await listen('t10-b', b);
  await emit('t10-b', 'b1');
  await sleep(30);
  stop = true;
  await pump;
  await waitFor(() => a.events.length === sent && b.events.length === 1, 3000, `all ${sent} a events`).catch((e) => {
    throw new Error(`${e.message}: got a=${a.events.map((x) => x.payload)} b=${b.events.length}`);
  });
  assert.deepEqual(
    a.events.map((e) => e.payload),
    Array.from({ length: sent }, (_, i) => i + 1),
  );
  assert.equal((await stats(gw)).active, 1, 'one page stream for both');
  unA();
  unB();
});

test('a throwing event handler does not stop other listeners', async () => {
  const h = collector();
  const reported = [];
  globalThis.reportError = (e) => reported.push(e);
  try {
    const un1 = await listen('t11-x', () => {
      throw new Error('bug');
    });
    const un2 = await listen('t11-x', h);
    await emit('t11-x', 1);
    await emit('t11-x', 2);
    await waitFor(() => h.events.length === 2, 3000);
    un1();
    un2();
  } finally {
    delete globalThis.reportError;
  }
  assert.equal(reported.length, 2);
});

test('a 503 during reconnect is retried with growing delays until it recovers', { skip: mockOnly }, async () => {
  await mock(gw, 'reset');
  const errors = [];
  const h = collector();
  const un = await listen('t12-x', h, { onError: (e) => errors.push(e) });
  await mock(gw, 'deny', 'code=unavailable');
  await mock(gw, 'drop');
  const t0 = Date.now();
  await sleep(700);
  const attempts = (await stats(gw)).listenRequests.length - 1;
  await mock(gw, 'deny');
  await waitFor(async () => (await stats(gw)).active === 1, 3000, 'recovered');
  await emit('t12-x', 'back');
  await waitFor(() => h.events.length === 1, 3000);
  assert.equal(errors.length, 0);
  // delays 40, 80, 160, 200, 200… (±20%): about 5 attempts in 700 ms, not 17
  assert.ok(attempts >= 2 && attempts <= 8, `attempts in ${Date.now() - t0} ms: ${attempts}`);
  un();
});
