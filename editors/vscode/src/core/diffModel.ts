//! The review model for `hearth.edit` and `hearth/agent` results: which files change (or are created),
//! their text before and after, and line counts.

/** LSP shapes, structurally; the protocol's UTF-16 `character` matches JavaScript string indexing. */
export interface Position {
  line: number;
  character: number;
}
export interface Range {
  start: Position;
  end: Position;
}
export interface TextEdit {
  range: Range;
  newText: string;
}

export interface FileEdits {
  uri: string;
  edits: TextEdit[];
  /** Document version the server computed against, when it said. */
  version: number | null;
}

export interface CollectedEdits {
  files: FileEdits[];
  /** Files a `create` operation makes (the agent's new files): the review shows them as new, from empty. */
  created: string[];
  /** Rename/delete operations (and creates with options), which the review does not show or apply. */
  resourceOperations: string[];
}

export class EditError extends Error {}

function isRange(r: unknown): r is Range {
  const ok = (p: unknown): p is Position =>
    typeof p === "object" &&
    p !== null &&
    Number.isInteger((p as Position).line) &&
    (p as Position).line >= 0 &&
    Number.isInteger((p as Position).character) &&
    (p as Position).character >= 0;
  return typeof r === "object" && r !== null && ok((r as Range).start) && ok((r as Range).end);
}

function textEdits(uri: string, value: unknown): TextEdit[] {
  if (!Array.isArray(value)) throw new EditError(`edits for ${uri} are not a list`);
  return value.map((e, i) => {
    if (typeof e !== "object" || e === null || !isRange(e.range) || typeof e.newText !== "string") {
      throw new EditError(`edit ${i} for ${uri} is malformed`);
    }
    return { range: e.range, newText: e.newText };
  });
}

/** Flattens a WorkspaceEdit (`changes` and/or `documentChanges`) into edits per file, merging repeats of a file. */
export function collectEdits(workspaceEdit: unknown): CollectedEdits {
  if (typeof workspaceEdit !== "object" || workspaceEdit === null) throw new EditError("the edit is not an object");
  const we = workspaceEdit as { changes?: unknown; documentChanges?: unknown };
  const byUri = new Map<string, FileEdits>();
  const resourceOperations: string[] = [];
  const created = new Set<string>();
  const add = (uri: string, edits: TextEdit[], version: number | null) => {
    const existing = byUri.get(uri);
    if (existing) existing.edits.push(...edits);
    else byUri.set(uri, { uri, edits, version });
  };
  if (we.changes !== undefined) {
    if (typeof we.changes !== "object" || we.changes === null) throw new EditError("`changes` is not an object");
    for (const [uri, edits] of Object.entries(we.changes)) add(uri, textEdits(uri, edits), null);
  }
  if (we.documentChanges !== undefined) {
    if (!Array.isArray(we.documentChanges)) throw new EditError("`documentChanges` is not a list");
    for (const change of we.documentChanges) {
      if (typeof change?.kind === "string") {
        // A plain create (no overwrite/ignoreIfExists, which would need the file's current state).
        if (change.kind === "create" && typeof change.uri === "string" && !change.options?.overwrite && !change.options?.ignoreIfExists) {
          created.add(change.uri);
          add(change.uri, [], null);
          continue;
        }
        const target = change.uri ?? `${change.oldUri} -> ${change.newUri}`;
        resourceOperations.push(`${change.kind} ${target}`);
        continue;
      }
      const uri = change?.textDocument?.uri;
      if (typeof uri !== "string") throw new EditError("a document change has no textDocument.uri");
      const version = typeof change.textDocument.version === "number" ? change.textDocument.version : null;
      add(uri, textEdits(uri, change.edits), version);
    }
  }
  return {
    files: [...byUri.values()].filter((f) => f.edits.length > 0 || created.has(f.uri)),
    created: [...created],
    resourceOperations,
  };
}

/** Offsets of each line start, counting \n, \r\n and \r as line breaks as LSP does. */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 13 /* \r */) {
      if (text.charCodeAt(i + 1) === 10) i++;
      starts.push(i + 1);
    } else if (c === 10) {
      starts.push(i + 1);
    }
  }
  return starts;
}

/** The offset of an LSP position; EditError when it is past the line or the file. */
export function offsetOf(text: string, starts: number[], pos: Position, uri: string): number {
  if (pos.line >= starts.length) {
    throw new EditError(`${uri}: line ${pos.line + 1} is past the end of the file (${starts.length} lines)`);
  }
  const lineStart = starts[pos.line]!;
  let lineEnd = pos.line + 1 < starts.length ? starts[pos.line + 1]! : text.length;
  // The line's text excludes its line break.
  while (lineEnd > lineStart && (text[lineEnd - 1] === "\n" || text[lineEnd - 1] === "\r")) lineEnd--;
  if (lineStart + pos.character > lineEnd) {
    throw new EditError(`${uri}: column ${pos.character + 1} is past the end of line ${pos.line + 1}`);
  }
  return lineStart + pos.character;
}

