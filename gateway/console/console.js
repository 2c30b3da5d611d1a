// Tether's developer console: the commands of GET /ipc/commands, a form
// built from each one's argument schema, results and structured errors,
// channel messages as they stream, a live event monitor and emit. It talks
// to the gateway's own routes only.

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
};

const state = {
  commands: [],
  current: null, // the selected command
  form: null, // {read(), write(v)} of the current form
  rawTyped: false, // the raw arguments were typed in since the command was opened
  abort: null, // AbortController of a running call
  listening: [], // event names the monitor listens to
  source: null, // the monitor's EventSource
  events: 0,
};

const MAX_EVENTS = 500;
const MAX_MESSAGES = 1000;
const MAX_HISTORY = 50;

// ---- JSON and schemas -------------------------------------------------------

function pretty(v) {
  return JSON.stringify(v, null, 2);
}

function typesOf(schema) {
  if (!schema || typeof schema !== 'object') return [];
  const t = schema.type;
  return Array.isArray(t) ? t : t ? [t] : [];
}

/** mainType picks the type a form field edits: the first one that is not null. */
function mainType(schema) {
  const ts = typesOf(schema).filter((t) => t !== 'null');
  if (ts.includes('integer')) return 'integer'; // ["integer","string"] is a 64-bit integer
  if (schema && schema.enum) return 'enum';
  return ts[0] || (schema && schema.properties ? 'object' : 'any');
}

function isBinary(schema) {
  return schema && mainType(schema) === 'string' && schema.format === 'binary';
}

function title(name) {
  return name.replace(/[_-]+/g, ' ');
}

/**
 * buildField returns {el, read(), write(v)} editing a value of schema.
 * read() returns undefined for an empty optional field.
 */
