// `hearth.edit` and its code action, driven with vscode-languageserver-protocol against the real
// `hearth serve` and the tiny model, in a real git repository made in a temp dir. Renames must be
// exact (structural, no model); the tiny model's rewrites need only come back with a plan and a report.
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

const FILES = {
  'helpers.py': 'def mean_of(values):\n    """mean_of: the arithmetic mean."""\n    return sum(values) / len(values)\n',
  'main.py': 'from helpers import mean_of\n\n\ndef report(values):\n    # mean_of stays in comments\n    print("mean_of", mean_of(values))\n',
  'pkg/stats.py': 'import helpers\n\n\ndef spread(values):\n    m = helpers.mean_of(values)\n    return max(values) - m\n',
  'notes.md': 'mean_of is documented here\n',
};
// main.py as the editor holds it, unsaved: one more call that only the buffer has.
const MAIN_UNSAVED = FILES['main.py'] + '\n\nmean_of_all = mean_of([1, 2])\n';

let server;
let conn;
let root;
let cache;
let stderr = '';
const statuses = [];
const progress = [];
const applyRequests = [];
let applyAnswer = { applied: true };

const uriOf = (rel) => pathToFileURL(path.join(root, rel)).href;
const execute = (args, token, workDoneToken) => {
  const params = { command: 'hearth.edit', arguments: [args] };
  if (workDoneToken !== undefined) params.workDoneToken = workDoneToken;
  return token ? conn.sendRequest('workspace/executeCommand', params, token) : conn.sendRequest('workspace/executeCommand', params);
};


function editorText(rel) {
  return rel === 'main.py' ? MAIN_UNSAVED : fs.readFileSync(path.join(root, rel), 'utf8');
}

/** The texts after applying a WorkspaceEdit's `changes` to what the editor holds. */
function applied(edit) {
  const out = {};
  for (const [uri, edits] of Object.entries(edit.changes || {})) {
    const rel = path.relative(root, new URL(uri).pathname);
    out[rel] = applyEdits(editorText(rel), edits);
  }
  return out;
}



before(async () => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-lsp-edit-')));
  cache = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-lsp-edit-cache-'));
  for (const [rel, text] of Object.entries(FILES)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  const git = (...args) => execFileSync('git', ['-C', root, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args]);
  git('init', '-q');
  git('add', '.');
  git('commit', '-qm', 'init');
  server = spawn(hearthBinary(), ['serve', '--model', model], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, HEARTH_CONFIG: path.join(cache, 'none.toml'), XDG_CACHE_HOME: cache, RUST_LOG: 'info' },
  });
  server.stderr.on('data', (d) => { stderr += d.toString(); });
  conn = connect(server, { statuses, progress });
  conn.onRequest('workspace/applyEdit', (params) => {
    applyRequests.push(params);
    return applyAnswer;
  });
  const init = await conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri: pathToFileURL(root).href,
    workspaceFolders: [{ uri: pathToFileURL(root).href, name: 'ws' }],
    capabilities: { window: { workDoneProgress: true }, workspace: { applyEdit: true } },
    initializationOptions: { debounceMs: 0 },
  });
  const caps = init.capabilities;
  assert.ok(caps.executeCommandProvider.commands.includes('hearth.edit'), JSON.stringify(caps.executeCommandProvider));
  assert.deepEqual(caps.codeActionProvider.codeActionKinds, ['refactor.rewrite']);
  await conn.sendNotification('initialized', {});
  await conn.sendNotification('textDocument/didOpen', { textDocument: { uri: uriOf('main.py'), languageId: 'python', version: 1, text: MAIN_UNSAVED } });
  await waitForIdleReady(conn, statuses, () => stderr, READY_MS);
});

