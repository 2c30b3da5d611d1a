#!/usr/bin/env bash
# Runs every native Go fuzz target in the module for the given time each.
#   scripts/fuzz.sh 5s      (inside make test)
#   scripts/fuzz.sh 10m     (make fuzz)
set -euo pipefail
time=${1:-5s}
cd "$(dirname "$0")/.."
targets=$(grep -rlE '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' --include='*_test.go' . | grep -v '^./gen/' | sort)
n=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for file in $targets; do
  pkg=./$(dirname "${file#./}")
  for name in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //'); do
    n=$((n+1))
    echo "fuzz: $pkg $name for $time"
    # A failure prints everything (the failing input, the test's
    # messages); a pass prints the last lines only.
    if ! go test -run='^$' -fuzz="^${name}\$" -fuzztime="$time" "$pkg" >"$out" 2>&1; then
      cat "$out"
      echo "fuzz: $pkg $name FAILED" >&2
      exit 1
    fi
    tail -n 3 "$out"
  done
done
echo "fuzz: $n targets ran for $time each"
