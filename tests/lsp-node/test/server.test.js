// Drives `hearth serve` (the real binary, the tiny model from ../shared/models) with
// vscode-languageserver-protocol, the client library VS Code uses.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const rpc = require('vscode-languageserver-protocol/node');

const { model, hearthBinary, connect } = require('../support');

const PY = [
  'import os',
  '',
  'def read_lines(path):',
  '    """Return the lines of a text file."""',
  '    with open(path) as f:',
  '        return f.read().splitlines()',
  '',
  'def count_words(path):',
  '    total = 0',
  '    for line in read_lines(path):',
  '        total += ',
  '    return total',
  '',
].join('\n');

let server;
let conn;
const statuses = [];
const progress = [];
let stderr = '';

function uri(name) {
  return `file:///work/demo/${name}`;
}

function open(name, text, languageId = 'python') {
  return conn.sendNotification('textDocument/didOpen', {
    textDocument: { uri: uri(name), languageId, version: 1, text },
  });
}

function inline(name, line, character, token) {
  const params = { textDocument: { uri: uri(name) }, position: { line, character }, context: { triggerKind: 2 } };
  // vscode-jsonrpc would send an explicit `undefined` token as a second positional parameter.
  return token
    ? conn.sendRequest('textDocument/inlineCompletion', params, token)
    : conn.sendRequest('textDocument/inlineCompletion', params);
}

function stats() {
  return conn.sendRequest('workspace/executeCommand', { command: 'hearth.stats', arguments: [] });
}

before(async () => {
  server = spawn(hearthBinary(), ['serve', '--model', model], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, HEARTH_CONFIG: path.join(__dirname, 'no-such-config.toml'), RUST_LOG: 'info' },
  });
  server.stderr.on('data', (d) => { stderr += d.toString(); });
  conn = connect(server, { statuses, progress });
  const init = await conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri: 'file:///work/demo',
    capabilities: { window: { workDoneProgress: true } },
    initializationOptions: { debounceMs: 0, maxTokens: 24 },
  });
  const caps = init.capabilities;
  assert.deepEqual(caps.inlineCompletionProvider, {});
  assert.equal(caps.textDocumentSync.change, 2, 'incremental sync');
  assert.ok(caps.completionProvider);
  await conn.sendNotification('initialized', {});
});

after(async () => {
  if (server && server.exitCode === null) server.kill();
});

test('inline completion returns a non-empty item and follows incremental edits', async () => {
  await open('count.py', PY);
  const result = await inline('count.py', 10, 17);
  assert.ok(result && Array.isArray(result.items), `unexpected result ${JSON.stringify(result)}`);
  assert.equal(result.items.length, 1);
  const item = result.items[0];
  assert.ok(item.insertText.trim().length > 0, 'completion is not just whitespace');
  assert.ok(!item.insertText.includes('\n'), 'single-line mode');
  assert.deepEqual(item.range.start, { line: 10, character: 17 });

  // The model loaded with progress reports and a ready status.
  assert.ok(statuses.some((s) => s.state === 'ready'), JSON.stringify(statuses));
  assert.ok(progress.some((p) => p.value.kind === 'begin') && progress.some((p) => p.value.kind === 'end'));

  // Type `len(` after the cursor and complete again: the server follows the incremental change.
  await conn.sendNotification('textDocument/didChange', {
    textDocument: { uri: uri('count.py'), version: 2 },
    contentChanges: [{ range: { start: { line: 10, character: 17 }, end: { line: 10, character: 17 } }, text: 'len(' }],
  });
  const after = await inline('count.py', 10, 21);
  assert.ok(after === null || after.items.every((i) => i.range.start.character === 21));
  const context = await conn.sendRequest('workspace/executeCommand', {
    command: 'hearth.context', arguments: [{ uri: uri('count.py'), position: { line: 10, character: 21 } }],
  });
  assert.ok(context.prompt.includes('total += len(<|fim_suffix|>'), context.prompt);
});

test('typing through a suggestion, and accepting it, are answered without the model', async () => {
  await open('through.py', PY);
  const first = await inline('through.py', 10, 17);
  const shown = first.items[0].insertText;
  assert.ok(shown.trim().length >= 2, `a suggestion to type through: ${JSON.stringify(shown)}`);
  const insert = (version, character, text) => conn.sendNotification('textDocument/didChange', {
    textDocument: { uri: uri('through.py'), version },
    contentChanges: [{ range: { start: { line: 10, character }, end: { line: 10, character } }, text }],
  });
  // The user types its first character: the rest, at once, without decoding.
  const before = await stats();
  await insert(2, 17, shown[0]);
  const rest = await inline('through.py', 10, 18);
  assert.equal(rest.items[0].insertText, shown.slice(1));
  assert.deepEqual(rest.items[0].range.start, { line: 10, character: 18 });
  let now = await stats();
  assert.equal(now.typedThrough, before.typedThrough + 1);
  assert.equal(now.generatedTokens, before.generatedTokens, 'no token decoded');
  // The user accepts the rest: the suggestion after it was prefetched while the user read this one.
  for (let i = 0; i < 200 && now.prefetched <= before.prefetched; i++) {
    await new Promise((r) => setTimeout(r, 50));
    now = await stats();
  }
  assert.ok(now.prefetched > before.prefetched, `no prefetch finished: ${JSON.stringify(now)}\n${stderr.slice(-1500)}`);
  await insert(3, 18, shown.slice(1));
  const end = 17 + shown.length;
  const next = await inline('through.py', 10, end);
  const after = await stats();
  assert.equal(after.prefetchHits, now.prefetchHits + 1);
  assert.equal(after.generatedTokens, now.generatedTokens, 'the prefetched suggestion, no new decoding');
  // It is the suggestion a fresh request makes for the same text (the document reopened, nothing kept).
  const text = PY.split('\n').map((l, i) => (i === 10 ? l + shown : l)).join('\n');
  await conn.sendNotification('textDocument/didClose', { textDocument: { uri: uri('through.py') } });
  await open('through.py', text);
  const fresh = await inline('through.py', 10, end);
  assert.ok((await stats()).generatedTokens > after.generatedTokens, 'decoded afresh');
  assert.equal(next.items[0].insertText, fresh.items[0].insertText);
});

