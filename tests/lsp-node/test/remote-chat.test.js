//! The agent and model rewrites through a backend's chat endpoint: `hearth serve` with `backend` =
//! llama-server (`--jinja`, built by scripts/build-llamacpp.sh) serving Gemma 3 270M with a
//! tool-calling chat template (scripts/fetch-assets.sh), on a loopback port. The server renders the
//! template and parses the tool calls; Hearth runs them.

'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const { pathToFileURL } = require('node:url');
const path = require('node:path');
const support = require('../support');
const { hearthBinary, connect, gemmaWithTemplate, llamaServer, freePort, applyEdits } = support;

const ROOT = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-remote-chat-')));
const FILE = 'shapes.py';
const URI = pathToFileURL(path.join(ROOT, FILE)).href;
const TEXT = 'import math\n\n\ndef area(radius):\n    return math.pi * radius ** 2\n';
// A base model repeats what it is shown: asked to write a call, it opens one, and the server's own
// parser (under its grammar for the offered tools) turns it into `tool_calls`.
const TOOLS = ['search', 'symbols', 'references', 'read_file', 'list_files', 'edit', 'rename', 'run'];
const CALL = `<tool_call>\n{"name": "read_file", "arguments": {"path": "${FILE}"}}\n</tool_call>`;

let port;
let llama;
let llamaLog = '';
const remote = { statuses: [], stderr: '', transcript: [] };

const fetchJson = (route) => support.fetchJson(port, route);
const waitFor = (check, ms, what) => support.waitFor(check, ms, what, () => llamaLog);

/** How llama-server read its last request: `peg-native` for a chat request, `Content-only` for a raw prompt. */
const lastChatFormat = async () => (await fetchJson('/slots'))?.[0]?.params?.chat_format;

before(async () => {
  fs.writeFileSync(path.join(ROOT, FILE), TEXT);
  port = await freePort();
  // --no-repack: on AMX CPUs llama.cpp's repacked kernels die with SIGILL (BENCHMARKS.md).
  llama = spawn(
    llamaServer(),
    ['-m', gemmaWithTemplate(), '--jinja', '--host', '127.0.0.1', '--port', String(port), '-np', '1', '-t', '2', '-c', '4096', '--no-webui', '--no-repack'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  llama.stdout.on('data', (d) => { llamaLog += d.toString(); });
  llama.stderr.on('data', (d) => { llamaLog += d.toString(); });
  await waitFor(async () => (await fetchJson('/health'))?.status === 'ok', 60000, 'llama-server /health');

  remote.server = spawn(hearthBinary(), ['serve', '--no-index'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, HEARTH_CONFIG: path.join(__dirname, 'no-such-config.toml'), RUST_LOG: 'info' },
  });
  remote.server.stderr.on('data', (d) => { remote.stderr += d.toString(); });
  remote.conn = connect(remote.server, { statuses: remote.statuses });
  remote.conn.onNotification('hearth/agentTranscript', (p) => remote.transcript.push(p));
  await remote.conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri: pathToFileURL(ROOT).href,
    capabilities: {},
    initializationOptions: { model: gemmaWithTemplate(), backend: { kind: 'llama-server', url: `http://127.0.0.1:${port}` } },
  });
  await remote.conn.sendNotification('initialized', {});
  await remote.conn.sendNotification('textDocument/didOpen', { textDocument: { uri: URI, languageId: 'python', version: 1, text: TEXT } });
  await waitFor(async () => remote.statuses.some((s) => s.state === 'ready' || s.state === 'error'), 60000, 'hearth ready');
  assert.equal(remote.statuses.at(-1).state, 'ready', `${JSON.stringify(remote.statuses)}\n${remote.stderr.slice(-2000)}`);
});

after(() => {
  remote.server?.kill('SIGKILL');
  llama?.kill('SIGKILL');
});

test('the agent asks the chat endpoint with the tools, and runs the call the server parsed', async () => {
  const result = await remote.conn.sendRequest('hearth/agent', { task: `Reply with exactly this:\n${CALL}`, maxSteps: 1, maxTokens: 60 });
  assert.equal(await lastChatFormat(), 'peg-native', 'the turn went to /v1/chat/completions, where the server parses calls');
  const call = result.transcript.find((e) => e.kind === 'tool_call');
  assert.ok(call, `no tool call in ${JSON.stringify(result.transcript)}\n${remote.stderr.slice(-2000)}`);
  assert.equal(call.server_parsed, true, 'the call came back in the server\'s tool_calls');
  // The server held the call to the tools' schemas once the model opened it: a tool Hearth offers,
  // about the file it was shown (which tool is the small model's choice).
  assert.ok(TOOLS.includes(call.name), `unknown tool ${call.name}`);
  assert.equal(call.arguments.path, FILE);
  const output = result.transcript.find((e) => e.kind === 'tool_result' && e.id === call.id);
  assert.ok(output, 'Hearth ran the call');
  assert.match(output.text, call.name === 'read_file' ? /def area\(radius\):/ : /shapes\.py|search/);
  assert.equal(result.stop, 'step_budget');
  assert.equal(result.steps, 1);
  // The transcript reached the client as notifications too, the call marked the same way.
  await waitFor(async () => remote.transcript.some((n) => n.event.kind === 'tool_call'), 5000, 'the transcript notification');
  assert.equal(remote.transcript.find((n) => n.event.kind === 'tool_call').event.server_parsed, true);
});

test('a model rewrite goes to the chat endpoint with the answer opened, and its edit applies', async () => {
  const range = { start: { line: 3, character: 0 }, end: { line: 4, character: 31 } };
  const args = { instruction: 'add a docstring', scope: 'selection', uri: URI, range };
  const tasksBefore = (await fetchJson('/slots'))[0].id_task;
  const r = await remote.conn.sendRequest('workspace/executeCommand', { command: 'hearth.edit', arguments: [args] });
  assert.ok((await fetchJson('/slots'))[0].id_task > tasksBefore, 'the rewrite was decoded by llama-server');
  assert.equal(await lastChatFormat(), 'peg-native', 'through /v1/chat/completions');
  assert.match(r.report, /model rewrite of 1 region/);
  // Whatever the small model wrote, the edit is either gated out or applies to the buffer as a whole.
  const edits = r.edit?.changes?.[URI] ?? [];
  const after = applyEdits(TEXT, edits);
  assert.ok(after.startsWith('import math\n'), `the edit reached outside the selection: ${JSON.stringify(after)}`);
});
