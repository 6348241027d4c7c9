#!/usr/bin/env bash
# Index benchmark on the trees BENCHMARKS.md reports: the Rust/C sources under ~/.cargo/registry/src,
# the CPython standard library directory and, where Debian's golang-src is installed, Go's. Prints `hearth bench index` tables (ctags and ripgrep run
# alongside in the same process run). Usage: scripts/bench-index.sh [hearth bench index args...]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hearth/target}"
command -v ctags >/dev/null && command -v rg >/dev/null || {
  echo "needs universal-ctags and ripgrep: apt-get install -y universal-ctags ripgrep" >&2
  exit 1
}
cargo build --release --locked -p hearth-cli
hearth="$CARGO_TARGET_DIR/release/hearth"
registry=$(ls -d "$HOME"/.cargo/registry/src/*/ | head -n 1)
stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
go_src=$(PYTHONPATH=crates/assist/eval python3 -c 'from crossfile import go; print(go.default_root())')
trees=("$registry" "$stdlib")
[ -d "$go_src/net" ] && trees+=("$go_src")
for tree in "${trees[@]}"; do
  echo "== $tree"
  "$hearth" bench index "$tree" "$@"
done
