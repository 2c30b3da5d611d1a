// A mock Tether gateway on node:http, faithful to the HTTP contract of
// DESIGN.md: invoke (JSON and raw bytes), channel commands over SSE, emit,
// listen over SSE with global ids and Last-Event-ID resume, error bodies.
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
  const listeners = new Set(); // {names, label, target, res}
  const stats = { listenRequests: [], emits: 0, invokes: [] };
  let denyListen = null; // a code: every listen request fails with it

  function frameFor(ev) {
    return `event: ${ev.name}\r\nid: ${ev.id}\r\n${dataLines(ev.payload, '\r\n')}\r\n`;
  }

  function wants(l, ev) {
    if (!l.names.has(ev.name)) return false;
    if (ev.target && ev.target !== l.label) return false;
    // As in Tauri: a listener with a target also gets untargeted (global) emits.
    if (l.target && ev.target && ev.target !== l.target) return false;
    return true;
  }

  async function handleInvoke(req, res, cmd) {
    const body = await readBody(req);
    const type = (req.headers['content-type'] || '').toLowerCase();
    const accept = (req.headers.accept || '').toLowerCase();
    stats.invokes.push({ cmd, type, accept });
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
        return handleCount(req, res, args, accept);
      default:
        return sendError(res, 'not_found', `command ${JSON.stringify(cmd)} not found`);
    }
  }

  // count streams n messages {i, square}. Indices are sent out of order:
  // reversed in blocks of four (3,2,1,0,7,6,5,4,11,10,9,8,…), so 10 comes
  // before 9 on the wire and a string sort would misplace it.
  async function handleCount(req, res, args, accept) {
    if (!accept.includes('text/event-stream')) {
      return sendError(res, 'invalid_argument', 'count is a channel command: ask for text/event-stream');
    }
    const n = Number(args.n ?? 0);
    if (!Number.isInteger(n) || n < 0 || n > 10000) return sendError(res, 'invalid_argument', 'count: bad n');
    const order = [];
    for (let b = 0; b < n; b += 4) {
      for (let i = Math.min(b + 3, n - 1); i >= b; i--) order.push(i);
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.flushHeaders();
    res.write(': count stream\n\n');
    let sent = 0;
    for (const i of order) {
      if (res.destroyed) return;
      if (args.failAt !== undefined && sent === args.failAt) {
        res.write(
          `event: error\ndata: ${JSON.stringify(errorBody('aborted', 'count gave up', { at: sent }))}\n\n`,
        );
        return res.end();
      }
      if (args.dropAt !== undefined && sent === args.dropAt) {
        res.destroy();
        return;
      }
      const frame = `data: ${JSON.stringify({ index: i, message: { i, square: i * i } })}\n\n`;
      if (sent % 5 === 2) {
        // split a frame across two writes (and TCP segments)
        res.write(frame.slice(0, 9));
        await sleep(2);
        res.write(frame.slice(9));
      } else {
        res.write(frame);
      }
      sent++;
      if (sent % 8 === 0) await sleep(1);
    }
    res.write(`data: ${JSON.stringify({ index: n, end: true })}\n\n`);
    res.end();
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

  async function handleListen(req, res, query) {
    const names = query.getAll('event');
    const lastEventId = req.headers['last-event-id'] ?? null;
    stats.listenRequests.push({ names, lastEventId, label: req.headers['tether-client-label'] ?? null });
    if (names.length === 0) return sendError(res, 'invalid_argument', 'listen: name at least one event');
    for (const n of names) {
      if (!NAME_RE.test(n)) return sendError(res, 'invalid_argument', `invalid event name ${JSON.stringify(n)}`);
      if (n === 'forbidden') return sendError(res, 'permission_denied', `listen ${n}: not allowed`);
    }
    if (denyListen) return sendError(res, denyListen, `listen: ${denyListen} (mock)`);
    if (names.includes('slow')) {
      await sleep(slowMs);
      if (req.destroyed || res.destroyed || res.closed) return;
    }
    const l = { names: new Set(names), label: req.headers['tether-client-label'] ?? '', target: query.get('target') || '', res };
    // Subscribe first, then answer: an event emitted after the client sees
    // the headers is never missed.
    listeners.add(l);
    res.on('close', () => listeners.delete(l));
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.write(': listening\r\n\r\n');
    if (lastEventId !== null && /^[0-9]+$/.test(lastEventId)) {
      const after = Number(lastEventId);
      for (const ev of ring) if (ev.id > after && wants(l, ev)) res.write(frameFor(ev));
    }
  }

  async function handleMock(req, res, what, query) {
    await readBody(req);
    switch (what) {
      case 'stats':
        return sendJSON(res, { active: listeners.size, ...stats });
      case 'drop': {
        const n = listeners.size;
        for (const l of [...listeners]) {
          listeners.delete(l);
          l.res.destroy();
        }
        return sendJSON(res, { dropped: n });
      }
      case 'lag':
        for (const l of listeners) l.res.write(`event: lagged\r\ndata: {"dropped": ${Number(query.get('dropped') || 1)}}\r\n\r\n`);
        return sendJSON(res, {});
      case 'listen-error': {
        const code = query.get('code') || 'unavailable';
        for (const l of [...listeners]) {
          listeners.delete(l);
          l.res.end(`event: error\r\ndata: ${JSON.stringify(errorBody(code, 'listen stream failed (mock)'))}\r\n\r\n`);
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
      if (req.method === 'GET' && path === '/ipc/listen') return await handleListen(req, res, u.searchParams);
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
      for (const l of listeners) l.res.destroy();
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
