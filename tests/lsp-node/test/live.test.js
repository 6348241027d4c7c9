// The index follows the user's work through the real `hearth serve`, in real git repositories:
// files created, appended and saved, unsaved buffers, deletions and a `git checkout`, each seen by
// `hearth.context` (the snippets a completion would get) within a second, without a restart; and the
// qualifier before the cursor (`_base.`, `self.`) resolved through the file's imports, and a Go
// package's own scope.
// Two servers: one with `--no-watch`, fed by the editor's own notifications only (and registering
// `workspace/didChangeWatchedFiles` dynamically), and one with its file watcher and a silent client.
'use strict';

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const { model, hearthBinary, connect } = require('../support');

const READY_MS = 120_000;
/** The bar: a change reaches the context within a second. */
const LIVE_MS = 1000;
/** A checkout re-syncs the whole tree: allowed longer, and reported. */
const CHECKOUT_MS = 10_000;

/** A server on a fresh git repository holding `files`. */
async function startServer(files, { args = [], capabilities = {}, beforeReady = async () => {} } = {}) {
  const s = { statuses: [], registrations: [], stderr: '' };
  s.root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-live-')));
  s.cache = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-live-cache-'));
  s.write = (rel, text) => {
    fs.mkdirSync(path.dirname(path.join(s.root, rel)), { recursive: true });
    fs.writeFileSync(path.join(s.root, rel), text);
  };
  s.uri = (rel) => pathToFileURL(path.join(s.root, rel)).href;
  s.git = (...a) => execFileSync('git', ['-C', s.root, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...a]);
  for (const [rel, text] of Object.entries(files)) s.write(rel, text);
  s.git('init', '-q', '-b', 'main');
  s.git('add', '.');
  s.git('commit', '-qm', 'init');
  s.server = spawn(hearthBinary(), ['serve', '--model', model, ...args], {
    cwd: s.root,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, HEARTH_CONFIG: path.join(s.cache, 'none.toml'), XDG_CACHE_HOME: s.cache, RUST_LOG: 'info' },
  });
  s.server.stderr.on('data', (d) => { s.stderr += d.toString(); });
  s.conn = connect(s.server, { statuses: s.statuses });
  s.conn.onRequest('client/registerCapability', (p) => { s.registrations.push(...p.registrations); return null; });
  await s.conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri: pathToFileURL(s.root).href,
    workspaceFolders: [{ uri: pathToFileURL(s.root).href, name: 'ws' }],
    capabilities: { window: { workDoneProgress: true }, ...capabilities },
    initializationOptions: { debounceMs: 0 },
  });
  await s.conn.sendNotification('initialized', {});
  await beforeReady(s);
  const deadline = Date.now() + READY_MS;
  while (!s.statuses.some((st) => st.state === 'ready')) {
    assert.ok(Date.now() < deadline, `not ready: ${JSON.stringify(s.statuses)}\n${s.stderr.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return s;
}

function stopServer(s) {
  if (!s) return;
  if (s.server.exitCode === null) s.server.kill();
  for (const dir of [s.root, s.cache]) fs.rmSync(dir, { recursive: true, force: true });
}

function open(s, rel, text) {
  return s.conn.sendNotification('textDocument/didOpen', { textDocument: { uri: s.uri(rel), languageId: 'python', version: 1, text } });
}

/** The snippets `hearth.context` gives at the end of line `line` of the open document `rel`. */
async function snippets(s, rel, line) {
  const r = await s.conn.sendRequest('workspace/executeCommand', {
    command: 'hearth.context', arguments: [{ uri: s.uri(rel), position: { line, character: 200 } }],
  });
  return r.snippets;
}

const has = (found, file, name) => found.some((sn) => sn.path === file && sn.text.includes(name));

/** Polls the context until `want(snippets)` holds; returns the milliseconds it took. */
async function until(s, rel, line, want, limitMs, what) {
  const started = Date.now();
  let last = [];
  for (;;) {
    last = await snippets(s, rel, line);
    if (want(last)) {
      const ms = Date.now() - started;
      console.log(`# ${what}: ${ms} ms`);
      return ms;
    }
    if (Date.now() - started > limitMs) {
      assert.fail(`${what}: not within ${limitMs} ms; snippets ${JSON.stringify(last.map((sn) => [sn.path, sn.reason]))}\n${s.stderr.slice(-1500)}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

const FILES = {
  'helpers.py': 'def existing_helper(x):\n    return x * 2\n',
  'app.py': 'import helpers\n\n\ndef run():\n    return helpers.existing_helper(1)\n',
  // A package whose module has more than the context budget holds: what the qualifier names must win.
  'futures/_base.py': [
    'import logging\n\nLOGGER = logging.getLogger("concurrent.futures")\n',
    ...Array.from({ length: 40 }, (_, i) => `\ndef _helper_${i}(value):\n    """Helper ${i}."""\n    return value + ${i}\n`),
    '\nclass BrokenExecutor(RuntimeError):\n    pass\n',
    '\nclass Executor(object):\n    """This is an abstract base class for concrete asynchronous executors."""\n\n',
    '    def submit(self, fn, /, *args, **kwargs):\n        raise NotImplementedError()\n\n',
    '    def shutdown(self, wait=True, *, cancel_futures=False):\n        pass\n',
  ].join(''),
  'futures/process.py': 'from . import _base\n\n\nclass ProcessPoolExecutor(_base.Executor):\n    pass\n',
  // A Go package: one scope over its directory, tests apart.
  'gopkg/scan.go': 'package gopkg\n\nfunc scanIdent(src string) string {\n\treturn src\n}\n\nfunc scanNumber(src string) string {\n\treturn src\n}\n',
  // Generated: its definitions are indexed (the API hand-written code uses), its bodies are not.
  'gopkg/tables.go': '// Code generated by gen.go. DO NOT EDIT.\n\npackage gopkg\n\ntype Token struct {\n\tKind int\n}\n',
  'gopkg/scan_test.go': 'package gopkg\n\nfunc TestScan(t *testing.T) {}\n',
};

describe('fed by the editor (--no-watch)', () => {
  let s;
  before(async () => {
    s = await startServer(FILES, {
      args: ['--no-watch'],
      capabilities: { workspace: { didChangeWatchedFiles: { dynamicRegistration: true } } },
      // Opened while the index is still being built: replayed into it when it is ready.
      beforeReady: (srv) => open(srv, 'early.py', 'def opened_during_indexing_ee():\n    return 1\n'),
    });
  });
  after(() => stopServer(s));

  test('the server registers workspace/didChangeWatchedFiles', () => {
    const reg = s.registrations.find((r) => r.method === 'workspace/didChangeWatchedFiles');
    assert.ok(reg, JSON.stringify(s.registrations));
    assert.deepEqual(reg.registerOptions.watchers.map((w) => w.globPattern), ['**/*']);
  });

  test('the qualifier before the cursor brings the members of what it names', async () => {
    // `concurrent/futures/thread.py`: `class ThreadPoolExecutor(_base.|` wants `Executor` from `_base.py`.
    await open(s, 'futures/thread.py', 'from . import _base\n\n\nclass ThreadPoolExecutor(_base.');
    const found = await snippets(s, 'futures/thread.py', 3);
    const members = found.find((sn) => sn.path === 'futures/_base.py' && sn.reason.includes('members of `_base`'));
    assert.ok(members, JSON.stringify(found.map((sn) => [sn.path, sn.reason])));
    assert.match(members.text, /^class Executor\(object\):$/m);
    assert.ok(!members.text.includes('return value +'), 'signatures, not bodies');

    await open(s, 'futures/thread2.py', 'from . import _base\n\n\nclass Pool(_base.Executor):\n    def run(self):\n        self.');
    const own = await snippets(s, 'futures/thread2.py', 5);
    const bases = own.find((sn) => sn.reason.includes('members of `_base.Executor`'));
    assert.ok(bases, JSON.stringify(own.map((sn) => [sn.path, sn.reason])));
    assert.match(bases.text, /def shutdown\(self, wait=True/);
  });

  test('a Go file gets the signatures of its own package, which no import names', async () => {
    await s.conn.sendNotification('textDocument/didOpen', {
      textDocument: { uri: s.uri('gopkg/parse.go'), languageId: 'go', version: 1, text: 'package gopkg\n\nfunc parse(file string) string {\n\tname := scanIdent(file)\n\treturn name\n}\n' },
    });
    const found = await snippets(s, 'gopkg/parse.go', 4);
    const own = found.find((sn) => sn.reason.includes("of the file's own package"));
    assert.ok(own, JSON.stringify(found.map((sn) => [sn.path, sn.reason])));
    assert.equal(own.path, 'gopkg/scan.go');
    // The name it uses, and the one declared beside it, which it does not use yet.
    assert.equal(own.text, 'func scanIdent(src string) string {\nfunc scanNumber(src string) string {');
    assert.equal(own.reason, "signatures of `scanIdent`, `scanNumber`, of the file's own package");

    // Where a type goes, the package's types, a generated file's included.
    await s.conn.sendNotification('textDocument/didOpen', {
      textDocument: { uri: s.uri('gopkg/lex.go'), languageId: 'go', version: 1, text: 'package gopkg\n\nfunc lex(src string) {\n\tvar tok \n}\n' },
    });
    const typed = await snippets(s, 'gopkg/lex.go', 3);
    const token = typed.find((sn) => sn.path === 'gopkg/tables.go');
    assert.ok(token, JSON.stringify(typed.map((sn) => [sn.path, sn.reason])));
    assert.equal(token.text, 'type Token struct {');
  });

  test('a document opened during indexing is in the index once it is ready', async () => {
    await open(s, 'use0.py', 'import early\n\n\ndef main():\n    return early.opened_during_indexing_ee(');
    await until(s, 'use0.py', 4, (f) => has(f, 'early.py', 'def opened_during_indexing_ee'), LIVE_MS, 'opened during indexing');
  });

  test('a file created after ready appears on didChangeWatchedFiles, and goes when deleted', async () => {
    const use = 'import newmod\n\n\ndef main():\n    return newmod.brand_new_function_xyz(';
    await open(s, 'use.py', use);
    assert.ok(!has(await snippets(s, 'use.py', 4), 'newmod.py', 'def brand_new_function_xyz'));
    s.write('newmod.py', 'def brand_new_function_xyz(a, b):\n    """Adds two numbers."""\n    return a + b\n');
    await s.conn.sendNotification('workspace/didChangeWatchedFiles', { changes: [{ uri: s.uri('newmod.py'), type: 1 }] });
    await until(s, 'use.py', 4, (f) => has(f, 'newmod.py', 'def brand_new_function_xyz'), LIVE_MS, 'created file');

    fs.rmSync(path.join(s.root, 'newmod.py'));
    await s.conn.sendNotification('workspace/didChangeWatchedFiles', { changes: [{ uri: s.uri('newmod.py'), type: 3 }] });
    await until(s, 'use.py', 4, (f) => !f.some((sn) => sn.path === 'newmod.py'), LIVE_MS, 'deleted file');
  });

  test('a function appended to a file and saved appears', async () => {
    const use = 'import helpers\n\n\ndef main():\n    return helpers.appended_after_ready_qq(';
    await open(s, 'use2.py', use);
    fs.appendFileSync(path.join(s.root, 'helpers.py'), '\n\ndef appended_after_ready_qq(items):\n    return sorted(items)\n');
    await s.conn.sendNotification('textDocument/didSave', { textDocument: { uri: s.uri('helpers.py') } });
    await until(s, 'use2.py', 4, (f) => has(f, 'helpers.py', 'def appended_after_ready_qq'), LIVE_MS, 'appended and saved');
  });

  test('an unsaved edit in another buffer appears, and closing it restores the disk', async () => {
    await open(s, 'other.py', 'def on_disk_only():\n    pass\n');
    await s.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri: s.uri('other.py'), version: 2 },
      contentChanges: [{ range: { start: { line: 2, character: 0 }, end: { line: 2, character: 0 } }, text: '\n\ndef unsaved_function_kk(n):\n    return n - 1\n' }],
    });
    const use = 'import other\n\n\ndef main():\n    return other.unsaved_function_kk(';
    await open(s, 'use3.py', use);
    await until(s, 'use3.py', 4, (f) => has(f, 'other.py', 'def unsaved_function_kk'), LIVE_MS, 'unsaved buffer edit');

    // Open, edit and close in quick succession: no stale overlay is left masking the disk.
    await s.conn.sendNotification('textDocument/didClose', { textDocument: { uri: s.uri('other.py') } });
    await until(s, 'use3.py', 4, (f) => !has(f, 'other.py', 'unsaved_function_kk'), LIVE_MS, 'closed buffer');
  });
});

describe('fed by its file watcher (a silent client)', () => {
  let s;
  before(async () => {
    s = await startServer(FILES);
    // A branch with a module that main lacks, made before the server looks at HEAD again.
    s.git('checkout', '-q', '-b', 'feature');
    s.write('feature_mod.py', 'def feature_only_function_pp(path):\n    return open(path).read()\n');
    s.git('add', '.');
    s.git('commit', '-qm', 'feature');
    s.git('checkout', '-q', 'main');
  });
  after(() => stopServer(s));

  test('files written, and deleted, outside the editor are followed', async () => {
    await new Promise((r) => setTimeout(r, 300)); // the branch juggling above settles
    const use = 'import tool\n\n\ndef main():\n    return tool.written_by_a_tool_ww(';
    await open(s, 'use.py', use);
    s.write('tool.py', 'def written_by_a_tool_ww():\n    return 42\n');
    await until(s, 'use.py', 4, (f) => has(f, 'tool.py', 'def written_by_a_tool_ww'), LIVE_MS, 'written by a tool');
    fs.rmSync(path.join(s.root, 'tool.py'));
    await until(s, 'use.py', 4, (f) => !f.some((sn) => sn.path === 'tool.py'), LIVE_MS, 'deleted by a tool');
  });

  test('a git checkout of another branch is reflected, and back', async () => {
    const use = 'import feature_mod\n\n\ndef main():\n    return feature_mod.feature_only_function_pp(';
    await open(s, 'use_feature.py', use);
    assert.ok(!has(await snippets(s, 'use_feature.py', 4), 'feature_mod.py', 'feature_only_function_pp'));
    s.git('checkout', '-q', 'feature');
    await until(s, 'use_feature.py', 4, (f) => has(f, 'feature_mod.py', 'def feature_only_function_pp'), CHECKOUT_MS, 'checkout feature');
    s.git('checkout', '-q', 'main');
    await until(s, 'use_feature.py', 4, (f) => !f.some((sn) => sn.path === 'feature_mod.py'), CHECKOUT_MS, 'checkout main');
  });
});
