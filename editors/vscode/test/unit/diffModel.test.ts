//! The diff preview model for hearth.edit results.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import {
  applyTextEdits,
  buildPreview,
  collectEdits,
  EditError,
  lineStats,
  staleFiles,
  summarizePreview,
  describeFile,
} from "../../src/core/diffModel";

const r = (sl: number, sc: number, el: number, ec: number) => ({ start: { line: sl, character: sc }, end: { line: el, character: ec } });

test("applies several edits against the original text, in any order", () => {
  const text = "def f(a):\n    return a\n\nprint(f(1))\n";
  const out = applyTextEdits(text, [
    { range: r(3, 6, 3, 7), newText: "g" },
    { range: r(0, 4, 0, 5), newText: "g" },
    { range: r(1, 11, 1, 12), newText: "a + 1" },
  ]);
  assert.equal(out, "def g(a):\n    return a + 1\n\nprint(g(1))\n");
});

test("positions count UTF-16 code units and CRLF line breaks", () => {
  assert.equal(applyTextEdits("é😀x\r\ny", [{ range: r(0, 3, 0, 4), newText: "Z" }]), "é😀Z\r\ny");
  assert.equal(applyTextEdits("a\r\nb", [{ range: r(1, 0, 1, 1), newText: "B" }]), "a\r\nB");
  // Insertion at the end of the file.
  assert.equal(applyTextEdits("a\n", [{ range: r(1, 0, 1, 0), newText: "b\n" }]), "a\nb\n");
});

test("overlapping or out-of-range edits are rejected, not half-applied", () => {
  assert.throws(
    () =>
      applyTextEdits("abcdef", [
        { range: r(0, 0, 0, 3), newText: "" },
        { range: r(0, 2, 0, 4), newText: "" },
      ]),
    /overlap/,
  );
  assert.throws(() => applyTextEdits("abc\n", [{ range: r(5, 0, 5, 0), newText: "x" }]), /line 6 is past the end/);
  assert.throws(() => applyTextEdits("abc\nd", [{ range: r(0, 9, 0, 9), newText: "x" }]), /column 10 is past the end of line 1/);
});

test("collects `changes` and `documentChanges`, merging repeated files and listing resource operations", () => {
  const c = collectEdits({
    changes: { "file:///a.py": [{ range: r(0, 0, 0, 0), newText: "x" }] },
    documentChanges: [
      { textDocument: { uri: "file:///a.py", version: 3 }, edits: [{ range: r(1, 0, 1, 0), newText: "y" }] },
      { textDocument: { uri: "file:///b.py", version: null }, edits: [{ range: r(0, 0, 0, 1), newText: "" }] },
      { kind: "rename", oldUri: "file:///c.py", newUri: "file:///d.py" },
      { textDocument: { uri: "file:///empty.py", version: 1 }, edits: [] },
    ],
  });
  assert.deepEqual(
    c.files.map((f) => [f.uri, f.edits.length]),
    [
      ["file:///a.py", 2],
      ["file:///b.py", 1],
    ],
  );
  assert.deepEqual(c.resourceOperations, ["rename file:///c.py -> file:///d.py"]);
  assert.throws(() => collectEdits({ changes: { "file:///a.py": [{ range: { start: 1 }, newText: "x" }] } }), EditError);
  assert.throws(() => collectEdits(null), EditError);
});

test("line stats count added and removed lines", () => {
  assert.deepEqual(lineStats("a\nb\nc\n", "a\nB\nc\nd\n"), { added: 2, removed: 1 });
  assert.deepEqual(lineStats("", "x\n"), { added: 1, removed: 0 });
  assert.deepEqual(lineStats("same", "same"), { added: 0, removed: 0 });
});

test("preview: before/after per file, problems for unreadable files, no-op edits dropped", async () => {
  const files: Record<string, string> = { "file:///w/a.py": "x = 1\ny = 2\n", "file:///w/same.py": "z\n" };
  const read = async (uri: string) => files[uri];
  const preview = await buildPreview(
    {
      changes: {
        "file:///w/a.py": [{ range: r(1, 4, 1, 5), newText: "3" }],
        "file:///w/same.py": [{ range: r(0, 0, 0, 1), newText: "z" }],
        "file:///w/gone.py": [{ range: r(0, 0, 0, 0), newText: "q" }],
      },
    },
    read,
  );
  assert.equal(preview.files.length, 1);
  assert.equal(preview.files[0]!.after, "x = 1\ny = 3\n");
  assert.deepEqual(preview.problems, ["file:///w/gone.py: cannot be read"]);
  assert.equal(summarizePreview(preview), "1 file changed, +1 -1");
  assert.equal(describeFile(preview.files[0]!, "a.py"), "a.py  +1 -1");
  assert.deepEqual(await staleFiles(preview, read), []);
  files["file:///w/a.py"] = "x = 1\ny = 2\n# typed meanwhile\n";
  assert.deepEqual(await staleFiles(preview, read), ["file:///w/a.py"], "work typed after the preview is never overwritten");
});

test("a created file (the agent's new file) is previewed from empty, and is stale once it exists", async () => {
  const files: Record<string, string> = { "file:///w/a.py": "x = 1\n" };
  const read = async (uri: string) => files[uri];
  const edit = {
    documentChanges: [
      { kind: "create", uri: "file:///w/new.py" },
      { textDocument: { uri: "file:///w/new.py", version: null }, edits: [{ range: r(0, 0, 0, 0), newText: "def f():\n    return 1\n" }] },
      { textDocument: { uri: "file:///w/a.py", version: null }, edits: [{ range: r(0, 4, 0, 5), newText: "2" }] },
      { kind: "create", uri: "file:///w/over.py", options: { overwrite: true } },
    ],
  };
  const collected = collectEdits(edit);
  assert.deepEqual(collected.created, ["file:///w/new.py"]);
  assert.deepEqual(collected.resourceOperations, ["create file:///w/over.py"], "a create that could overwrite is not applied");
  const preview = await buildPreview(edit, read);
  assert.deepEqual(preview.problems, []);
  const created = preview.files.find((f) => f.uri === "file:///w/new.py")!;
  assert.equal(created.created, true);
  assert.equal(created.before, "");
  assert.equal(created.after, "def f():\n    return 1\n");
  assert.equal(describeFile(created, "new.py"), "new.py (new)  +2 -0");
  assert.deepEqual(await staleFiles(preview, read), []);
  files["file:///w/new.py"] = "# someone else made it\n";
  assert.deepEqual(await staleFiles(preview, read), ["file:///w/new.py"]);
  const again = await buildPreview(edit, read);
  assert.deepEqual(again.problems, ["file:///w/new.py: is to be created but exists now"]);
});