function buildField(name, schema, required, path) {
  const type = mainType(schema);
  const id = `f-${path.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const label = el('label', { for: id, class: 'field-label' },
    el('span', { class: 'field-name', text: name }),
    required ? el('span', { class: 'req', title: 'required', text: '*' }) : null,
    el('span', { class: 'field-type', text: typeLabel(schema) }));
  const help = schema && schema.description ? el('p', { class: 'field-help', text: schema.description }) : null;
  const wrap = (input, extra) => el('div', { class: 'field', 'data-field': path, 'data-type': type }, label, input, extra || null, help);

  if (type === 'object' && schema.properties) {
    const sub = buildObject(schema, path);
    const fs = el('fieldset', { class: 'field nested', 'data-field': path },
      el('legend', {}, el('span', { class: 'field-name', text: name }), required ? el('span', { class: 'req', text: '*' }) : null),
      help, sub.el);
    return { el: fs, read: () => { const v = sub.read(); return v === undefined && !required ? undefined : v ?? {}; }, write: sub.write };
  }
  if (type === 'boolean') {
    const input = el('input', { id, type: 'checkbox', name: path });
    const box = el('div', { class: 'field check', 'data-field': path, 'data-type': type }, input, label, help);
    return { el: box, read: () => (input.checked ? true : required ? false : undefined), write: (v) => { input.checked = !!v; } };
  }
  if (type === 'enum') {
    const input = el('select', { id, name: path });
    if (!required) input.append(el('option', { value: '', text: '—' }));
    for (const v of schema.enum) input.append(el('option', { value: JSON.stringify(v), text: String(v) }));
    return { el: wrap(input), read: () => (input.value === '' ? undefined : JSON.parse(input.value)), write: (v) => { input.value = v === undefined ? '' : JSON.stringify(v); } };
  }
  if (type === 'integer' || type === 'number') {
    const input = el('input', { id, name: path, type: 'number', inputmode: 'numeric', step: type === 'integer' ? '1' : 'any',
      min: schema.minimum, max: schema.maximum, placeholder: schema.default !== undefined ? String(schema.default) : type });
    const wide = typesOf(schema).includes('string'); // int64 travels as a string
    return {
      el: wrap(input),
      read: () => {
        if (input.value === '') return required ? 0 : undefined;
        return wide && !Number.isSafeInteger(Number(input.value)) ? input.value : Number(input.value);
      },
      write: (v) => { input.value = v === undefined || v === null ? '' : String(v); },
    };
  }
  if (type === 'string') {
    const long = isBinary(schema);
    const input = long
      ? el('textarea', { id, name: path, rows: 3, spellcheck: 'false' })
      : el('input', { id, name: path, type: 'text', placeholder: schema.format || '', minlength: schema.minLength, maxlength: schema.maxLength });
    const hint = isBinary(schema) ? el('p', { class: 'field-help', text: 'Sent as raw bytes (UTF-8 of this text).' }) : null;
    return { el: wrap(input, hint), read: () => (input.value === '' && !required ? undefined : input.value), write: (v) => { input.value = v ?? ''; } };
  }
  // arrays, free-form objects, anything: JSON
  const input = el('textarea', { id, name: path, rows: 2, spellcheck: 'false', placeholder: type === 'array' ? '[ … ]' : 'JSON' });
  return {
    el: wrap(input),
    read: () => {
      if (input.value.trim() === '') return undefined;
      try { return JSON.parse(input.value); } catch { throw new Error(`${path}: not valid JSON`); }
    },
    write: (v) => { input.value = v === undefined ? '' : JSON.stringify(v); },
  };
}

function typeLabel(schema) {
  if (!schema || schema === true) return 'any';
  if (isBinary(schema)) return 'bytes';
  const t = mainType(schema);
  if (t === 'array') return `${schema.items ? typeLabel(schema.items) : 'any'}[]`;
  if (t === 'enum') return schema.enum.map(String).join(' | ');
  const extra = [];
  if (schema.format && schema.format !== 'binary') extra.push(schema.format);
  if (schema.minimum !== undefined) extra.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) extra.push(`≤ ${schema.maximum}`);
  if (schema.minLength) extra.push(`min ${schema.minLength}`);
  if (schema.maxLength) extra.push(`max ${schema.maxLength}`);
  return extra.length ? `${t} · ${extra.join(', ')}` : t;
}

function buildObject(schema, prefix) {
  const box = el('div', { class: 'object' });
  const req = new Set(schema.required || []);
  const fields = {};
  for (const [name, sub] of Object.entries(schema.properties || {})) {
    const f = buildField(name, sub, req.has(name), prefix ? `${prefix}.${name}` : name);
    fields[name] = f;
    box.append(f.el);
  }
  return {
    el: box,
    read() {
      const out = {};
      let any = false;
      for (const [name, f] of Object.entries(fields)) {
        const v = f.read();
        if (v !== undefined) { out[name] = v; any = true; }
      }
      return any ? out : undefined;
    },
    write(v) {
      for (const [name, f] of Object.entries(fields)) f.write(v ? v[name] : undefined);
    },
  };
}

/** buildForm returns the form of a command's argument schema. */
function buildForm(schema) {
  if (schema && typeof schema === 'object' && mainType(schema) === 'object' && schema.properties) {
    const o = buildObject(schema, '');
    if (!Object.keys(schema.properties).length) o.el.append(el('p', { class: 'muted', text: 'This command takes no arguments.' }));
    return { el: o.el, read: () => o.read() ?? {}, write: o.write, binary: false };
  }
  if (schema === true || !schema || mainType(schema) === 'any') {
    const f = buildField('args', { type: 'any' }, false, 'args');
    return { el: f.el, read: f.read, write: f.write, binary: false };
  }
  const f = buildField('value', schema, true, 'value');
  return { el: f.el, read: f.read, write: f.write, binary: isBinary(schema) };
}

// ---- the command list -------------------------------------------------------

function renderList() {
  const q = $('cmd-search').value.trim().toLowerCase();
  const list = $('cmd-list');
  list.replaceChildren();
  let shown = 0;
  for (const c of state.commands) {
    if (q && !c.name.toLowerCase().includes(q) && !(c.description || '').toLowerCase().includes(q)) continue;
    shown++;
    const a = el('a', { href: `#/${encodeURIComponent(c.name)}`, class: 'cmd-link' },
      el('span', { class: 'cmd-name', text: c.name }),
      c.kind === 'channel' ? el('span', { class: 'badge badge-channel', text: 'channel' }) : null);
    const li = el('li', { class: 'cmd-item', 'data-command': c.name, 'aria-current': state.current === c ? 'page' : false }, a);
    if (c.description) li.title = c.description.split('\n')[0];
    list.append(li);
  }
  $('cmd-count').textContent = q ? `${shown}/${state.commands.length}` : String(state.commands.length);
  if (!shown) list.append(el('li', { class: 'muted empty', text: state.commands.length ? 'No command matches.' : 'This core has no commands.' }));
}

