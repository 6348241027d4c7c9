#!/usr/bin/env bash
# Fetches the source trees that the cross-file retrieval eval (crates/assist/eval/crossfile_cases.py)
# reads and that are not on the machine already:
#   - rxjs 7.8.1 (TypeScript; its npm package ships src/**/*.ts), via `npm pack`, pinned by sha256.
# This is an explicit download step: nothing else in the eval touches the network. A second run is a
# no-op while the tree's marker (.hearth-source, holding the package and its sha256) is in place.
#
#   scripts/fetch-eval-trees.sh     prints what it does to stderr, then the tree's path to stdout
# Env: HEARTH_ASSETS (cache folder, default ~/.cache/hearth/assets).
set -euo pipefail

cache="${HEARTH_ASSETS:-$HOME/.cache/hearth/assets}"
trees="$cache/eval-trees"

rxjs_version="7.8.1"
rxjs_tgz="rxjs-$rxjs_version.tgz"
rxjs_sha256="c532167725ab7d085123209156c93cef22f2479cb9c8527060f1cd903aa9d149"
rxjs="$trees/rxjs"

fetch_name=fetch-eval-trees fetch_dir="$trees"
source "$(dirname "$0")/lib/fetch.sh"
log() { echo "$fetch_name: $*" >&2; }
require_tools npm tar sha256sum

rxjs_id="rxjs $rxjs_version $rxjs_sha256"
if [ -f "$rxjs/.hearth-source" ] && [ "$(cat "$rxjs/.hearth-source")" = "$rxjs_id" ] \
    && [ -f "$rxjs/src/index.ts" ]; then
  log "rxjs $rxjs_version: cached ($rxjs)"
else
  scratch
  log "rxjs $rxjs_version: npm pack rxjs@$rxjs_version into $tmp"
  (cd "$tmp" && npm pack --silent "rxjs@$rxjs_version" >/dev/null) || die "npm pack rxjs@$rxjs_version failed"
  [ -f "$tmp/$rxjs_tgz" ] || die "npm pack did not write $rxjs_tgz"
  check_sha256 "$tmp/$rxjs_tgz" "$rxjs_sha256" "$rxjs_tgz"
  log "rxjs $rxjs_version: sha256 ok"
  # Count (not `grep -q`, whose early exit would fail the pipeline under pipefail).
  sources="$(tar -tzf "$tmp/$rxjs_tgz" | grep -c '^package/src/.*\.ts$' || true)"
  [ "$sources" -gt 0 ] || die "$rxjs_tgz has no src/**/*.ts"
  mkdir "$tmp/tree"
  tar -xzf "$tmp/$rxjs_tgz" -C "$tmp/tree" --strip-components=1 || die "could not extract $rxjs_tgz"
  echo "$rxjs_id" >"$tmp/tree/.hearth-source"
  rm -rf "$rxjs"
  mv "$tmp/tree" "$rxjs"
  log "rxjs $rxjs_version: extracted to $rxjs ($sources .ts files under src/)"
fi
echo "$rxjs"
