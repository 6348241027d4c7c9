//! The Hearth-specific parts of docs/protocol.md as types, argument builders and result validators.

import type { Position, Range } from "./diffModel";

export const COMMANDS = { edit: "hearth.edit", context: "hearth.context", status: "hearth.status" } as const;
export const STATUS_NOTIFICATION = "hearth/status";

export type EditScope = "selection" | "file" | "repository";

export interface EditArgs {
  instruction: string;
  scope: EditScope;
  uri?: string;
  range?: Range;
  apply?: boolean;
}

export interface PlanStep {
  uri: string;
  range: Range;
  reason: string;
}
export interface EditResult {
  edit: unknown;
  plan: PlanStep[];
  report: string;
  applied?: boolean;
  failureReason?: string;
}

export interface ContextSnippet {
  path: string;
  startLine: number;
  endLine: number;
  reason: string;
  text: string;
}
export interface ContextResult {
  snippets: ContextSnippet[];
  prompt: string;
}

export class ProtocolError extends Error {}

export function editArgs(instruction: string, scope: EditScope, uri?: string, range?: Range): EditArgs {
  const trimmed = instruction.trim();
  if (trimmed === "") throw new ProtocolError("The instruction is empty.");
  if (scope !== "repository" && uri === undefined) throw new ProtocolError(`A ${scope} edit needs a document.`);
  if (scope === "selection" && range === undefined) throw new ProtocolError("A selection edit needs a range.");
  const args: EditArgs = { instruction: trimmed, scope, apply: false };
  if (uri !== undefined) args.uri = uri;
  if (range !== undefined) args.range = range;
  return args;
}

/**
 * The arguments of the "Hearth: edit selection…" code action's `hearth.edit` command ({scope, uri,
 * range}, no instruction) completed with the instruction the user typed.
 */
export function codeActionEditArgs(raw: unknown, instruction: string): EditArgs {
  if (!isObject(raw) || typeof raw.uri !== "string" || !isRange(raw.range)) {
    throw new ProtocolError("The code action's hearth.edit arguments lack a uri and a range.");
  }
  const scope = raw.scope === "file" || raw.scope === "repository" ? raw.scope : "selection";
  return editArgs(instruction, scope, raw.uri, scope === "selection" ? raw.range : undefined);
}

const isPosition = (v: unknown): v is Position => isObject(v) && typeof v.line === "number" && typeof v.character === "number";
const isRange = (v: unknown): v is Range => isObject(v) && isPosition(v.start) && isPosition(v.end);

export function contextArgs(uri: string, position: Position): { uri: string; position: Position } {
  return { uri, position };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

/** Validates a `hearth.edit` result; throws ProtocolError naming what is wrong. */
export function parseEditResult(value: unknown): EditResult {
  if (!isObject(value)) throw new ProtocolError("hearth.edit returned no result");
  if (!isObject(value.edit)) throw new ProtocolError("hearth.edit result has no `edit` WorkspaceEdit");
  const plan = Array.isArray(value.plan) ? value.plan : [];
  const result: EditResult = {
    edit: value.edit,
    plan: plan.filter((p): p is PlanStep => isObject(p) && typeof p.uri === "string" && typeof p.reason === "string"),
    report: typeof value.report === "string" ? value.report : "",
  };
  if (typeof value.applied === "boolean") result.applied = value.applied;
  if (typeof value.failureReason === "string") result.failureReason = value.failureReason;
  return result;
}

/** Validates a `hearth.context` result; throws ProtocolError naming what is wrong. */
export function parseContextResult(value: unknown): ContextResult {
  if (!isObject(value)) throw new ProtocolError("hearth.context returned no result");
  if (!Array.isArray(value.snippets)) throw new ProtocolError("hearth.context result has no `snippets` list");
  if (typeof value.prompt !== "string") throw new ProtocolError("hearth.context result has no `prompt` string");
  const snippets = value.snippets.map((s, i): ContextSnippet => {
    if (!isObject(s) || typeof s.path !== "string" || typeof s.text !== "string") {
      throw new ProtocolError(`hearth.context snippet ${i} is malformed`);
    }
    return {
      path: s.path,
      startLine: typeof s.startLine === "number" ? s.startLine : 0,
      endLine: typeof s.endLine === "number" ? s.endLine : 0,
      reason: typeof s.reason === "string" ? s.reason : "",
      text: s.text,
    };
  });
  return { snippets, prompt: value.prompt };
}

/** A Markdown page showing what the model saw, for "Hearth: Show context used". */
export function renderContext(result: ContextResult, where: string): string {
  const fence = (text: string) => {
    let ticks = "```";
    while (text.includes(ticks)) ticks += "`";
    return `${ticks}\n${text}\n${ticks}`;
  };
  const parts = [`# Context used at ${where}`, "", `${result.snippets.length} retrieved snippet(s).`, ""];
  for (const s of result.snippets) {
    parts.push(`## ${s.path}:${s.startLine + 1}-${s.endLine + 1}`, "", s.reason ? `_${s.reason}_` : "", "", fence(s.text), "");
  }
  parts.push("## Full prompt", "", fence(result.prompt), "");
  return parts.join("\n");
}

/** The first item's text of an inline completion result (list or array), as the extension shows it. */
export function inlineItems(result: unknown): { insertText: string; range?: Range }[] {
  const items = Array.isArray(result) ? result : isObject(result) && Array.isArray(result.items) ? result.items : [];
  return items
    .filter((i): i is Record<string, unknown> => isObject(i))
    .map((i) => {
      const text =
        typeof i.insertText === "string"
          ? i.insertText
          : isObject(i.insertText) && typeof i.insertText.value === "string"
            ? i.insertText.value
            : undefined;
      return text === undefined ? undefined : { insertText: text, ...(isObject(i.range) ? { range: i.range as unknown as Range } : {}) };
    })
    .filter((i): i is { insertText: string; range?: Range } => i !== undefined);
}
