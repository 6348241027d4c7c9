//! Argument builders and result validators for the hearth.* commands.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import {
  codeActionEditArgs,
  editArgs,
  inlineItems,
  parseContextResult,
  parseEditResult,
  ProtocolError,
  renderContext,
} from "../../src/core/protocol";

const range = { start: { line: 1, character: 0 }, end: { line: 2, character: 0 } };

test("edit arguments per scope", () => {
  assert.deepEqual(editArgs("  add types ", "selection", "file:///a.py", range), {
    instruction: "add types",
    scope: "selection",
    uri: "file:///a.py",
    range,
    apply: false,
  });
  assert.deepEqual(editArgs("rename", "repository"), { instruction: "rename", scope: "repository", apply: false });
  assert.throws(() => editArgs("   ", "file", "file:///a.py"), ProtocolError);
  assert.throws(() => editArgs("x", "selection", "file:///a.py"), /needs a range/);
  assert.throws(() => editArgs("x", "file"), /needs a document/);
});

test("edit results are validated", () => {
  const ok = parseEditResult({
    edit: { changes: {} },
    plan: [{ uri: "file:///a", range, reason: "uses it" }, { bogus: 1 }],
    report: "done",
  });
  assert.equal(ok.plan.length, 1);
  assert.equal(ok.report, "done");
  assert.throws(() => parseEditResult(null), /no result/);
  assert.throws(() => parseEditResult({ plan: [] }), /no `edit`/);
});

test("context results are validated and rendered", () => {
  const result = parseContextResult({
    snippets: [{ path: "lib.py", startLine: 0, endLine: 2, reason: "defines f", text: "def f():\n```\n" }],
    prompt: "<|fim_prefix|>",
  });
  const md = renderContext(result, "main.py:3:1");
  assert.match(md, /## lib\.py:1-3/);
  assert.match(md, /````\ndef f\(\):\n```\n\n````/, "fences grow past backticks in the snippet");
  assert.throws(() => parseContextResult({ snippets: "x", prompt: "" }), /snippets/);
  assert.throws(() => parseContextResult({ snippets: [{ path: 1 }], prompt: "" }), /snippet 0/);
});

test("inline completion results: list, array, snippet strings, junk", () => {
  assert.deepEqual(inlineItems({ items: [{ insertText: "abc" }] }), [{ insertText: "abc" }]);
  assert.deepEqual(inlineItems([{ insertText: { kind: "snippet", value: "x$0" }, range }]), [{ insertText: "x$0", range }]);
  assert.deepEqual(inlineItems(null), []);
  assert.deepEqual(inlineItems({ items: [{ nope: 1 }, 5] }), []);
});

test("the code action's hearth.edit arguments take the typed instruction", () => {
  const raw = { scope: "selection", uri: "file:///a.py", range };
  assert.deepEqual(codeActionEditArgs(raw, " add types "), {
    instruction: "add types",
    scope: "selection",
    uri: "file:///a.py",
    range,
    apply: false,
  });
  assert.throws(() => codeActionEditArgs(raw, "  "), /instruction is empty/);
  assert.throws(() => codeActionEditArgs({ scope: "selection", uri: "file:///a.py" }, "x"), /lack a uri and a range/);
  assert.throws(() => codeActionEditArgs(42, "x"), ProtocolError);
  const applied = parseEditResult({ edit: { changes: {} }, plan: [], report: "", applied: false, failureReason: "refused" });
  assert.equal(applied.applied, false);
  assert.equal(applied.failureReason, "refused");
});
