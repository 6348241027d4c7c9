#!/usr/bin/env bash
# Builds `hearth` with `--features cuda` on a machine without a GPU or a CUDA install.
#
# nvcc, the CUDA headers and libcudart come from PyPI (CUDA 13.0: the GPU machines run driver 580,
# whose CUDA is 13.0, and carry the cu13 libraries; PTX from a newer nvcc would not load there).
# cudarc links libcuda, libcublas, libcublasLt, libcurand and libnvrtc at build time; instead of
# downloading ~1 GB of wheels only to link, we link against stub libraries that export the same
# symbols under the real sonames. At run time the real libraries of the GPU machine are loaded.
#
# Usage: scripts/build-cuda.sh            (prints the path of the built binary on its last line)
# Env:   CARGO_TARGET_DIR (default ~/.cache/hearth/target-cuda), CUDA_COMPUTE_CAP (default 90),
#        HEARTH_CUDA_VENV (default ~/.cache/hearth/cuda-venv), NICE (default 19).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${HEARTH_CUDA_VENV:-$HOME/.cache/hearth/cuda-venv}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/hearth/target-cuda}
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

# 2. Link-time stubs with the real sonames; symbol names come from cudarc's own bindings. They go in
# $CUDA_HOME/lib/stubs, which cudarc's build script already searches (no RUSTFLAGS, so a release
# target dir of the plain build can seed this one).
STUBS=$CUDA_ROOT/lib/stubs
CUDARC=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.10 | head -1)
mkdir -p "$STUBS"
stub() { # stub <link name> <soname> <cudarc sys module>
  local name=$1 soname=$2 module=$3
  [ -f "$STUBS/lib$name.so" ] && return 0
  grep -o 'load::<_F>("[A-Za-z0-9_]*")' "$CUDARC/src/$module/sys/mod.rs" | sed 's/.*("\(.*\)")/\1/' |
    sort -u | sed 's/.*/void &(void) {}/' >"$STUBS/$name.c"
  cc -shared -fPIC -Wl,-soname,"$soname" -o "$STUBS/lib$name.so" "$STUBS/$name.c"
}
stub cuda libcuda.so.1 driver
stub cublas libcublas.so.13 cublas
stub cublasLt libcublasLt.so.13 cublaslt
stub curand libcurand.so.10 curand
stub nvrtc libnvrtc.so.13 nvrtc
ln -sf "$CUDA_ROOT/lib/libcudart.so.13" "$STUBS/libcudart.so"

# 3. Build (niced: the build machine is shared).
start=$(date +%s)
nice -n "${NICE:-19}" cargo build --release --features cuda -p hearth-cli
echo "cuda build took $(( $(date +%s) - start )) s"
ls -l "$CARGO_TARGET_DIR/release/hearth"
echo "$CARGO_TARGET_DIR/release/hearth"
