// Builds gateway/assets/client.js (ES module) and gateway/assets/tauri-shim.js
// (classic script, IIFE) from src/, and the pages' copies of the bindings
// protoc-gen-tether-ts wrote for demo.proto and the notes example. Not
// minified: the gateway serves readable files, and the output is
// byte-for-byte reproducible (check-build.sh).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'gateway', 'assets');
const banner = '// Generated from js/src by js/build.mjs (esbuild). Do not edit.';

const common = {
  bundle: true,
  platform: 'neutral',
  target: 'es2020',
  minify: false,
  sourcemap: false,
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'warning',
  banner: { js: banner },
};

await build({
  ...common,
  entryPoints: [join(here, 'src', 'client.ts')],
  format: 'esm',
  outfile: join(out, 'client.js'),
});

await build({
  ...common,
  entryPoints: [join(here, 'src', 'tauri-shim.ts')],
  format: 'iife',
  outfile: join(out, 'tauri-shim.js'),
});

// The generated bindings of the demo (gateway/assets/demo) and of the notes
// example (examples/notes/frontend), types stripped, for pages without a
// build step; they import /ipc/client.js from the gateway at run time.
for (const [from, to] of [
  ['gen/ts/tether/demo/v1/demo_tether.ts', 'gateway/assets/demo/demo_tether.js'],
  ['examples/notes/gen/ts/notes/v1/notes_tether.ts', 'examples/notes/frontend/notes_tether.js'],
]) {
  await build({
    entryPoints: [join(here, '..', from)],
    bundle: false,
    format: 'esm',
    target: 'es2022',
    minify: false,
    sourcemap: false,
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'warning',
    banner: { js: `// Generated from ${from} by js/build.mjs (esbuild). Do not edit.` },
    outfile: join(here, '..', to),
  });
}
