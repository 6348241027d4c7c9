// `hearth/agent` through the real `hearth serve` with node's client, on a real git repository, with
// a scripted model (HEARTH_AGENT_SCRIPT: fixed turns, re-read for each request). The session searches,
// reads, has an edit refused by the parse gate and retried, renames across two files (one of them
// an unsaved buffer), runs an allowed command after asking through window/showMessageRequest, and
// returns one WorkspaceEdit; the disk is untouched until it is applied. Also: transcript
// notifications, $/progress, cancellation, the step budget and bad params.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const rpc = require('vscode-languageserver-protocol/node');

const { model, hearthBinary, connect, applyEdits, waitForIdleReady, progressEnd } = require('../support');
const READY_MS = 300_000;

const CONFIG = 'def parse_config(path):\n    with open(path) as f:\n        return f.read()\n';
const MAIN = 'from config import parse_config\n\n\ndef main():\n    print(parse_config("app.toml"))\n';
// main.py as the editor holds it: one more use that only the buffer has.
const MAIN_UNSAVED = MAIN + '\n\nDEFAULT = parse_config("default.toml")\n';
const RUN = 'grep -c load_config config.py main.py';

let server;
let conn;
let root;
let cache;
let script;
let stderr = '';
const statuses = [];
const progress = [];
const transcript = [];
const asked = [];
let answer = 'Run';

const call = (name, args) => `<tool_call>\n${JSON.stringify({ name, arguments: args })}\n</tool_call>`;
const uriOf = (rel) => pathToFileURL(path.join(root, rel)).href;
const writeScript = (turns) => fs.writeFileSync(script, JSON.stringify({ format: 'hermes', turns }));



before(async () => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-lsp-agent-')));
  cache = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-lsp-agent-cache-'));
  script = path.join(cache, 'script.json');
  fs.writeFileSync(path.join(root, 'config.py'), CONFIG);
  fs.writeFileSync(path.join(root, 'main.py'), MAIN);
  const git = (...args) => execFileSync('git', ['-C', root, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args]);
  git('init', '-q');
  git('add', '.');
  git('commit', '-qm', 'init');
  writeScript(['Nothing to do.']);
  server = spawn(hearthBinary(), ['serve', '--model', model], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, HEARTH_CONFIG: path.join(cache, 'none.toml'), XDG_CACHE_HOME: cache, HEARTH_AGENT_SCRIPT: script, RUST_LOG: 'info' },
  });
  server.stderr.on('data', (d) => { stderr += d.toString(); });
  conn = connect(server, { statuses, progress });
  conn.onNotification('hearth/agentTranscript', (p) => transcript.push(p));
  conn.onRequest('window/showMessageRequest', (params) => {
    asked.push(params);
    return params.actions.find((a) => a.title === answer) || null;
  });
  await conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri: pathToFileURL(root).href,
    workspaceFolders: [{ uri: pathToFileURL(root).href, name: 'ws' }],
    capabilities: { window: { workDoneProgress: true, showMessage: {} }, workspace: { applyEdit: true } },
    initializationOptions: { debounceMs: 0, agent: { commands: [RUN, 'sleep 30'] } },
  });
  await conn.sendNotification('initialized', {});
  await conn.sendNotification('textDocument/didOpen', { textDocument: { uri: uriOf('main.py'), languageId: 'python', version: 1, text: MAIN_UNSAVED } });
  await waitForIdleReady(conn, statuses, () => stderr, READY_MS);
});

