// A mock Tether gateway on node:http, faithful to the HTTP contract of
// DESIGN.md and gateway/stream.go: invoke (JSON and raw bytes), the page
// stream (GET /ipc/stream, POST …/listen and …/unlisten with global ids and
// resume from "after"), channels of invokes delivered on it, emit, error
// bodies.
// It also has /_mock/* routes that tests use to break things on purpose.
// Loopback only. Run it alone with `node test/mock-gateway.mjs [port]`.

import http from 'node:http';

const NAME_RE = /^[A-Za-z0-9\-/:_]+$/;
const STATUS = {
  canceled: 499,
  unknown: 500,
  invalid_argument: 400,
  deadline_exceeded: 504,
  not_found: 404,
  already_exists: 409,
  permission_denied: 403,
  resource_exhausted: 429,
  failed_precondition: 400,
  aborted: 409,
  out_of_range: 400,
  unimplemented: 501,
  internal: 500,
  unavailable: 503,
  data_loss: 500,
  unauthenticated: 401,
};

function errorBody(code, message, details) {
  return details === undefined ? { code, message } : { code, message, details };
}

function sendError(res, code, message, details) {
  const body = JSON.stringify(errorBody(code, message, details));
  res.writeHead(STATUS[code] ?? 500, { 'Content-Type': 'application/json' });
  res.end(body);
}

