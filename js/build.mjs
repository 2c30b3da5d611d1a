// Builds gateway/assets/client.js (ES module) and gateway/assets/tauri-shim.js
// (classic script, IIFE) from src/. Not minified: the gateway serves readable
// files, and the output is byte-for-byte reproducible (check-build.sh).
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
