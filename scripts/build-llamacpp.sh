#!/usr/bin/env bash
# Builds llama.cpp (the reference Hearth is compared with) for this CPU, from the source that
# scripts/fetch-assets.sh caches, and then scripts/llamacpp/hearth-ref (the fixture dumper)
# against that build. Idempotent: a second run only asks ninja whether anything changed.
#
#   scripts/build-llamacpp.sh             prints the build folder and the binaries at the end
#   scripts/build-llamacpp.sh --server    llama-server alone (what the remote-backend tests need)
# Env: HEARTH_ASSETS (as in fetch-assets.sh), HEARTH_LLAMA_CPP (default ~/.cache/hearth/llama.cpp;
#      the build goes to its build/, binaries to build/bin), JOBS (default nproc).
# cmake and ninja come from PyPI (python3 -m pip install cmake ninja) when they are missing.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
assets="${HEARTH_ASSETS:-$HOME/.cache/hearth/assets}"
src="$assets/llama.cpp-src"
root="${HEARTH_LLAMA_CPP:-$HOME/.cache/hearth/llama.cpp}"
build="$root/build"
ref_build="$root/hearth-ref-build"
jobs="${JOBS:-$(nproc)}"

die() { echo "build-llamacpp: error: $*" >&2; exit 1; }
[ -f "$src/include/llama.h" ] || bash "$repo/scripts/fetch-assets.sh" >&2
[ -f "$src/.hearth-source" ] || die "$src is not a fetched source tree (run scripts/fetch-assets.sh)"
# "llama-cpp-python 0.3.36 <sha256>" -> "llama-cpp-python-0.3.36": the source's identity, since
# the vendored tree has no git history for llama.cpp's own build-info to read a commit from.
source_id="$(cut -d' ' -f1,2 "$src/.hearth-source" | tr ' ' '-')"

# Where pip puts console scripts, so that a cmake/ninja installed from PyPI is found.
PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
if ! command -v cmake >/dev/null || ! command -v ninja >/dev/null; then
  echo "build-llamacpp: installing cmake and ninja from PyPI" >&2
  python3 -m pip install --quiet cmake ninja || die "python3 -m pip install cmake ninja failed"
  hash -r
  command -v cmake >/dev/null && command -v ninja >/dev/null || die "cmake/ninja not on PATH after pip install"
fi
command -v c++ >/dev/null || die "a C++ compiler (c++) is required (apt-get install g++)"
mkdir -p "$root"

# --- llama.cpp ---------------------------------------------------------------------------------
# Shared libraries, so that hearth-ref links libllama alone and finds ggml through it.
# No web UI (it would be downloaded or built with npm), no HTTPS, no tests/examples/app.
config=(
  -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON
  -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
  -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF
  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF
  -DLLAMA_BUILD_COMMIT="$source_id"
)
targets=(llama llama-bench llama-server llama-tokenize llama-completion llama-cli)
server_only=0
if [ "${1:-}" = --server ]; then
  server_only=1
  targets=(llama-server)
fi
stamp="$build/.hearth-config"
# GGML_NATIVE compiles for this CPU: a cache made on another CPU (a moved VM, a shared cache) may
# hold instructions this one lacks, so the CPU's flags are part of the build's identity.
cpu="$(grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null | sha256sum | cut -c1-16)"
want="$(printf '%s\n' "$src" "cpu $cpu" "${config[@]}")"
if [ ! -f "$build/build.ninja" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "build-llamacpp: configuring $build" >&2
  # Ninja rebuilds on a changed command line, and `-march=native` reads the same on every CPU:
  # another CPU or configuration starts from an empty build folder.
  rm -rf "$build"
  cmake -S "$src" -B "$build" "${config[@]}" >"$root/configure.log" 2>&1 \
    || { tail -n 30 "$root/configure.log" >&2; die "cmake configure failed (log: $root/configure.log)"; }
  echo "$want" >"$stamp"
fi
start=$SECONDS
cmake --build "$build" --target "${targets[@]}" -j "$jobs" >"$root/build.log" 2>&1 \
  || { tail -n 40 "$root/build.log" >&2; die "llama.cpp build failed (log: $root/build.log)"; }
echo "build-llamacpp: llama.cpp up to date ($((SECONDS - start)) s)" >&2

if [ "$server_only" = 1 ]; then
  [ -x "$build/bin/llama-server" ] || die "$build/bin/llama-server was not built"
  echo "LLAMA_SERVER=$build/bin/llama-server"
  exit 0
fi

# --- hearth-ref (scripts/llamacpp) -------------------------------------------------------------
cmake -S "$repo/scripts/llamacpp" -B "$ref_build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_CPP_SRC="$src" -DLLAMA_CPP_BUILD="$build" -DHEARTH_LLAMA_CPP_ID="$source_id" \
  >"$root/hearth-ref-configure.log" 2>&1 \
  || { tail -n 30 "$root/hearth-ref-configure.log" >&2; die "hearth-ref configure failed"; }
cmake --build "$ref_build" -j "$jobs" >"$root/hearth-ref-build.log" 2>&1 \
  || { tail -n 40 "$root/hearth-ref-build.log" >&2; die "hearth-ref build failed (log: $root/hearth-ref-build.log)"; }

for t in llama-bench llama-server llama-tokenize llama-completion llama-cli hearth-ref; do
  [ -x "$build/bin/$t" ] || die "$build/bin/$t was not built"
done
echo "LLAMA_CPP_BUILD=$build"
echo "LLAMA_CPP_BIN=$build/bin"
echo "HEARTH_REF=$build/bin/hearth-ref"
