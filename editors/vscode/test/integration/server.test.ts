//! The real `hearth serve` with the tiny model, driven as the extension drives it: initialize with the
//! settings mapping, status notifications, inline completion with cancellation, hearth.edit/context/status.
//! Needs HEARTH_BIN and HEARTH_TEST_MODEL; fails (does not skip) without them.

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { CancellationTokenSource, ResponseError, WorkDoneProgress } from "vscode-languageserver-protocol/node";
import { clientCapabilities, requireBinary, requireModel, startServer, type Server } from "../harness";
import { didChangeConfigurationParams, readSettings, serverArgs } from "../../src/core/settings";
import { initialStatus, nextStatus, type StatusState } from "../../src/core/status";
import { codeActionEditArgs, contextArgs, editArgs, inlineItems, parseContextResult, parseEditResult } from "../../src/core/protocol";
import { buildPreview, collectEdits } from "../../src/core/diffModel";
import { withTimeout } from "../../src/core/timeout";

const READY_MS = Number(process.env.HEARTH_READY_TIMEOUT_MS ?? 300_000);
const REQUEST_MS = Number(process.env.HEARTH_REQUEST_TIMEOUT_MS ?? 120_000);

const MAIN = `from helpers import mean_of


def add(a, b):
    return a + b


def total(values):
    result = 0
    for v in values:
        result = result + v
    return result


def average(values):
    return `;
const HELPERS = `def mean_of(values):
    """Arithmetic mean of a non-empty list."""
    return sum(values) / len(values)
`;

/** Whole-line positions of the end of MAIN. */
function endOf(text: string) {
  const lines = text.split("\n");
  return { line: lines.length - 1, character: lines[lines.length - 1]!.length };
}

