// Next-edit suggestions through the real server, with vscode-languageserver-protocol: the user renames a
// parameter in a signature a keystroke at a time, and `hearth/nextEdit` builds its prompt from the
// server's own edit history. The prompt equals the golden prompt of each format (tiny-coder, which has
// Qwen2.5-Coder's `<|file_sep|>`); with Gemma 3 270M the returned edits apply cleanly and give the
// model's rewrite of the window, the suggestion is offered again through `textDocument/inlineCompletion`
// with a range, and cancellation and stale document versions are answered as LSP says.
// HEARTH_UPDATE_GOLDEN=1 writes the golden prompts instead of comparing with them.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const { model, hearthBinary, gemmaModel, connect, applyEdits, waitForIdleReady } = require('../support');

const STATS = [
  'import sys',
  '',
  'from fmt import line',
  '',
  '',
  'def report(values, out):',
  '    total = sum(values)',
  '    out.write(line("count", len(values)))',
  '    out.write(line("total", total))',
  '    for v in values:',
  '        out.write(f"  {v}\\n")',
  '    return total',
  '',
  '',
  'report([1, 2, 3], sys.stdout)',
  '',
].join('\n');

// A constructor that gets a new parameter: the next edit is the field's assignment.
const CONFIG = [
  'class Config:',
  '    def __init__(self, host, port):',
  '        self.host = host',
  '        self.port = port',
  '',
  '    def url(self):',
  '        return f"http://{self.host}:{self.port}"',
  '',
].join('\n');

const FMT = ['def line(label, value):', '    return f"{label}: {value}\\n"', ''].join('\n');

const GOLDEN = path.join(__dirname, '..', 'golden');

let root;
const servers = [];

/** `hearth serve` on the test repository with `modelPath`, initialized and ready. */
async function start(modelPath) {
  const statuses = [];
  let stderr = '';
  const server = spawn(hearthBinary(), ['serve', '--model', modelPath], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, HEARTH_CONFIG: path.join(root, 'no-such-config.toml'), RUST_LOG: process.env.RUST_LOG || 'warn' },
  });
  server.stderr.on('data', (d) => (stderr += d));
  if (process.env.HEARTH_TEST_STDERR) server.stderr.on('data', (d) => fs.appendFileSync(process.env.HEARTH_TEST_STDERR, d));
  servers.push(server);
  const conn = connect(server, { statuses });
  await conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri: pathToFileURL(root).toString(),
    capabilities: { window: { workDoneProgress: true } },
    initializationOptions: { debounceMs: 0 },
  });
  await conn.sendNotification('initialized', {});
  // Ready for the model and the index both: the context comes from the index.
  await waitForIdleReady(conn, statuses, () => stderr, 120000);
  return { conn, server, stderr: () => stderr };
}

/** Shuts a server down and waits for it to exit (it holds the index's writer lock until then). */
async function stop({ conn, server }) {
  await conn.sendRequest('shutdown');
  await conn.sendNotification('exit');
  if (server.exitCode === null) await new Promise((r) => server.on('exit', r));
}

function uri(name) {
  return pathToFileURL(path.join(root, name)).toString();
}

/** Opens stats.py, then renames `values` to `numbers` in the signature as a user types it. */
async function renameParameter(conn) {
  const doc = { uri: uri('stats.py'), version: 1 };
  await conn.sendNotification('textDocument/didOpen', { textDocument: { ...doc, languageId: 'python', text: STATS } });
  const at = { line: 5, character: 11 };
  const change = async (range, text) => {
    doc.version += 1;
    await conn.sendNotification('textDocument/didChange', { textDocument: { ...doc }, contentChanges: [{ range, text }] });
  };
  await change({ start: at, end: { line: 5, character: 17 } }, '');
  const word = 'numbers';
  for (let i = 0; i < word.length; i++) {
    const p = { line: 5, character: 11 + i };
    await change({ start: p, end: p }, word[i]);
  }
  return { version: doc.version, text: STATS.replace('report(values,', 'report(numbers,'), cursor: { line: 5, character: 18 } };
}