function select(name) {
  const c = state.commands.find((x) => x.name === name) || state.commands[0];
  if (!c) return;
  state.current = c;
  $('cmd-title').textContent = c.name;
  const kind = $('cmd-kind');
  kind.hidden = false;
  kind.textContent = c.kind === 'channel' ? 'channel' : 'invoke';
  kind.className = `badge ${c.kind === 'channel' ? 'badge-channel' : 'badge-unary'}`;
  $('cmd-method').textContent = c.method || '';
  $('cmd-desc').textContent = c.description || '';
  $('cmd-desc').hidden = !c.description;
  state.form = buildForm(c.args);
  $('fields').replaceChildren(state.form.el);
  const saved = loadArgs(c.name);
  if (saved !== undefined) state.form.write(saved);
  $('raw').open = false;
  $('raw-args').value = '';
  state.rawTyped = false;
  $('invoke-btn').textContent = c.kind === 'channel' ? 'Open channel' : 'Invoke';
  $('cmd-form').hidden = false;
  renderList();
  updateCurl();
  document.title = `${c.name} · Tether console`;
}

function currentArgs() {
  if ($('raw').open) {
    const text = $('raw-args').value.trim();
    if (text === '') return state.form.binary ? '' : {};
    if (state.form.binary) return text;
    try { return JSON.parse(text); } catch (e) { throw new Error(`arguments: not valid JSON (${e.message})`); }
  }
  return state.form.read();
}

function saveArgs(name, args) {
  try { sessionStorage.setItem(`tether-console:args:${name}`, JSON.stringify(args)); } catch { /* storage off */ }
}

function loadArgs(name) {
  try {
    const v = sessionStorage.getItem(`tether-console:args:${name}`);
    return v === null ? undefined : JSON.parse(v);
  } catch { return undefined; }
}

