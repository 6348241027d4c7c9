//! The team's own inference server as the backend: `hearth serve` with `backend` = llama-server
//! (built from the llama-cpp-python sdist by scripts/build-llamacpp.sh) serving tiny-coder's F32 GGUF
//! on a loopback port, side by side with a `hearth serve` that runs the same file in process.

'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const { pathToFileURL } = require('node:url');
const path = require('node:path');
const rpc = require('vscode-languageserver-protocol/node');
const support = require('../support');
const { hearthBinary, connect, tinyGguf, gemmaModel, llamaServer, freePort } = support;

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-remote-'));
const URI = pathToFileURL(path.join(ROOT, 'shapes.py')).href;
const TEXT = [
  'import math',
  '',
  '',
  'class Circle:',
  '    def __init__(self, radius):',
  '        self.radius = radius',
  '',
  '    def area(self):',
  '        return math.pi * self.radius ** 2',
  '',
  '    def perimeter(self):',
  '        return 2 * math.pi * self.radius',
  '',
  '',
  'def total_area(shapes):',
  '    total = 0',
  '    for shape in shapes:',
  '        total += shape.area()',
  '    return total',
  '',
  '',
  'def main():',
  '    shapes = [Circle(1), Circle(2)]',
  '    print(total_area(shapes))',
  '',
].join('\n');
// Cursors: the end of each of these lines, and the start of the blank line after `main`.
const CURSORS = [4, 7, 10, 15, 16, 21, 22, 24].map((line) => ({ line, character: TEXT.split('\n')[line].length }));

let port;
let llama;
let llamaLog = '';
const remote = { statuses: [], stderr: '' };
const local = { statuses: [], stderr: '' };
const withFallback = { statuses: [], stderr: '' };

function startLlama() {
  llama = spawn(llamaServer(), ['-m', tinyGguf(), '--host', '127.0.0.1', '--port', String(port), '-np', '1', '-t', '2', '--no-webui'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  llama.stdout.on('data', (d) => { llamaLog += d.toString(); });
  llama.stderr.on('data', (d) => { llamaLog += d.toString(); });
  return waitFor(async () => (await fetchJson('/health'))?.status === 'ok', 30000, 'llama-server /health');
}

const fetchJson = (route) => support.fetchJson(port, route);
const waitFor = (check, ms, what) => support.waitFor(check, ms, what, () => llamaLog);

async function startHearth(s, options) {
  s.server = spawn(hearthBinary(), ['serve', '--no-index'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, HEARTH_CONFIG: path.join(__dirname, 'no-such-config.toml'), RUST_LOG: 'info' },
  });
  s.server.stderr.on('data', (d) => { s.stderr += d.toString(); });
  s.conn = connect(s.server, { statuses: s.statuses });
  await s.conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri: pathToFileURL(ROOT).href,
    capabilities: {},
    initializationOptions: { model: tinyGguf(), debounceMs: 0, maxTokens: 24, ...options },
  });
  await s.conn.sendNotification('initialized', {});
  await s.conn.sendNotification('textDocument/didOpen', { textDocument: { uri: URI, languageId: 'python', version: 1, text: TEXT } });
  const deadline = Date.now() + 60000;
  while (!s.statuses.some((st) => st.state === 'ready' || st.state === 'error')) {
    assert.ok(Date.now() < deadline, `never ready: ${JSON.stringify(s.statuses)}\n${s.stderr.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return s.statuses.at(-1);
}

function complete(s, position, token) {
  const params = { textDocument: { uri: URI }, position, context: { triggerKind: 2 } };
  return token ? s.conn.sendRequest('textDocument/inlineCompletion', params, token) : s.conn.sendRequest('textDocument/inlineCompletion', params);
}

/** The peers of the process's TCP and UDP sockets, as `/proc/PID/net` prints them (`tcp 0100007F:1F90`). */
function socketPeers(pid) {
  const inodes = new Set();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    const target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`, { throwIfNoEntry: false });
    const m = /^socket:\[(\d+)\]$/.exec(target ?? '');
    if (m) inodes.add(m[1]);
  }
  const peers = [];
  for (const table of ['tcp', 'tcp6', 'udp', 'udp6']) {
    const rows = fs.readFileSync(`/proc/${pid}/net/${table}`, 'utf8').trim().split('\n').slice(1);
    for (const row of rows) {
      const cols = row.trim().split(/\s+/);
      if (inodes.has(cols[9])) peers.push(`${table} ${cols[2]}`);
    }
  }
  return peers;
}

const firstText = (result) => (result === null ? null : (result.items ?? result)[0]?.insertText ?? '');

before(async () => {
  fs.writeFileSync(path.join(ROOT, 'shapes.py'), TEXT);
  port = await freePort();
  await startLlama();
  const backend = { kind: 'llama-server', url: `http://127.0.0.1:${port}` };
  for (const [s, options] of [[remote, { backend }], [local, {}], [withFallback, { backend: { ...backend, fallback: true } }]]) {
    const status = await startHearth(s, options);
    assert.equal(status.state, 'ready', `${JSON.stringify(s.statuses)}\n${s.stderr.slice(-2000)}`);
  }
});

