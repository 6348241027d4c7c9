#!/usr/bin/env bash
# Builds `hearth --features cuda` on a machine without a GPU or a CUDA install, as a binary that
# also starts on machines without one (it then warns and runs on the CPU).
#
# nvcc, the CUDA headers and libcudart come from PyPI (CUDA 13.0: the GPU machines run driver 580,
# whose CUDA is 13.0, and carry the cu13 libraries; PTX from a newer nvcc would not load there).
#
# candle-core 0.11 asks cudarc for `dynamic-linking`, which puts libcuda/libcublas/... in the
# binary's DT_NEEDED list: without a driver the process dies in the loader, before main (candle
# issue #3900). cudarc can instead open them with dlopen (`dynamic-loading`), but refuses both modes
# at once, and candle-core gives no switch. So the build uses cudarc 0.19.10 from the local cargo
# registry, with one change to its build script: `dynamic-linking` keeps its link search paths but
# links nothing and compiles the dlopen code path. candle-kernels links `cudart` for its MoE/MMQ
# kernels; the link finds `libcudart.a` (the toolkit's libcudart_static.a) first, so cudart is
# inside the binary and needs only the driver, which it too opens lazily.
#
# The patch goes in through `--config patch...` on a copy of the working tree (tracked and
# untracked, not ignored files), so the repository's Cargo.lock stays as it is.
#
# On a machine without a driver it then checks the fallback: `--device cuda` and the default device
# each print one warning and the same text as `--device cpu`.
#
# Usage: scripts/build-cuda.sh            (prints the path of the built binary on its last line)
# Env:   CARGO_TARGET_DIR (default ~/.cache/hearth/target-cuda), CUDA_COMPUTE_CAP (default 90),
#        HEARTH_CUDA_VENV (default ~/.cache/hearth/cuda-venv), NICE (default 19).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

CACHE=$HOME/.cache/hearth
VENV=${HEARTH_CUDA_VENV:-$CACHE/cuda-venv}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target-cuda}
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}

# 1. The CUDA 13.0 toolkit pieces from PyPI (nvvm must be pinned too, or pip takes the newest).
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/python" -m pip install -q \
  "nvidia-cuda-nvcc==13.0.88" "nvidia-nvvm==13.0.88" "nvidia-cuda-crt==13.0.88" \
  "nvidia-cuda-runtime==13.0.96" "nvidia-cuda-cccl==13.0.85"
CUDA_ROOT=$("$VENV/bin/python" -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13"))')
export CUDA_HOME=$CUDA_ROOT CUDA_PATH=$CUDA_ROOT
export PATH="$CUDA_ROOT/bin:$PATH"
nvcc --version | tail -2

# 2. Static cudart: `-lcudart` must find libcudart.a, and no libcudart.so, in a searched folder.
STUBS=$CUDA_ROOT/lib/stubs
mkdir -p "$STUBS"
rm -f "$STUBS/libcudart.so"
ln -sf "$CUDA_ROOT/lib/libcudart_static.a" "$STUBS/libcudart.a"

# 3. cudarc with the dlopen code path under candle's `dynamic-linking` feature.
CUDARC_SRC=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.10 | head -1)
CUDARC=$CACHE/cudarc-0.19.10-dlopen
if [ ! -f "$CUDARC/.patched" ]; then
  rm -rf "$CUDARC" && cp -r "$CUDARC_SRC" "$CUDARC"
  python3 - "$CUDARC/build.rs" <<'PY'
import sys
path = sys.argv[1]
src = open(path).read()
old = '    #[cfg(feature = "dynamic-linking")]\n    dynamic_linking(major, minor);\n'
new = ('    #[cfg(feature = "dynamic-linking")]\n'
       '    {\n'
       '        // hearth: keep the search paths, link nothing, open the libraries with dlopen.\n'
       '        for path in link_searches(major, minor) {\n'
       '            println!("cargo:rustc-link-search=native={}", path.display());\n'
       '        }\n'
       '        println!("cargo:rustc-cfg=feature=\\"dynamic-loading\\"");\n'
       '    }\n')
assert src.count(old) == 1, "cudarc build.rs changed: the patch no longer applies"
open(path, "w").write(src.replace(old, new))
PY
  touch "$CUDARC/.patched"
fi

# 4. A copy of the working tree to build in (tar keeps mtimes, so unchanged crates stay built).
SRC=$CACHE/cuda-src
rm -rf "$SRC" && mkdir -p "$SRC"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$SRC"
cd "$SRC"

# 5. Build (niced: the build machine is shared).
start=$(date +%s)
nice -n "${NICE:-19}" cargo build --release --features cuda -p hearth-cli \
  --config "patch.crates-io.cudarc.path=\"$CUDARC\""
echo "cuda build took $(( $(date +%s) - start )) s"
bin=$CARGO_TARGET_DIR/release/hearth
if readelf -d "$bin" | grep -E 'NEEDED.*(libcuda|libcublas|libcurand|libnvrtc|libcudart)'; then
  echo "error: the binary still links CUDA libraries at load time" >&2
  exit 1
fi
ls -l "$bin"
cd "$repo"

# 6. Without a driver (this build machine), the binary must start, warn once, and give the CPU's text.
if ! ldconfig -p | grep -q 'libcuda\.so\.1'; then
  model=models/tiny-coder-q8_0.gguf
  gen() { "$bin" generate --model "$model" --prompt 'def fib(n):' --max-tokens 16 "$@"; }
  cpu_text=$(gen --device cpu 2>/dev/null)
  for device in cuda auto; do
    text=$(gen --device "$device" 2>/tmp/hearth-cuda-fallback.err)
    warnings=$(grep -c 'running on the CPU' /tmp/hearth-cuda-fallback.err || true)
    if [ "$text" != "$cpu_text" ] || [ "$warnings" != 1 ]; then
      echo "error: --device $device without a driver: $warnings warnings, text differs from the CPU's: $([ "$text" != "$cpu_text" ] && echo yes || echo no)" >&2
      cat /tmp/hearth-cuda-fallback.err >&2
      exit 1
    fi
    echo "no driver, --device $device: $(cat /tmp/hearth-cuda-fallback.err)"
  done
  echo "no driver: same text as --device cpu"
fi
echo "$bin"
