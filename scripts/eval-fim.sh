#!/usr/bin/env bash
# Completion quality of Gemma 3 270M (left to right, no FIM tokens) on ../shared/eval/fim-dev.jsonl,
# with the server's prompt budget (1024 tokens): retrieval off and on (the CPython 3.11 standard
# library as the repository, less site-packages, whose vendored copies of distutils and
# importlib_resources would hand the model the very file it completes), then token healing on and
# off with each cursor moved into the middle of its line's first word. Prints one table row per
# run; the JSON reports stay in $out.
#
#   scripts/eval-fim.sh [--limit N]
# Env: HEARTH_BIN (default: the release build), HEARTH_SHARED (default ../shared), STDLIB (default
# the python3.11 stdlib), HEARTH_EVAL_OUT (default $HEARTH_ASSETS/eval-fim).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hearth/target}"
bin="${HEARTH_BIN:-$CARGO_TARGET_DIR/release/hearth}"
[ -x "$bin" ] || { echo "eval-fim: no hearth binary at $bin (cargo build --release, or set HEARTH_BIN)" >&2; exit 1; }
shared="${HEARTH_SHARED:-$repo/../shared}"
cases="$shared/eval/fim-dev.jsonl"
[ -f "$cases" ] || { echo "eval-fim: no $cases (set HEARTH_SHARED)" >&2; exit 1; }
stdlib="${STDLIB:-$(python3.11 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])' 2>/dev/null || true)}"
[ -d "$stdlib" ] || { echo "eval-fim: no CPython 3.11 standard library (install python3.11, or set STDLIB)" >&2; exit 1; }
eval "$(bash scripts/fetch-assets.sh | grep '^HEARTH_ASSETS=')"
model="$HEARTH_ASSETS/gemma-3-270m-q4_k_m.gguf"
out="${HEARTH_EVAL_OUT:-$HEARTH_ASSETS/eval-fim}"
mkdir -p "$out"
common=(--model "$model" --server-budget --context-budget 1024 --json "$@")
# The repository for retrieval: the stdlib as hard links (a copy where links fail), site-packages left out.
tree="$out/stdlib"
if [ ! -f "$tree/.complete" ]; then
  rm -rf "$tree"
  mkdir -p "$tree"
  for entry in "$stdlib"/*; do
    [ "$(basename "$entry")" = site-packages ] && continue
    cp -al "$entry" "$tree/" 2>/dev/null || cp -a "$entry" "$tree/"
  done
  touch "$tree/.complete"
fi

run() {
  local name="$1"
  shift
  echo "eval-fim: $name" >&2
  "$bin" eval fim "$cases" "${common[@]}" "$@" >"$out/$name.json"
}
run retrieval-off --healing auto
run retrieval-on --healing auto --repo "$tree"
run mid-word-healing-on --cut-mid-word --healing on
run mid-word-healing-off --cut-mid-word --healing off

python3 - "$out" <<'PY'
import json, sys
print("| run | cases | exact match | edit similarity | NLL nats/token | p50 ms | with context |")
print("|---|---|---|---|---|---|---|")
for name in ["retrieval-off", "retrieval-on", "mid-word-healing-on", "mid-word-healing-off"]:
    r = json.load(open(f"{sys.argv[1]}/{name}.json"))
    print(f"| {name} | {r['cases']} | {r['exactMatch']:.3f} | {r['editSimilarity']:.3f} | {r['nllPerToken']:.3f} | "
          f"{r['latencyP50Ms']:.0f} | {100 * r['withContext']:.0f}% |")
PY
