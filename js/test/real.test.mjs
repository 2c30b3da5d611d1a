// Only against a real gateway serving the demo app (TETHER_URL set, as in
// `make test-js-real`): the client's paths that the mock stands in for,
// checked against what `tether serve` really answers.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { invoke, Channel, TetherError, configure, listen, emit } from '../../gateway/assets/client.js';
import { external, within, waitFor } from './helpers.mjs';

const realOnly = external ? false : 'needs a real gateway serving the demo (set TETHER_URL)';

before(() => {
  if (external) configure({ baseUrl: external.replace(/\/+$/, ''), label: process.env.TETHER_LABEL || 'main' });
});

test('a command error: code, message, status and the command details', { skip: realOnly }, async () => {
  const err = await invoke('fail', { reason: 'js' }).then(() => assert.fail('should reject'), (e) => e);
  assert.ok(err instanceof TetherError);
  assert.equal(err.code, 'failed_precondition');
  assert.equal(err.message, 'fail: js');
  assert.equal(err.status, 400);
  assert.deepEqual(err.details, { reason: 'js', retryable: false });
});

test('validation errors carry the field details', { skip: realOnly }, async () => {
  const err = await invoke('greet', {}).then(() => assert.fail('should reject'), (e) => e);
  assert.equal(err.code, 'invalid_argument');
  assert.ok(Array.isArray(err.details), JSON.stringify(err.details));
  assert.equal(err.details[0].field, 'name');
  // Unknown keys are ignored, as serde and grpc-gateway ignore them (unless
  // the app asks for strict arguments).
  assert.equal(await invoke('greet', { name: 'a', extra: 1 }), 'Hello, a!');
});

test('read_file outside the data folder is permission_denied (403)', { skip: realOnly }, async () => {
  await assert.rejects(invoke('read_file', { path: '../etc/passwd' }), (e) => e.code === 'permission_denied' && e.status === 403);
});

test('raw bytes both ways', { skip: realOnly }, async () => {
  const all = new Uint8Array(256).map((_, i) => i);
  const r = await invoke('echo_bytes', all);
  assert.ok(r instanceof ArrayBuffer);
  assert.deepEqual(new Uint8Array(r), all);
  const view = all.subarray(250);
  assert.deepEqual([...new Uint8Array(await invoke('echo_bytes', view))], [250, 251, 252, 253, 254, 255]);
  assert.equal((await invoke('echo_bytes', new Uint8Array(0))).byteLength, 0);
});

test('a Channel gets count messages in order, then invoke resolves null', { skip: realOnly }, async () => {
  const got = [];
  const ch = new Channel((m) => got.push(m));
  assert.equal(await within(invoke('count', { to: 300, onProgress: ch }), 10000, 'count'), null);
  assert.deepEqual(got, Array.from({ length: 300 }, (_, i) => ({ n: i + 1, of: 300 })));
});

test('a channel command refuses a bad argument before streaming', { skip: realOnly }, async () => {
  const ch = new Channel(() => assert.fail('no messages expected'));
  await assert.rejects(within(invoke('count', { to: 0, ch }), 5000), (e) => e.code === 'invalid_argument');
});

test('a channel command without a Channel is refused', { skip: realOnly }, async () => {
  await assert.rejects(invoke('count', { to: 3 }), (e) => e instanceof TetherError && e.code === 'failed_precondition');
});

test('the demo answers frontend-event with a backend-event reply', { skip: realOnly }, async () => {
  const got = [];
  const un = await listen('backend-event', (e) => got.push(e));
  try {
    const message = `js-${Date.now()}`;
    await emit('frontend-event', { message });
    await waitFor(() => got.some((e) => e.payload?.message === `backend heard: ${message}`), 5000, 'the reply');
    const e = got.find((x) => x.payload?.kind === 'reply');
    assert.equal(e.event, 'backend-event');
    assert.equal(e.payload.from, 'main');
  } finally {
    un();
  }
});