test('textDocument/completion items carry a textEdit at the cursor', async () => {
  const list = await conn.sendRequest('textDocument/completion', {
    textDocument: { uri: uri('count.py') }, position: { line: 5, character: 15 },
  });
  if (list !== null) {
    assert.equal(list.items.length, 1);
    assert.deepEqual(list.items[0].textEdit.range.start, { line: 5, character: 15 });
  }
});

test('non-ASCII text: positions are UTF-16', async () => {
  await open('uni.py', 'name = "𝔘nïcode"\nprint(name.upper())\nvalue = ');
  const result = await inline('uni.py', 2, 8);
  assert.ok(result === null || result.items[0].range.start.character === 8);
  await conn.sendNotification('textDocument/didChange', {
    textDocument: { uri: uri('uni.py'), version: 2 },
    // after `"𝔘` (UTF-16 column 10: the astral character is two units)
    contentChanges: [{ range: { start: { line: 0, character: 10 }, end: { line: 0, character: 10 } }, text: 'X' }],
  });
  const context = await conn.sendRequest('workspace/executeCommand', {
    command: 'hearth.context', arguments: [{ uri: uri('uni.py'), position: { line: 2, character: 8 } }],
  });
  assert.ok(context.prompt.includes('name = "𝔘Xnïcode"'), context.prompt);
});

test('$/cancelRequest stops a running completion and the server keeps serving', async () => {
  await conn.sendNotification('workspace/didChangeConfiguration', {
    settings: { hearth: { multiline: true, maxTokens: 200, contextBudget: 150 } },
  });
  const body = Array.from({ length: 40 }, (_, i) => `    step_${i} = compute(step_${i}, ${i})`).join('\n');
  await open('long.py', `def pipeline(step_0):\n${body}\n`);
  const before = await stats();
  const source = new rpc.CancellationTokenSource();
  const pending = inline('long.py', 40, 0, source.token);
  setTimeout(() => source.cancel(), 5);
  await assert.rejects(pending, (err) => err.code === rpc.LSPErrorCodes.RequestCancelled || err.code === -32800);
  // The cancelled token reached the blocking decoding loop, which counted it.
  let now = before;
  for (let i = 0; i < 100 && now.cancelled <= before.cancelled; i++) {
    await new Promise((r) => setTimeout(r, 50));
    now = await stats();
  }
  assert.ok(now.cancelled > before.cancelled, `stats before ${JSON.stringify(before)} after ${JSON.stringify(now)}`);
  await conn.sendNotification('workspace/didChangeConfiguration', {
    settings: { hearth: { multiline: false, maxTokens: 24, contextBudget: 1024 } },
  });
  const next = await inline('count.py', 10, 21);
  assert.ok(next === null || next.items.length === 1);
});

test('latest wins: a newer request for the same document cancels the older one', async () => {
  await conn.sendNotification('workspace/didChangeConfiguration', { settings: { hearth: { maxTokens: 200, multiline: true, contextBudget: 150 } } });
  const first = inline('long.py', 40, 0);
  const second = inline('long.py', 39, 4);
  await assert.rejects(first, (err) => err.code === -32800);
  const result = await second;
  assert.ok(result === null || result.items.length === 1);
  await conn.sendNotification('workspace/didChangeConfiguration', { settings: { hearth: { maxTokens: 24, multiline: false, contextBudget: 1024 } } });
});

test('bad input gets an error or an empty result and the server keeps serving', async () => {
  // A line past the end of the document.
  await assert.rejects(inline('count.py', 500, 0), (err) => err.code === rpc.ErrorCodes.InvalidParams);
  // A document the server never saw.
  await assert.rejects(inline('never-opened.py', 0, 0), (err) => err.code === rpc.ErrorCodes.InvalidParams);
  // Malformed JSON, written straight to the server's stdin.
  const garbage = '{"jsonrpc": "2.0", "id": 99, "method": ';
  server.stdin.write(`Content-Length: ${Buffer.byteLength(garbage)}\r\n\r\n${garbage}`);
  // A 10 MB document.
  const line = 'x = compute(value, other_value) + 1  # padding to make the file large\n';
  const big = line.repeat(Math.ceil((10 * 1024 * 1024) / line.length));
  await open('big.py', big + 'result = ');
  const lines = big.split('\n').length - 1;
  const bigResult = await inline('big.py', lines, 9);
  assert.ok(bigResult === null || bigResult.items.length === 1);
  // Still serving.
  const ok = await inline('count.py', 10, 21);
  assert.ok(ok === null || ok.items.length === 1);
  const status = await conn.sendRequest('workspace/executeCommand', { command: 'hearth.status', arguments: [] });
  assert.equal(status.state, 'ready');
});

test('shutdown and exit end the process cleanly', async () => {
  await conn.sendRequest('shutdown');
  const exited = new Promise((resolve) => server.on('exit', (code) => resolve(code)));
  await conn.sendNotification('exit');
  const code = await exited;
  assert.equal(code, 0, stderr.slice(-2000));
});
