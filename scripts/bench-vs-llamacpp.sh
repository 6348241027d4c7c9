#!/usr/bin/env bash
# Hearth vs llama.cpp on the same GGUF files, CPU, same thread count, in one run.
# llama.cpp is built from the source inside the PyPI package llama-cpp-python (scripts/fetch-assets.sh
# and scripts/build-llamacpp.sh, cached under ~/.cache/hearth). Prints one table with both figures
# and their ratio.
#
#   scripts/bench-vs-llamacpp.sh [GGUF...]   (default: the tiny-coder GGUF files in ../shared/models/gguf)
# Env: THREADS (default 2), HEARTH_BIN (default: cargo build --release with target-cpu=native),
#      PROMPT_TOKENS (prompt-processing figure, default 256), GEN_TOKENS (decode figure, default 64),
#      REPACK (llama.cpp's CPU weight repacking, default 0: it crashes on the tiny shapes),
#      TTFT_TOKENS (default 0 = skip; e.g. 1500: time to first token and peak RSS of one generation
#      after a prompt of about that many tokens of Python source, the same text for both).
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

prompt_tokens="${PROMPT_TOKENS:-256}"
gen_tokens="${GEN_TOKENS:-64}"
repack="${REPACK:-0}"
ttft_tokens="${TTFT_TOKENS:-0}"
repack_flag=--no-repack
[ "$repack" = 1 ] && repack_flag=--repack

printf '%-28s %12s %12s %7s %12s %12s %7s\n' model "llama pp/s" "hearth pp/s" ratio "llama tg/s" "hearth tg/s" ratio
for m in "${models[@]}"; do
  ljson="$("$bench" -m "$m" -t "$threads" -p "$prompt_tokens" -n "$gen_tokens" -r 5 --repack "$repack" -o json 2>/dev/null)"
  lpp="$(python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print([x["avg_ts"] for x in r if x["n_prompt"]>0][0])' <<<"$ljson")"
  ltg="$(python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print([x["avg_ts"] for x in r if x["n_gen"]>0][0])' <<<"$ljson")"
  hjson="$("$hearth" bench decode --model "$m" --device cpu --threads "$threads" --prompt-tokens "$prompt_tokens" --gen-tokens "$gen_tokens" --repeats 5 --json)"
  hpp="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["prompt_tokens_per_second"])' <<<"$hjson")"
  htg="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["decode_tokens_per_second"])' <<<"$hjson")"
  python3 - "$m" "$lpp" "$hpp" "$ltg" "$htg" <<'PY'
import os, sys
m, lpp, hpp, ltg, htg = sys.argv[1], *map(float, sys.argv[2:])
print(f"{os.path.basename(m):<28} {lpp:12.1f} {hpp:12.1f} {hpp/lpp:7.2f} {ltg:12.1f} {htg:12.1f} {htg/ltg:7.2f}")
PY
done

[ "$ttft_tokens" -gt 0 ] || exit 0
# A prompt of about TTFT_TOKENS tokens: Python source from the standard library (4 bytes a token).
prompt_file="$(mktemp)"
trap 'rm -f "$prompt_file"' EXIT
python3 - "$prompt_file" "$ttft_tokens" <<'PY'
import inspect, json, sys
text = inspect.getsource(json.decoder) + inspect.getsource(json.encoder) + inspect.getsource(json.scanner)
open(sys.argv[1], "w").write(text[: int(sys.argv[2]) * 4])
PY
completion="$cache/build/bin/llama-completion"
printf '\n%-28s %8s %14s %14s %7s %14s %14s %7s\n' model tokens "llama ttft ms" "hearth ttft ms" ratio "llama RSS MB" "hearth RSS MB" ratio
for m in "${models[@]}"; do
  lout="$(/usr/bin/time -f 'RSS_KB %M' "$completion" -m "$m" -t "$threads" -c 4096 -n 16 -f "$prompt_file" --temp 0 -no-cnv \
    --no-warmup "$repack_flag" 2>&1 >/dev/null)"
  hout="$(/usr/bin/time -f 'RSS_KB %M' "$hearth" generate --model "$m" --device cpu --threads "$threads" --max-tokens 16 --json \
    --prompt "$(cat "$prompt_file")" 2>&1)"
  LOUT="$lout" HOUT="$hout" python3 - "$m" <<'PY'
import os, re, sys, json
l, h = os.environ["LOUT"], os.environ["HOUT"]
eval_line = re.search(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens", l)
ms, n = float(eval_line.group(1)), int(eval_line.group(2))
lrss = int(re.search(r"RSS_KB (\d+)", l).group(1)) / 1024
hrss = int(re.search(r"RSS_KB (\d+)", h).group(1)) / 1024
hj = json.loads(h[h.index("{"): h.rindex("}") + 1])
hms = hj["time_to_first_token_ms"]
print(f"{os.path.basename(sys.argv[1]):<28} {n:8d} {ms:14.0f} {hms:14.0f} {hms/ms:7.2f} {lrss:14.0f} {hrss:14.0f} {hrss/lrss:7.2f}")
PY
done
