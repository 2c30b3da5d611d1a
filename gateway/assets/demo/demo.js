// Tether demo page logic. See index.html for the element ids it drives.
const $ = (id) => document.getElementById(id);

function showResult(text) {
  $('result').textContent = text;
  for (const id of ['error', 'error-code', 'error-message', 'error-details']) $(id).textContent = '';
}

function showError(err) {
  $('result').textContent = '';
  const code = err && err.code ? err.code : 'unknown';
  const message = err && err.message !== undefined ? err.message : String(err);
  $('error').textContent = `${code}: ${message}`;
  $('error-code').textContent = code;
  $('error-message').textContent = message;
  $('error-details').textContent = err && err.details !== undefined ? JSON.stringify(err.details) : '';
}

async function main() {
  let api;
  let bindings;
  try {
    api = await import('/ipc/client.js');
  } catch (err) {
    $('status').textContent = 'error: the JS client (/ipc/client.js) did not load';
    return;
  }
  try {
    // The typed bindings `make generate` writes for demo.proto
    // (gen/ts/tether/demo/v1/demo_tether.ts, types stripped).
    bindings = await import('./demo_tether.js');
  } catch (err) {
    $('status').textContent = 'error: the demo bindings (demo_tether.js) did not load';
    return;
  }
  // echo_bytes is a Go function command and backend-event an undeclared
  // event: neither is in demo.proto, so they go through the client itself.
  const { invoke, listen } = api;
  const { greet, processData, readFile, fail, count, listenFrontendEvent, emitFrontendEvent } = bindings;

  const run = (id, fn) => $(id).addEventListener('click', async () => {
    try {
      showResult(await fn());
    } catch (err) {
      showError(err);
    }
  });

  run('greet-btn', () => greet({ name: $('name').value }));
  run('process-btn', () => processData({ input: $('input').value }));
  run('read-btn', () => readFile({ path: $('path').value }));
  run('fail-btn', () => fail({ reason: 'demo' }));
  run('bytes-btn', async () => {
    const sent = new Uint8Array(256).map((_, i) => i);
    const got = new Uint8Array(await invoke('echo_bytes', sent));
    const same = got.length === sent.length && got.every((b, i) => b === sent[i]);
    return `echo_bytes: ${got.length} bytes ${same ? 'ok' : 'DIFFERENT'}`;
  });
  run('count-btn', async () => {
    $('progress').value = 0;
    $('progress-label').textContent = '0 / 100';
    $('progress-done').textContent = '';
    await count({ to: 100 }, (m) => {
      $('progress').value = m.n;
      $('progress-label').textContent = `${m.n} / ${m.of}`;
    });
    $('progress-done').textContent = 'done';
    return 'count: done';
  });
  run('emit-btn', async () => {
    await emitFrontendEvent({ message: $('emit-text').value });
    return 'emitted frontend-event';
  });

  const log = (event) => {
    const li = document.createElement('li');
    li.textContent = `${event.event} #${event.id}: ${JSON.stringify(event.payload)}`;
    $('event-log').append(li);
  };
  try {
    await listen('backend-event', log);
    await listenFrontendEvent(log);
    $('status').textContent = 'ready';
  } catch (err) {
    $('status').textContent = `error: ${err && err.code ? err.code + ': ' : ''}${err && err.message}`;
    showError(err);
  }
}

main();
