//! Next-edit suggestions through the real `hearth serve` with Gemma 3 270M (`nextEdit.format: chat`
//! from the settings mapping), driven by the extension's own NextEditController: the user adds a
//! constructor parameter a keystroke at a time, the edit pause asks `hearth/nextEdit`, the suggestion
//! is drawn, Tab jumps and then accepts, and the document equals the edits applied; then stats.py's
//! parameter rename, a cancelled request and the setting turned off. The editor is a plain text
//! document that sends didChange as the language client does (no VS Code here, as in the other
//! integration tests). Needs HEARTH_BIN and the Gemma GGUF in $HEARTH_ASSETS; fails (does not skip) without them.

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { CancellationTokenSource, type CancellationToken } from "vscode-languageserver-protocol/node";
import { TextDocument } from "vscode-languageserver-textdocument";
import { clientCapabilities, requireBinary, startServer, type Server } from "../harness";
import { didChangeConfigurationParams, nextEditEnabled, readSettings, type Settings } from "../../src/core/settings";
import { applyTextEdits, type Position, type TextEdit } from "../../src/core/diffModel";
import { NEXT_EDIT_REQUEST, parseNextEditResult, type NextEditParams, type SuggestionView } from "../../src/core/nextEdit";
import { NextEditController, type ActiveDocument, type NextEditHost } from "../../src/core/nextEditController";
import { inlineItems } from "../../src/core/protocol";

const READY_MS = Number(process.env.HEARTH_READY_TIMEOUT_MS ?? 300_000);
const REQUEST_MS = Number(process.env.HEARTH_REQUEST_TIMEOUT_MS ?? 120_000);

const STATS = `import sys

from fmt import line


def report(values, out):
    total = sum(values)
    out.write(line("count", len(values)))
    out.write(line("total", total))
    for v in values:
        out.write(f"  {v}\\n")
    return total


report([1, 2, 3], sys.stdout)
`;
const FMT = 'def line(label, value):\n    return f"{label}: {value}\\n"\n';
/** A constructor that gets a new parameter: Gemma 3 270M's next edit assigns the field (tests/lsp-node's scenario). */
const CONFIG = `class Config:
    def __init__(self, host, port):
        self.host = host
        self.port = port

    def url(self):
        return f"http://{self.host}:{self.port}"
`;

