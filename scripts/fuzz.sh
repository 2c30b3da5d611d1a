#!/usr/bin/env bash
# Runs every native Go fuzz target in the module for the given time each.
#   scripts/fuzz.sh 5s      (inside make test)
#   scripts/fuzz.sh 10m     (make fuzz)
#
# Go 1.26's fuzz coordinator can end a run that found nothing with a bare
# "context deadline exceeded" at the -fuzztime boundary (golang/go#75804,
# fixed in Go 1.27). A run is a failure when it wrote a failing input under
# testdata/fuzz/NAME or failed any other way; that bare deadline, with no
# input written, is run again, twice at most (a third such end fails). A
# rerun prints one line saying so, not the flaked run's output, so a green
# log holds no "--- FAIL" line; a real failure prints everything.
set -euo pipefail
time=${1:-5s}
cd "$(dirname "$0")/.."
targets=$(grep -rlE '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' --include='*_test.go' . | grep -v '^./gen/' | sort)
n=0
flaked=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# inputs lists the failing inputs saved for a target, one per line.
inputs() { ls "$1/testdata/fuzz/$2" 2>/dev/null | sort || true; }

for file in $targets; do
  pkg=./$(dirname "${file#./}")
  for name in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //'); do
    n=$((n+1))
    for try in 1 2 3; do
      echo "fuzz: $pkg $name for $time"
      before=$(inputs "$pkg" "$name")
      if go test -run='^$' -fuzz="^${name}\$" -fuzztime="$time" "$pkg" >"$out" 2>&1; then
        tail -n 3 "$out"
        break
      fi
      if [ "$(inputs "$pkg" "$name")" = "$before" ] &&
        grep -q '^    context deadline exceeded$' "$out" &&
        ! grep -qE '^(panic:|    [a-z_]+_test\.go:[0-9]+:)' "$out" && [ "$try" -lt 3 ]; then
        echo "fuzz: $pkg $name ended with Go's fuzztime deadline race and no failing input (golang/go#75804): again" >&2
        flaked=$((flaked+1))
        continue
      fi
      # A failure prints everything (the failing input, the messages).
      cat "$out"
      echo "fuzz: $pkg $name FAILED" >&2
      exit 1
    done
  done
done
echo "fuzz: $n targets ran for $time each ($flaked reruns after Go's deadline race)"