/** Opens config.py and adds a parameter `path` to the constructor, a key at a time. */
async function addParameter(conn) {
  const doc = { uri: uri('config.py'), version: 1 };
  await conn.sendNotification('textDocument/didOpen', { textDocument: { ...doc, languageId: 'python', text: CONFIG } });
  const typed = ', path';
  for (let i = 0; i < typed.length; i++) {
    const p = { line: 1, character: 33 + i };
    doc.version += 1;
    await conn.sendNotification('textDocument/didChange', { textDocument: { ...doc }, contentChanges: [{ range: { start: p, end: p }, text: typed[i] }] });
  }
  return { version: doc.version, text: CONFIG.replace('self, host, port)', 'self, host, port, path)'), cursor: { line: 1, character: 39 } };
}

function nextEdit(conn, version, position, extra = {}, token, file = 'stats.py') {
  const params = { textDocument: { uri: uri(file), version }, position, ...extra };
  // An `undefined` token would be sent as a second parameter.
  return token ? conn.sendRequest('hearth/nextEdit', params, token) : conn.sendRequest('hearth/nextEdit', params);
}

before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-nextedit-'));
  fs.writeFileSync(path.join(root, 'stats.py'), STATS);
  fs.writeFileSync(path.join(root, 'fmt.py'), FMT);
  fs.writeFileSync(path.join(root, 'config.py'), CONFIG);
  execFileSync('git', ['init', '-q'], { cwd: root });
});

