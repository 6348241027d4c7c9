//! Next-edit results, validated, and turned into what the editor draws: struck-out and ghost text,
//! far edits, the hover's diff, and Tab's jump or accept.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { applyTextEdits, type TextEdit } from "../../src/core/diffModel";
import {
  diffText,
  hunks,
  isQuietNextEditError,
  NEAR_LINES,
  nextEditParams,
  parseNextEditResult,
  previewText,
  suggestionView,
  tabAction,
  type NextEditResult,
} from "../../src/core/nextEdit";

/** stats.py after the user renamed the parameter `values` to `numbers` in the signature (line 6). */
const TEXT = [
  "import sys",
  "",
  "from fmt import line",
  "",
  "",
  "def report(numbers, out):",
  "    total = sum(values)",
  '    out.write(line("count", len(values)))',
  '    out.write(line("total", total))',
  "    for v in values:",
  '        out.write(f"  {v}\\n")',
  "    return total",
  "",
  "",
  "report([1, 2, 3], sys.stdout)",
  "",
].join("\n");

const lines = TEXT.split("\n");
/** Replaces `values` on 0-based `line` with `numbers`. */
const rename = (line: number): TextEdit => {
  const character = lines[line]!.indexOf("values");
  assert.ok(character >= 0, `no "values" on line ${line}`);
  return { range: { start: { line, character }, end: { line, character: character + 6 } }, newText: "numbers" };
};
const result = (edits: TextEdit[], version = 9): NextEditResult => ({
  edits,
  reason: "3 changes in lines 7–10, after your edit at line 6",
  version,
  format: "chat",
  outcome: "edit",
  window: null,
  stats: null,
});
const at = (line: number, character: number) => ({ line, character });

test("params carry the version and the cursor", () => {
  assert.deepEqual(nextEditParams("file:///w/stats.py", 9, at(5, 18)), {
    textDocument: { uri: "file:///w/stats.py", version: 9 },
    position: { line: 5, character: 18 },
  });
});

test("results are validated: null is no suggestion, malformed or overlapping edits are refused", () => {
  assert.equal(parseNextEditResult(null), null);
  const raw = {
    edits: [rename(6), rename(7)],
    reason: "2 changes",
    version: 9,
    format: "chat",
    outcome: "edit",
    window: { start: at(0, 0), end: at(15, 0) },
    stats: { promptTokens: 300, contextFiles: 1, generatedTokens: 120, steps: 12, ms: 800 },
  };
  const parsed = parseNextEditResult(raw)!;
  assert.deepEqual(parsed.edits, [rename(6), rename(7)]);
  assert.equal(parsed.version, 9);
  assert.equal(parsed.stats?.steps, 12);
  assert.deepEqual(parsed.window, raw.window);
  assert.throws(() => parseNextEditResult({ edits: "x", version: 1 }), /no `edits`/);
  assert.throws(() => parseNextEditResult({ edits: [], version: "1" }), /no `version`/);
  assert.throws(() => parseNextEditResult({ edits: [{ range: at(0, 0), newText: "x" }], version: 1 }), /edit 0 is malformed/);
  assert.throws(() => parseNextEditResult({ edits: [rename(7), rename(6)], version: 1 }), /overlap or are out of order/);
  const backwards = { range: { start: at(3, 4), end: at(3, 1) }, newText: "" };
  assert.throws(() => parseNextEditResult({ edits: [backwards], version: 1 }), /ends before it starts/);
});

test("cancelled and content-modified answers are quiet; other errors are not", () => {
  assert.equal(isQuietNextEditError({ code: -32800, message: "cancelled" }), true);
  assert.equal(isQuietNextEditError({ code: -32801, message: "content modified" }), true);
  assert.equal(isQuietNextEditError({ name: "Canceled" }), true);
  assert.equal(isQuietNextEditError({ code: -32602, message: "unknown format" }), false);
  assert.equal(isQuietNextEditError(new Error("boom")), false);
});

test("ghost text: the first line, ↵ for a leading line break, … when more follows or it is long", () => {
  assert.equal(previewText("numbers"), "numbers");
  assert.equal(previewText("a = 1\nb = 2"), "a = 1…");
  assert.equal(previewText("\n    return total\n"), "↵ return total…");
  assert.equal(previewText("\n\n"), "↵…");
  assert.equal(previewText("x".repeat(100)), `${"x".repeat(80)}…`);
});