function sendJSON(res, value) {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value));
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJSON(buf) {
  if (buf.length === 0) return { ok: true, value: null };
  try {
    return { ok: true, value: JSON.parse(buf.toString('utf8')) };
  } catch (e) {
    return { ok: false, error: e.message };
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// dataLines writes a JSON value as SSE data lines. Objects are pretty-printed,
// one data: line per line, to exercise multi-line data on the client.
function dataLines(value, eol) {
  const text = value !== null && typeof value === 'object' ? JSON.stringify(value, null, 1) : JSON.stringify(value);
  return text
    .split('\n')
    .map((l) => `data: ${l}${eol}`)
    .join('');
}

export async function startMockGateway({ port = 0, host = '127.0.0.1', ringSize = 1000, slowMs = 300 } = {}) {
  let nextId = 1;
  const ring = []; // {id, name, payload, target}
  const listeners = new Set(); // {names, label, target, res, sub, stream}
  const streams = new Map(); // id -> {id, res, label, subs: Map<sub, listener>}
  let nextStream = 1;
  const stats = { listenRequests: [], emits: 0, invokes: [], streamOpens: 0 };
  let denyListen = null; // a code: every listen request fails with it

  function frameFor(ev) {
    return `event: ${ev.name}\r\nid: ${ev.id}\r\n${dataLines(ev.payload, '\r\n')}\r\n`;
  }

  function streamFor(req, id) {
    const st = streams.get(id);
    if (!st || st.label !== (req.headers['tether-client-label'] ?? '')) return null;
    return st;
  }

  function wants(l, ev) {
    if (!l.names.has(ev.name)) return false;
    if (ev.target && ev.target !== l.label) return false;
    // As in Tauri: a listener with a target also gets untargeted (global) emits.
    if (l.target && ev.target && ev.target !== l.target) return false;
    return true;
  }

  // handleInvoke answers an invoke; the channels of a call that does not use
  // them are gone once it answered, as the gateway says.
  async function handleInvoke(req, res, cmd) {
    await invokeCommand(req, res, cmd);
    const st = req.headers['tether-stream'] ? streams.get(req.headers['tether-stream']) : null;
    if (st) {
      for (const id of String(req.headers['tether-channels'] ?? '').split(',').filter(Boolean)) {
        if (cmd === 'count' && res.countChannel === Number(id)) continue;
        st.res.write(`event: tether.channel\ndata: {"id":${Number(id)},"gone":true}\n\n`);
      }
    }
  }

  async function invokeCommand(req, res, cmd) {
    const body = await readBody(req);
    const type = (req.headers['content-type'] || '').toLowerCase();
    const accept = (req.headers.accept || '').toLowerCase();
    const streamId = req.headers['tether-stream'];
    stats.invokes.push({ cmd, type, accept, stream: streamId ?? null, channels: req.headers['tether-channels'] ?? null });
    if (cmd === 'echo_bytes') {
      if (!type.startsWith('application/octet-stream')) {
        return sendError(res, 'invalid_argument', 'echo_bytes takes application/octet-stream');
      }
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      return res.end(body);
    }
    if (type.startsWith('application/octet-stream')) {
      return sendError(res, 'invalid_argument', `${cmd} takes JSON args`);
    }
    const parsed = parseJSON(body);
    if (!parsed.ok) return sendError(res, 'invalid_argument', `bad JSON: ${parsed.error}`);
    const args = parsed.value ?? {};
    if (typeof args !== 'object' || Array.isArray(args)) return sendError(res, 'invalid_argument', 'args must be an object');
    switch (cmd) {
      case 'greet':
        if (typeof args.name !== 'string') {
          return sendError(res, 'invalid_argument', 'greet: missing argument name', { field: 'name' });
        }
        return sendJSON(res, `Hello, ${args.name}!`);
      case 'fail':
        return sendError(res, 'failed_precondition', 'fail always fails', { reason: 'on purpose', got: args });
      case 'fail_plain':
        res.writeHead(502, { 'Content-Type': 'text/plain' });
        return res.end('bad gateway from a proxy');
      case 'whoami':
        return sendJSON(res, {
          label: req.headers['tether-client-label'] ?? null,
          custom: req.headers['x-custom'] ?? null,
          args,
        });
      case 'nothing':
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end();
      case 'bytes_out': {
        const n = Number(args.n ?? 256);
        const out = Buffer.alloc(n);
        for (let i = 0; i < n; i++) out[i] = i % 256;
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        return res.end(out);
      }
      case 'count':
        return handleCount(req, res, args, streamId);
      default:
        return sendError(res, 'not_found', `command ${JSON.stringify(cmd)} not found`);
    }
  }

  // count sends n messages {i, square} on the channel its args name (on the
  // page stream), its end, and answers null with the frame count. Indices
  // are sent out of order: reversed in blocks of four (3,2,1,0,7,6,5,4,…), so
  // 10 comes before 9 on the wire and a string sort would misplace it.
  async function handleCount(req, res, args, streamId) {
    const st = streamId ? streamFor(req, streamId) : null;
    if (!streamId) return sendError(res, 'invalid_argument', 'count sends on a channel: invoke it with one');
    if (!st) return sendError(res, 'not_found', 'no such page stream (mock)');
    const chanKey = Object.keys(args).find((k) => typeof args[k] === 'string' && args[k].startsWith('__CHANNEL__:'));
    if (!chanKey) return sendError(res, 'invalid_argument', 'count: no channel in the args');
    const ch = Number(args[chanKey].slice('__CHANNEL__:'.length));
    res.countChannel = ch;
    const n = Number(args.n ?? 0);
    if (!Number.isInteger(n) || n < 0 || n > 10000) return sendError(res, 'invalid_argument', 'count: bad n');
    const order = [];
    for (let b = 0; b < n; b += 4) {
      for (let i = Math.min(b + 3, n - 1); i >= b; i--) order.push(i);
    }
    let sent = 0;
    for (const i of order) {
      if (st.res.destroyed) return sendError(res, 'unavailable', 'the page stream ended');
      if (args.failAt !== undefined && sent === args.failAt) {
        st.res.write(`event: tether.channel\ndata: ${JSON.stringify({ id: ch, gone: true, error: errorBody('aborted', 'count gave up', { at: sent }) })}\n\n`);
        return sendError(res, 'aborted', 'count gave up', { at: sent });
      }
      if (args.dropAt !== undefined && sent === args.dropAt) {
        st.res.destroy();
        return sendError(res, 'unavailable', 'the page stream ended');
      }
      const frame = `event: tether.channel\ndata: ${JSON.stringify({ id: ch, index: i, message: { i, square: i * i } })}\n\n`;
      if (sent % 5 === 2) {
        // split a frame across two writes (and TCP segments)
        st.res.write(frame.slice(0, 9));
        await sleep(2);
        st.res.write(frame.slice(9));
      } else {
        st.res.write(frame);
      }
      sent++;
      if (sent % 8 === 0) await sleep(1);
    }
    st.res.write(`event: tether.channel\ndata: ${JSON.stringify({ id: ch, index: n, end: true })}\n\n`);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Tether-Channel-Frames': `${ch}=${n + 1}` });
    res.end('null');
  }

  async function handleEmit(req, res, name, query) {
    if (!NAME_RE.test(name)) return sendError(res, 'invalid_argument', `invalid event name ${JSON.stringify(name)}`);
    const parsed = parseJSON(await readBody(req));
    if (!parsed.ok) return sendError(res, 'invalid_argument', `bad JSON: ${parsed.error}`);
    const target = query.get('target') || '';
    const ev = { id: nextId++, name, payload: parsed.value, target };
    ring.push(ev);
    if (ring.length > ringSize) ring.shift();
    stats.emits++;
    for (const l of listeners) if (wants(l, ev)) l.res.write(frameFor(ev));
    sendJSON(res, { id: ev.id });
  }

  function handleStream(req, res) {
    const id = `st${nextStream++}`;
    const st = { id, res, label: req.headers['tether-client-label'] ?? '', subs: new Map() };
    streams.set(id, st);
    stats.streamOpens++;
    res.on('close', () => {
      streams.delete(id);
      for (const l of st.subs.values()) listeners.delete(l);
    });
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'Tether-Stream': id });
    res.write(`: stream\r\n\r\nevent: tether.open\r\ndata: {"stream":"${id}"}\r\n\r\n`);
  }

  async function handleStreamListen(req, res, id) {
    const parsed = parseJSON(await readBody(req));
    if (!parsed.ok || !parsed.value) return sendError(res, 'invalid_argument', 'bad body');
    const { id: sub, events: names = [], after } = parsed.value;
    const st = streamFor(req, id);
    stats.listenRequests.push({ names, lastEventId: after ?? null, label: req.headers['tether-client-label'] ?? null });
    if (!st) return sendError(res, 'not_found', 'no such page stream (mock)');
    if (names.length === 0) return sendError(res, 'invalid_argument', 'listen: name at least one event');
    for (const n of names) {
      if (!NAME_RE.test(n)) return sendError(res, 'invalid_argument', `invalid event name ${JSON.stringify(n)}`);
      if (n === 'forbidden') return sendError(res, 'permission_denied', `listen ${n}: not allowed`);
    }
    if (denyListen) return sendError(res, denyListen, `listen: ${denyListen} (mock)`);
    if (st.subs.has(sub)) return sendError(res, 'already_exists', 'subscription exists');
    if (names.includes('slow')) {
      await sleep(slowMs);
      if (res.destroyed || res.closed || st.res.destroyed) return;
    }
    const l = { names: new Set(names), label: st.label, target: '', res: st.res, sub, stream: st };
    // Subscribe first, then answer: an event emitted after the answer is never missed.
    listeners.add(l);
    st.subs.set(sub, l);
    if (after !== undefined && /^[0-9]+$/.test(after)) {
      const a = Number(after);
      for (const ev of ring) if (ev.id > a && wants(l, ev)) st.res.write(frameFor(ev));
    }
    sendJSON(res, { id: sub });
  }

  async function handleStreamUnlisten(req, res, id) {
    const parsed = parseJSON(await readBody(req));
    const st = streamFor(req, id);
    if (!st) return sendError(res, 'not_found', 'no such page stream (mock)');
    const l = st.subs.get(parsed.value?.id);
    if (l) {
      st.subs.delete(parsed.value.id);
      listeners.delete(l);
    }
    sendJSON(res, {});
  }

  async function handleMock(req, res, what, query) {
    await readBody(req);
    switch (what) {
      case 'stats':
        return sendJSON(res, { active: streams.size, subscriptions: listeners.size, ...stats });
      case 'drop': {
        const n = streams.size;
        for (const st of [...streams.values()]) st.res.destroy();
        return sendJSON(res, { dropped: n });
      }
      case 'lag':
        for (const l of listeners) l.res.write(`event: tether.lagged\r\ndata: {"id":"${l.sub}","dropped": ${Number(query.get('dropped') || 1)}}\r\n\r\n`);
        return sendJSON(res, {});
      case 'listen-error': {
        const code = query.get('code') || 'unavailable';
        for (const st of [...streams.values()]) {
          st.res.end(`event: error\r\ndata: ${JSON.stringify(errorBody(code, 'stream failed (mock)'))}\r\n\r\n`);
        }
        return sendJSON(res, {});
      }
      case 'deny':
        denyListen = query.get('code') || null;
        return sendJSON(res, {});
      case 'reset':
        denyListen = null;
        stats.listenRequests = [];
        stats.invokes = [];
        return sendJSON(res, {});
      default:
        return sendError(res, 'not_found', `no mock control ${what}`);
    }
  }

  const server = http.createServer(async (req, res) => {
    try {
      const u = new URL(req.url, 'http://mock');
      const path = u.pathname;
      let m;
      if (req.method === 'POST' && (m = /^\/ipc\/invoke\/(.+)$/.exec(path))) {
        return await handleInvoke(req, res, decodeURIComponent(m[1]));
      }
      if (req.method === 'POST' && (m = /^\/ipc\/emit\/(.+)$/.exec(path))) {
        return await handleEmit(req, res, decodeURIComponent(m[1]), u.searchParams);
      }
      if (req.method === 'GET' && path === '/ipc/stream') return handleStream(req, res);
      if (req.method === 'POST' && (m = /^\/ipc\/stream\/([^/]+)\/listen$/.exec(path))) return await handleStreamListen(req, res, m[1]);
      if (req.method === 'POST' && (m = /^\/ipc\/stream\/([^/]+)\/unlisten$/.exec(path))) return await handleStreamUnlisten(req, res, m[1]);
      if ((m = /^\/_mock\/([a-z-]+)$/.exec(path))) return await handleMock(req, res, m[1], u.searchParams);
      if (req.method === 'GET' && path === '/healthz') return sendJSON(res, { ok: true });
      return sendError(res, 'not_found', `no route ${req.method} ${path}`);
    } catch (err) {
      if (!res.headersSent) sendError(res, 'internal', String(err));
      else res.destroy();
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const { port: actual } = server.address();
  return {
    url: `http://${host}:${actual}`,
    server,
    async close() {
      for (const st of streams.values()) st.res.destroy();
      listeners.clear();
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const gw = await startMockGateway({ port: Number(process.argv[2] || 0) });
  console.log(`mock gateway on ${gw.url}`);
}