after(() => {
  for (const server of servers) if (server.exitCode === null) server.kill();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

/** Asks for the next edit in `format` with its prompt, and compares the prompt with the golden one. */
async function goldenPrompt(conn, typed, format, stderr) {
  const result = await nextEdit(conn, typed.version, typed.cursor, { format, includePrompt: true });
  assert.ok(result && result.prompt, `${format}: ${JSON.stringify(result)}\n${stderr().slice(-2000)}`);
  assert.equal(result.format, format);
  assert.equal(result.version, typed.version);
  const file = path.join(GOLDEN, `next-edit-${format}.txt`);
  if (process.env.HEARTH_UPDATE_GOLDEN === '1') {
    fs.mkdirSync(GOLDEN, { recursive: true });
    fs.writeFileSync(file, result.prompt);
  }
  assert.equal(result.prompt, fs.readFileSync(file, 'utf8'), `${format}: the prompt differs from ${file}`);
  // The coalesced edits, and fmt.py (which stats.py imports) retrieved from the index as context.
  if (format === 'zeta') assert.equal(result.stats.contextFiles, 0, "Zeta's prompt shows no other files");
  else assert.ok(result.stats.contextFiles >= 1 && result.prompt.includes('def line(label, value):'), `${format}: fmt.py is in the context`);
  return result;
}

test('tiny-coder: Sweep\'s prompt, from the server\'s edit history, equals its golden prompt', async () => {
  const running = await start(model);
  const { conn, stderr } = running;
  const typed = await renameParameter(conn);
  await goldenPrompt(conn, typed, 'sweep', stderr);
  // The model's own format: tiny-coder has Qwen2.5-Coder's `<|file_sep|>`, so Sweep's.
  const auto = await nextEdit(conn, typed.version, typed.cursor, { includePrompt: true });
  assert.equal(auto.format, 'sweep');
  const unknown = await conn.sendRequest('hearth/nextEdit', { textDocument: { uri: uri('stats.py') }, position: typed.cursor, format: 'diff' }).then(
    () => null,
    (e) => e,
  );
  assert.ok(unknown && unknown.code === -32602 && /sweep, zeta or chat/.test(unknown.message), JSON.stringify(unknown));
  // Zeta's prompt and answer need more positions than tiny-coder's 384: a clear error, not a cut prompt.
  const long = await nextEdit(conn, typed.version, typed.cursor, { format: 'zeta' }).then(
    () => null,
    (e) => e,
  );
  assert.ok(long && /positions but the model's context holds 384/.test(long.message), JSON.stringify(long));
  await stop(running);
});

test('Gemma 3: Zeta\'s and the chat prompt equal their goldens, the edits apply cleanly, inline completion offers them, and cancels and stale versions are answered', async () => {
  const gemma = await start(gemmaModel());
  const { conn, stderr } = gemma;
  // The session's first edit: a parameter added to a constructor. The model assigns the new field.
  const config = await addParameter(conn);
  const ask = (extra = {}, token) => nextEdit(conn, config.version, config.cursor, { format: 'chat', ...extra }, token, 'config.py');
  const result = await ask({ includePrompt: true });
  assert.ok(result && result.outcome === 'edit' && result.edits.length > 0, `${JSON.stringify(result)}\n${stderr().slice(-2000)}`);
  assert.ok(result.reason.includes('after your edit at line 2'), result.reason);
  assert.ok(result.stats.steps < result.stats.generatedTokens, `speculation: ${JSON.stringify(result.stats)}`);
  // Applied as an editor applies them, the edits turn the window into the model's rewrite.
  const edited = applyEdits(config.text, result.edits);
  assert.equal(edited, applyEdits(config.text, [{ range: result.window, newText: result.rewritten }]));
  assert.match(edited, /self\.port = port\n {8}self\.path = path\n/, 'the new field is assigned');
  assert.ok(!edited.includes('<|'), 'no prompt marker in the code');

  // Inline completion at the line of the first edit offers it, with the range it replaces.
  const at = result.edits[0].range.start;
  const inline = await conn.sendRequest('textDocument/inlineCompletion', {
    textDocument: { uri: uri('config.py') }, position: at, context: { triggerKind: 2 },
  });
  assert.ok(inline && inline.items.length === 1 && inline.items[0].range, JSON.stringify(inline));
  const onLine = result.edits.filter((e) => e.range.start.line === at.line);
  assert.equal(
    applyEdits(config.text, [{ range: inline.items[0].range, newText: inline.items[0].insertText }]),
    applyEdits(config.text, onLine),
  );

  const typed = await renameParameter(conn);
  // Gemma 3's vocabulary has no `<|file_sep|>`: Sweep's format is refused with the formats that work.
  const sweep = await nextEdit(conn, typed.version, typed.cursor, { format: 'sweep' }).then(
    () => null,
    (e) => e,
  );
  assert.ok(sweep && sweep.code === -32602 && /zeta or chat/.test(sweep.message), JSON.stringify(sweep));

  await goldenPrompt(conn, typed, 'zeta', stderr);
  await goldenPrompt(conn, typed, 'chat', stderr);

  // A stale version is refused at once.
  const stale = await nextEdit(conn, typed.version - 1, typed.cursor).then(
    () => null,
    (e) => e,
  );
  assert.ok(stale && stale.code === -32801, JSON.stringify(stale));

  // `$/cancelRequest` stops a prediction.
  const rpc = require('vscode-languageserver-protocol/node');
  const source = new rpc.CancellationTokenSource();
  const cancelled = nextEdit(conn, typed.version, typed.cursor, { format: 'chat' }, source.token).then(
    () => null,
    (e) => e,
  );
  setTimeout(() => source.cancel(), 50);
  const err = await cancelled;
  assert.ok(err && err.code === -32800, JSON.stringify(err));

  // A change while it runs: the answer is ContentModified, and the suggestion for the old text is gone.
  const running = nextEdit(conn, typed.version, typed.cursor, { format: 'chat' }).then(
    () => null,
    (e) => e,
  );
  await new Promise((r) => setTimeout(r, 50));
  const p = { line: 14, character: 0 };
  await conn.sendNotification('textDocument/didChange', {
    textDocument: { uri: uri('stats.py'), version: typed.version + 1 },
    contentChanges: [{ range: { start: p, end: p }, text: '# ' }],
  });
  const modified = await running;
  assert.ok(modified && modified.code === -32801, JSON.stringify(modified));
  // The kept suggestion for config.py is gone once config.py changes.
  const q = { line: 6, character: 0 };
  await conn.sendNotification('textDocument/didChange', {
    textDocument: { uri: uri('config.py'), version: config.version + 1 },
    contentChanges: [{ range: { start: q, end: q }, text: '    # norm\n' }],
  });
  const later = await conn.sendRequest('textDocument/inlineCompletion', {
    textDocument: { uri: uri('config.py') }, position: at, context: { triggerKind: 2 },
  });
  for (const item of later ? later.items : []) assert.notDeepEqual(item, inline.items[0]);
  await stop(gemma);
});