function updateCurl() {
  const c = state.current;
  if (!c) return;
  let args;
  try { args = currentArgs(); } catch { args = undefined; }
  const url = `${location.origin}/ipc/invoke/${encodeURIComponent(c.name)}`;
  const accept = c.kind === 'channel' ? ` -N -H 'Accept: text/event-stream'` : '';
  const type = state.form && state.form.binary ? ` -H 'Content-Type: application/octet-stream'` : '';
  const body = args === undefined ? '' : ` -d '${(state.form.binary ? String(args) : JSON.stringify(args)).replace(/'/g, `'\\''`)}'`;
  $('curl').textContent = `curl -sX POST${accept}${type} ${url}${body}`;
}

// ---- calls ------------------------------------------------------------------

function resetResponse(stateName) {
  $('response').dataset.state = stateName;
  $('resp-empty').hidden = true;
  $('resp-status').hidden = true;
  $('resp-latency').textContent = '';
  $('resp-body').hidden = true;
  $('resp-body').textContent = '';
  $('error-box').hidden = true;
  $('err-code').textContent = '';
  $('err-message').textContent = '';
  $('err-details').textContent = '';
  $('err-details').hidden = true;
  $('channel-messages').replaceChildren();
  $('channel-messages').hidden = true;
  $('progress-wrap').hidden = true;
  $('channel-bar').style.width = '0%';
  $('channel-progress').value = 0;
  $('channel-progress-label').textContent = '';
}

function showStatus(status, text, ok) {
  const s = $('resp-status');
  s.hidden = false;
  s.textContent = status ? `${status} ${text}` : text;
  s.className = `badge ${ok ? 'badge-ok' : 'badge-err'}`;
}

function showLatency(ms, extra) {
  $('resp-latency').textContent = `${fmtMs(ms)}${extra ? ` · ${extra}` : ''}`;
}

function fmtMs(ms) {
  return ms < 10 ? `${ms.toFixed(2)} ms` : ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function showError(err) {
  $('response').dataset.state = 'error';
  $('error-box').hidden = false;
  $('err-code').textContent = err.code || 'unknown';
  $('err-message').textContent = err.message || '';
  if (err.details !== undefined && err.details !== null) {
    $('err-details').hidden = false;
    $('err-details').textContent = pretty(err.details);
  }
}

async function readError(res) {
  const text = await res.text();
  try {
    const body = JSON.parse(text);
    if (body && typeof body.code === 'string') return body;
  } catch { /* not JSON */ }
  return { code: 'unknown', message: text || res.statusText };
}

function addHistory(entry) {
  const li = el('li', { class: `hist ${entry.ok ? 'ok' : 'err'}`, 'data-command': entry.name },
    el('span', { class: 'hist-name', text: entry.name }),
    el('span', { class: `badge ${entry.ok ? 'badge-ok' : 'badge-err'}`, text: entry.result }),
    el('span', { class: 'latency', text: fmtMs(entry.ms) }),
    el('time', { class: 'muted', text: clock(new Date()) }));
  li.addEventListener('click', () => {
    saveArgs(entry.name, entry.args);
    location.hash = `#/${encodeURIComponent(entry.name)}`;
    select(entry.name);
  });
  const h = $('history');
  h.prepend(li);
  while (h.children.length > MAX_HISTORY) h.lastChild.remove();
}

async function invoke(event) {
  event.preventDefault();
  const c = state.current;
  if (!c || state.abort) return;
  let args;
  try {
    args = currentArgs();
  } catch (e) {
    resetResponse('error');
    showStatus(0, 'not sent', false);
    showError({ code: 'invalid_argument', message: e.message });
    return;
  }
  saveArgs(c.name, args);
  const binary = state.form.binary;
  const body = binary ? new TextEncoder().encode(args ?? '') : JSON.stringify(args === undefined ? {} : args);
  const headers = { 'Content-Type': binary ? 'application/octet-stream' : 'application/json' };
  if (c.kind === 'channel') headers.Accept = 'text/event-stream';
  state.abort = new AbortController();
  $('invoke-btn').disabled = true;
  $('cancel-btn').hidden = false;
  resetResponse(c.kind === 'channel' ? 'streaming' : 'pending');
  const t0 = performance.now();
  let entry = { name: c.name, args, ok: false, result: 'failed', ms: 0 };
  try {
    const res = await fetch(`/ipc/invoke/${encodeURIComponent(c.name)}`, { method: 'POST', headers, body, signal: state.abort.signal });
    if (!res.ok) {
      const err = await readError(res);
      entry.ms = performance.now() - t0;
      showStatus(res.status, err.code, false);
      showLatency(entry.ms);
      showError(err);
      entry.result = err.code;
    } else if (c.kind === 'channel') {
      entry = { ...entry, ...(await readChannel(res, t0, args)) };
    } else {
      await showResult(res);
      entry.ms = performance.now() - t0;
      showStatus(res.status, 'OK', true);
      showLatency(entry.ms);
      $('response').dataset.state = 'ok';
      entry.ok = true;
      entry.result = 'ok';
    }
  } catch (e) {
    entry.ms = performance.now() - t0;
    if (e.name === 'AbortError') {
      showStatus(0, 'cancelled', false);
      $('response').dataset.state = 'cancelled';
      entry.result = 'cancelled';
    } else {
      showStatus(0, 'no response', false);
      showError({ code: 'unavailable', message: `the gateway did not answer: ${e.message}` });
      entry.result = 'unavailable';
    }
    showLatency(entry.ms);
  } finally {
    state.abort = null;
    $('invoke-btn').disabled = false;
    $('cancel-btn').hidden = true;
  }
  addHistory(entry);
}

