//! `hearth/agent` through the real `hearth serve`, read with the extension's own modules: the settings
//! mapping allows a command, the transcript notifications route to the task, the `run` confirmation
//! carries the buttons the extension expects, and the result becomes the review preview (a new file
//! and an edited one) while the disk stays untouched. The model is scripted (HEARTH_AGENT_SCRIPT).
//! Needs HEARTH_BIN and HEARTH_TEST_MODEL; fails (does not skip) without them.

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { CancellationTokenSource, WorkDoneProgress } from "vscode-languageserver-protocol/node";
import { clientCapabilities, requireBinary, requireModel, startServer, type Server } from "../harness";
import { readSettings } from "../../src/core/settings";
import {
  AGENT_REQUEST,
  AGENT_TRANSCRIPT_NOTIFICATION,
  agentParams,
  isCancellation,
  parseAgentResult,
  parseTranscriptNotification,
  RUN_ACTIONS,
  summarizeAgent,
  TranscriptRouter,
  type AgentEvent,
} from "../../src/core/agent";
import { buildPreview, describeFile, staleFiles } from "../../src/core/diffModel";

const READY_MS = Number(process.env.HEARTH_READY_TIMEOUT_MS ?? 300_000);
const REQUEST_MS = Number(process.env.HEARTH_REQUEST_TIMEOUT_MS ?? 120_000);
const CONFIG = "def parse_config(path):\n    with open(path) as f:\n        return f.read()\n";
const RUN = "grep -c strip config.py";
const call = (name: string, args: Record<string, unknown>) => `<tool_call>\n${JSON.stringify({ name, arguments: args })}\n</tool_call>`;

