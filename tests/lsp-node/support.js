//! What the LSP tests share: where the repository, the test model and the `hearth` binary are.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const repo = path.resolve(__dirname, '../..');
const model = process.env.HEARTH_TEST_MODEL || path.resolve(repo, '../shared/models/tiny-coder');

/** The debug `hearth` binary: HEARTH_BIN, else the usual target directories. */
function hearthBinary() {
  const candidates = [
    process.env.HEARTH_BIN,
    process.env.CARGO_TARGET_DIR && path.join(process.env.CARGO_TARGET_DIR, 'debug/hearth'),
    path.join(repo, 'target/debug/hearth'),
    path.join(process.env.HOME || '', '.cache/hearth/target/debug/hearth'),
  ].filter(Boolean);
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`hearth binary not found (tried ${candidates.join(', ')}); build it or set HEARTH_BIN`);
  return found;
}

/** An asset from scripts/fetch-assets.sh; a missing file fails the test, never skips it. */
function asset(name) {
  const assets = process.env.HEARTH_ASSETS || path.join(process.env.HOME || '', '.cache/hearth/assets');
  const file = path.join(assets, name);
  if (!fs.existsSync(file)) throw new Error(`${file} not found: run scripts/fetch-assets.sh (or set HEARTH_ASSETS)`);
  return file;
}

/** The real Gemma 3 270M GGUF. */
function gemmaModel() {
  return asset('gemma-3-270m-q4_k_m.gguf');
}

/** The same weights with Qwen2.5-Instruct's tool-calling chat template (the GGUF has none). */
function gemmaWithTemplate() {
  return asset('gemma-3-270m-qwen-template.gguf');
}

/**
 * A message reader over `stdout` without vscode-jsonrpc's partial-message timer: a server killed in
 * the middle of writing a message leaves half of it in the buffer, and that timer re-arms itself
 * every 10 s for ever, so the test process never exits.
 */
function quietReader(stdout) {
  const rpc = require('vscode-languageserver-protocol/node');
  const reader = new rpc.StreamMessageReader(stdout);
  reader.partialMessageTimeout = 0;
  return reader;
}

/**
 * A listening vscode-jsonrpc connection over a spawned `hearth serve`'s stdio. `hearth/status` and
 * `$/progress` notifications go to the given arrays, window messages are dropped, and progress tokens
 * are granted. Add other handlers to the returned connection before the request that triggers them.
 */
function connect(server, { statuses = [], progress = [] } = {}) {
  const rpc = require('vscode-languageserver-protocol/node');
  const conn = rpc.createProtocolConnection(quietReader(server.stdout), new rpc.StreamMessageWriter(server.stdin));
  conn.onNotification('hearth/status', (p) => statuses.push(p));
  conn.onNotification('$/progress', (p) => progress.push(p));
  conn.onNotification('window/showMessage', () => {});
  conn.onNotification('window/logMessage', () => {});
  conn.onRequest('window/workDoneProgress/create', () => null);
  conn.listen();
  return conn;
}

/** tiny-coder's F32 GGUF from ../shared: the file both llama-server and Hearth run in the remote tests. */
function tinyGguf() {
  const shared = process.env.HEARTH_SHARED || path.resolve(repo, '../shared');
  const file = path.join(shared, 'models/gguf/tiny-coder-f32.gguf');
  if (!fs.existsSync(file)) throw new Error(`${file} not found (set HEARTH_SHARED)`);
  return file;
}

/** llama.cpp's server from scripts/build-llamacpp.sh (LLAMA_SERVER overrides); missing fails the test, never skips it. */
function llamaServer() {
  const root = process.env.HEARTH_LLAMA_CPP || path.join(process.env.HOME || '', '.cache/hearth/llama.cpp');
  const file = process.env.LLAMA_SERVER || path.join(root, 'build/bin/llama-server');
  if (!fs.existsSync(file)) throw new Error(`${file} not found: run scripts/build-llamacpp.sh (or set LLAMA_SERVER)`);
  return file;
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
function freePort() {
  const net = require('node:net');
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** A loopback server's JSON at `route` (llama-server's `/health`, `/slots`), or null if it does not answer. */
async function fetchJson(port, route) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${route}`);
    return res.ok ? await res.json() : null;
  } catch {
    return null;
  }
}

/** Polls `check` every 50 ms for up to `ms`; on timeout, fails naming `what`, with the tail of `log()`. */
async function waitFor(check, ms, what, log = () => '') {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}\n${log().slice(-2000)}`);
}

/** Applies LSP text edits (UTF-16 positions) to a text, as an editor does: all at once, last first. */
function applyEdits(text, edits) {
  const lines = text.split('\n');
  const offset = (p) => {
    let o = 0;
    for (let i = 0; i < p.line; i++) o += lines[i].length + 1;
    return o + p.character;
  };
  const spans = edits.map((e) => [offset(e.range.start), offset(e.range.end), e.newText]).sort((a, b) => b[0] - a[0]);
  for (let i = 1; i < spans.length; i++) assert.ok(spans[i][1] <= spans[i - 1][0], 'overlapping edits');
  let out = text;
  for (const [s, e, t] of spans) out = out.slice(0, s) + t + out.slice(e);
  return out;
}

/**
 * Waits until the server is ready, has sent no `hearth/status` for half a second and says ready when
 * asked (it may report ready for the model and then start indexing). `stderr()` goes into the failure.
 */
async function waitForIdleReady(conn, statuses, stderr, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = statuses.length;
    await new Promise((r) => setTimeout(r, 500));
    const status = await conn.sendRequest('workspace/executeCommand', { command: 'hearth.status', arguments: [] });
    if (seen === statuses.length && status.state === 'ready') return;
    assert.ok(Date.now() < deadline, `not ready after ${timeoutMs} ms: ${JSON.stringify(status)}\n${stderr().slice(-2000)}`);
  }
}

/**
 * The `end` report of a progress token, once it has come. `$/progress` and a request's response travel
 * separately (tower-lsp merges the two streams), so the end may come after the result.
 */
async function progressEnd(progress, token) {
  for (;;) {
    const end = progress.find((p) => p.token === token && p.value.kind === 'end');
    if (end) return end.value;
    await new Promise((r) => setTimeout(r, 10));
  }
}

module.exports = { repo, quietReader, model, hearthBinary, gemmaModel, gemmaWithTemplate, connect, tinyGguf, llamaServer, freePort, fetchJson, waitFor, applyEdits, waitForIdleReady, progressEnd };
