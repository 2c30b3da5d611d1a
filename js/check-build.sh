#!/bin/sh
# check-build.sh: rebuild gateway/assets/{client,tauri-shim}.js from js/src
# (and the demo's and notes' page copies of their bindings) and fail if the
# committed files differ (CI runs this after `npm ci`).
set -eu
cd "$(dirname "$0")"
node build.mjs
cd ..
if ! git diff --exit-code --stat -- gateway/assets/client.js gateway/assets/tauri-shim.js gateway/assets/demo/demo_tether.js examples/notes/frontend/notes_tether.js; then
  echo "gateway/assets is stale: run 'cd js && npm run build' and commit" >&2
  exit 1
fi
if [ -n "$(git status --porcelain -- gateway/assets/client.js gateway/assets/tauri-shim.js gateway/assets/demo/demo_tether.js examples/notes/frontend/notes_tether.js)" ]; then
  git status --porcelain -- gateway/assets
  echo "gateway/assets has uncommitted build outputs" >&2
  exit 1
fi
echo "gateway/assets is up to date"