/** Gemma 3 270M, as scripts/fetch-assets.sh leaves it. */
function requireGemma(): string {
  const assets = process.env.HEARTH_ASSETS || path.join(os.homedir(), ".cache", "hearth", "assets");
  const file = path.join(assets, "gemma-3-270m-q4_k_m.gguf");
  if (!fs.existsSync(file)) throw new Error(`${file} not found: run scripts/fetch-assets.sh (or set HEARTH_ASSETS)`);
  return file;
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The editor: text documents synced to the server as vscode-languageclient syncs them, one active, with a cursor. */
class Editor implements NextEditHost<CancellationToken> {
  readonly docs = new Map<string, TextDocument>();
  uri = "";
  cursor: Position = { line: 0, character: 0 };
  readonly drawn: (SuggestionView | undefined)[] = [];
  readonly logs: string[] = [];
  readonly sent: NextEditParams[] = [];
  readonly answers: unknown[] = [];
  readonly controller = new NextEditController<CancellationToken>(this, () => new CancellationTokenSource());

  constructor(
    private readonly server: Server,
    public settings: Settings,
  ) {}

  get doc(): TextDocument {
    return this.docs.get(this.uri)!;
  }

  /** Opens a file (didOpen) in the active editor. */
  async open(uri: string, text: string): Promise<void> {
    this.docs.set(uri, TextDocument.create(uri, "python", 1, text));
    await this.server.connection.sendNotification("textDocument/didOpen", {
      textDocument: { uri, languageId: "python", version: 1, text },
    });
    this.uri = uri;
    this.cursor = { line: 0, character: 0 };
    this.controller.activeChanged();
  }

  active(): ActiveDocument {
    const doc = this.doc;
    return { uri: this.uri, version: doc.version, getText: () => doc.getText(), cursor: this.cursor };
  }
  wanted(): boolean {
    return nextEditEnabled(this.settings.server, "python");
  }
  async request(params: NextEditParams, token: CancellationToken): Promise<unknown> {
    this.sent.push(params);
    const answer = await this.server.connection.sendRequest(NEXT_EDIT_REQUEST, params, token);
    this.answers.push(answer);
    return answer;
  }
  render(view: SuggestionView | undefined): void {
    this.drawn.push(view);
  }
  moveCursor(position: Position): void {
    this.cursor = position;
  }
  async apply(uri: string, version: number, edits: TextEdit[]): Promise<boolean> {
    if (uri !== this.uri || version !== this.doc.version) return false;
    await this.change(edits);
    return true;
  }
  log(level: string, message: string): void {
    this.logs.push(`${level}: ${message}`);
  }

  /** One change of the active document (edits against its current text), sent as the client sends it: last edit first. */
  async change(edits: TextEdit[]): Promise<void> {
    const contentChanges = [...edits].reverse().map((e) => ({ range: e.range, text: e.newText }));
    TextDocument.update(this.doc, contentChanges, this.doc.version + 1);
    await this.server.connection.sendNotification("textDocument/didChange", {
      textDocument: { uri: this.uri, version: this.doc.version },
      contentChanges,
    });
    this.controller.changed(this.uri);
  }
  /** Types `text` at the cursor, a change per character. */
  async type(text: string): Promise<void> {
    for (const ch of text) {
      const at = this.cursor;
      await this.change([{ range: { start: at, end: at }, newText: ch }]);
      this.cursor = { line: at.line, character: at.character + 1 };
    }
  }
  get shown(): SuggestionView | undefined {
    return this.drawn[this.drawn.length - 1];
  }
  errors(): string[] {
    return this.logs.filter((l) => l.startsWith("error"));
  }
}

describe("next-edit suggestions (real server, Gemma 3 270M)", { timeout: READY_MS + 6 * REQUEST_MS }, () => {
  let server: Server;
  let root: string;
  let editor: Editor;
  const settingsWith = (values: Record<string, unknown>) => readSettings((key) => values[key]);
  const uriOf = (name: string) => pathToFileURL(path.join(root, name)).href;
  const diagnostics = () => `answers: ${JSON.stringify(editor.answers)}\nlogs: ${editor.logs.join("\n")}\n${server.stderr().slice(-3000)}`;

  before(async () => {
    const bin = requireBinary();
    const gemma = requireGemma();
    root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "hearth-vscode-nextedit-")));
    fs.writeFileSync(path.join(root, "config.py"), CONFIG);
    fs.writeFileSync(path.join(root, "stats.py"), STATS);
    fs.writeFileSync(path.join(root, "fmt.py"), FMT);
    execFileSync("git", ["init", "-q", root]);
    server = startServer(bin, ["serve", "--model", gemma], root, { HEARTH_CONFIG: path.join(root, "no-such-config.toml") });
    // The extension's settings mapping: the chat format (Gemma 3 has no Sweep tokens and no Zeta training).
    const settings = settingsWith({ "nextEdit.format": "chat" });
    assert.deepEqual(settings.server.nextEdit, { enabled: true, format: "chat" });
    await server.connection.sendRequest("initialize", {
      processId: process.pid,
      clientInfo: { name: "hearth-vscode-integration-test" },
      rootUri: pathToFileURL(root).href,
      workspaceFolders: [{ uri: pathToFileURL(root).href, name: "ws" }],
      capabilities: clientCapabilities,
      initializationOptions: settings.server,
    });
    await server.connection.sendNotification("initialized", {});
    await server.waitForStatus("ready", READY_MS);
    // Ready for the model and the index both (fmt.py comes from the index): quiet for half a second and ready when asked.
    const deadline = Date.now() + READY_MS;
    for (;;) {
      const seen = server.rawStatuses.length;
      await new Promise((r) => setTimeout(r, 500));
      const asked = await server.connection.sendRequest<{ state: string }>("workspace/executeCommand", {
        command: "hearth.status",
        arguments: [],
      });
      if (server.rawStatuses.length === seen && asked.state === "ready") break;
      assert.ok(Date.now() < deadline, `not ready after ${READY_MS} ms: ${JSON.stringify(asked)}`);
    }
    editor = new Editor(server, settings);
  });

  after(async () => {
    editor?.controller.dispose();
    if (server) {
      const code = await server.close();
      assert.equal(code, 0, `server exited with ${code} after shutdown/exit\n${server.stderr().slice(-4000)}`);
    }
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test("add a constructor parameter by typing: the pause asks, the suggestion is drawn, Tab jumps, Tab accepts", async () => {
    await editor.open(uriOf("config.py"), CONFIG);
    // `, path` after `port` in the signature, a key at a time.
    editor.cursor = { line: 1, character: 33 };
    await editor.type(", path");
    const typed = CONFIG.replace("self, host, port)", "self, host, port, path)");
    assert.equal(editor.doc.getText(), typed);
    assert.equal(editor.doc.version, 7);
    assert.equal(editor.sent.length, 0, "nothing is asked while typing");

    const view = await until("the next-edit suggestion", REQUEST_MS, () => editor.shown);
    assert.deepEqual(editor.sent, [{ textDocument: { uri: editor.uri, version: 7 }, position: { line: 1, character: 39 } }], diagnostics());
    const result = parseNextEditResult(editor.answers[0])!;
    assert.equal(result.outcome, "edit", diagnostics());
    assert.equal(result.format, "chat");
    assert.equal(result.version, 7);
    assert.ok(result.edits.length > 0, diagnostics());
    assert.ok(result.reason.includes("after your edit at line 2"), result.reason);
    const expected = applyTextEdits(typed, result.edits);
    assert.match(expected, /self\.port = port\n {8}self\.path = path\n/, "the model assigns the new field");

    // What the editor draws: each edit's replaced text (struck out) and new text (ghost text), near the cursor.
    assert.equal(view.uri, editor.uri);
    assert.equal(view.version, 7);
    assert.equal(view.edits.length, result.edits.length);
    const textNow = TextDocument.create(editor.uri, "python", 7, typed);
    for (const [i, e] of view.edits.entries()) {
      assert.equal(e.deleted, textNow.getText(e.range), `edit ${i}`);
      assert.equal(e.inserted, result.edits[i]!.newText);
      assert.ok(e.deleted !== "" || e.inserted !== "", `edit ${i} changes something`);
      if (e.multiline) assert.equal(e.preview, `${e.inserted.split("\n")[0]}…`, `edit ${i}: the first line and …`);
    }
    assert.ok(
      view.edits.some((e) => e.inserted.includes("self.path = path") && e.preview.startsWith("        self.path = path")),
      JSON.stringify(view.edits),
    );
    assert.equal(view.edits[0]!.distant, false, "a few lines below the cursor: drawn inline");
    assert.equal(view.hint, undefined);
    assert.deepEqual(view.target, result.edits[0]!.range.start);
    assert.match(view.diff, /^@@ line \d+ @@\n/);
    assert.match(view.diff, /\n\+ {8}self\.path = path/, "the hover's diff shows the new line");
    assert.deepEqual(editor.controller.view, view);
    assert.deepEqual(editor.errors(), []);

    // textDocument/inlineCompletion on the first edit's line offers it too, with the range it replaces
    // (vscode-languageclient shows that as an inline suggestion with a range).
    const at = result.edits[0]!.range.start;
    const inline = inlineItems(
      await server.connection.sendRequest("textDocument/inlineCompletion", {
        textDocument: { uri: editor.uri },
        position: at,
        context: { triggerKind: 2 },
      }),
    );
    assert.equal(inline.length, 1, JSON.stringify(inline));
    assert.ok(inline[0]!.range, "the item replaces a range");
    const onLine = result.edits.filter((e) => e.range.start.line === at.line);
    assert.equal(applyTextEdits(typed, [{ range: inline[0]!.range!, newText: inline[0]!.insertText }]), applyTextEdits(typed, onLine));

    // Tab: the cursor (after `path` in the signature) is not at the first edit, so it jumps there.
    assert.notDeepEqual(editor.cursor, at, "the cursor starts elsewhere");
    assert.equal(await editor.controller.jumpOrAccept(), "jump");
    assert.deepEqual(editor.cursor, at);
    assert.equal(editor.doc.getText(), typed, "a jump edits nothing");
    assert.ok(editor.shown, "the suggestion stays after the jump");
    // Tab again: all edits in one change.
    const version = editor.doc.version;
    assert.equal(await editor.controller.jumpOrAccept(), "accept");
    assert.equal(editor.doc.version, version + 1, "one change for all edits");
    assert.equal(editor.doc.getText(), expected);
    assert.equal(editor.shown, undefined, "accepting clears the suggestion");
    // The server has the accepted text: the version before it is stale.
    const stale = await server.connection.sendRequest(NEXT_EDIT_REQUEST, { textDocument: { uri: editor.uri, version }, position: at }).then(
      () => undefined,
      (e: { code?: number }) => e.code,
    );
    assert.equal(stale, -32801, "the server has the accepted text's version");
  });

  test("stats.py: renaming `values` by typing asks once after the pause, at the cursor; no suggestion draws nothing", async () => {
    // Another file: what was pending for config.py is dropped.
    await editor.open(uriOf("stats.py"), STATS);
    const sent = editor.sent.length;
    const drawn = editor.drawn.length;
    editor.cursor = { line: 5, character: 11 };
    await editor.change([{ range: { start: { line: 5, character: 11 }, end: { line: 5, character: 17 } }, newText: "" }]);
    await editor.type("numbers");
    assert.equal(editor.doc.getText(), STATS.replace("report(values,", "report(numbers,"));
    await until("the answer", REQUEST_MS, () => (editor.sent.length > sent && !editor.controller.requesting ? true : undefined));
    assert.deepEqual(editor.sent.slice(sent), [{ textDocument: { uri: editor.uri, version: 9 }, position: { line: 5, character: 18 } }]);
    const answer = parseNextEditResult(editor.answers[editor.answers.length - 1]);
    if (answer === null) {
      // Gemma 3 270M predicts no change here (its rewrite only repeats the prompt's markers).
      assert.equal(editor.shown, undefined);
      assert.equal(editor.drawn.length, drawn, "nothing drawn");
    } else {
      assert.equal(editor.shown?.version, 9, diagnostics());
      assert.equal(editor.shown?.edits.length, answer.edits.length);
    }
    assert.deepEqual(editor.errors(), []);
  });

  test("typing while a request runs cancels it quietly; hearth.nextEdit.enabled: false sends nothing and the server answers null", async () => {
    const sent = editor.sent.length;
    editor.cursor = { line: editor.doc.lineCount - 1, character: 0 };
    await editor.type("#");
    await until("the request after the pause", REQUEST_MS, () => (editor.sent.length > sent ? true : undefined));
    // Typing on cancels it: -32800 or -32801, neither logged.
    await editor.type(" ");
    assert.equal(editor.shown, undefined);
    await until("the cancelled request to settle", REQUEST_MS, () => (editor.controller.requesting ? undefined : true));
    assert.deepEqual(editor.errors(), []);

    // Off: the pause sends nothing, and the server (told through didChangeConfiguration) answers null.
    editor.settings = settingsWith({ "nextEdit.format": "chat", "nextEdit.enabled": false });
    editor.controller.reconsider();
    await server.connection.sendNotification("workspace/didChangeConfiguration", didChangeConfigurationParams(editor.settings.server));
    const before = editor.sent.length;
    await editor.type("x");
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await editor.controller.trigger(), undefined);
    assert.equal(editor.sent.length, before, "no request while hearth.nextEdit.enabled is false");
    const raw = await server.connection.sendRequest(NEXT_EDIT_REQUEST, {
      textDocument: { uri: editor.uri, version: editor.doc.version },
      position: editor.cursor,
    });
    assert.equal(raw, null);
  });
});
