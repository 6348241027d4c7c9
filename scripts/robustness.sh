#!/usr/bin/env bash
# The robustness suite in one run, with the figures for BENCHMARKS.md's reliability table: hostile
# input through the real binary and server (crates/cli/tests/hostile.rs), SIGKILLs during indexing,
# start-up and edits (crash.rs), and the load test's completions, cancels, didChange storms and
# malformed messages (load.rs, HEARTH_LOAD_SECS seconds, default 60).
#
# Usage: bash scripts/robustness.sh            (HEARTH_KILLS=50 for the long kill run)
set -euo pipefail
source "$(dirname "$0")/lib/test-env.sh"
export HEARTH_LOAD_SECS="${HEARTH_LOAD_SECS:-60}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# run NAME TEST [ARGS for the test binary]
run() {
  local name="$1" test="$2"
  shift 2
  local started=$SECONDS
  echo "== $name"
  if ! cargo test --locked -p hearth-cli --test "$test" -- --nocapture --test-threads=1 "$@" >"$log" 2>&1; then
    cat "$log"
    echo "robustness: $name FAILED" >&2
    exit 1
  fi
  # A test's output may follow its `test NAME ...` line on the same line.
  grep -oE '(hostile|crash test|index|serve|edit|load|answers|latency|RSS|final)[a-z ]*: .*' "$log" || true
  grep -E '^test result' "$log"
  echo "   ($((SECONDS - started)) s)"
}

run "hostile input (hostile.rs)" hostile
run "kill test (crash.rs, ${HEARTH_KILLS:-12} kills per phase)" crash
run "load test (load.rs, $HEARTH_LOAD_SECS s)" load --ignored
