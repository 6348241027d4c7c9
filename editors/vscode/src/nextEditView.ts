//! VS Code glue for next-edit suggestions: draws a core/nextEdit SuggestionView as an inline diff
//! (struck-out text, ghost text after it), far edits as a gutter marker, the diff and reason in the
//! hover, and keeps the `hearth.nextEditVisible` context key that Tab and Escape depend on.

import * as vscode from "vscode";
import type { Range } from "./core/diffModel";
import type { SuggestionView } from "./core/nextEdit";

export const VISIBLE_CONTEXT = "hearth.nextEditVisible";

const range = (r: Range) => new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character);
const ghost = () => new vscode.ThemeColor("editorGhostText.foreground");

export class NextEditDecorations implements vscode.Disposable {
  /** Replaced or deleted text. */
  private readonly removed = vscode.window.createTextEditorDecorationType({
    textDecoration: "line-through",
    backgroundColor: new vscode.ThemeColor("diffEditor.removedTextBackground"),
  });
  /** New text, as ghost text after the edit's range (the text per decoration). */
  private readonly inserted = vscode.window.createTextEditorDecorationType({
    after: { color: ghost(), backgroundColor: new vscode.ThemeColor("diffEditor.insertedTextBackground"), fontStyle: "italic" },
  });
  /** A far edit's line: gutter arrow, overview ruler mark and the hover. */
  private readonly marker: vscode.TextEditorDecorationType;
  /** An insertion's line, for the hover only (an insertion has no text of its own to hover). */
  private readonly hover = vscode.window.createTextEditorDecorationType({});
  /** After the cursor's line, when the first edit is far: where Tab goes. */
  private readonly hint = vscode.window.createTextEditorDecorationType({
    after: { color: ghost(), fontStyle: "italic", margin: "0 0 0 2em" },
  });
  private editor: vscode.TextEditor | undefined;
  private visible = false;

  constructor(extensionUri: vscode.Uri) {
    this.marker = vscode.window.createTextEditorDecorationType({
      isWholeLine: true,
      gutterIconPath: vscode.Uri.joinPath(extensionUri, "media", "next-edit.svg"),
      gutterIconSize: "contain",
      overviewRulerColor: new vscode.ThemeColor("editorOverviewRuler.modifiedForeground"),
      overviewRulerLane: vscode.OverviewRulerLane.Right,
      backgroundColor: new vscode.ThemeColor("diffEditor.removedLineBackground"),
    });
  }

  /** Draws `view` on `editor` (replacing what was drawn), or clears everything when `view` is undefined. */
  render(editor: vscode.TextEditor | undefined, view: SuggestionView | undefined): void {
    const target = view === undefined ? undefined : editor;
    if (this.editor !== undefined && this.editor !== target) this.apply(this.editor, [], [], [], [], []);
    this.editor = target;
    this.setVisible(target !== undefined);
    if (view === undefined || editor === undefined) return;
    const message = hoverMessage(view);
    const removed: vscode.DecorationOptions[] = [];
    const inserted: vscode.DecorationOptions[] = [];
    const markers: vscode.DecorationOptions[] = [];
    const hovers: vscode.DecorationOptions[] = [];
    for (const e of view.edits) {
      const line = editor.document.lineAt(Math.min(e.range.start.line, editor.document.lineCount - 1)).range;
      if (e.distant) {
        markers.push({ range: line, hoverMessage: message });
        continue;
      }
      // The hover once per place: on the struck-out text, or on the line of an insertion.
      if (e.deleted !== "") removed.push({ range: range(e.range), hoverMessage: message });
      else hovers.push({ range: line, hoverMessage: message });
      if (e.inserted !== "") {
        const end = range(e.range).end;
        inserted.push({ range: new vscode.Range(end, end), renderOptions: { after: { contentText: e.preview } } });
      }
    }
    const hints: vscode.DecorationOptions[] = [];
    if (view.hint !== undefined) {
      const cursorLine = editor.document.lineAt(editor.selection.active.line).range;
      hints.push({
        range: new vscode.Range(cursorLine.end, cursorLine.end),
        hoverMessage: message,
        renderOptions: { after: { contentText: view.hint } },
      });
    }
    this.apply(editor, removed, inserted, markers, hovers, hints);
  }

  dispose(): void {
    this.setVisible(false);
    for (const d of [this.removed, this.inserted, this.marker, this.hover, this.hint]) d.dispose();
  }

  private apply(
    editor: vscode.TextEditor,
    removed: vscode.DecorationOptions[],
    inserted: vscode.DecorationOptions[],
    markers: vscode.DecorationOptions[],
    hovers: vscode.DecorationOptions[],
    hints: vscode.DecorationOptions[],
  ): void {
    try {
      editor.setDecorations(this.removed, removed);
      editor.setDecorations(this.inserted, inserted);
      editor.setDecorations(this.marker, markers);
      editor.setDecorations(this.hover, hovers);
      editor.setDecorations(this.hint, hints);
    } catch {
      // The editor was closed: its decorations went with it.
    }
  }

  private setVisible(visible: boolean): void {
    if (visible === this.visible) return;
    this.visible = visible;
    void vscode.commands.executeCommand("setContext", VISIBLE_CONTEXT, visible);
  }
}

/** The reason, the whole diff and the keys; the model's text is never taken as Markdown. */
function hoverMessage(view: SuggestionView): vscode.MarkdownString {
  const md = new vscode.MarkdownString();
  md.appendMarkdown("**Hearth: next edit**");
  if (view.reason !== "") md.appendMarkdown(" — ").appendText(view.reason);
  md.appendCodeblock(view.diff, "diff");
  md.appendMarkdown("`Tab` jump, then `Tab` accept · `Escape` dismiss");
  return md;
}