/** Applies LSP text edits (all relative to the original text) and returns the new text. Rejects overlaps. */
export function applyTextEdits(text: string, edits: TextEdit[], uri = "document"): string {
  const starts = lineStarts(text);
  const spans = edits
    .map((e, order) => ({
      start: offsetOf(text, starts, e.range.start, uri),
      end: offsetOf(text, starts, e.range.end, uri),
      newText: e.newText,
      order,
    }))
    .sort((a, b) => a.start - b.start || a.end - b.end || a.order - b.order);
  let out = "";
  let cursor = 0;
  for (const s of spans) {
    if (s.end < s.start) throw new EditError(`${uri}: an edit's range ends before it starts`);
    if (s.start < cursor) throw new EditError(`${uri}: edits overlap`);
    out += text.slice(cursor, s.start) + s.newText;
    cursor = s.end;
  }
  return out + text.slice(cursor);
}

function splitLines(text: string): string[] {
  const lines = text === "" ? [] : text.split(/\r\n|\r|\n/);
  // A final line break ends the last line; it does not start an empty one.
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** Lines added and removed, by a longest-common-subsequence diff of the changed middle. */
export function lineStats(before: string, after: string): { added: number; removed: number } {
  const a = splitLines(before);
  const b = splitLines(after);
  let lo = 0;
  while (lo < a.length && lo < b.length && a[lo] === b[lo]) lo++;
  let ha = a.length;
  let hb = b.length;
  while (ha > lo && hb > lo && a[ha - 1] === b[hb - 1]) {
    ha--;
    hb--;
  }
  const n = ha - lo;
  const m = hb - lo;
  if (n === 0 || m === 0 || n * m > 4_000_000) return { added: m, removed: n };
  let prev = new Array<number>(m + 1).fill(0);
  for (let i = 1; i <= n; i++) {
    const row = new Array<number>(m + 1).fill(0);
    for (let j = 1; j <= m; j++) {
      row[j] = a[lo + i - 1] === b[lo + j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, row[j - 1]!);
    }
    prev = row;
  }
  const common = prev[m]!;
  return { added: m - common, removed: n - common };
}

export interface PreviewFile {
  uri: string;
  /** The server's edits, applied as they are so that undo and cursors behave as for any edit. */
  edits: TextEdit[];
  before: string;
  after: string;
  added: number;
  removed: number;
  /** A new file: applying creates it (and fails if it exists by then). `before` is empty. */
  created: boolean;
}

export interface Preview {
  files: PreviewFile[];
  resourceOperations: string[];
  /** Files whose edits could not be applied, with the reason; they are left out of `files`. */
  problems: string[];
}

/**
 * Builds the review: each file's text before and after. `readText` returns the current text of a file
 * (the open editor buffer when there is one), or undefined when it cannot be read.
 */
export async function buildPreview(workspaceEdit: unknown, readText: (uri: string) => Promise<string | undefined>): Promise<Preview> {
  const collected = collectEdits(workspaceEdit);
  const files: PreviewFile[] = [];
  const problems: string[] = [];
  const created = new Set(collected.created);
  for (const f of collected.files) {
    const isNew = created.has(f.uri);
    const current = await readText(f.uri);
    if (isNew && current !== undefined) {
      problems.push(`${f.uri}: is to be created but exists now`);
      continue;
    }
    const before = isNew ? "" : current;
    if (before === undefined) {
      problems.push(`${f.uri}: cannot be read`);
      continue;
    }
    try {
      const after = applyTextEdits(before, f.edits, f.uri);
      if (after === before && !isNew) continue;
      files.push({ uri: f.uri, edits: f.edits, before, after, ...lineStats(before, after), created: isNew });
    } catch (e) {
      problems.push(e instanceof Error ? e.message : String(e));
    }
  }
  return { files, resourceOperations: collected.resourceOperations, problems };
}

/** Files that changed on disk or in the editor since the preview was built; applying over them would lose work. */
export async function staleFiles(preview: Preview, readText: (uri: string) => Promise<string | undefined>): Promise<string[]> {
  const stale: string[] = [];
  for (const f of preview.files) {
    const now = await readText(f.uri);
    if (f.created ? now !== undefined : now !== f.before) stale.push(f.uri);
  }
  return stale;
}

/** One line per file for a review list, e.g. `src/a.py  +3 -1` (`src/new.py (new)  +5 -0`). */
export function describeFile(file: PreviewFile, relativePath: string): string {
  return `${relativePath}${file.created ? " (new)" : ""}  +${file.added} -${file.removed}`;
}

export function summarizePreview(preview: Preview): string {
  const added = preview.files.reduce((s, f) => s + f.added, 0);
  const removed = preview.files.reduce((s, f) => s + f.removed, 0);
  const n = preview.files.length;
  return `${n} file${n === 1 ? "" : "s"} changed, +${added} -${removed}`;
}