async function showResult(res) {
  const type = res.headers.get('Content-Type') || '';
  const out = $('resp-body');
  out.hidden = false;
  if (type.includes('application/octet-stream')) {
    const bytes = new Uint8Array(await res.arrayBuffer());
    out.textContent = `${bytes.length} bytes\n${hexdump(bytes)}`;
    out.dataset.kind = 'bytes';
    return;
  }
  const text = await res.text();
  try {
    out.textContent = pretty(JSON.parse(text));
    out.dataset.kind = 'json';
  } catch {
    out.textContent = text;
    out.dataset.kind = 'text';
  }
}

function hexdump(bytes) {
  const lines = [];
  const n = Math.min(bytes.length, 512);
  for (let i = 0; i < n; i += 16) {
    const row = Array.from(bytes.slice(i, Math.min(i + 16, n)));
    const hex = row.map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const txt = row.map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${i.toString(16).padStart(6, '0')}  ${hex.padEnd(47)}  ${txt}`);
  }
  if (bytes.length > n) lines.push(`… ${bytes.length - n} more bytes`);
  return lines.join('\n');
}

/** sse parses a fetch body of Server-Sent Events into {event, data, id} frames. */
async function* sse(res) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value.replace(/\r\n?/g, '\n');
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const frame = { event: 'message', data: '', id: '' };
      const data = [];
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        const val = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
        if (field === 'event') frame.event = val;
        else if (field === 'data') data.push(val);
        else if (field === 'id') frame.id = val;
      }
      if (!data.length) continue;
      frame.data = data.join('\n');
      yield frame;
    }
  }
}

/**
 * progressOf finds a progress reading in a channel message: a number and
 * its total ({n, of}, {done, total}, {current, max}, …), or a number whose
 * total is an argument ({to: 100} with messages {n}). null when none.
 */
const VALUE_KEYS = ['n', 'i', 'index', 'current', 'done', 'progress', 'step', 'value', 'count', 'loaded', 'received', 'sent'];
const TOTAL_KEYS = ['of', 'total', 'max', 'to', 'count', 'length', 'size', 'steps'];
function progressOf(msg, args) {
  if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return null;
  const num = (v) => (typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN);
  for (const vk of VALUE_KEYS) {
    const v = num(msg[vk]);
    if (Number.isNaN(v)) continue;
    for (const tk of TOTAL_KEYS) {
      if (tk === vk) continue;
      const t = num(msg[tk]);
      if (!Number.isNaN(t) && t > 0 && v <= t) return { value: v, total: t };
    }
    if (args && typeof args === 'object') {
      for (const tk of TOTAL_KEYS) {
        const t = num(args[tk]);
        if (!Number.isNaN(t) && t > 0 && v <= t) return { value: v, total: t };
      }
    }
  }
  return null;
}

async function readChannel(res, t0, args) {
  $('channel-messages').hidden = false;
  showStatus(res.status, 'streaming', true);
  let count = 0;
  let first = 0;
  let progressed = false;
  const list = $('channel-messages');
  for await (const f of sse(res)) {
    let body;
    try { body = JSON.parse(f.data); } catch { body = { message: f.data }; }
    if (f.event === 'error') {
      const ms = performance.now() - t0;
      showStatus(res.status, `${body.code || 'error'} after ${count} messages`, false);
      showLatency(ms, `${count} messages`);
      showError(body);
      return { ok: false, result: body.code || 'error', ms };
    }
    if (body.end) {
      const ms = performance.now() - t0;
      $('response').dataset.state = 'done';
      showStatus(res.status, 'ended', true);
      showLatency(ms, `${count} messages, first after ${fmtMs(first)}`);
      if (progressed) $('channel-progress-label').textContent += ' · done';
      return { ok: true, result: `${count} messages`, ms };
    }
    count++;
    if (count === 1) first = performance.now() - t0;
    const msg = body.message;
    const li = el('li', { class: 'msg', 'data-index': body.index ?? count - 1 },
      el('span', { class: 'msg-index', text: `#${body.index ?? count - 1}` }),
      el('code', { class: 'msg-body', text: JSON.stringify(msg) }),
      el('time', { class: 'muted', text: `+${fmtMs(performance.now() - t0)}` }));
    list.append(li);
    while (list.children.length > MAX_MESSAGES) list.firstChild.remove();
    li.scrollIntoView({ block: 'nearest' });
    const p = progressOf(msg, args);
    if (p) {
      progressed = true;
      $('progress-wrap').hidden = false;
      const pct = Math.min(100, (p.value / p.total) * 100);
      $('channel-bar').style.width = `${pct}%`;
      $('channel-progress').max = p.total;
      $('channel-progress').value = p.value;
      $('channel-progress-label').textContent = `${p.value} / ${p.total} (${Math.round(pct)}%)`;
    }
    showLatency(performance.now() - t0, `${count} messages`);
  }
  const ms = performance.now() - t0;
  showStatus(res.status, 'ended without its end frame', false);
  showError({ code: 'data_loss', message: 'the stream ended without its end frame' });
  return { ok: false, result: 'data_loss', ms };
}

