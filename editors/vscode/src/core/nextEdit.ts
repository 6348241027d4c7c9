//! Next-edit suggestions (docs/protocol.md "Next edit"): `hearth/nextEdit` params and result, which
//! errors are expected, and what the editor draws: struck-out text, ghost text, far edits as markers,
//! and the diff for the hover. Plain functions, no VS Code.

import { isCancellation } from "./agent";
import { applyTextEdits, lineStarts, offsetOf, type Position, type Range, type TextEdit } from "./diffModel";

export const NEXT_EDIT_REQUEST = "hearth/nextEdit";
/** LSP's ContentModified: the document changed since the request (or its version is not the server's). */
export const CONTENT_MODIFIED = -32801;
/** Edits more lines than this from the cursor (or out of view) are "distant": a marker, not inline. */
export const NEAR_LINES = 5;
/** Ghost text longer than this is cut with "…". */
export const PREVIEW_CHARS = 80;

export interface NextEditParams {
  textDocument: { uri: string; version: number };
  position: Position;
}

export interface NextEditStats {
  promptTokens: number;
  contextFiles: number;
  generatedTokens: number;
  steps: number;
  ms: number;
}

export interface NextEditResult {
  /** Against the document at `version`, in order, not overlapping. */
  edits: TextEdit[];
  reason: string;
  version: number;
  format: string;
  /** `edit`, `no_change`, `reverts`, `unfinished`, `unreadable` (or what a newer server says). */
  outcome: string;
  window: Range | null;
  stats: NextEditStats | null;
}

export class NextEditError extends Error {}

export function nextEditParams(uri: string, version: number, position: Position): NextEditParams {
  return { textDocument: { uri, version }, position: { line: position.line, character: position.character } };
}