after(async () => {
  if (server && server.exitCode === null) server.kill();
  for (const dir of [root, cache]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('a session searches, reads, edits through the parse gate, renames and runs, and returns one WorkspaceEdit', async () => {
  writeScript([
    `Looking for the parser.\n${call('search', { query: 'parse config' })}`,
    call('read_file', { path: 'config.py' }),
    call('edit', { path: 'config.py', search: '        return f.read()\n', replace: '        return f.read(\n' }),
    call('edit', { path: 'config.py', search: '        return f.read()\n', replace: '        return f.read().strip()\n' }),
    call('rename', { from: 'parse_config', to: 'load_config' }),
    call('run', { command: RUN }),
    'Renamed parse_config to load_config and strip what it reads.',
  ]);
  transcript.length = 0;
  asked.length = 0;
  answer = 'Run';
  const token = 'agent-1';
  const result = await conn.sendRequest('hearth/agent', { task: 'rename parse_config to load_config', files: [uriOf('config.py')], workDoneToken: token });

  assert.equal(result.stop, 'answered');
  assert.equal(result.steps, 7);
  assert.equal(result.malformedCalls, 0);
  assert.equal(result.answer, 'Renamed parse_config to load_config and strip what it reads.');
  const results = result.transcript.filter((e) => e.kind === 'tool_result');
  assert.deepEqual(results.map((r) => [r.name, r.ok]), [['search', true], ['read_file', true], ['edit', false], ['edit', true], ['rename', true], ['run', true]]);
  assert.match(results[2].text, /edit rejected: config\.py would not parse as python/);
  assert.match(results[5].text, /config\.py:1\nmain\.py:3/, 'the command ran on a copy with the edits, the buffer included');
  // Every event came as a notification (they travel apart from the response, so the last may trail it).
  const notified = () => transcript.filter((n) => n.session === result.session).map((n) => n.event);
  for (let waited = 0; notified().length < result.transcript.length && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(notified(), result.transcript);
  // The run asked first, naming the command.
  assert.equal(asked.length, 1);
  assert.match(asked[0].message, /grep -c load_config config\.py main\.py/);
  await progressEnd(progress, token);
  const kinds = progress.filter((p) => p.token === token).map((p) => p.value.kind);
  assert.equal(kinds[0], 'begin');
  assert.equal(kinds[kinds.length - 1], 'end');

  // One WorkspaceEdit over both files, against what the editor holds.
  const changes = result.edit.changes;
  assert.deepEqual(Object.keys(changes).sort(), [uriOf('config.py'), uriOf('main.py')].sort());
  assert.equal(applyEdits(CONFIG, changes[uriOf('config.py')]), 'def load_config(path):\n    with open(path) as f:\n        return f.read().strip()\n');
  assert.equal(applyEdits(MAIN_UNSAVED, changes[uriOf('main.py')]), MAIN_UNSAVED.replaceAll('parse_config', 'load_config'));
  assert.deepEqual(result.files.map((f) => f.path), ['config.py', 'main.py']);
  assert.match(result.files[0].diff, /\+        return f\.read\(\)\.strip\(\)/);
  // Nothing on disk until the client applies it.
  assert.equal(fs.readFileSync(path.join(root, 'config.py'), 'utf8'), CONFIG);
  assert.equal(fs.readFileSync(path.join(root, 'main.py'), 'utf8'), MAIN);
});

test('a denied run goes back to the model, and the step budget stops the loop', async () => {
  writeScript([call('run', { command: RUN }), call('list_files', {}), call('list_files', {}), 'done']);
  answer = 'Deny';
  asked.length = 0;
  const result = await conn.sendRequest('hearth/agent', { task: 'check', maxSteps: 2 });
  assert.equal(asked.length, 1);
  const first = result.transcript.find((e) => e.kind === 'tool_result');
  assert.equal(first.ok, false);
  assert.match(first.text, /declined/);
  assert.equal(result.stop, 'step_budget');
  assert.equal(result.steps, 2);
  assert.deepEqual(result.edit.changes, {});
});

test('cancelling a running session answers RequestCancelled and the server keeps serving', async () => {
  writeScript([call('run', { command: 'sleep 30' }), 'done']);
  answer = 'Always run it';
  const source = new rpc.CancellationTokenSource();
  const started = Date.now();
  const pending = conn.sendRequest('hearth/agent', { task: 'wait' }, source.token);
  for (;;) {
    if (transcript.some((n) => n.event.kind === 'tool_call' && n.event.arguments.command === 'sleep 30')) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 300));
  source.cancel();
  await assert.rejects(pending, (e) => e.code === rpc.LSPErrorCodes.RequestCancelled || e.code === -32800);
  assert.ok(Date.now() - started < 20_000, 'the command was killed, not waited for');
  const status = await conn.sendRequest('workspace/executeCommand', { command: 'hearth.status', arguments: [] });
  assert.equal(status.state, 'ready');
});

test('bad params get clear errors', async () => {
  await assert.rejects(conn.sendRequest('hearth/agent', { task: '   ' }), (e) => e.code === -32602 && /task is empty/.test(e.message));
  await assert.rejects(conn.sendRequest('hearth/agent', { files: 3 }), (e) => e.code === -32602);
  await assert.rejects(
    conn.sendRequest('hearth/agent', { task: 'x', files: ['file:///elsewhere/a.py'] }),
    (e) => e.code === -32602 && /not a file in the workspace/.test(e.message),
  );
  fs.writeFileSync(script, '{not json');
  await assert.rejects(conn.sendRequest('hearth/agent', { task: 'x' }), (e) => /agent script is not valid/.test(e.message));
});
