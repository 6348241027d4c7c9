//! The next-edit flow against a fake editor and a fake server: the edit pause, latest-wins
//! cancellation, quiet and logged errors, stale answers, Tab's jump then accept, and clearing.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { CancellationTokenSource, type CancellationToken } from "vscode-languageserver-protocol/node";
import { TextDocument } from "vscode-languageserver-textdocument";
import { Debouncer } from "../../src/core/debounce";
import { applyTextEdits, type Position, type TextEdit } from "../../src/core/diffModel";
import type { NextEditParams, SuggestionView } from "../../src/core/nextEdit";
import { NextEditController, type ActiveDocument, type NextEditHost } from "../../src/core/nextEditController";
import { FakeClock } from "../fakeClock";

const URI = "file:///w/stats.py";
const TEXT = "def report(values, out):\n    total = sum(values)\n    out.write(len(values))\n    return total\n";
const flush = () => new Promise((r) => setImmediate(r));

interface Pending {
  params: NextEditParams;
  token: CancellationToken;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** One editor on one document, a server that answers when the test says, and a log of what was drawn. */
class Fake implements NextEditHost<CancellationToken> {
  doc = TextDocument.create(URI, "python", 1, TEXT);
  cursor: Position = { line: 0, character: 0 };
  activeUri: string | undefined = URI;
  enabled = true;
  readonly requests: Pending[] = [];
  readonly drawn: (SuggestionView | undefined)[] = [];
  readonly logs: string[] = [];
  readonly clock = new FakeClock();
  readonly controller = new NextEditController<CancellationToken>(
    this,
    () => new CancellationTokenSource(),
    new Debouncer(400, this.clock),
  );

  active(): ActiveDocument | undefined {
    if (this.activeUri !== URI)
      return this.activeUri === undefined ? undefined : { uri: this.activeUri, version: 1, getText: () => "", cursor: this.cursor };
    const doc = this.doc;
    return { uri: URI, version: doc.version, getText: () => doc.getText(), cursor: this.cursor };
  }
  wanted(): boolean {
    return this.enabled;
  }
  request(params: NextEditParams, token: CancellationToken): Promise<unknown> {
    return new Promise((resolve, reject) => this.requests.push({ params, token, resolve, reject }));
  }
  render(view: SuggestionView | undefined): void {
    this.drawn.push(view);
  }
  moveCursor(position: Position): void {
    this.cursor = position;
  }
  async apply(uri: string, version: number, edits: TextEdit[]): Promise<boolean> {
    if (uri !== URI || version !== this.doc.version) return false;
    this.edit(edits);
    return true;
  }
  log(level: string, message: string): void {
    this.logs.push(`${level}: ${message}`);
  }

