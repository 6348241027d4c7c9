#!/usr/bin/env bash
# Runs every test of Hearth: the lints (rustfmt, clippy with -D warnings), the Rust workspace (unit,
# real-model and real-index tests), the LSP end-to-end test with node's vscode-jsonrpc client, the
# cross-file context recall floor, and the editor clients (VS Code extension, headless Neovim)
# against the real `hearth serve`.
#
# Needs: cargo, node >= 20 with npm, python3 with pip, ../shared beside the repository (or
# HEARTH_SHARED pointing at it), and the registries for scripts/fetch-assets.sh on a cold cache.
set -euo pipefail
source "$(dirname "$0")/lib/test-env.sh"

echo "== test assets: llama.cpp's source (vocabularies, templates) and Gemma 3 270M, cached and checked"
eval "$(bash scripts/fetch-assets.sh | grep '^HEARTH_ASSETS=')"
export HEARTH_ASSETS

echo "== lint: rustfmt (rustfmt.toml), clippy with warnings as errors, no cycle between a crate's files"
cargo fmt --all --check
python3 scripts/file-cycles.py
cargo clippy --locked --workspace --all-targets -- -D warnings

echo "== cargo build (the binary the end-to-end tests drive)"
cargo build --locked -p hearth-cli
echo "== cargo test --workspace"
cargo test --locked --workspace --no-fail-fast

echo "== robustness: the load test, ${HEARTH_LOAD_SECS:=30} s of completions, cancels, didChange storms and malformed messages"
# The hostile-input (hostile.rs) and kill (crash.rs) tests ran above; scripts/robustness.sh runs all three.
HEARTH_LOAD_SECS="$HEARTH_LOAD_SECS" cargo test --locked -p hearth-cli --test load -- --ignored --nocapture

if [ -f tests/lsp-node/package.json ]; then
  echo "== llama-server (built from the llama-cpp-python sdist, cached): the remote backend's real server"
  eval "$(bash scripts/build-llamacpp.sh --server | grep '^LLAMA_SERVER=')"
  export LLAMA_SERVER
  echo "== LSP end to end: node vscode-jsonrpc client against hearth serve"
  # A hang fails here, named, instead of running into CI's limit (each test also has 300 s).
  (cd tests/lsp-node && npm ci --no-audit --no-fund && timeout -k 10 1200 npm test)
fi
echo "== cross-file context recall (Gemma 3's tokenizer and prompt): at least 75% per language at 358 tokens (Go: 45%)"
# The goal is 80% (BENCHMARKS.md); the floor leaves room for this machine's own crate versions.
bash scripts/eval-context.sh --floor 0.75
if [ -f editors/ci.sh ]; then
  echo "== editor clients"
  bash editors/ci.sh all
fi
if [ "${HEARTH_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzzing: a short time-boxed run of the light targets (fuzz/README.md)"
  bash scripts/fuzz.sh 30
fi
