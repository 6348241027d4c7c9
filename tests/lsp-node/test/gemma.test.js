// The real pretrained model through the real server: Gemma 3 270M (GGUF Q4_K_M, no FIM tokens), so
// completions are left to right with the path header and retrieved context as comments, the suffix is
// not in the prompt, and a cursor inside a word is healed. Driven with vscode-languageserver-protocol.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const { hearthBinary, gemmaModel, connect } = require('../support');

const GEOMETRY = [
  '"""Areas of plane shapes."""',
  'import math',
  '',
  '',
  'def circle_area(radius):',
  '    """The area of a circle of the given radius."""',
  '    return math.pi * radius ** 2',
  '',
  '',
  'def square_area(side):',
  '    return side * side',
  '',
].join('\n');

const REPORT = [
  'from geometry import circle_area, square_area',
  '',
  '',
  'def total_area(radii, sides):',
  '    total = 0',
  '    for r in radii:',
  '        total += circle_ar',
  '    for s in sides:',
  '        total += square_area(s)',
  '    return total',
  '',
].join('\n');

let root;
let server;
let conn;
let statuses;

function uri(name) {
  return pathToFileURL(path.join(root, name)).toString();
}

function command(name, args, connection = conn) {
  return connection.sendRequest('workspace/executeCommand', { command: name, arguments: args });
}

/** `hearth serve` with Gemma 3 on the test repository, initialized with `options` and ready. */
async function startServer(options) {
  const own = { statuses: [] };
  own.server = spawn(hearthBinary(), ['serve', '--model', gemmaModel()], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, HEARTH_CONFIG: path.join(root, 'no-such-config.toml'), RUST_LOG: 'warn' },
  });
  own.server.stderr.on('data', () => {});
  own.conn = connect(own.server, { statuses: own.statuses });
  await own.conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri: pathToFileURL(root).toString(),
    capabilities: { window: { workDoneProgress: true } },
    initializationOptions: options,
  });
  await own.conn.sendNotification('initialized', {});
  for (let i = 0; i < 1200 && !own.statuses.some((s) => s.state === 'ready'); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(own.statuses.some((s) => s.state === 'ready'), `never ready: ${JSON.stringify(own.statuses)}`);
  return own;
}

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-gemma-'));
  fs.writeFileSync(path.join(root, 'geometry.py'), GEOMETRY);
  fs.writeFileSync(path.join(root, 'report.py'), REPORT);
  execFileSync('git', ['init', '-q'], { cwd: root });
  ({ server, conn, statuses } = await startServer({ debounceMs: 0, maxTokens: 24 }));
  await conn.sendNotification('textDocument/didOpen', {
    textDocument: { uri: uri('report.py'), languageId: 'python', version: 1, text: REPORT },
  });
});

