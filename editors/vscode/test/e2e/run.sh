#!/usr/bin/env bash
# Opt-in end-to-end test in a real VS Code: code-server (VS Code in the browser, from npm) with the packaged
# .vsix installed, driven by Debian's Chromium through playwright-core, against $HEARTH_BIN.
#   HEARTH_BIN=... HEARTH_TEST_MODEL=... editors/vscode/test/e2e/run.sh
# Installs (once, into $HOME/.cache/hearth/code-server): code-server 4.100.3 (the last for node 20), with
# its native modules built locally and Debian's ripgrep in place of the one it would download.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ext_root="$(cd "$here/../.." && pwd)"
cs_home="${HEARTH_CODE_SERVER_HOME:-$HOME/.cache/hearth/code-server}"
cs="$cs_home/node_modules/code-server"
: "${HEARTH_BIN:?set HEARTH_BIN to the hearth binary}"
: "${HEARTH_TEST_MODEL:?set HEARTH_TEST_MODEL to shared/models/tiny-coder}"
[ -x "$HEARTH_BIN" ] || { echo "HEARTH_BIN=$HEARTH_BIN is not executable; build it with cargo build -p hearth-cli" >&2; exit 1; }

if ! command -v chromium >/dev/null || ! command -v rg >/dev/null || ! dpkg -s libkrb5-dev >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq chromium ripgrep libkrb5-dev libxkbfile-dev libsecret-1-dev pkg-config >/dev/null
fi
if [ ! -f "$cs/.hearth-ready" ]; then
  mkdir -p "$cs_home"
  (cd "$cs_home" && npm install --ignore-scripts --no-audit --no-fund code-server@4.100.3 argon2 >/dev/null)
  (cd "$cs_home" && npm rebuild argon2 >/dev/null)
  (cd "$cs/lib/vscode" && npm install --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
  # node-pty's post-install wants network for a compile_commands.json; its binary builds before that fails.
  (cd "$cs/lib/vscode" && { npm rebuild kerberos @vscode/spdlog native-watchdog node-pty >/dev/null 2>&1 || test -f node_modules/node-pty/build/Release/pty.node; })
  mkdir -p "$cs/lib/vscode/node_modules/@vscode/ripgrep/bin"
  ln -sf "$(command -v rg)" "$cs/lib/vscode/node_modules/@vscode/ripgrep/bin/rg"
  ln -sfn node_modules "$cs/lib/vscode/node_modules.asar"
  (cd "$cs/lib/vscode/extensions" && npm install --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
  touch "$cs/.hearth-ready"
fi

work="$(mktemp -d)"
trap 'kill "$(cat "$work/cs.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$work"' EXIT
(cd "$ext_root" && npx --no-install vsce package --no-dependencies --out "$work/hearth.vsix" >/dev/null)
node "$cs/out/node/entry.js" --extensions-dir "$work/ext" --user-data-dir "$work/data" --install-extension "$work/hearth.vsix" >/dev/null
port="${HEARTH_E2E_PORT:-18765}"
export HEARTH_E2E_WORK="$work" HEARTH_E2E_URL="http://127.0.0.1:$port"
node "$here/setup-workspace.js"
node "$cs/out/node/entry.js" --bind-addr "127.0.0.1:$port" --auth none --disable-telemetry --disable-update-check \
  --extensions-dir "$work/ext" --user-data-dir "$work/data" "$work/ws" >"$work/code-server.log" 2>&1 &
echo $! >"$work/cs.pid"
for _ in $(seq 100); do curl -fs "$HEARTH_E2E_URL/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
node "$here/drive.js"
