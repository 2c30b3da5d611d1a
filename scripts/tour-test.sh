#!/usr/bin/env bash
# Runs the README's tour — the first ```sh block under "## A short tour" —
# as a user would: pasted as one block into a fresh shell (bash reading it
# on standard input, a clean environment and an empty HOME), from the
# repository's root, then pasted again, then `make stop`. It checks what the
# tour printed: every answer the README promises, and none of the failures
# of a tour that runs ahead of its server (no such file, connection refused,
# address in use).
#
# The tour uses the default ports (7400, 7401). So that it runs whatever
# else listens on this machine, it runs in a network namespace of its own
# (unshare -n, as root or where user namespaces are allowed); without one it
# runs on this machine's loopback if those ports are free.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${TOUR_NETNS:-}" ]; then
  if unshare -n true 2>/dev/null; then
    exec env TOUR_NETNS=1 unshare -n bash -c 'ip link set lo up && exec "$0"' "$0"
  elif unshare -rn true 2>/dev/null; then
    exec env TOUR_NETNS=1 unshare -rn bash -c 'ip link set lo up && exec "$0"' "$0"
  fi
  for port in 7400 7401; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "tour: no network namespace here, and 127.0.0.1:$port is in use: stop what listens there" >&2
      exit 1
    fi
  done
  echo "tour: no network namespace here (unshare -n): on this machine's loopback" >&2
fi

block=$(awk '/^## A short tour/ { in_tour = 1 } in_tour && /^```sh$/ { on = 1; next } on && /^```$/ { exit } on' README.md)
if [ -z "$block" ]; then
  echo "tour: README.md has no sh block under '## A short tour'" >&2
  exit 1
fi

work=$(mktemp -d)
state="$work/state"
cleanup() {
  RUN_STATE="$state" make -s stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/home"

# paste runs the block in a fresh shell and prints its output (both streams).
paste() {
  env -i PATH="$PATH" HOME="$work/home" TERM=dumb LANG=C.UTF-8 \
    GOCACHE="$(go env GOCACHE)" GOMODCACHE="$(go env GOMODCACHE)" GOPATH="$(go env GOPATH)" \
    GOFLAGS="$(go env GOFLAGS)" GOTOOLCHAIN="$(go env GOTOOLCHAIN)" GOPROXY="$(go env GOPROXY)" \
    RUN_STATE="$state" \
    timeout 180 bash --norc --noprofile -s <<<"$block" 2>&1
}

fail=0
check() { # check NAME TRANSCRIPT PATTERN: PATTERN (an extended regex) must appear
  if ! grep -qE -- "$3" <<<"$2"; then
    echo "tour: $1: the tour's output lacks /$3/" >&2
    fail=1
  fi
}
refuse() { # refuse NAME TRANSCRIPT PATTERN: PATTERN must not appear
  if grep -qE -- "$3" <<<"$2"; then
    echo "tour: $1: the tour's output has /$3/:" >&2
    grep -E -- "$3" <<<"$2" | head -3 >&2
    fail=1
  fi
}
checks() {
  local name=$1 out=$2
  check "$name" "$out" '^Hello, World!$'
  check "$name" "$out" 'permission_denied: path "\.\./etc/passwd" is outside the data folder'
  check "$name" "$out" '^\{"n":1,"of":3\}$'
  check "$name" "$out" '^\{"n":3,"of":3\}$'
  check "$name" "$out" '^COMMAND +KIND +ARGS +RESULT'
  check "$name" "$out" '^greet +invoke +\{name: string\}'
  check "$name" "$out" '"event":"frontend-event","id":[0-9]+,"payload":\{"message":"hi"\}'
  check "$name" "$out" '^"Hello, World!"$'
  check "$name" "$out" '^\{"code":"unauthenticated","message":"missing bearer token'
  check "$name" "$out" '^tether: open http://127\.0\.0\.1:7400/\?token=[A-Za-z0-9_-]{43}$'
  check "$name" "$out" '^event: x$'
  check "$name" "$out" '^data: \{"any":"json"\}$'
  check "$name" "$out" '^\{"id":"?[0-9]+"?\}$'
  check "$name" "$out" '^data: \{"index":4,"message":\{"n":5,"of":5\}\}$'
  check "$name" "$out" '"end":true'
  refuse "$name" "$out" 'No such file|command not found|curl: \([0-9]+\)|address already in use|cannot reach the core|did not start|Terminated|timed out'
}

echo "tour: first paste"
out1=$(paste) || true
printf '%s\n' "$out1" | sed 's/^/  | /'
check "first paste" "$out1" '^tether: serving the demo on http://127\.0\.0\.1:7400'
checks "first paste" "$out1"

echo "tour: second paste (the server still runs)"
out2=$(paste) || true
printf '%s\n' "$out2" | sed 's/^/  | /'
check "second paste" "$out2" '^tether: already running \(pid [0-9]+'
checks "second paste" "$out2"

stopped=$(RUN_STATE="$state" make -s stop 2>&1)
if [ "$stopped" != "tether: stopped" ]; then
  echo "tour: make stop said: $stopped" >&2
  fail=1
fi
if [ "$fail" != 0 ]; then
  echo "tour: FAILED" >&2
  exit 1
fi
echo "tour: ok (pasted twice, then make stop)"
