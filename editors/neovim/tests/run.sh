#!/usr/bin/env bash
# Runs the headless Neovim end-to-end test against the real server.
#   HEARTH_BIN=path/to/hearth HEARTH_TEST_MODEL=path/to/tiny-coder NVIM=path/to/nvim tests/run.sh [native|extmark]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
nvim="${NVIM:-nvim}"
backend="${1:-auto}"
if [ -z "${HEARTH_BIN:-}" ] || [ ! -x "${HEARTH_BIN}" ]; then
  echo "HEARTH_BIN='${HEARTH_BIN:-}' is not an executable; build it with: cargo build -p hearth-cli" >&2
  exit 1
fi
export HEARTH_NVIM_BACKEND="$backend"
export XDG_STATE_HOME="$(mktemp -d)" XDG_DATA_HOME="$(mktemp -d)" XDG_CONFIG_HOME="$(mktemp -d)"
exec timeout 900 "$nvim" --headless --clean -n \
  --cmd "set rtp^=$here" \
  -c "luafile $here/tests/headless.lua"