after(() => {
  for (const s of [remote, local, withFallback]) s.server?.kill('SIGKILL');
  llama?.kill('SIGKILL');
});

test('the status names the remote host, and the local model where it runs in process', () => {
  const status = remote.statuses.find((s) => s.state === 'ready');
  assert.equal(status.remote, `127.0.0.1:${port}`);
  const ready = status.message;
  assert.match(ready, new RegExp(`remote: 127\\.0\\.0\\.1:${port}`));
  assert.match(ready, /llama-server/);
  assert.doesNotMatch(local.statuses.find((s) => s.state === 'ready').message, /remote/);
  assert.equal(local.statuses.find((s) => s.state === 'ready').remote, undefined);
});

test('completions through the remote backend equal the in-process ones, token for token', async () => {
  const stats = (s) => s.conn.sendRequest('workspace/executeCommand', { command: 'hearth.stats', arguments: [] });
  const [remoteBefore, localBefore] = [await stats(remote), await stats(local)];
  let nonEmpty = 0;
  for (const cursor of CURSORS) {
    const [r, l] = [firstText(await complete(remote, cursor)), firstText(await complete(local, cursor))];
    assert.equal(r, l, `at ${JSON.stringify(cursor)}: remote ${JSON.stringify(r)}, in process ${JSON.stringify(l)}`);
    if (r) nonEmpty++;
  }
  assert.ok(nonEmpty >= CURSORS.length / 2, `only ${nonEmpty} of ${CURSORS.length} completions had text`);
  const [remoteAfter, localAfter] = [await stats(remote), await stats(local)];
  const delta = (a, b, key) => a[key] - b[key];
  assert.equal(delta(remoteAfter, remoteBefore, 'generatedTokens'), delta(localAfter, localBefore, 'generatedTokens'), 'generated tokens');
  assert.equal(delta(remoteAfter, remoteBefore, 'promptTokens'), delta(localAfter, localBefore, 'promptTokens'), 'prompt tokens');
  // llama-server says on the first token how much of each prompt it took from its cache.
  assert.ok(delta(remoteAfter, remoteBefore, 'reusedPromptTokens') > 0, 'the server reused prompt tokens, and Hearth counted them');
});

test('a model rewrite through the backend equals the in-process one', async () => {
  const range = { start: { line: 14, character: 0 }, end: { line: 18, character: 16 } };
  const args = { instruction: 'add a docstring', scope: 'selection', uri: URI, range };
  const edit = (s) => s.conn.sendRequest('workspace/executeCommand', { command: 'hearth.edit', arguments: [args] });
  const tasksBefore = (await fetchJson('/slots'))[0].id_task;
  const [r, l] = [await edit(remote), await edit(local)];
  assert.ok((await fetchJson('/slots'))[0].id_task > tasksBefore, 'the rewrite was decoded by llama-server');
  assert.match(r.report, /model rewrite of 1 region/);
  assert.deepEqual(r.plan, l.plan);
  assert.deepEqual(r.edit, l.edit);
  // The same plan, regions and outcome (the tiny model may not finish: then both say after how many
  // tokens); only the decoding line differs, as the server does not speculate.
  const outcome = (report) => report.split('\n').filter((line) => !line.startsWith('decoding:')).join('\n');
  assert.equal(outcome(r.report), outcome(l.report));
});