after(async () => {
  if (server && server.exitCode === null) server.kill();
  for (const dir of [root, cache]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the status goes loading -> (indexing ->) ready and never back', () => {
  const order = { loading: 0, indexing: 1, ready: 2 };
  const states = statuses.map((s) => s.state);
  assert.equal(states[states.length - 1], 'ready', JSON.stringify(statuses));
  for (let i = 1; i < states.length; i++) {
    assert.ok(order[states[i]] >= order[states[i - 1]], `status went back: ${JSON.stringify(states)}`);
  }
});

test('a non-empty selection offers "Hearth: edit selection…" (refactor.rewrite) running hearth.edit', async () => {
  const range = { start: { line: 3, character: 0 }, end: { line: 5, character: 10 } };
  const actions = await conn.sendRequest('textDocument/codeAction', {
    textDocument: { uri: uriOf('main.py') }, range, context: { diagnostics: [] },
  });
  assert.equal(actions.length, 1, JSON.stringify(actions));
  const [action] = actions;
  assert.equal(action.title, 'Hearth: edit selection…');
  assert.equal(action.kind, 'refactor.rewrite');
  assert.equal(action.command.command, 'hearth.edit');
  assert.deepEqual(action.command.arguments, [{ scope: 'selection', uri: uriOf('main.py'), range }]);
  // No action for an empty range, or when the client asks only for quick fixes.
  const empty = await conn.sendRequest('textDocument/codeAction', {
    textDocument: { uri: uriOf('main.py') }, range: { start: range.start, end: range.start }, context: { diagnostics: [] },
  });
  assert.ok(empty === null || empty.length === 0, JSON.stringify(empty));
  const quickfix = await conn.sendRequest('textDocument/codeAction', {
    textDocument: { uri: uriOf('main.py') }, range, context: { diagnostics: [], only: ['quickfix'] },
  });
  assert.ok(quickfix === null || quickfix.length === 0, JSON.stringify(quickfix));
  // Run as is, without the instruction the editor asks for: a clear error.
  await assert.rejects(execute(action.command.arguments[0]), (e) => e.code === rpc.ErrorCodes.InvalidParams && /instruction is empty/.test(e.message));
});

test('a repository rename returns the exact WorkspaceEdit, computed on unsaved buffers, with progress', async () => {
  progress.length = 0;
  const result = await execute({ instruction: 'rename mean_of to arithmetic_mean', scope: 'repository' }, undefined, 'edit-progress-1');
  const after = applied(result.edit);
  assert.deepEqual(Object.keys(after).sort(), ['helpers.py', 'main.py', 'pkg/stats.py']);
  assert.equal(after['helpers.py'], FILES['helpers.py'].replace('def mean_of', 'def arithmetic_mean'));
  assert.equal(
    after['main.py'],
    'from helpers import arithmetic_mean\n\n\ndef report(values):\n    # mean_of stays in comments\n    print("mean_of", arithmetic_mean(values))\n\n\nmean_of_all = arithmetic_mean([1, 2])\n',
  );
  assert.equal(after['pkg/stats.py'], FILES['pkg/stats.py'].replace('helpers.mean_of', 'helpers.arithmetic_mean'));
  assert.equal(result.applied, undefined, 'not applied unless asked');
  assert.ok(result.plan.length === 5 && result.plan.every((p) => p.uri.startsWith(pathToFileURL(root).href) && p.reason), JSON.stringify(result.plan));
  assert.match(result.report, /structural rename of `mean_of` to `arithmetic_mean`/);
  assert.match(result.report, /3 file\(s\) changed/);
  // Progress on the token the client gave: begin, planning ... checking, end. ($/progress and the
  // response travel separately, so the end may come after the result.)
  await progressEnd(progress, 'edit-progress-1');
  const mine = progress.filter((p) => p.token === 'edit-progress-1').map((p) => p.value);
  assert.equal(mine[0].kind, 'begin');
  assert.equal(mine[mine.length - 1].kind, 'end');
  const messages = mine.filter((v) => v.kind === 'report').map((v) => v.message);
  assert.deepEqual([messages[0], messages[messages.length - 1]], ['planning', 'checking'], JSON.stringify(messages));
  // Nothing was written: the client applies.
  for (const [rel, text] of Object.entries(FILES)) assert.equal(fs.readFileSync(path.join(root, rel), 'utf8'), text);
});

test('apply: true sends workspace/applyEdit and returns whether the client applied it', async () => {
  applyRequests.length = 0;
  applyAnswer = { applied: true };
  const result = await execute({ instruction: 'rename spread to value_range', scope: 'file', uri: uriOf('pkg/stats.py'), apply: true });
  assert.equal(result.applied, true);
  assert.equal(applyRequests.length, 1);
  assert.deepEqual(applyRequests[0].edit, result.edit);
  assert.deepEqual(applied(result.edit), { 'pkg/stats.py': FILES['pkg/stats.py'].replace('def spread', 'def value_range') });
  applyAnswer = { applied: false, failureReason: 'the user said no' };
  const refused = await execute({ instruction: 'rename spread to value_range', scope: 'file', uri: uriOf('pkg/stats.py'), apply: true });
  assert.equal(refused.applied, false);
  assert.equal(refused.failureReason, 'the user said no');
});

test('a model rewrite of a selection returns a plan and a report (the tiny model may change nothing)', async () => {
  const range = { start: { line: 3, character: 0 }, end: { line: 5, character: 44 } };
  const result = await execute({ instruction: 'add a docstring', scope: 'selection', uri: uriOf('main.py'), range });
  assert.equal(result.plan.length, 1, JSON.stringify(result.plan));
  assert.equal(result.plan[0].uri, uriOf('main.py'));
  assert.deepEqual(result.plan[0].range.start, { line: 3, character: 0 });
  assert.match(result.report, /model rewrite of 1 region/);
  const changed = Object.keys(result.edit.changes || {});
  if (changed.length === 0) {
    // No change: the report says why (the region was dropped, with the reason).
    assert.match(result.report, /0 file\(s\) changed/);
    assert.match(result.report, /dropped main\.py:4-6: \S/);
  } else {
    // A change stays inside the selected lines and applies to the unsaved buffer.
    assert.deepEqual(changed, [uriOf('main.py')]);
    for (const e of result.edit.changes[uriOf('main.py')]) assert.ok(e.range.start.line >= 3 && e.range.end.line <= 6, JSON.stringify(e));
    applied(result.edit);
  }
});

test('bad requests get clear errors and the server keeps serving', async () => {
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-outside-'));
  fs.writeFileSync(path.join(outside, 'x.py'), 'def mean_of():\n    pass\n');
  try {
    await assert.rejects(
      execute({ instruction: 'rename mean_of to m', scope: 'file', uri: pathToFileURL(path.join(outside, 'x.py')).href }),
      (e) => e.code === rpc.ErrorCodes.InvalidParams && /outside the workspace root/.test(e.message),
    );
  } finally {
    fs.rmSync(outside, { recursive: true, force: true });
  }
  await assert.rejects(
    execute({ instruction: 'rename mean_of to m', scope: 'file', uri: uriOf('../../etc/passwd.py') }),
    (e) => e.code === rpc.ErrorCodes.InvalidParams,
  );
  await assert.rejects(execute({ instruction: 'x', scope: 'galaxy' }), (e) => /unknown scope/.test(e.message));
  await assert.rejects(execute({ instruction: 'x', scope: 'selection', uri: uriOf('main.py') }), (e) => /needs a range/.test(e.message));
  await assert.rejects(conn.sendRequest('workspace/executeCommand', { command: 'hearth.edit', arguments: [42] }), (e) => /takes one argument/.test(e.message));
  const status = await conn.sendRequest('workspace/executeCommand', { command: 'hearth.status', arguments: [] });
  assert.equal(status.state, 'ready');
});

test('$/cancelRequest stops an edit and the server keeps serving', async () => {
  const source = new rpc.CancellationTokenSource();
  const range = { start: { line: 0, character: 0 }, end: { line: 8, character: 0 } };
  const pending = execute({ instruction: 'convert to a class with methods', scope: 'selection', uri: uriOf('main.py'), range }, source.token);
  setTimeout(() => source.cancel(), 5);
  // It may finish before the cancellation lands.
  await pending.then(() => undefined, (e) => assert.equal(e.code, rpc.LSPErrorCodes.RequestCancelled));
  const result = await execute({ instruction: 'rename report to show', scope: 'file', uri: uriOf('main.py') });
  assert.match(applied(result.edit)['main.py'], /^def show\(values\):$/m);
});

test('shutdown cancels a running edit; exit then ends the process cleanly', async () => {
  // Short enough to fit the tiny model's 384-token context, so the region is decoding when shutdown comes.
  const lines = Array.from({ length: 8 }, (_, i) => `    value_${i + 1} = compute(value_${i}, ${i})`);
  const text = `def pipeline(value_0):\n${lines.join('\n')}\n    return value_8\n`;
  fs.writeFileSync(path.join(root, 'long.py'), text);
  await conn.sendNotification('textDocument/didOpen', { textDocument: { uri: uriOf('long.py'), languageId: 'python', version: 1, text } });
  progress.length = 0;
  const range = { start: { line: 0, character: 0 }, end: { line: 10, character: 0 } };
  const outcome = execute({ instruction: 'convert to a class with one method per step', scope: 'selection', uri: uriOf('long.py'), range }, undefined, 'edit-shutdown')
    .then((r) => `finished: ${r.report}`, (e) => e.code);
  // Decoding has started once the plan is reported.
  while (!progress.some((p) => p.token === 'edit-shutdown' && p.value.message === '1 region(s) planned')) await new Promise((r) => setTimeout(r, 10));
  await conn.sendRequest('shutdown');
  assert.equal(await outcome, rpc.LSPErrorCodes.RequestCancelled);
  assert.equal((await progressEnd(progress, 'edit-shutdown')).message, 'cancelled');
  const exited = new Promise((resolve) => server.on('exit', (code) => resolve(code)));
  await conn.sendNotification('exit');
  assert.equal(await exited, 0, stderr.slice(-2000));
});