  /** Changes the document as the editor would, and tells the controller. */
  edit(edits: TextEdit[]): void {
    this.doc = TextDocument.create(URI, "python", this.doc.version + 1, applyTextEdits(this.doc.getText(), edits));
    this.controller.changed(URI);
  }
  /** Types `text` at the cursor, one change per character, 100 ms apart. */
  type(text: string): void {
    for (const ch of text) {
      const at = this.cursor;
      this.edit([{ range: { start: at, end: at }, newText: ch }]);
      this.cursor = { line: at.line, character: at.character + 1 };
      this.clock.advance(100);
    }
  }
  get shown(): SuggestionView | undefined {
    return this.drawn[this.drawn.length - 1];
  }
}

/** The rename's follow-up: `values` to `numbers` on lines 2 and 3 (1-based), against `version`. */
const followUp = (version: number) => ({
  edits: [
    { range: { start: { line: 1, character: 16 }, end: { line: 1, character: 22 } }, newText: "numbers" },
    { range: { start: { line: 2, character: 18 }, end: { line: 2, character: 24 } }, newText: "numbers" },
  ],
  reason: "2 changes in lines 2–3, after your edit at line 1",
  version,
  format: "chat",
  outcome: "edit",
  window: null,
  stats: null,
});

/** Renames the parameter in the signature: delete `values`, type `numbers`. */
function renameParameter(f: Fake): void {
  f.edit([{ range: { start: { line: 0, character: 11 }, end: { line: 0, character: 17 } }, newText: "" }]);
  f.cursor = { line: 0, character: 11 };
  f.type("numbers");
}

test("an edit pause of 400 ms sends one request with the document's version and the cursor", () => {
  const f = new Fake();
  renameParameter(f);
  assert.equal(f.requests.length, 0, "no request while typing");
  f.clock.advance(299); // the last key was 100 ms ago
  assert.equal(f.requests.length, 0);
  f.clock.advance(1);
  assert.equal(f.requests.length, 1);
  assert.deepEqual(f.requests[0]!.params, { textDocument: { uri: URI, version: 9 }, position: { line: 0, character: 18 } });
  f.clock.advance(5000);
  assert.equal(f.requests.length, 1, "one request per pause");
});

test("a fresh answer is drawn; a change clears it and cancels a running request", async () => {
  const f = new Fake();
  renameParameter(f);
  f.clock.advance(400);
  f.requests[0]!.resolve(followUp(9));
  await flush();
  assert.equal(f.shown?.edits.length, 2);
  assert.equal(f.shown?.edits[0]!.deleted, "values");
  assert.equal(f.shown?.edits[0]!.preview, "numbers");
  assert.equal(f.controller.view, f.shown);
  // Typing on: the suggestion goes at once, and the next pause asks again.
  f.type(" ");
  assert.equal(f.shown, undefined);
  f.clock.advance(400);
  assert.equal(f.requests.length, 2);
  f.type("x");
  assert.equal(f.requests[1]!.token.isCancellationRequested, true, "a change cancels the request for the old text");
});

test("latest wins: a new request cancels the previous one, whose late answer is not drawn", async () => {
  const f = new Fake();
  renameParameter(f);
  f.clock.advance(400);
  const second = f.controller.trigger();
  assert.equal(f.requests.length, 2);
  assert.equal(f.requests[0]!.token.isCancellationRequested, true);
  f.requests[0]!.resolve(followUp(9)); // answered anyway
  await flush();
  assert.deepEqual(f.drawn, [], "a cancelled request's answer is dropped");
  f.requests[1]!.resolve(followUp(9));
  assert.equal((await second)?.edits.length, 2);
  assert.equal(f.drawn.length, 1);
});

test("-32800 and -32801 are quiet; other errors and malformed results are logged", async () => {
  const f = new Fake();
  renameParameter(f);
  for (const [error, logged] of [
    [{ code: -32800, message: "cancelled" }, false],
    [{ code: -32801, message: "content modified" }, false],
    [Object.assign(new Error("nextEdit.format: unknown"), { code: -32602 }), true],
  ] as const) {
    const asked = f.controller.trigger();
    f.requests[f.requests.length - 1]!.reject(error);
    assert.equal(await asked, undefined);
    assert.equal(
      f.logs.some((l) => l.startsWith("error:")),
      logged,
      `${JSON.stringify(error)}: ${f.logs.join("; ")}`,
    );
  }
  assert.match(f.logs.join("\n"), /Next-edit request failed: nextEdit\.format: unknown/);
  const asked = f.controller.trigger();
  f.requests[f.requests.length - 1]!.resolve({ edits: "nope", version: 9 });
  assert.equal(await asked, undefined);
  assert.match(f.logs.join("\n"), /Next-edit result not shown: .*no `edits`/);
  assert.deepEqual(f.drawn, []);
});

test("null is no suggestion; an answer for an older version, or an edit that does not fit, is not drawn", async () => {
  const f = new Fake();
  renameParameter(f);
  let asked = f.controller.trigger();
  f.requests[0]!.resolve(null);
  assert.equal(await asked, null);
  asked = f.controller.trigger();
  f.requests[1]!.resolve(followUp(8));
  assert.equal(await asked, undefined, "version 8 is not the document's 9");
  asked = f.controller.trigger();
  f.requests[2]!.resolve({
    ...followUp(9),
    edits: [{ range: { start: { line: 30, character: 0 }, end: { line: 30, character: 1 } }, newText: "" }],
  });
  assert.equal(await asked, undefined);
  assert.match(f.logs.join("\n"), /Next edit not shown: .*past the end/);
  assert.deepEqual(f.drawn, []);
});

test("Tab jumps to the first edit, then accepts all edits in one step; the text is the edits applied", async () => {
  const f = new Fake();
  renameParameter(f);
  f.clock.advance(400);
  f.requests[0]!.resolve(followUp(9));
  await flush();
  const before = f.doc.getText();
  assert.equal(await f.controller.jumpOrAccept(), "jump");
  assert.deepEqual(f.cursor, { line: 1, character: 16 });
  assert.equal(f.doc.getText(), before, "a jump changes nothing");
  assert.ok(f.shown, "still shown after the jump");
  assert.equal(await f.controller.jumpOrAccept(), "accept");
  assert.equal(f.doc.getText(), applyTextEdits(before, followUp(9).edits));
  assert.equal(f.doc.getText(), TEXT.replace(/values/g, "numbers"));
  assert.equal(f.shown, undefined, "accepting clears the suggestion");
  assert.equal(await f.controller.jumpOrAccept(), "none");
});

test("a suggestion for an older version is dropped by Tab instead of applied", async () => {
  const f = new Fake();
  renameParameter(f);
  f.clock.advance(400);
  f.requests[0]!.resolve(followUp(9));
  await flush();
  f.doc = TextDocument.create(URI, "python", 10, f.doc.getText() + "#"); // changed without the controller hearing of it
  const text = f.doc.getText();
  assert.equal(await f.controller.jumpOrAccept(), "stale");
  assert.equal(f.doc.getText(), text);
  assert.equal(f.shown, undefined);
});

test("Escape dismisses; another document clears the suggestion and cancels its request and pause", async () => {
  const f = new Fake();
  renameParameter(f);
  f.clock.advance(400);
  f.requests[0]!.resolve(followUp(9));
  await flush();
  f.controller.dismiss();
  assert.equal(f.shown, undefined);
  assert.equal(await f.controller.jumpOrAccept(), "none");

  const asked = f.controller.trigger();
  f.activeUri = "file:///w/other.py";
  f.controller.activeChanged();
  assert.equal(f.requests[1]!.token.isCancellationRequested, true);
  f.requests[1]!.resolve(followUp(9));
  assert.equal(await asked, undefined);
  assert.deepEqual(f.drawn.filter((v) => v !== undefined).length, 1, "only the first answer was ever drawn");

  f.activeUri = URI;
  f.controller.activeChanged();
  f.type("s"); // the pause starts…
  f.activeUri = "file:///w/other.py";
  f.controller.activeChanged(); // …and another editor ends it
  f.clock.advance(1000);
  assert.equal(f.requests.length, 2);
});

test("a shown suggestion moves from marker to inline as the cursor comes near", async () => {
  const f = new Fake();
  f.doc = TextDocument.create(URI, "python", 1, "x = 1\n".repeat(20) + TEXT);
  f.cursor = { line: 0, character: 0 };
  const asked = f.controller.trigger();
  f.requests[0]!.resolve({
    ...followUp(1),
    edits: [{ range: { start: { line: 21, character: 16 }, end: { line: 21, character: 22 } }, newText: "numbers" }],
  });
  await asked;
  assert.equal(f.shown?.edits[0]!.distant, true);
  assert.match(f.shown?.hint ?? "", /line 22/);
  assert.equal(await f.controller.jumpOrAccept(), "jump");
  assert.equal(f.shown?.edits[0]!.distant, false, "redrawn after the jump");
  assert.equal(f.shown?.hint, undefined);
});

test("off (hearth.nextEdit.enabled: false): no request is sent, and turning it off clears what is shown", async () => {
  const f = new Fake();
  f.enabled = false;
  renameParameter(f);
  f.clock.advance(1000);
  assert.equal(await f.controller.trigger(), undefined);
  assert.equal(f.requests.length, 0);

  f.enabled = true;
  const asked = f.controller.trigger();
  f.requests[0]!.resolve(followUp(9));
  await asked;
  assert.ok(f.shown);
  f.enabled = false;
  f.controller.reconsider();
  assert.equal(f.shown, undefined);
});