describe("hearth/agent (real server, scripted model)", { timeout: READY_MS + 4 * REQUEST_MS }, () => {
  let server: Server;
  let root: string;
  let cache: string;
  let script: string;
  const asked: { message: string; actions: { title: string }[] }[] = [];
  const router = new TranscriptRouter<AgentEvent[]>();
  let answer: string = RUN_ACTIONS[0];

  const writeScript = (turns: string[]) => fs.writeFileSync(script, JSON.stringify({ format: "hermes", turns }));
  const uriOf = (rel: string) => pathToFileURL(path.join(root, rel)).href;
  const readDisk = async (uri: string) => {
    try {
      return fs.readFileSync(new URL(uri), "utf8");
    } catch {
      return undefined;
    }
  };

  before(async () => {
    root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "hearth-vscode-agent-")));
    cache = fs.mkdtempSync(path.join(os.tmpdir(), "hearth-vscode-agent-cache-"));
    script = path.join(cache, "script.json");
    writeScript(["Nothing to do."]);
    fs.writeFileSync(path.join(root, "config.py"), CONFIG);
    const git = (...args: string[]) => execFileSync("git", ["-C", root, "-c", "user.name=t", "-c", "user.email=t@example.com", ...args]);
    git("init", "-q");
    git("add", ".");
    git("commit", "-qm", "init");
    const model = path.resolve(requireModel());
    server = startServer(requireBinary(), ["serve", "--model", model], root, {
      HEARTH_AGENT_SCRIPT: script,
      HEARTH_CONFIG: path.join(cache, "none.toml"),
      XDG_CACHE_HOME: cache,
    });
    server.connection.onNotification(AGENT_TRANSCRIPT_NOTIFICATION, (payload: unknown) => {
      const n = parseTranscriptNotification(payload);
      if (n !== undefined) router.route(n.session)?.push(n.event);
    });
    server.connection.onRequest("window/showMessageRequest", (params: { message: string; actions: { title: string }[] }) => {
      asked.push(params);
      return params.actions.find((a) => a.title === answer) ?? null;
    });
    // The extension's settings mapping, with the command allowed as a user would set it.
    const settings = readSettings((key) => (key === "model" ? model : key === "agent.commands" ? [RUN, "sleep 30"] : undefined));
    await server.connection.sendRequest("initialize", {
      processId: process.pid,
      rootUri: pathToFileURL(root).href,
      workspaceFolders: [{ uri: pathToFileURL(root).href, name: "ws" }],
      capabilities: { ...clientCapabilities, window: { ...clientCapabilities.window, showMessage: {} } },
      initializationOptions: settings.server,
    });
    await server.connection.sendNotification("initialized", {});
    await server.waitForStatus("ready", READY_MS);
  });

  after(async () => {
    if (server) await server.close();
    for (const dir of [root, cache]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const runAgent = async (task: string, token = new CancellationTokenSource().token) => {
    const events: AgentEvent[] = [];
    const workDoneToken = `vscode-it-${Math.random().toString(36).slice(2)}`;
    const progress: string[] = [];
    const sub = server.connection.onProgress(WorkDoneProgress.type, workDoneToken, (v) => {
      if (v.kind === "report" && v.message !== undefined) progress.push(v.message);
    });
    router.expect(events);
    try {
      const raw = await server.connection.sendRequest(AGENT_REQUEST, agentParams(task, [uriOf("config.py")], workDoneToken), token);
      return { result: parseAgentResult(raw), events, progress };
    } finally {
      router.finish(events);
      sub.dispose();
    }
  };

  test("a session that edits, creates a file and runs an allowed command becomes the review preview", async () => {
    writeScript([
      call("read_file", { path: "config.py" }),
      call("edit", { path: "config.py", search: "        return f.read()\n", replace: "        return f.read().strip()\n" }),
      call("edit", { path: "defaults.py", search: "", replace: 'DEFAULT_PATH = "app.toml"\n' }),
      call("run", { command: RUN }),
      "parse_config strips what it reads; defaults.py names the default path.",
    ]);
    asked.length = 0;
    answer = RUN_ACTIONS[0];
    const { result, events, progress } = await runAgent("make parse_config strip its input and add a defaults module");
    assert.equal(result.stop, "answered", JSON.stringify(result.transcript, null, 1));
    assert.equal(result.calls, 4);
    assert.equal(result.malformedCalls, 0);
    assert.match(summarizeAgent(result), /^the model answered · 5 steps, 4 calls/);
    assert.deepEqual(
      result.files.map((f) => f.path),
      ["config.py", "defaults.py"],
    );
    // The live notifications are the result's transcript, in order.
    assert.deepEqual(events, result.transcript);
    assert.ok(
      progress.some((m) => /step 1/i.test(m)),
      `progress: ${JSON.stringify(progress)}`,
    );
    // The confirmation named the command and offered exactly the buttons the extension knows.
    assert.equal(asked.length, 1);
    assert.match(asked[0]!.message, /grep -c strip config\.py/);
    assert.deepEqual(
      asked[0]!.actions.map((a) => a.title),
      [...RUN_ACTIONS],
    );
    const run = result.transcript.find((e) => e.kind === "tool_result" && e.name === "run");
    assert.ok(
      run?.kind === "tool_result" && run.ok && /\b1\b/.test(run.text),
      `run saw the edit on its scratch copy: ${JSON.stringify(run)}`,
    );
    // The review: one edited file and one new file, from the disk, which is untouched.
    const preview = await buildPreview(result.edit, readDisk);
    assert.deepEqual(preview.problems, []);
    const byPath = new Map(preview.files.map((f) => [path.basename(new URL(f.uri).pathname), f]));
    assert.equal(byPath.get("config.py")!.after, CONFIG.replace("f.read()", "f.read().strip()"));
    assert.equal(describeFile(byPath.get("defaults.py")!, "defaults.py"), "defaults.py (new)  +1 -0");
    assert.equal(fs.readFileSync(path.join(root, "config.py"), "utf8"), CONFIG);
    assert.equal(fs.existsSync(path.join(root, "defaults.py")), false);
    assert.deepEqual(await staleFiles(preview, readDisk), []);
  });

  test("a denied command is reported to the model, and a cancelled task is recognised as cancelled", async () => {
    writeScript([call("run", { command: RUN }), "Could not run it."]);
    asked.length = 0;
    answer = RUN_ACTIONS[2];
    const denied = await runAgent("check it");
    assert.equal(asked.length, 1);
    const result = denied.result.transcript.find((e) => e.kind === "tool_result");
    assert.ok(result?.kind === "tool_result" && !result.ok && /declined/.test(result.text), JSON.stringify(result));
    assert.equal(denied.result.files.length, 0);

    writeScript([call("run", { command: "sleep 30" }), "Slept."]);
    answer = RUN_ACTIONS[0];
    const source = new CancellationTokenSource();
    const started = Date.now();
    setTimeout(() => source.cancel(), 1500);
    const error = await runAgent("sleep", source.token).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error !== undefined, "the cancelled task returned a result");
    assert.equal(isCancellation(error), true, String(error));
    assert.ok(Date.now() - started < 20_000, "cancellation killed the command instead of waiting for it");
  });
});