test('a server with another model, and plain http to a public host, are refused with the reason', async () => {
  const others = [];
  try {
    // Gemma 3's tokenizer (read locally, no weights) against the server's tiny-coder.
    const mismatch = { statuses: [], stderr: '' };
    others.push(mismatch);
    const status = await startHearth(mismatch, { model: gemmaModel(), backend: { kind: 'llama-server', url: `http://127.0.0.1:${port}` } });
    assert.equal(status.state, 'error');
    assert.match(status.message, /does not match/);
    assert.match(status.message, /4096 tokens, the local model's 262144/);
    const insecure = { statuses: [], stderr: '' };
    others.push(insecure);
    const refused = await startHearth(insecure, { backend: { kind: 'openai-compatible', url: 'http://gpu.example.com:8000', model: 'm' } });
    assert.equal(refused.state, 'error');
    assert.match(refused.message, /unencrypted/);
    assert.match(refused.message, /allowInsecureHttp/);
  } finally {
    for (const s of others) s.server?.kill('SIGKILL');
  }
});

test('while a completion streams, the only socket is to the backend; cancelled, the stream closes and the server stops', async () => {
  const long = { line: 24, character: 0 };
  await remote.conn.sendNotification('workspace/didChangeConfiguration', {
    settings: { hearth: { model: tinyGguf(), backend: { kind: 'llama-server', url: `http://127.0.0.1:${port}` }, multiline: true, maxTokens: 1024 } },
  });
  const slot = async () => (await fetchJson('/slots'))?.[0];
  const stats = () => remote.conn.sendRequest('workspace/executeCommand', { command: 'hearth.stats', arguments: [] });
  // The same request left to run: how long the server takes over it when nobody cancels.
  const startedFull = Date.now();
  const generatedBefore = (await stats()).generatedTokens;
  await complete(remote, long);
  const full = { ms: Date.now() - startedFull, tokens: (await stats()).generatedTokens - generatedBefore };
  assert.ok(full.tokens >= 200, `the uncancelled request should run long: ${JSON.stringify(full)}`);
  // Asked again as it was, the suggestion just made would answer from memory: one setting differs.
  await remote.conn.sendNotification('workspace/didChangeConfiguration', {
    settings: { hearth: { model: tinyGguf(), backend: { kind: 'llama-server', url: `http://127.0.0.1:${port}` }, multiline: true, maxTokens: 1023 } },
  });
  const source = new rpc.CancellationTokenSource();
  const pending = complete(remote, long, source.token);
  await waitFor(async () => (await slot())?.is_processing, 10000, 'the request to reach llama-server');
  // While it streams, the server's one network socket is the connection to the backend.
  const backend = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`; // 127.0.0.1, little-endian hex
  assert.deepEqual(socketPeers(remote.server.pid), [`tcp ${backend}`]);
  source.cancel();
  await pending.then(() => undefined, (e) => assert.equal(e.code, rpc.LSPErrorCodes.RequestCancelled));
  const cancelledAt = Date.now();
  // Left alone, the server would go on for most of `full.ms`; a closed stream stops it at its next token.
  await waitFor(async () => (await slot())?.is_processing === false, full.ms / 2, 'llama-server to stop the cancelled generation');
  await remote.conn.sendNotification('workspace/didChangeConfiguration', {
    settings: { hearth: { model: tinyGguf(), backend: { kind: 'llama-server', url: `http://127.0.0.1:${port}` }, multiline: false, maxTokens: 24 } },
  });
});

test('a backend killed mid-stream gives one clean status, and completions come back when it returns', async () => {
  const before = remote.statuses.length;
  const fallbackBefore = withFallback.statuses.length;
  // A line added below the cursors: the suggestions already made no longer answer, the model must.
  const end = { line: TEXT.split('\n').length - 1, character: 0 };
  for (const s of [remote, local, withFallback]) {
    await s.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri: URI, version: 2 },
      contentChanges: [{ range: { start: end, end }, text: '# end\n' }],
    });
  }
  llama.kill('SIGKILL');
  await new Promise((r) => llama.once('exit', r));
  for (let i = 0; i < 3; i++) {
    assert.equal(await complete(remote, CURSORS[i]), null, 'no suggestion, not an error, while the backend is down');
  }
  const notes = remote.statuses.slice(before).filter((s) => /not answering/.test(s.message ?? ''));
  assert.equal(notes.length, 1, `said once: ${JSON.stringify(remote.statuses.slice(before))}`);
  assert.equal(notes[0].state, 'ready');
  assert.match(notes[0].message, new RegExp(`127\\.0\\.0\\.1:${port}`));
  // With `fallback`, the in-process model stands in: the same suggestions, and the status says so once.
  for (let i = 0; i < 3; i++) {
    assert.equal(firstText(await complete(withFallback, CURSORS[i])), firstText(await complete(local, CURSORS[i])), `cursor ${i}`);
  }
  const fallbackNotes = withFallback.statuses.slice(fallbackBefore).filter((s) => /completing in process/.test(s.message ?? ''));
  assert.equal(fallbackNotes.length, 1, JSON.stringify(withFallback.statuses.slice(fallbackBefore)));
  await startLlama();
  let text = null;
  for (let i = 0; i < 40 && text === null; i++) {
    text = firstText(await complete(remote, CURSORS[1]));
    if (text === null) await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal(text, firstText(await complete(local, CURSORS[1])), 'completions are back, and equal');
  // tower-lsp may deliver the status notification after the completion's response.
  await waitFor(async () => !/not answering/.test(remote.statuses.at(-1).message), 2000, 'the status to clear');
  assert.doesNotMatch(remote.statuses.at(-1).message, /not answering/);
  // The fallback server goes back to the backend once its retry interval has passed.
  for (let i = 0; i < 60 && /not answering/.test(withFallback.statuses.at(-1).message); i++) {
    // Each time a text it has not completed yet, so that it asks a model, not its memory.
    await withFallback.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri: URI, version: 3 + i },
      contentChanges: [{ range: { start: end, end }, text: '#' }],
    });
    await complete(withFallback, CURSORS[1]);
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.doesNotMatch(withFallback.statuses.at(-1).message, /not answering/);
});
