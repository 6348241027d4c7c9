//! The agent protocol module (params, results, transcript events, routing) and the transcript panel's HTML.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import {
  agentParams,
  AgentProtocolError,
  isCancellation,
  parseAgentEvent,
  parseAgentResult,
  parseTranscriptNotification,
  summarizeAgent,
  TranscriptRouter,
} from "../../src/core/agent";
import { collapsedText, escapeHtml, renderEvent, renderOutcome, renderPage, SHOWN_LINES } from "../../src/core/agentView";

const RESULT = {
  session: 3,
  edit: { documentChanges: [] },
  files: [{ uri: "file:///w/a.py", path: "a.py", diff: "--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x\n+y\n" }, { path: 7 }],
  answer: "Done <b>bold</b>",
  stop: "answered",
  steps: 4,
  generatedTokens: 120,
  calls: 3,
  malformedCalls: 1,
  transcript: [
    { kind: "step", step: 1, max_steps: 16, prompt_tokens: 900, context_tokens: 8192 },
    { kind: "tool_call", id: "call_1", name: "search", arguments: { query: "parse" } },
    { kind: "tool_result", id: "call_1", name: "search", ok: true, text: "a.py:1" },
    { kind: "from_the_future", x: 1 },
  ],
};

test("params: the task trimmed, files deduplicated and only when given; an empty task is refused", () => {
  assert.deepEqual(agentParams("  fix it \n"), { task: "fix it" });
  assert.deepEqual(agentParams("t", ["file:///a", "file:///a"], "tok"), { task: "t", files: ["file:///a"], workDoneToken: "tok" });
  assert.throws(() => agentParams("   "), AgentProtocolError);
});

test("transcript events are read from snake_case; junk becomes `unknown`, never a throw", () => {
  assert.deepEqual(parseAgentEvent(RESULT.transcript[0]), { kind: "step", step: 1, maxSteps: 16, promptTokens: 900, contextTokens: 8192 });
  assert.deepEqual(parseAgentEvent({ kind: "tool_result", id: 5, name: "run", ok: "yes" }), {
    kind: "tool_result",
    id: "5",
    name: "run",
    ok: false,
    text: "",
  });
  assert.equal(parseAgentEvent(null).kind, "unknown");
  assert.equal(parseAgentEvent({ kind: "from_the_future" }).kind, "unknown");
  assert.deepEqual(parseTranscriptNotification({ session: 2, event: { kind: "note", text: "n" } }), {
    session: 2,
    event: { kind: "note", text: "n" },
  });
  assert.equal(parseTranscriptNotification({ event: {} }), undefined);
});

test("results are validated: what is required must be there, the rest defaults", () => {
  const r = parseAgentResult(RESULT);
  assert.equal(r.files.length, 1, "a file entry without a path is dropped");
  assert.equal(r.transcript.length, 4);
  assert.equal(r.transcript[3]!.kind, "unknown");
  assert.equal(summarizeAgent(r), "the model answered · 4 steps, 3 calls, 1 malformed, 120 tokens");
  assert.match(
    summarizeAgent({ ...r, stop: "step_budget", steps: 1, calls: 1, malformedCalls: 0 }),
    /^stopped: the step budget.*· 1 step, 1 call, 120 tokens$/,
  );
  for (const missing of ["session", "edit", "stop"]) {
    const broken: Record<string, unknown> = { ...RESULT };
    delete broken[missing];
    assert.throws(() => parseAgentResult(broken), new RegExp(`\`${missing}\``));
  }
  assert.throws(() => parseAgentResult(null), /no result/);
});

test("the router gives a session's notifications to the task that adopted it, and drops the rest", () => {
  const router = new TranscriptRouter<string>();
  assert.equal(router.route(1), undefined, "no task waiting");
  router.expect("task A");
  assert.equal(router.route(2), "task A");
  assert.equal(router.route(2), "task A");
  assert.equal(router.route(1), undefined, "an older session is not adopted by a task that has one");
  router.finish("task A");
  assert.equal(router.route(2), undefined, "a finished task gets nothing more");
  router.expect("task B");
  router.finish("task B");
  assert.equal(router.route(5), undefined, "a task that ended before any notification adopts nothing");
});

test("cancellation: the server's RequestCancelled and the client's CancellationError", () => {
  assert.equal(isCancellation({ code: -32800, message: "cancelled" }), true);
  const canceled = new Error("Canceled");
  canceled.name = "Canceled";
  assert.equal(isCancellation(canceled), true);
  assert.equal(isCancellation(new Error("boom")), false);
  assert.equal(isCancellation(undefined), false);
});

test("the panel escapes everything from the server and the model", () => {
  const hostile = `<img src=x onerror="alert(1)">'`;
  const html = [
    renderEvent({ kind: "text", text: hostile }),
    renderEvent({ kind: "tool_call", id: hostile, name: hostile, arguments: { [hostile]: hostile, n: [hostile] } }),
    renderEvent({ kind: "tool_result", id: "1", name: "run", ok: false, text: hostile }),
    renderEvent({ kind: "format_error", message: hostile }),
    renderEvent({ kind: "note", text: hostile }),
    renderEvent({ kind: "unknown", raw: { x: hostile } }),
    renderOutcome(parseAgentResult({ ...RESULT, answer: hostile, files: [{ path: hostile, diff: `+${hostile}` }] })),
  ].join("\n");
  assert.equal(html.includes("<img"), false, html);
  assert.equal(html.includes(`"alert`), false);
  assert.equal(escapeHtml(`<&>"'`), "&lt;&amp;&gt;&quot;&#39;");
});

test("long tool output is folded after the first lines; the page allows only its own nonce'd style and script", () => {
  const long = Array.from({ length: SHOWN_LINES + 5 }, (_, i) => `line ${i}`).join("\n");
  const folded = collapsedText(long);
  assert.match(folded, /<details><summary>5 more lines<\/summary>/);
  assert.equal(collapsedText("a\nb").includes("<details>"), false);
  const page = renderPage({ nonce: "abc123", task: "<task>", status: "Running", log: [renderEvent({ kind: "note", text: "hi" })] });
  assert.match(page, /content="default-src 'none'; style-src 'nonce-abc123'; script-src 'nonce-abc123'/);
  assert.match(page, /<h1>&lt;task&gt;<\/h1>/);
  assert.equal((page.match(/<script/g) ?? []).length, 1);
  assert.throws(() => renderPage({ nonce: `x"><script>`, task: "t", status: "", log: [] }), /nonce/);
});