test("near edits are drawn inline: the replaced text, the new text and its preview", () => {
  const view = suggestionView("file:///w/stats.py", TEXT, result([rename(6), rename(7), rename(9)]), at(5, 18));
  assert.equal(view.edits.length, 3);
  for (const e of view.edits) {
    assert.equal(e.deleted, "values");
    assert.equal(e.inserted, "numbers");
    assert.equal(e.preview, "numbers");
    assert.equal(e.multiline, false);
    assert.equal(e.distant, false, `line ${e.range.start.line} is within ${NEAR_LINES} lines of the cursor`);
  }
  assert.deepEqual(view.target, rename(6).range.start);
  assert.equal(view.hint, undefined, "no hint when the first edit is in sight");
  assert.equal(view.version, 9);
  assert.match(view.reason, /after your edit at line 6/);
});

test("far edits (lines away, or out of view) are distant, and the cursor line gets a hint", () => {
  const far = suggestionView("u", TEXT, result([rename(9)]), at(0, 0));
  assert.equal(far.edits[0]!.distant, true, "9 lines from the cursor");
  assert.equal(far.hint, "Tab ⇥ Hearth next edit at line 10");
  const hidden = suggestionView("u", TEXT, result([rename(6), rename(7)]), at(5, 0), [{ start: 0, end: 6 }]);
  assert.deepEqual(
    hidden.edits.map((e) => e.distant),
    [false, true],
    "line 8 is scrolled out of view",
  );
  assert.equal(hidden.hint, undefined);
  const two = suggestionView("u", TEXT, result([rename(9), { range: { start: at(14, 0), end: at(14, 0) }, newText: "# run\n" }]), at(0, 0));
  assert.equal(two.hint, "Tab ⇥ Hearth next edit (2 changes) at line 10");
});

test("an edit past the end of the text is an error, not a wrong drawing", () => {
  assert.throws(
    () => suggestionView("u", TEXT, result([{ range: { start: at(40, 0), end: at(40, 1) }, newText: "" }]), at(0, 0)),
    /past the end/,
  );
  assert.throws(() => suggestionView("u", TEXT, result([]), at(0, 0)), /without edits/);
});

test("hunks group edits by line, and the diff shows whole lines with context", () => {
  const sameLine: TextEdit[] = [{ range: { start: at(7, 4), end: at(7, 7) }, newText: "stream" }, rename(7)];
  const all = hunks(TEXT, [rename(6), ...sameLine]);
  assert.deepEqual(all, [
    { line: 6, before: ["    total = sum(values)"], after: ["    total = sum(numbers)"] },
    { line: 7, before: ['    out.write(line("count", len(values)))'], after: ['    stream.write(line("count", len(numbers)))'] },
  ]);
  assert.equal(
    diffText(all),
    [
      "@@ line 7 @@",
      "-    total = sum(values)",
      "+    total = sum(numbers)",
      "@@ line 8 @@",
      '-    out.write(line("count", len(values)))',
      '+    stream.write(line("count", len(numbers)))',
    ].join("\n"),
  );
  // An inserted line after line 12: the unchanged line is context.
  const insert = hunks(TEXT, [{ range: { start: at(11, 16), end: at(11, 16) }, newText: "\n    # done" }]);
  assert.equal(diffText(insert), ["@@ line 12 @@", "     return total", "+    # done"].join("\n"));
  // A deleted line.
  const del = hunks(TEXT, [{ range: { start: at(9, 20), end: at(10, lines[10]!.length) }, newText: "" }]);
  assert.equal(diffText(del), ["@@ line 10 @@", "     for v in values:", '-        out.write(f"  {v}\\n")'].join("\n"));
});

test("a multi-line insertion is previewed by its first line, and the view's diff equals the applied text", () => {
  const edit: TextEdit = {
    range: { start: at(9, 4), end: at(10, lines[10]!.length) },
    newText: "for v in numbers:\n        out.write(str(v))",
  };
  const view = suggestionView("u", TEXT, result([edit]), at(9, 0));
  assert.equal(view.edits[0]!.multiline, true);
  assert.equal(view.edits[0]!.preview, "for v in numbers:…");
  assert.equal(view.edits[0]!.deleted, 'for v in values:\n        out.write(f"  {v}\\n")');
  const after = applyTextEdits(TEXT, [edit]).split("\n");
  assert.deepEqual(view.hunks[0]!.after, after.slice(9, 11));
});

test("Tab jumps to the first edit unless the cursor is in it, then accepts", () => {
  const edits = [rename(6), rename(7)];
  assert.equal(tabAction(edits, at(5, 18)), "jump", "cursor on the signature");
  assert.equal(tabAction(edits, at(7, 29)), "jump", "inside the second edit, not the first");
  assert.equal(tabAction(edits, rename(6).range.start), "accept", "at the start, where the jump puts it");
  assert.equal(tabAction(edits, rename(6).range.end), "accept", "at its end");
  assert.equal(tabAction(edits, at(6, 3)), "jump", "same line, before it");
});
