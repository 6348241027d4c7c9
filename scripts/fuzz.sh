#!/usr/bin/env bash
# Time-boxed fuzzing of every cargo-fuzz target in fuzz/ (see fuzz/README.md).
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]; default 30 s, the targets that build
# without the model stack (line_index, lsp_messages); `all` adds fim_postprocess and edit_apply.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-30}"
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(line_index lsp_messages)
[ "${targets[0]}" = all ] && targets=(line_index lsp_messages fim_postprocess edit_apply)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# cargo fuzz needs nightly flags (-Zsanitizer); the stable toolchain accepts them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
  # One fuzzing process per target (libFuzzer's default). The assist targets build candle under
  # ASan: they keep their own build dir, so the light targets' builds never invalidate theirs.
  features=()
  export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/hearth/fuzz-target}"
  case "$target" in
    fim_postprocess|edit_apply)
      features=(--features assist)
      export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/hearth/fuzz-target-assist}" ;;
  esac
  echo "== fuzz $target for ${seconds}s"
  mkdir -p "corpus/$target"
  log="$(mktemp)"
  if ! nice -n 19 cargo fuzz run "${features[@]}" "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=4096 >"$log" 2>&1; then
    tail -n 80 "$log"
    echo "fuzz: $target failed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E "DONE|^Done" "$log" | tail -n 2
done