after(async () => {
  if (server && server.exitCode === null) server.kill();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

test('the status names the real model', async () => {
  const status = await command('hearth.status', []);
  assert.equal(status.state, 'ready');
  assert.match(JSON.stringify(status), /Gemma 3 270m/);
});

test('the prompt is left to right: BOS, path header, context as comments, no suffix', async () => {
  const context = await command('hearth.context', [{ uri: uri('report.py'), position: { line: 6, character: 27 } }]);
  const prompt = context.prompt;
  assert.ok(prompt.startsWith('<bos>'), prompt);
  assert.ok(prompt.includes('# report.py\nfrom geometry import'), prompt);
  assert.ok(prompt.includes('# def circle_area(radius):'), `the definition from geometry.py is not in the prompt as a comment:\n${prompt}`);
  assert.ok(prompt.endsWith('        total += circle_ar'), prompt);
  assert.ok(!prompt.includes('for s in sides'), `the suffix is in a left-to-right prompt:\n${prompt}`);
  // Inside a word, the prompt's last token comes off and the model spells it first.
  assert.ok(context.healed && 'circle_ar'.endsWith(context.healed), JSON.stringify(context.healed));
});

test('token healing follows the tokenHealing setting', async () => {
  const at = [{ uri: uri('report.py'), position: { line: 6, character: 27 } }];
  await conn.sendNotification('workspace/didChangeConfiguration', { settings: { hearth: { tokenHealing: 'off' } } });
  assert.equal((await command('hearth.context', at)).healed, null);
  await conn.sendNotification('workspace/didChangeConfiguration', { settings: { hearth: { tokenHealing: 'auto' } } });
  assert.ok((await command('hearth.context', at)).healed);
});

test('a cursor inside a word is healed: the suggestion continues the word', async () => {
  const result = await conn.sendRequest('textDocument/inlineCompletion', {
    textDocument: { uri: uri('report.py') }, position: { line: 6, character: 26 }, context: { triggerKind: 2 },
  });
  assert.ok(result && result.items.length === 1, JSON.stringify(result));
  const item = result.items[0];
  assert.deepEqual(item.range.start, { line: 6, character: 26 });
  assert.ok(!item.insertText.includes('\n'), 'single-line mode');
  // `circle_ar` + the suggestion is the name the model was given in the context and the import.
  assert.ok(`circle_ar${item.insertText}`.startsWith('circle_area('), `suggestion ${JSON.stringify(item.insertText)}`);
});

test('a suggestion never repeats the rest of the line', async () => {
  const result = await conn.sendRequest('textDocument/inlineCompletion', {
    textDocument: { uri: uri('report.py') }, position: { line: 8, character: 29 }, context: { triggerKind: 2 },
  });
  if (result !== null) {
    for (const item of result.items) assert.ok(!item.insertText.endsWith('s)'), JSON.stringify(item.insertText));
  }
});

test('unset, the context budget follows the measured prompt speed, and the status says so', async () => {
  // A server of its own, without prefetch: the speed comes from this test's prompts alone, and no
  // background decode runs between the two completions.
  const own = await startServer({ debounceMs: 0, maxTokens: 24, prefetch: false });
  try {
    await measuredBudget(own);
  } finally {
    await own.conn.sendRequest('shutdown');
    await own.conn.sendNotification('exit');
  }
});

async function measuredBudget({ conn, statuses }) {
  const command = (name, args) => conn.sendRequest('workspace/executeCommand', { command: name, arguments: args });
  const stats = () => command('hearth.stats', []);
  // A long file completed at its end: its prompt, computed from scratch, measures the speed.
  const body = Array.from({ length: 120 }, (_, i) => `def step_${i}(value):\n    return value * ${i} + step_${i ? i - 1 : 0}(value)\n`).join('\n');
  const open = (name, text) =>
    conn.sendNotification('textDocument/didOpen', { textDocument: { uri: uri(name), languageId: 'python', version: 1, text } });
  const complete = (name, line) =>
    conn.sendRequest('textDocument/inlineCompletion', { textDocument: { uri: uri(name) }, position: { line, character: 0 }, context: { triggerKind: 2 } });
  await open('steps.py', `${body}\n\ndef total(value):\n`);
  await complete('steps.py', body.split('\n').length + 2);
  let status = await command('hearth.status', []);
  for (let i = 0; i < 50 && status.contextBudget?.promptTokensPerSecond === undefined; i++) {
    await new Promise((r) => setTimeout(r, 100));
    status = await command('hearth.status', []);
  }
  const budget = status.contextBudget;
  assert.equal(budget.auto, true, JSON.stringify(status));
  // About four seconds of prompt at the measured speed, between 256 and the default 1024.
  const expected = Math.min(1024, Math.max(256, 4 * budget.promptTokensPerSecond));
  assert.ok(Math.abs(budget.tokens - expected) <= 4, `budget ${JSON.stringify(budget)}, expected about ${expected}`);
  assert.match(status.message, new RegExp(`context budget ${budget.tokens} tokens \\(prompt speed \\d+ tokens/s\\)`));
  assert.ok(statuses.some((s) => s.contextBudget?.promptTokensPerSecond !== undefined), 'a hearth/status notification told it');
  // The next prompt from scratch (another file) keeps to it.
  const before = await stats();
  await open('steps2.py', `${body.replaceAll('step_', 'stage_')}\n\ndef total(value):\n`);
  await complete('steps2.py', body.split('\n').length + 2);
  const after = await stats();
  const prompt = after.promptTokens - before.promptTokens;
  const seen = JSON.stringify({ before, after, now: (await command('hearth.status', [])).contextBudget });
  assert.equal(after.completed - before.completed, 1, seen);
  assert.ok(prompt > 0 && prompt <= budget.tokens + 16, `a prompt of ${prompt} tokens against a budget of ${budget.tokens}: ${seen}`);
  // A budget the user sets is used as it is.
  await conn.sendNotification('workspace/didChangeConfiguration', { settings: { hearth: { contextBudget: 512 } } });
  const set = (await command('hearth.status', [])).contextBudget;
  assert.deepEqual(set, { tokens: 512, auto: false });
}
