// The notes example (examples/notes, its own Go module built on package
// app) in Chromium: its own page adds notes, hears note-created, shows the
// export channel's progress, and meets the isolation hook.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp, REPO } from './lib/tether.mjs';
import { launch } from './lib/browser.mjs';

const NOTES = process.env.NOTES_BIN || `${REPO}bin/notes`;
let app;
let browser;
let page;
let tmp;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'tether-notes-'));
  app = await startApp(NOTES, [
    '--config', `${REPO}examples/notes/tether.json`,
    '--grpc', `unix://${tmp}/notes.sock`, '--http', '127.0.0.1:0', '--data', tmp,
  ]);
  browser = await launch();
  page = browser.page;
  await app.login(page);
  await page.waitForSelector('body[data-ready="true"]');
});

after(async () => {
  await browser?.close();
  const r = await app?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
  assert.equal(r?.code, 0, `notes should exit 0 on SIGINT:\n${app?.logs()}`);
});

test('adding a note lists it and the page hears note-created', async () => {
  await page.fill('#title', 'Groceries');
  await page.fill('#body', 'milk, bread');
  await page.click('#create button');
  await page.locator('#status').filter({ hasText: 'Added “Groceries”.' }).waitFor();
  await page.locator('#notes li h3').filter({ hasText: 'Groceries' }).waitFor();
  await page.locator('#events li').filter({ hasText: /note-created n\d+: Groceries/ }).waitFor();
});

test('a bad note shows the rule it broke', async () => {
  const err = await page.evaluate(async () => {
    const { invoke } = await import('/ipc/client.js');
    return invoke('create_note', { title: '' }).then(() => null, (e) => ({ code: e.code, message: e.message }));
  });
  assert.equal(err?.code, 'invalid_argument');
  assert.match(err.message, /title/);
});

test('the export channel drives the progress bar to the end', async () => {
  for (const t of ['Two', 'Three']) {
    await page.fill('#title', t);
    await page.click('#create button');
    await page.locator('#status').filter({ hasText: `Added “${t}”.` }).waitFor();
  }
  await page.click('#export');
  await page.locator('#status').filter({ hasText: 'Exported 3 notes.' }).waitFor();
  const [value, max] = await page.evaluate(() => [document.getElementById('progress').value, document.getElementById('progress').max]);
  assert.deepEqual([value, max], [3, 3]);
});

test('the isolation hook blocks deleting from the page, at once, with its reason', async () => {
  const started = Date.now();
  const err = await page.evaluate(async () => {
    const { invoke } = await import('/ipc/client.js');
    return invoke('delete_note', { id: 'n1' }).then(() => null, (e) => ({ code: e.code, message: e.message }));
  });
  assert.equal(err?.code, 'permission_denied');
  assert.match(err.message, /delete_note is not allowed from the page/);
  assert.ok(Date.now() - started < 5000, 'a blocked call fails at once');
  // The only console errors are the two refusals these tests asked for.
  assert.deepEqual(browser.errors.filter((e) => !/status of (400|403)/.test(e)), []);
});
