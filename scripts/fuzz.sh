#!/usr/bin/env bash
# fuzz.sh: run every fuzz target of the module for FUZZTIME each (default
# 3s), one at a time (go test -fuzz takes one target per package run), over
# its committed corpus in <pkg>/testdata/fuzz/<FuzzX>/ plus the f.Add seeds.
#
# The targets are found by grepping the test files for "func FuzzX(", so a
# new target is run without anyone remembering to list it (the Makefile
# used to list them by hand, and FuzzAppendString was run in the wrong
# package). A failing input is written by go test to
# <pkg>/testdata/fuzz/<FuzzX>/: commit it, and plain `go test` replays it
# as a regression input from then on.
#
#   scripts/fuzz.sh          run them all
#   scripts/fuzz.sh -l       list "package target" lines and exit
#
# Environment: GO (default go), FUZZTIME (default 3s).
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-3s}

# targets prints "./pkg FuzzName" for every fuzz target, sorted.
targets() {
  grep -rE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' . |
    sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#\1 \2#' |
    sort -u
}

list=$(targets)
if [ -z "$list" ]; then
  echo "fuzz: no fuzz targets found (is the grep broken?)" >&2
  exit 1
fi
if [ "${1:-}" = "-l" ]; then
  echo "$list"
  exit 0
fi

# Each package's test binary is built once, with the fuzzing
# instrumentation (go test -c -fuzz), and run once per target from the
# package directory, exactly as go test -fuzz runs it: the same corpus
# directories and the same cache of generated inputs. Building once per
# package instead of once per target halves the time this takes in CI.
module=$("$GO" list -m)
cache="$("$GO" env GOCACHE)/fuzz"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT

n=0
start=$SECONDS
built=""
while read -r pkg name; do
  n=$((n + 1))
  exe="$bin/$(echo "$pkg" | tr / _).test"
  if [ "$built" != "$pkg" ]; then
    "$GO" test -c -fuzz=. -o "$exe" "$pkg"
    built=$pkg
  fi
  echo "fuzz: $pkg $name ($FUZZTIME)"
  for try in 1 2; do
    if (cd "$pkg" && "$exe" -test.run='^$' -test.fuzz="^${name}\$" -test.fuzztime="$FUZZTIME" \
      -test.fuzzcachedir="$cache/$module/${pkg#./}") 2>&1 | tee "$bin/out"; test "${PIPESTATUS[0]}" -eq 0; then
      break
    fi
    # Go's fuzz coordinator sometimes reports its own deadline as a failure
    # ("context deadline exceeded", no failing input written) when the time
    # runs out mid-run; that is run once more. A real failure writes an input.
    if [ "$try" = 1 ] && grep -q 'context deadline exceeded' "$bin/out" && ! grep -q 'Failing input written' "$bin/out"; then
      echo "fuzz: $pkg $name: the fuzzer's own deadline, not a failure; once more" >&2
      continue
    fi
    echo "fuzz: $pkg $name FAILED; the failing input is under $pkg/testdata/fuzz/$name/ (commit it)" >&2
    exit 1
  done
done <<<"$list"
echo "fuzz: $n targets passed in $((SECONDS - start))s"
