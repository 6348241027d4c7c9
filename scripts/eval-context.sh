#!/usr/bin/env bash
# Cross-file context recall: builds the dev sets (crates/assist/eval/crossfile_cases.py) from the
# CPython standard library, crates under ~/.cargo/registry/src, rxjs 7.8.1 and the Go standard
# library's source (Debian's golang-src), then runs
# `hearth eval context` with Gemma 3 270M's tokenizer and prompt, at prompt budgets 1024 and 2944
# (358 and ~1024 tokens of context).
#
#   scripts/eval-context.sh [--floor 0.8] [--floor go=0.75] [hearth eval context args...]
# --floor R fails (exit 1) when any language's recall at the 1024-token prompt is below R;
# --floor LANG=R sets that language's own floor.
# Env: HEARTH_BIN (default: the debug build), HEARTH_ASSETS (cache), HEARTH_EVAL_DIR (where the sets go).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hearth/target}"
bin="${HEARTH_BIN:-$CARGO_TARGET_DIR/debug/hearth}"
floors=()
while [ "${1:-}" = --floor ]; do
  floors+=("$2")
  shift 2
done
[ -x "$bin" ] || { echo "eval-context: no hearth binary at $bin (cargo build -p hearth-cli, or set HEARTH_BIN)" >&2; exit 1; }
eval "$(bash scripts/fetch-assets.sh | grep '^HEARTH_ASSETS=')"
export HEARTH_ASSETS
model="$HEARTH_ASSETS/gemma-3-270m-q4_k_m.gguf"
rxjs="$(bash scripts/fetch-eval-trees.sh)"
sets="${HEARTH_EVAL_DIR:-$HEARTH_ASSETS/eval-context}"
mkdir -p "$sets"
go_src="$(PYTHONPATH=crates/assist/eval python3 -c 'from crossfile import go; print(go.default_root())' 2>/dev/null || true)"
[ -d "$go_src/net" ] || { echo "eval-context: no Go standard library source (apt-get install golang-src)" >&2; exit 1; }
for lang in python rust typescript go; do
  root=()
  [ "$lang" = typescript ] && root=(--root "$rxjs")
  python3 crates/assist/eval/crossfile_cases.py --lang "$lang" "${root[@]}" >"$sets/$lang.jsonl"
  echo "eval-context: $(wc -l <"$sets/$lang.jsonl") $lang cases in $sets/$lang.jsonl" >&2
done
files=("$sets/python.jsonl" "$sets/rust.jsonl" "$sets/typescript.jsonl" "$sets/go.jsonl")
if [ ${#floors[@]} = 0 ]; then
  exec "$bin" eval context "${files[@]}" --model "$model" "$@"
fi
report="$sets/report.json"
"$bin" eval context "${files[@]}" --model "$model" --json "$@" >"$report"
python3 - "$report" "${floors[@]}" <<'PY'
import json, sys
report, floors = json.load(open(sys.argv[1])), {}
for f in sys.argv[2:]:
    lang, _, value = f.rpartition("=")
    floors[lang] = float(value)
low = []
for row in report["rows"]:
    print(f'{row["language"]:<11} prompt {row["promptBudget"]:>5}  context {row["contextCap"]:>6.0f}  '
          f'{row["cases"]:>4} cases  recall {100 * row["recall"]:5.1f}%  mean tokens {row["meanContextTokens"]:5.0f}  '
          f'p50 {row["retrieveP50Ms"]:.2f} ms  p99 {row["retrieveP99Ms"]:.2f} ms')
    floor = floors.get(row["language"], floors.get("", 0.0))
    if row["promptBudget"] == 1024 and row["recall"] < floor:
        low.append(f'{row["language"]} {100 * row["recall"]:.1f}% < {100 * floor:.0f}%')
if low:
    sys.exit(f"eval-context: recall at the 1024-token prompt below its floor: {', '.join(low)}")
PY
