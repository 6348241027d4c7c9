# shellcheck shell=bash
# What the fetch scripts share, sourced by scripts/fetch-assets.sh and scripts/fetch-eval-trees.sh:
# errors, required tools, scratch space inside the cache, and sha256 checks.
# Set fetch_name (the messages' prefix) and fetch_dir (the cache folder) before sourcing it.

die() { echo "$fetch_name: error: $*" >&2; exit 1; }

require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "'$tool' is required but not installed"
  done
  mkdir -p "$fetch_dir" || die "cannot create the cache folder $fetch_dir"
}

tmp=""
cleanup() { if [ -n "$tmp" ]; then rm -rf "$tmp"; fi; }
trap cleanup EXIT
# Scratch space inside the cache, so that the final mv is a rename on the same file system.
scratch() { cleanup; tmp="$(mktemp -d "$fetch_dir/.tmp.XXXXXX")"; }

check_sha256() { # FILE EXPECTED WHAT
  local got
  got="$(sha256sum "$1" | cut -d' ' -f1)"
  [ "$got" = "$2" ] || die "$3: sha256 mismatch (expected $2, got $got)"
}
