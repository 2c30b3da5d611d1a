import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SSEParser } from '../../gateway/assets/client.js';

function parse(chunks, lastEventId) {
  const out = [];
  const retries = [];
  const p = new SSEParser({ onMessage: (m) => out.push(m), onRetry: (ms) => retries.push(ms) }, lastEventId);
  for (const c of chunks) p.feed(c);
  p.end();
  return { out, retries, p };
}

test('LF, CRLF and CR line ends', () => {
  for (const eol of ['\n', '\r\n', '\r']) {
    const { out } = parse([`event: a${eol}id: 1${eol}data: x${eol}${eol}data: y${eol}${eol}`]);
    assert.deepEqual(
      out.map((m) => [m.event, m.data, m.lastEventId, m.hasId]),
      [
        ['a', 'x', '1', true],
        ['message', 'y', '1', false],
      ],
      JSON.stringify(eol),
    );
  }
});

test('CRLF split between chunks is one line end', () => {
  const { out } = parse(['data: a\r', '\ndata: b\r', '\n\r', '\n']);
  assert.equal(out.length, 1);
  assert.equal(out[0].data, 'a\nb');
});

test('every single-character split gives the same messages', () => {
  const text = ': hi\r\nevent: tick\r\nid: 7\r\ndata: {"a":\r\ndata: 1}\r\n\r\nretry: 100\r\ndata: two\n\n';
  const whole = parse([text]).out;
  assert.equal(whole.length, 2);
  for (let i = 1; i < text.length; i++) {
    const { out } = parse([text.slice(0, i), text.slice(i)]);
    assert.deepEqual(out, whole, `split at ${i}`);
  }
  assert.equal(JSON.parse(whole[0].data).a, 1);
});

test('multi-line data, comments, fields without colon, leading space', () => {
  const { out } = parse([
    ': a comment\n',
    'data\n', // empty data line
    'data:no-space\n',
    'data:  two spaces\n',
    'unknown: field\n',
    '\n',
  ]);
  assert.equal(out.length, 1);
  assert.equal(out[0].data, '\nno-space\n two spaces');
});

test('id persists, id with NUL is ignored, empty id resets', () => {
  const { out } = parse(['id: 5\ndata: a\n\n', 'data: b\n\n', 'id: 6\0x\ndata: c\n\n', 'id\ndata: d\n\n'], '');
  assert.deepEqual(
    out.map((m) => [m.data, m.lastEventId, m.hasId]),
    [
      ['a', '5', true],
      ['b', '5', false],
      ['c', '5', false],
      ['d', '', true],
    ],
  );
});

test('retry takes digits only', () => {
  const { retries } = parse(['retry: 250\n', 'retry: 1x\n', 'retry: -5\n', 'retry:40\n\n']);
  assert.deepEqual(retries, [250, 40]);
});

test('a frame without data dispatches nothing but its id counts', () => {
  const { out, p } = parse(['event: x\nid: 9\n\n']);
  assert.equal(out.length, 0);
  assert.equal(p.lastEventId, '9');
});

test('BOM is dropped, unterminated last frame is discarded', () => {
  const { out } = parse(['\uFEFFdata: a\n\n', 'data: partial']);
  assert.deepEqual(
    out.map((m) => m.data),
    ['a'],
  );
});

test('event type resets after each dispatch', () => {
  const { out } = parse(['event: a\ndata: 1\n\ndata: 2\n\n']);
  assert.deepEqual(
    out.map((m) => m.event),
    ['a', 'message'],
  );
});