// ---- events -----------------------------------------------------------------

function clock(d) {
  return d.toTimeString().slice(0, 8) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

function parseNames(text) {
  return [...new Set(text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean))];
}

function listen(names) {
  state.source?.close();
  state.source = null;
  state.listening = names;
  $('listen-names').value = names.join(', ');
  try { localStorage.setItem('tether-console:listen', names.join(',')); } catch { /* storage off */ }
  const pill = $('events-state');
  if (!names.length) {
    pill.textContent = 'not listening';
    pill.className = 'pill pill-off';
    return;
  }
  const q = names.map((n) => `event=${encodeURIComponent(n)}`).join('&');
  const src = new EventSource(`/ipc/listen?${q}`);
  state.source = src;
  pill.textContent = 'connecting…';
  pill.className = 'pill pill-wait';
  src.onopen = () => {
    pill.textContent = `listening to ${names.length}`;
    pill.className = 'pill pill-ok';
  };
  for (const name of names) src.addEventListener(name, (e) => addEvent(name, e.lastEventId, e.data));
  src.addEventListener('lagged', (e) => addEvent('lagged', '', e.data, 'lagged'));
  src.addEventListener('error', (e) => {
    if (e.data) {
      // the stream's own error frame: the listen was refused or failed
      addEvent('error', '', e.data, 'error');
      src.close();
      pill.textContent = 'refused';
      pill.className = 'pill pill-err';
      return;
    }
    if (src.readyState === EventSource.CONNECTING) {
      pill.textContent = 'reconnecting…';
      pill.className = 'pill pill-wait';
    }
  });
}

function addEvent(name, id, data, kind = 'event') {
  let text = data;
  try { text = JSON.stringify(JSON.parse(data)); } catch { /* as it came */ }
  state.events++;
  $('events-count').textContent = String(state.events);
  $('events-empty').hidden = true;
  const li = el('li', { class: `ev ev-${kind}`, 'data-event': name, 'data-id': id || '' },
    el('div', { class: 'ev-head' },
      el('span', { class: 'ev-name', text: name }),
      id ? el('span', { class: 'ev-id', text: `#${id}` }) : null,
      el('time', { class: 'muted', text: clock(new Date()) })),
    el('code', { class: 'ev-payload', text }));
  const log = $('events-log');
  log.prepend(li);
  applyFilter(li);
  while (log.children.length > MAX_EVENTS) log.lastChild.remove();
}

function applyFilter(li) {
  const q = $('events-filter').value.trim().toLowerCase();
  li.hidden = !!q && !li.textContent.toLowerCase().includes(q);
}