/** Cancelled (by us or a newer request) or ContentModified: expected while typing, not worth a log line. */
export function isQuietNextEditError(error: unknown): boolean {
  return isCancellation(error) || (typeof error === "object" && error !== null && (error as { code?: unknown }).code === CONTENT_MODIFIED);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const isPosition = (v: unknown): v is Position => isObject(v) && isCount(v.line) && isCount(v.character);
const isRange = (v: unknown): v is Range => isObject(v) && isPosition(v.start) && isPosition(v.end);

/** Whether `a` comes before `b`. */
export function before(a: Position, b: Position): boolean {
  return a.line < b.line || (a.line === b.line && a.character < b.character);
}

/** Validates a `hearth/nextEdit` result; null stays null (no suggestion). Throws NextEditError naming what is wrong. */
export function parseNextEditResult(raw: unknown): NextEditResult | null {
  if (raw === null || raw === undefined) return null;
  if (!isObject(raw)) throw new NextEditError("hearth/nextEdit returned something that is not an object");
  if (!Array.isArray(raw.edits)) throw new NextEditError("hearth/nextEdit result has no `edits` list");
  if (!Number.isInteger(raw.version)) throw new NextEditError("hearth/nextEdit result has no `version`");
  const edits = raw.edits.map((e: unknown, i): TextEdit => {
    if (!isObject(e) || !isRange(e.range) || typeof e.newText !== "string") throw new NextEditError(`next edit ${i} is malformed`);
    if (before(e.range.end, e.range.start)) throw new NextEditError(`next edit ${i} ends before it starts`);
    return { range: e.range, newText: e.newText };
  });
  for (let i = 1; i < edits.length; i++) {
    if (before(edits[i]!.range.start, edits[i - 1]!.range.end))
      throw new NextEditError(`next edits ${i - 1} and ${i} overlap or are out of order`);
  }
  const s = raw.stats;
  const stats =
    isObject(s) && [s.promptTokens, s.contextFiles, s.generatedTokens, s.steps, s.ms].every((n) => typeof n === "number")
      ? (s as unknown as NextEditStats)
      : null;
  return {
    edits,
    reason: typeof raw.reason === "string" ? raw.reason : "",
    version: raw.version as number,
    format: typeof raw.format === "string" ? raw.format : "",
    outcome: typeof raw.outcome === "string" ? raw.outcome : "",
    window: isRange(raw.window) ? raw.window : null,
    stats,
  };
}

/** Inclusive spans of visible lines. */
export interface LineSpan {
  start: number;
  end: number;
}

/** One edit as drawn. */
export interface EditView {
  range: Range;
  /** The text the edit replaces (struck out); "" for an insertion. */
  deleted: string;
  inserted: string;
  /** Ghost text after the struck-out text: the first line of `inserted`, with "…" when more follow. */
  preview: string;
  multiline: boolean;
  /** Out of view or more than NEAR_LINES lines from the cursor: a marker on its line instead. */
  distant: boolean;
}

/** Changed lines, as the hover's diff shows them. */
export interface Hunk {
  /** 0-based line of `before[0]`. */
  line: number;
  before: string[];
  after: string[];
}

export interface SuggestionView {
  uri: string;
  version: number;
  reason: string;
  edits: EditView[];
  hunks: Hunk[];
  /** The hunks as a diff (for a ```diff block): unchanged lines with " ", the others with "-" and "+". */
  diff: string;
  /** Where Tab jumps: the first edit's start. */
  target: Position;
  /** Shown after the cursor's line when the first edit is distant, so that Tab's jump is expected. */
  hint: string | undefined;
}

const splitLines = (text: string) => text.split(/\r\n|\r|\n/);

/** The ghost text for an insertion: its first line (or, when that is empty, ↵ and the next non-empty one), cut to PREVIEW_CHARS. */
export function previewText(inserted: string): string {
  const lines = splitLines(inserted);
  let shown = lines[0]!;
  if (lines.length > 1 && shown.trim() === "") {
    const next = lines.slice(1).find((l) => l.trim() !== "");
    shown = next === undefined ? "↵" : `↵ ${next.trim()}`;
  }
  const more = lines.length > 1 || shown.length > PREVIEW_CHARS;
  if (shown.length > PREVIEW_CHARS) shown = shown.slice(0, PREVIEW_CHARS);
  return more ? `${shown}…` : shown;
}

/** The edits grouped by the lines they touch (edits on a shared line make one hunk), before and after. */
export function hunks(text: string, edits: TextEdit[]): Hunk[] {
  const starts = lineStarts(text);
  const groups: TextEdit[][] = [];
  for (const e of edits) {
    const last = groups[groups.length - 1];
    if (last !== undefined && e.range.start.line <= Math.max(...last.map((x) => x.range.end.line))) last.push(e);
    else groups.push([e]);
  }
  return groups.map((group) => {
    const first = group[0]!.range.start.line;
    const lastLine = Math.max(...group.map((e) => e.range.end.line));
    const from = offsetOf(text, starts, { line: first, character: 0 }, "document");
    let to = lastLine + 1 < starts.length ? starts[lastLine + 1]! : text.length;
    while (to > from && (text[to - 1] === "\n" || text[to - 1] === "\r")) to--;
    const slice = text.slice(from, to);
    const shift = (p: Position) => ({ line: p.line - first, character: p.character });
    const after = applyTextEdits(
      slice,
      group.map((e) => ({ range: { start: shift(e.range.start), end: shift(e.range.end) }, newText: e.newText })),
    );
    return { line: first, before: splitLines(slice), after: splitLines(after) };
  });
}

/** The hunks as diff text: unchanged leading and trailing lines as context, with a header per hunk. */
export function diffText(all: Hunk[]): string {
  const out: string[] = [];
  for (const h of all) {
    let lo = 0;
    while (lo < h.before.length && lo < h.after.length && h.before[lo] === h.after[lo]) lo++;
    let tail = 0;
    const left = (n: number) => n - lo - tail;
    while (
      left(h.before.length) > 0 &&
      left(h.after.length) > 0 &&
      h.before[h.before.length - 1 - tail] === h.after[h.after.length - 1 - tail]
    )
      tail++;
    out.push(`@@ line ${h.line + 1} @@`);
    for (const l of h.before.slice(0, lo)) out.push(` ${l}`);
    for (const l of h.before.slice(lo, h.before.length - tail)) out.push(`-${l}`);
    for (const l of h.after.slice(lo, h.after.length - tail)) out.push(`+${l}`);
    for (const l of h.before.slice(h.before.length - tail)) out.push(` ${l}`);
  }
  return out.join("\n");
}

/** Whether a line is on screen (no spans: assume it is). */
function onScreen(line: number, visible: LineSpan[] | undefined): boolean {
  return visible === undefined || visible.some((s) => s.start <= line && line <= s.end);
}

/**
 * What to draw for `result` on `text` (the document at `result.version`) with the cursor at `cursor`.
 * Throws (EditError) when an edit does not fit the text.
 */
export function suggestionView(uri: string, text: string, result: NextEditResult, cursor: Position, visible?: LineSpan[]): SuggestionView {
  if (result.edits.length === 0) throw new NextEditError("a suggestion without edits has nothing to show");
  const starts = lineStarts(text);
  const edits = result.edits.map((e): EditView => {
    const deleted = text.slice(offsetOf(text, starts, e.range.start, uri), offsetOf(text, starts, e.range.end, uri));
    const line = e.range.start.line;
    return {
      range: e.range,
      deleted,
      inserted: e.newText,
      preview: e.newText === "" ? "" : previewText(e.newText),
      multiline: splitLines(e.newText).length > 1,
      distant: Math.abs(line - cursor.line) > NEAR_LINES || !onScreen(line, visible),
    };
  });
  const all = hunks(text, result.edits);
  const target = result.edits[0]!.range.start;
  const count = edits.length === 1 ? "next edit" : `next edit (${edits.length} changes)`;
  return {
    uri,
    version: result.version,
    reason: result.reason,
    edits,
    hunks: all,
    diff: diffText(all),
    target,
    hint: edits[0]!.distant ? `Tab ⇥ Hearth ${count} at line ${target.line + 1}` : undefined,
  };
}

/** Tab's action: accept when the cursor is at (inside) the first edit, else jump to it. */
export function tabAction(edits: TextEdit[], cursor: Position): "jump" | "accept" {
  const r = edits[0]!.range;
  return !before(cursor, r.start) && !before(r.end, cursor) ? "accept" : "jump";
}
