// The demo's generated TypeScript bindings (gen/ts, from `make generate`)
// typecheck when used correctly, over both transports, and tsc refuses a
// misspelled argument: the bindings really constrain their callers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const tsc = here('../node_modules/.bin/tsc');

function run(project) {
  const r = spawnSync(tsc, ['-p', here(project), '--pretty', 'false'], { encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, out: r.stdout + r.stderr };
}

test('tsc --strict accepts the demo bindings used correctly (tether and tauri transports)', () => {
  const { status, out } = run('bindings/tsconfig.json');
  assert.equal(status, 0, out);
});

test('tsc refuses greet({ nam: "x" })', () => {
  const { status, out } = run('bindings/tsconfig.fail.json');
  assert.notEqual(status, 0, 'tsc accepted a misspelled argument');
  // The error is the one we mean — an unknown property in greet's args —
  // not some other failure of the project.
  assert.match(out, /greet-typo\.ts\(4,\d+\): error TS(2353|2561): .*'nam'.*GreetRequest/, out);
  assert.equal(out.trim().split('\n').filter((l) => /error TS/.test(l)).length, 1, out);
});
