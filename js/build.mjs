// Builds gateway/assets/client.js (ES module) and gateway/assets/tauri-shim.js
// (classic script, IIFE) from src/, and the demo page's bindings
// (gateway/assets/demo/demo_tether.js) from the TypeScript that
// protoc-gen-tether-ts wrote for demo.proto. Not minified: the gateway serves
// readable files, and the output is byte-for-byte reproducible
// (check-build.sh).
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

// The demo's generated bindings, types stripped; they import /ipc/client.js
// from the gateway at run time.
await build({
  entryPoints: [join(here, '..', 'gen', 'ts', 'tether', 'demo', 'v1', 'demo_tether.ts')],
  bundle: false,
  format: 'esm',
  target: 'es2022',
  minify: false,
  sourcemap: false,
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'warning',
  banner: { js: '// Generated from gen/ts/tether/demo/v1/demo_tether.ts by js/build.mjs (esbuild). Do not edit.' },
  outfile: join(out, 'demo', 'demo_tether.js'),
});