describe("hearth serve (real server, tiny model)", { timeout: READY_MS + 10 * REQUEST_MS }, () => {
  let server: Server;
  let root: string;
  let mainUri: string;
  let helpersUri: string;
  let documentText = MAIN;
  let status: StatusState = initialStatus;
  let capabilities: Record<string, unknown> = {};

  const request = <T = unknown>(method: string, params: unknown): Promise<T> => {
    const source = new CancellationTokenSource();
    const timer = setTimeout(() => source.cancel(), REQUEST_MS);
    return server.connection.sendRequest<T>(method, params, source.token).finally(() => clearTimeout(timer));
  };
  const inline = (position: { line: number; character: number }) =>
    request("textDocument/inlineCompletion", { textDocument: { uri: mainUri }, position, context: { triggerKind: 1 } });

  before(async () => {
    const bin = requireBinary();
    const model = path.resolve(requireModel());
    root = fs.mkdtempSync(path.join(os.tmpdir(), "hearth-vscode-it-"));
    fs.writeFileSync(path.join(root, "main.py"), MAIN);
    fs.writeFileSync(path.join(root, "helpers.py"), HELPERS);
    execFileSync("git", ["init", "-q", root]);
    execFileSync("git", ["-C", root, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "."]);
    execFileSync("git", ["-C", root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init"]);
    mainUri = pathToFileURL(path.join(root, "main.py")).href;
    helpersUri = pathToFileURL(path.join(root, "helpers.py")).href;
    server = startServer(bin, ["serve", "--model", model], root);
    server.onStatus((payload) => {
      status = nextStatus(status, { type: "notification", payload });
    });
    status = nextStatus(nextStatus(status, { type: "starting" }), { type: "running" });
    const settings = readSettings((key) => (key === "model" ? model : undefined));
    const init = await request<{ capabilities: Record<string, unknown> }>("initialize", {
      processId: process.pid,
      clientInfo: { name: "hearth-vscode-integration-test" },
      rootUri: pathToFileURL(root).href,
      workspaceFolders: [{ uri: pathToFileURL(root).href, name: "ws" }],
      capabilities: clientCapabilities,
      initializationOptions: settings.server,
    });
    capabilities = init.capabilities;
    assert.ok(capabilities.inlineCompletionProvider, `no inlineCompletionProvider in ${JSON.stringify(capabilities)}`);
    await server.connection.sendNotification("initialized", {});
    await server.connection.sendNotification("textDocument/didOpen", {
      textDocument: { uri: mainUri, languageId: "python", version: 1, text: MAIN },
    });
    await server.waitForStatus("ready", READY_MS);
    // The server may report ready for the model and then start indexing: wait until it is ready, has
    // sent nothing new for half a second, and says ready when asked.
    const deadline = Date.now() + READY_MS;
    for (;;) {
      const seen = server.rawStatuses.length;
      await new Promise((r) => setTimeout(r, 500));
      const asked = await request<{ state: string }>("workspace/executeCommand", { command: "hearth.status", arguments: [] });
      if (server.rawStatuses.length === seen && status.kind === "ready" && asked.state === "ready") break;
      assert.ok(Date.now() < deadline, `not ready after ${READY_MS} ms: ${JSON.stringify(asked)}`);
    }
  });

  after(async () => {
    if (server) {
      const code = await server.close();
      assert.equal(code, 0, `server exited with ${code} after shutdown/exit\n${server.stderr().slice(-4000)}`);
    }
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  const advertised = () => (capabilities.executeCommandProvider as { commands?: string[] } | undefined)?.commands ?? [];
  const edit = (args: unknown) => request("workspace/executeCommand", { command: "hearth.edit", arguments: [args] }).then(parseEditResult);

  test("the server advertises the commands and the code action the extension uses", () => {
    for (const c of ["hearth.context", "hearth.status", "hearth.edit"])
      assert.ok(advertised().includes(c), `server does not advertise ${c}: ${JSON.stringify(advertised())}`);
    assert.deepEqual((capabilities.codeActionProvider as { codeActionKinds?: string[] }).codeActionKinds, ["refactor.rewrite"]);
  });

  test("hearth/status notifications drive the status bar to ready", () => {
    assert.equal(status.kind, "ready", JSON.stringify(server.statuses));
    for (const raw of server.rawStatuses) {
      assert.ok(
        ["loading", "indexing", "ready", "error"].includes((raw as { state?: string }).state ?? ""),
        `malformed hearth/status ${JSON.stringify(raw)}`,
      );
    }
  });

  test("hearth.status returns the last status payload", async () => {
    const s = await request<{ state: string }>("workspace/executeCommand", { command: "hearth.status", arguments: [] });
    assert.equal(s.state, "ready");
  });

  test("inline completion returns ghost text at the cursor", async () => {
    const result = await inline(endOf(MAIN));
    const items = inlineItems(result);
    assert.ok(items.length > 0, `no inline completion items: ${JSON.stringify(result)}`);
    assert.ok(items[0]!.insertText.trim().length > 0, `empty insertText: ${JSON.stringify(result)}`);
    assert.ok(!items[0]!.insertText.includes("<|"), `special tokens leaked into ghost text: ${JSON.stringify(items[0])}`);
    if (items[0]!.range) {
      assert.equal(items[0]!.range.start.line, endOf(MAIN).line, "the replaced range starts on the cursor line");
    }
  });

  test("clients without inline completion (Helix, Zed, eglot) get a completion item that inserts at the cursor", async () => {
    const at = endOf(MAIN);
    const result = await request<unknown>("textDocument/completion", {
      textDocument: { uri: mainUri },
      position: at,
      context: { triggerKind: 1 },
    });
    const items = (Array.isArray(result) ? result : ((result as { items?: unknown[] } | null)?.items ?? [])) as {
      label?: string;
      textEdit?: { range: { start: typeof at; end: typeof at }; newText: string };
    }[];
    assert.ok(items.length > 0, `no completion items: ${JSON.stringify(result)}`);
    const edit = items[0]!.textEdit;
    assert.ok(edit && edit.newText.trim() !== "", `the item has no textEdit: ${JSON.stringify(items[0])}`);
    assert.deepEqual(edit.range, { start: at, end: at }, "the textEdit inserts at the cursor");
    assert.equal(typeof items[0]!.label, "string");
  });

  test("a completion cancelled as the user types on does not break the server", async () => {
    const source = new CancellationTokenSource();
    const pending = server.connection.sendRequest(
      "textDocument/inlineCompletion",
      { textDocument: { uri: mainUri }, position: endOf(MAIN), context: { triggerKind: 2 } },
      source.token,
    );
    source.cancel();
    await pending.then(
      () => undefined, // It may finish before the cancellation lands.
      (e: unknown) => assert.ok(e instanceof ResponseError && e.code === -32800, `cancelled request failed with ${String(e)}`),
    );
    // The user typed "sum(": the document changes and a new request is answered.
    documentText = MAIN + "sum(";
    await server.connection.sendNotification("textDocument/didChange", {
      textDocument: { uri: mainUri, version: 2 },
      contentChanges: [{ range: { start: endOf(MAIN), end: endOf(MAIN) }, text: "sum(" }],
    });
    const r = await withTimeout(
      new CancellationTokenSource().token,
      REQUEST_MS,
      () => new CancellationTokenSource(),
      (t) =>
        server.connection.sendRequest(
          "textDocument/inlineCompletion",
          { textDocument: { uri: mainUri }, position: endOf(documentText), context: { triggerKind: 2 } },
          t,
        ),
      "timed out",
    );
    assert.equal(r.timedOut, false, "the server answers the next request after a cancellation");
  });

  test("settings change without restart: multiline on, then a language filter", async () => {
    const multiline = readSettings((k) => (k === "multiline" ? true : undefined)).server;
    await server.connection.sendNotification("workspace/didChangeConfiguration", didChangeConfigurationParams(multiline));
    const r = inlineItems(await inline(endOf(documentText)));
    assert.ok(Array.isArray(r));
    const rustOnly = readSettings((k) => (k === "enabledLanguages" ? ["rust"] : undefined)).server;
    await server.connection.sendNotification("workspace/didChangeConfiguration", didChangeConfigurationParams(rustOnly));
    assert.deepEqual(inlineItems(await inline(endOf(documentText))), [], "python is not enabled any more");
    const defaults = readSettings(() => undefined).server;
    await server.connection.sendNotification("workspace/didChangeConfiguration", didChangeConfigurationParams(defaults));
    assert.ok(inlineItems(await inline(endOf(documentText))).length > 0, "completions come back when python is enabled again");
  });

  const selection = { start: { line: 7, character: 0 }, end: { line: 11, character: 17 } }; // def total ... return result
  /** MAIN (as the editor holds it) with `from` renamed to `to` in lines `first..last` (0-based) only. */
  const renamedIn = (from: string, to: string, first: number, last: number) =>
    documentText
      .split("\n")
      .map((l, i) => (i >= first && i <= last ? l.replace(new RegExp(`\\b${from}\\b`, "g"), to) : l))
      .join("\n");

  test("hearth.edit renames exactly within a selection; the review shows the unsaved document changed", async () => {
    // As the extension sends it: with a workDoneToken whose `$/progress` it shows in its notification.
    const steps: string[] = [];
    const messages: string[] = [];
    const listening = server.connection.onProgress(WorkDoneProgress.type, "hearth-edit-1", (value) => {
      steps.push(value.kind);
      if (value.kind === "report" && value.message !== undefined) messages.push(value.message);
    });
    const raw = await request("workspace/executeCommand", {
      command: "hearth.edit",
      arguments: [editArgs("rename result to acc", "selection", mainUri, selection)],
      workDoneToken: "hearth-edit-1",
    });
    // `$/progress` and the response travel separately: the end may come after the result.
    while (!steps.includes("end")) await new Promise((r) => setTimeout(r, 10));
    listening.dispose();
    const result = parseEditResult(raw);
    assert.equal(steps[0], "begin");
    assert.equal(steps[steps.length - 1], "end");
    assert.deepEqual([messages[0], messages[messages.length - 1]], ["planning", "checking"], JSON.stringify(messages));
    const preview = await buildPreview(result.edit, async (uri) => (uri === mainUri ? documentText : undefined));
    assert.deepEqual(preview.problems, []);
    assert.deepEqual(
      preview.files.map((f) => f.uri),
      [mainUri],
    );
    assert.equal(preview.files[0]!.after, renamedIn("result", "acc", 8, 11));
    assert.equal(result.plan.length, 4, JSON.stringify(result.plan));
    assert.match(result.report, /1 file\(s\) changed/);
  });

  test('the code action "Hearth: edit selection…" gives the command the extension completes with an instruction', async () => {
    const actions = await request<{ title: string; kind: string; command: { command: string; arguments: unknown[] } }[]>(
      "textDocument/codeAction",
      {
        textDocument: { uri: mainUri },
        range: selection,
        context: { diagnostics: [] },
      },
    );
    assert.equal(actions.length, 1, JSON.stringify(actions));
    assert.equal(actions[0]!.title, "Hearth: edit selection…");
    assert.equal(actions[0]!.kind, "refactor.rewrite");
    assert.equal(actions[0]!.command.command, "hearth.edit");
    // What the extension's executeCommand middleware sends once the user typed the instruction.
    const result = await edit(codeActionEditArgs(actions[0]!.command.arguments[0], "rename values to items"));
    const preview = await buildPreview(result.edit, async (uri) => (uri === mainUri ? documentText : undefined));
    assert.deepEqual(preview.problems, []);
    assert.equal(preview.files[0]!.after, renamedIn("values", "items", 7, 11));
    const none = await request<unknown[] | null>("textDocument/codeAction", {
      textDocument: { uri: mainUri },
      range: { start: selection.start, end: selection.start },
      context: { diagnostics: [] },
    });
    assert.ok(none === null || none.length === 0, "no code action for an empty selection");
  });

  test("hearth.edit with apply: true asks the client through workspace/applyEdit and reports its answer", async () => {
    const result = await edit({ ...editArgs("rename add to plus", "file", mainUri), apply: true });
    assert.equal(result.applied, false);
    assert.equal(result.failureReason, "the test client reviews edits itself");
    assert.equal(collectEdits(result.edit).files.length, 1, "the edit is still returned for review");
  });

  test("hearth.edit with a model instruction returns a plan and a report (the tiny model may change nothing)", async () => {
    const result = await edit(editArgs("use the built-in sum", "selection", mainUri, selection));
    assert.equal(result.plan.length, 1, JSON.stringify(result.plan));
    assert.equal(result.plan[0]!.uri, mainUri);
    assert.match(result.report, /model rewrite of 1 region/);
    const collected = collectEdits(result.edit);
    if (collected.files.length === 0)
      assert.match(result.report, /0 file\(s\) changed[^]*dropped main\.py:8-12: \S/, "no change: the report says why");
    for (const f of collected.files) {
      assert.equal(f.uri, mainUri, "a selection edit only touches its file");
      for (const e of f.edits) {
        assert.ok(
          e.range.start.line >= selection.start.line && e.range.end.line <= selection.end.line,
          `edit outside the selection: ${JSON.stringify(e.range)}`,
        );
      }
    }
    const preview = await buildPreview(result.edit, async (uri) => (uri === mainUri ? documentText : undefined));
    assert.deepEqual(preview.problems, [], "the edit applies cleanly to the open document");
    assert.equal(typeof result.report, "string");
  });

  test("hearth.edit across the repository plans within the workspace", async () => {
    const result = await edit(editArgs("rename mean_of to arithmetic_mean", "repository"));
    const rootUri = pathToFileURL(root).href;
    for (const step of result.plan) assert.ok(step.uri.startsWith(rootUri), `plan step outside the workspace: ${step.uri}`);
    const texts: Record<string, string> = { [mainUri]: documentText, [helpersUri]: HELPERS };
    const preview = await buildPreview(
      result.edit,
      async (uri) => texts[uri] ?? (fs.existsSync(new URL(uri)) ? fs.readFileSync(new URL(uri), "utf8") : undefined),
    );
    assert.deepEqual(preview.problems, []);
    for (const f of preview.files) assert.ok(f.uri.startsWith(rootUri), `edit outside the workspace: ${f.uri}`);
    // A rename is structural, not sampled: both files change, and every mention is renamed.
    const after = Object.fromEntries(preview.files.map((f) => [f.uri, f.after]));
    assert.ok(after[helpersUri]?.includes("def arithmetic_mean(values):"), `helpers.py not renamed: ${JSON.stringify(after[helpersUri])}`);
    assert.ok(
      after[mainUri]?.includes("from helpers import arithmetic_mean"),
      `main.py's import not renamed: ${JSON.stringify(after[mainUri])}`,
    );
    for (const text of Object.values(after)) assert.ok(!/\bmean_of\b/.test(text), `mean_of left behind:\n${text}`);
  });

  test("hearth.context shows the snippets and the prompt used", async () => {
    const raw = await request("workspace/executeCommand", { command: "hearth.context", arguments: [contextArgs(mainUri, endOf(MAIN))] });
    const ctx = parseContextResult(raw);
    assert.ok(ctx.prompt.includes("def average(values):"), `the prompt lacks the prefix: ${ctx.prompt.slice(0, 500)}`);
    for (const s of ctx.snippets) {
      assert.ok(s.endLine >= s.startLine, JSON.stringify(s));
      assert.ok(s.text.length > 0);
    }
  });

  test("malformed command arguments get an error and the server keeps serving", async () => {
    await assert.rejects(
      request("workspace/executeCommand", { command: "hearth.edit", arguments: [42] }),
      (e: unknown) => e instanceof ResponseError,
    );
    await assert.rejects(
      request("workspace/executeCommand", { command: "hearth.context", arguments: [{ uri: "file:///nope.py" }] }),
      (e: unknown) => e instanceof ResponseError,
    );
    const s = await request<{ state: string }>("workspace/executeCommand", { command: "hearth.status", arguments: [] });
    assert.equal(s.state, "ready");
  });
});

describe("hearth.logPrompts", { timeout: READY_MS }, () => {
  test("the setting starts the server with --log-prompts, and the server warns once that it logs source code", async () => {
    const settings = readSettings((key) =>
      key === "logPrompts" ? true : key === "serverArgs" ? ["--model", path.resolve(requireModel())] : undefined,
    );
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "hearth-vscode-logs-"));
    const server = startServer(requireBinary(), serverArgs(settings.client), root);
    try {
      await server.connection.sendRequest("initialize", {
        processId: process.pid,
        rootUri: pathToFileURL(root).href,
        capabilities: clientCapabilities,
        initializationOptions: settings.server,
      });
      await server.connection.sendNotification("initialized", {});
      await server.waitForStatus("ready", READY_MS);
      const warnings = server
        .stderr()
        .split("\n")
        .filter((l) => l.includes("--log-prompts is on"));
      assert.equal(warnings.length, 1, server.stderr().slice(-4000));
      assert.match(warnings[0]!, /WARNING.*SOURCE CODE/);
    } finally {
      assert.equal(await server.close(), 0);
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