async function emit(event) {
  event.preventDefault();
  const name = $('emit-name').value.trim();
  const out = $('emit-result');
  let payload;
  try {
    payload = $('emit-payload').value.trim() === '' ? 'null' : JSON.stringify(JSON.parse($('emit-payload').value));
  } catch (e) {
    out.textContent = `payload: not valid JSON (${e.message})`;
    out.className = 'err';
    return;
  }
  if (name && !state.listening.includes(name)) listen([...state.listening, name]);
  $('emit-btn').disabled = true;
  const t0 = performance.now();
  try {
    const res = await fetch(`/ipc/emit/${encodeURIComponent(name)}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: payload });
    const ms = performance.now() - t0;
    if (res.ok) {
      const body = await res.json();
      out.textContent = `emitted #${body.id} · ${fmtMs(ms)}`;
      out.className = 'ok';
    } else {
      const err = await readError(res);
      out.textContent = `${err.code}: ${err.message} · ${fmtMs(ms)}`;
      out.className = 'err';
    }
  } catch (e) {
    out.textContent = `the gateway did not answer: ${e.message}`;
    out.className = 'err';
  } finally {
    $('emit-btn').disabled = false;
  }
}

// ---- health -----------------------------------------------------------------

async function health() {
  const pill = $('core-status');
  try {
    const res = await fetch('/readyz', { cache: 'no-store' });
    if (res.ok) {
      pill.textContent = 'core serving';
      pill.className = 'pill pill-ok';
    } else {
      const err = await readError(res);
      pill.textContent = `core ${err.code}`;
      pill.className = 'pill pill-err';
      pill.title = err.message;
    }
  } catch {
    pill.textContent = 'gateway unreachable';
    pill.className = 'pill pill-err';
  }
}

// ---- start ------------------------------------------------------------------

function fromHash() {
  const m = /^#\/(.+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : '';
}

async function start() {
  $('cmd-search').addEventListener('input', renderList);
  $('cmd-form').addEventListener('submit', invoke);
  $('cmd-form').addEventListener('input', updateCurl);
  $('cancel-btn').addEventListener('click', () => state.abort?.abort());
  $('raw-args').addEventListener('input', () => { state.rawTyped = true; });
  // Opening the raw view shows the form's values, unless something was typed
  // there already. It is filled in the summary's click (keyboard activation
  // clicks too), before the view opens: the toggle event comes a task later,
  // when what is typed may already be going in.
  $('raw').querySelector('summary').addEventListener('click', () => {
    if ($('raw').open || !state.form || state.rawTyped) return;
    try {
      const v = state.form.read();
      $('raw-args').value = state.form.binary ? v ?? '' : pretty(v === undefined ? {} : v);
    } catch { /* leave it */ }
  });
  $('history-clear').addEventListener('click', () => $('history').replaceChildren());
  $('listen-form').addEventListener('submit', (e) => { e.preventDefault(); listen(parseNames($('listen-names').value)); });
  $('events-filter').addEventListener('input', () => { for (const li of $('events-log').children) applyFilter(li); });
  $('events-clear').addEventListener('click', () => {
    $('events-log').replaceChildren();
    state.events = 0;
    $('events-count').textContent = '0';
    $('events-empty').hidden = false;
  });
  $('emit-form').addEventListener('submit', emit);
  window.addEventListener('hashchange', () => select(fromHash()));

  health();
  setInterval(health, 10000);

  const params = new URLSearchParams(location.search);
  let names = params.get('listen');
  if (names === null) {
    try { names = localStorage.getItem('tether-console:listen'); } catch { names = null; }
  }
  listen(parseNames(names || ''));

  try {
    const res = await fetch('/ipc/commands', { cache: 'no-store' });
    if (!res.ok) {
      const err = await readError(res);
      throw new Error(`${err.code}: ${err.message}`);
    }
    state.commands = (await res.json()).sort((a, b) => a.name.localeCompare(b.name));
  } catch (e) {
    $('cmd-title').textContent = 'Could not load the commands';
    $('cmd-desc').textContent = String(e.message || e);
    $('console-status').textContent = `error: ${e.message || e}`;
    return;
  }
  renderList();
  select(fromHash());
  $('console-status').textContent = 'ready';
}

start();
