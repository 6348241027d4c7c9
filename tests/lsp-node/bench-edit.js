// Latency of `hearth.edit` through the language server, as an editor sees it: starts `hearth serve`
// on a repository, waits until the model and the index are ready, then sends the same edit
// request several times and prints the time to each reply and the size of the WorkspaceEdit.
//
//   HEARTH_BIN=target/release/hearth node tests/lsp-node/bench-edit.js --root DIR \
//     --instruction "rename fspath to to_path" [--scope repository] [--repeat 5] [--model PATH] [--cache DIR]
// --cache keeps the index between runs (default: a fresh temp dir, so the index is built cold).
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { parseArgs } = require('node:util');
const rpc = require('vscode-languageserver-protocol/node');
const { quietReader } = require('./support');

const { values: opts } = parseArgs({
  options: {
    root: { type: 'string' },
    instruction: { type: 'string' },
    scope: { type: 'string', default: 'repository' },
    repeat: { type: 'string', default: '5' },
    cache: { type: 'string' },
    model: { type: 'string', default: process.env.HEARTH_TEST_MODEL || path.resolve(__dirname, '../../../shared/models/tiny-coder') },
  },
});
if (!opts.root || !opts.instruction || !process.env.HEARTH_BIN) {
  console.error('usage: HEARTH_BIN=path/to/hearth node bench-edit.js --root DIR --instruction "rename X to Y" [--scope repository] [--repeat N] [--model PATH]');
  process.exit(2);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

(async () => {
  const root = fs.realpathSync(opts.root);
  const cache = opts.cache || fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-bench-edit-'));
  fs.mkdirSync(cache, { recursive: true });
  const server = spawn(process.env.HEARTH_BIN, ['serve', '--model', opts.model], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, HEARTH_CONFIG: path.join(cache, 'none.toml'), XDG_CACHE_HOME: cache },
  });
  const conn = rpc.createProtocolConnection(quietReader(server.stdout), new rpc.StreamMessageWriter(server.stdin));
  let status = {};
  conn.onNotification('hearth/status', (s) => { status = s; });
  conn.onNotification('window/showMessage', () => {});
  conn.listen();
  const started = Date.now();
  await conn.sendRequest('initialize', { processId: process.pid, rootUri: pathToFileURL(root).href, capabilities: {} });
  await conn.sendNotification('initialized', {});
  while (status.state !== 'ready') {
    if (status.state === 'error') throw new Error(`server error: ${status.message}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log(`ready (model loaded, index of ${root} built) in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const times = [];
  let result;
  for (let i = 0; i < Number(opts.repeat); i++) {
    const t0 = process.hrtime.bigint();
    result = await conn.sendRequest('workspace/executeCommand', { command: 'hearth.edit', arguments: [{ instruction: opts.instruction, scope: opts.scope }] });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const changes = Object.values(result.edit.changes || {});
  const edits = changes.reduce((n, e) => n + e.length, 0);
  const bytes = Buffer.byteLength(JSON.stringify(result));
  console.log(`hearth.edit ${JSON.stringify(opts.instruction)} (${opts.scope}): ${changes.length} file(s), ${edits} text edit(s), ${result.plan.length} plan region(s), reply ${(bytes / 1024).toFixed(0)} KiB`);
  console.log(`time to reply over ${times.length} requests: min ${Math.min(...times).toFixed(0)} ms, median ${median(times).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms`);
  console.log(result.report.split('\n').filter((l) => !l.startsWith('  ')).join('\n'));
  await conn.sendRequest('shutdown');
  await conn.sendNotification('exit');
  if (!opts.cache) fs.rmSync(cache, { recursive: true, force: true });
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
