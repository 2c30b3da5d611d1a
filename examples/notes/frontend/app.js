// The notes page, on Tether's JS client: invoke, a Channel for the export,
// listen for note-created.
import { invoke, Channel, listen } from '/ipc/client.js';

const $ = (id) => document.getElementById(id);
const status = (text, isError = false) => {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : '';
};

function render(notes) {
  $('notes').replaceChildren(...notes.map((n) => {
    const li = document.createElement('li');
    li.dataset.id = n.id;
    const h = document.createElement('h3');
    h.textContent = n.title;
    const p = document.createElement('p');
    p.textContent = n.body;
    li.append(h, p);
    return li;
  }));
}

async function refresh() {
  const { notes = [] } = await invoke('list_notes');
  render(notes);
}

$('create').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    const note = await invoke('create_note', { title: $('title').value, body: $('body').value });
    status(`Added “${note.title}”.`);
    $('create').reset();
  } catch (err) {
    status(`${err.code}: ${err.message}`, true);
  }
});

$('export').addEventListener('click', async () => {
  const bar = $('progress');
  bar.hidden = false;
  bar.value = 0;
  const titles = [];
  const onProgress = new Channel();
  onProgress.onmessage = (m) => {
    bar.max = m.of;
    bar.value = m.n;
    titles.push(m.note.title);
  };
  try {
    await invoke('export_notes', { paceMs: 50, onProgress });
    status(`Exported ${titles.length} notes.`);
  } catch (err) {
    status(`${err.code}: ${err.message}`, true);
  }
});

await listen('note-created', (e) => {
  const li = document.createElement('li');
  li.textContent = `note-created ${e.payload.note.id}: ${e.payload.note.title}`;
  $('events').prepend(li);
  refresh();
});
await refresh();
document.body.dataset.ready = 'true';
