#!/usr/bin/env bash
# Hearth vs llama.cpp on the same GGUF files, CPU, same thread count, in one run.
# llama.cpp is built from the source inside the PyPI package llama-cpp-python (scripts/fetch-assets.sh
# and scripts/build-llamacpp.sh, cached under ~/.cache/hearth). Prints one table with both figures
# and their ratio.
#
#   scripts/bench-vs-llamacpp.sh [GGUF...]   (default: the tiny-coder GGUF files in ../shared/models/gguf)
# Env: THREADS (default 2), HEARTH_BIN (default: cargo build --release).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
threads="${THREADS:-2}"
cache="$HOME/.cache/hearth/llama.cpp"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hearth/target}"
shared="${HEARTH_SHARED:-$(cd "$repo/.." && pwd)/shared}"
if [ "$#" -gt 0 ]; then models=("$@"); else models=("$shared"/models/gguf/tiny-coder-{f32,f16,q8_0}.gguf); fi

# The pinned llama.cpp source (fetch-assets.sh), built for this CPU (build-llamacpp.sh); both are
# no-ops when cached.
bash "$repo/scripts/fetch-assets.sh" >/dev/null
HEARTH_LLAMA_CPP="$cache" bash "$repo/scripts/build-llamacpp.sh" >/dev/null
bench="$cache/build/bin/llama-bench"

hearth="${HEARTH_BIN:-}"
if [ -z "$hearth" ]; then
  # llama.cpp is built for this CPU (GGML_NATIVE=ON); build Hearth the same way, in its own target dir.
  native="$HOME/.cache/hearth/target-native"
  (cd "$repo" && RUSTFLAGS="-C target-cpu=native" CARGO_TARGET_DIR="$native" cargo build --release --locked -p hearth-cli >/dev/null)
  hearth="$native/release/hearth"
fi

printf '%-28s %12s %12s %7s %12s %12s %7s\n' model "llama pp/s" "hearth pp/s" ratio "llama tg/s" "hearth tg/s" ratio
for m in "${models[@]}"; do
  # llama.cpp's CPU repacking crashes on this small shape (eval/README.md), hence --repack 0.
  ljson="$("$bench" -m "$m" -t "$threads" -p 256 -n 64 -r 5 --repack 0 -o json 2>/dev/null)"
  lpp="$(python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print([x["avg_ts"] for x in r if x["n_prompt"]>0][0])' <<<"$ljson")"
  ltg="$(python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print([x["avg_ts"] for x in r if x["n_gen"]>0][0])' <<<"$ljson")"
  hjson="$("$hearth" bench decode --model "$m" --device cpu --threads "$threads" --prompt-tokens 256 --gen-tokens 64 --repeats 5 --json)"
  hpp="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["prompt_tokens_per_second"])' <<<"$hjson")"
  htg="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["decode_tokens_per_second"])' <<<"$hjson")"
  python3 - "$m" "$lpp" "$hpp" "$ltg" "$htg" <<'PY'
import os, sys
m, lpp, hpp, ltg, htg = sys.argv[1], *map(float, sys.argv[2:])
print(f"{os.path.basename(m):<28} {lpp:12.0f} {hpp:12.0f} {hpp/lpp:7.2f} {ltg:12.0f} {htg:12.0f} {htg/ltg:7.2f}")
PY
done
