# shellcheck shell=bash
# The environment the test scripts run in, sourced by scripts/test.sh and scripts/robustness.sh: the
# repository root as the working directory, the cargo target directory, the debug binary, and the
# test assets of ../shared (HEARTH_SHARED), which must be there.
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hearth/target}"
export HEARTH_SHARED="${HEARTH_SHARED:-$(cd "$repo/.." && pwd)/shared}"
export HEARTH_BIN="$CARGO_TARGET_DIR/debug/hearth"
export HEARTH_TEST_MODEL="${HEARTH_TEST_MODEL:-$HEARTH_SHARED/models/tiny-coder}"
if [ ! -d "$HEARTH_SHARED/models" ]; then
  echo "$(basename "$0"): test assets not found at $HEARTH_SHARED (set HEARTH_SHARED)" >&2
  exit 1
fi
