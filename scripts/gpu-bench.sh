#!/usr/bin/env bash
# Issue 7's GPU run: CUDA build here, figures there, in two steps.
#
# 1. Here, on the CPU machine (no GPU needed):
#      scripts/gpu-bench.sh pack
#    builds `hearth --features cuda` (scripts/build-cuda.sh) and fills .gpu/ (ignored through
#    .git/info/exclude, so it travels only when carried) with the binary, the tiny F32 models from
#    ../shared/models/gguf, the tiny tokenizer (for synthesizing) and 60 fim-dev cases. ../shared
#    itself does not travel to the device machine.
# 2. Through the device tool, one call per stage (each fits one 10-minute call):
#      run(command="bash scripts/gpu-bench.sh run tiny", carry=[".gpu"], timeout_s=600)
#      run(command="bash scripts/gpu-bench.sh run 1.5b", carry=[".gpu"], timeout_s=600)
#      run(command="bash scripts/gpu-bench.sh run 7b",   carry=[".gpu"], timeout_s=600)
#    Each prints its table rows and leaves $OUT/<stage>.md and $OUT/<stage>.json.
#    tiny: GPU greedy == CPU greedy (F32), speculative == plain, tiny figures.
#    1.5b / 7b: random-weight models of the real shapes (synthesized there), bf16, q8_0, q4_k.
set -euo pipefail
cd "$(dirname "$0")/.."

pack() {
  local shared=${HEARTH_SHARED:-../shared}
  local bin
  bin=$(bash scripts/build-cuda.sh | tail -1)
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
  rm -rf .gpu && mkdir -p .gpu
  strip -o .gpu/hearth "$bin"
  xz -T1 -6 .gpu/hearth
  cp "$shared/models/gguf/tiny-coder-f32.gguf" "$shared/models/gguf/tiny-coder-draft-f32.gguf" .gpu/
  cp "$shared/models/tiny-coder/tokenizer.json" .gpu/
  head -60 "$shared/eval/fim-dev.jsonl" >.gpu/fim-dev-60.jsonl
  du -ch .gpu/* | cat
  echo "carry .gpu (limit: 64 MiB with the working tree: $(git ls-files -co --exclude-standard -z | du -ch --files0-from=- | tail -1 | cut -f1))"
}

# Puts the CUDA 13 libraries of the device machine (toolkit or PyTorch's pip wheels) on the path.
cuda_libs() {
  local dirs=() d
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
    $(python3 -c 'import nvidia, os; [print(os.path.join(p, s, "lib")) for p in nvidia.__path__ for s in ("cu13", "cublas", "cuda_nvrtc", "cuda_runtime", "curand")]' 2>/dev/null); do
    [ -d "$d" ] && dirs+=("$d")
  done
  export LD_LIBRARY_PATH="$(IFS=:; echo "${dirs[*]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

run_stage() {
  local stage=$1 pack=/tmp/hearth-gpu
  mkdir -p "$pack"
  python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' .gpu/hearth.xz "$pack/hearth"
  chmod +x "$pack/hearth"
  cp .gpu/*.gguf .gpu/tokenizer.json .gpu/fim-dev-60.jsonl "$pack/"
  cuda_libs
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  # The binary opens these with dlopen (scripts/build-cuda.sh); without one it would fall back to the CPU.
  local lib dir found
  for lib in libcuda.so.1 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libnvrtc.so.13; do
    found=$(ldconfig -p | grep -c "$lib" || true)
    for dir in ${LD_LIBRARY_PATH//:/ }; do [ -e "$dir/$lib" ] && found=1; done
    if [ "$found" = 0 ]; then
      echo "missing $lib (LD_LIBRARY_PATH=$LD_LIBRARY_PATH)" >&2
      exit 1
    fi
  done
  HEARTH_BIN=$pack/hearth HEARTH_PACK=$pack OUT=${OUT:-/tmp/hearth-out} PYTHONUNBUFFERED=1 \
    timeout 580 python3 scripts/gpu_bench.py "$stage"
}

case "${1:-}" in
  pack) pack ;;
  run) run_stage "${2:?stage: tiny, 1.5b or 7b}" ;;
  *) echo "usage: $0 pack | run tiny|1.5b|7b" >&2; exit 2 ;;
esac
