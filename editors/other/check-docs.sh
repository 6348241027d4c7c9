#!/usr/bin/env bash
# Checks the editor setups in docs/editors.md against the real server. Today: Emacs + eglot (Debian's
# emacs-nox and elpa-eglot). The elisp block is taken from the doc itself, so the doc is what is tested.
#   HEARTH_BIN=... HEARTH_TEST_MODEL=... editors/other/check-docs.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
doc="$here/../../docs/editors.md"
: "${HEARTH_BIN:?}" "${HEARTH_TEST_MODEL:?}"
if ! command -v emacs >/dev/null || [ ! -d /usr/share/emacs/site-lisp/elpa-src ] || ! ls /usr/share/emacs/site-lisp/elpa-src | grep -q eglot; then
  apt-get update -qq && apt-get install -y -qq emacs-nox elpa-eglot >/dev/null
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
model="$(cd "$HEARTH_TEST_MODEL" && pwd)"
# The first ```elisp block of the doc, pointed at this run's binary and model.
awk '/^```elisp$/{on=1; next} /^```$/{if (on) exit} on' "$doc" |
  sed -e "s#\"hearth\" \"serve\"#\"$HEARTH_BIN\" \"serve\"#" -e "s#/home/me/models/tiny-coder#$model#g" >"$work/snippet.el"
grep -q "$HEARTH_BIN" "$work/snippet.el" || { echo "docs/editors.md has no eglot snippet with \"hearth\" \"serve\"" >&2; exit 1; }
mkdir "$work/ws"
printf 'from helpers import mean_of\n\n\ndef add(a, b):\n    return a + b\n\n\ndef average(values):\n    return \n' >"$work/ws/main.py"
printf 'def mean_of(values):\n    return sum(values) / len(values)\n' >"$work/ws/helpers.py"
git -C "$work/ws" init -q
HEARTH_DOC_SNIPPET="$work/snippet.el" HEARTH_FILE="$work/ws/main.py" \
  timeout 300 emacs --batch -Q -l "$here/eglot-check.el" 2>&1 | grep -v -e '^Loading' -e '^Source file'
exit "${PIPESTATUS[0]}"
