// The notes page, on the typed bindings protoc-gen-tether-ts writes for
// notes.proto (gen/ts/notes/v1/notes_tether.ts; notes_tether.js is that file
// with the types stripped, over Tether's /ipc/client.js): a function per
// command, a callback for the export channel, listenNoteCreated.
import { createNote, listNotes, exportNotes, listenNoteCreated } from './notes_tether.js';

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
  const { notes = [] } = await listNotes();
  render(notes);
}

$('create').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    const note = await createNote({ title: $('title').value, body: $('body').value });
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
  try {
    await exportNotes({ paceMs: 50 }, (m) => {
      bar.max = m.of;
      bar.value = m.n;
      titles.push(m.note.title);
    });
    status(`Exported ${titles.length} notes.`);
  } catch (err) {
    status(`${err.code}: ${err.message}`, true);
  }
});

await listenNoteCreated((e) => {
  const li = document.createElement('li');
  li.textContent = `note-created ${e.payload.note.id}: ${e.payload.note.title}`;
  $('events').prepend(li);
  refresh();
});
await refresh();
document.body.dataset.ready = 'true';
