//! The agent part of docs/protocol.md ("## Agent"): `hearth/agent` params, its result and the
//! `hearth/agentTranscript` events, validated; and which running task a notification belongs to.

export const AGENT_REQUEST = "hearth/agent";
export const AGENT_TRANSCRIPT_NOTIFICATION = "hearth/agentTranscript";
/** The `run` confirmation's actions (`window/showMessageRequest`), as the server names them. */
export const RUN_ACTIONS = ["Run", "Always run it", "Deny"] as const;

export interface AgentParams {
  task: string;
  files?: string[];
  maxSteps?: number;
  maxTokens?: number;
  workDoneToken?: string;
}

export type AgentEvent =
  | { kind: "step"; step: number; maxSteps: number; promptTokens: number; contextTokens: number }
  | { kind: "text"; text: string }
  | { kind: "tool_call"; id: string; name: string; arguments: unknown }
  | { kind: "tool_result"; id: string; name: string; ok: boolean; text: string }
  | { kind: "format_error"; message: string }
  | { kind: "note"; text: string }
  /** An event kind this client does not know (a newer server): shown as JSON. */
  | { kind: "unknown"; raw: unknown };

export type AgentStop = "answered" | "step_budget" | "token_budget" | "context_full";

export interface AgentFile {
  uri: string | null;
  path: string;
  diff: string;
}

export interface AgentResult {
  session: number;
  /** A WorkspaceEdit: nothing is written until the user accepts it. */
  edit: unknown;
  files: AgentFile[];
  answer: string | null;
  /** One of AgentStop, or what a newer server said. */
  stop: string;
  steps: number;
  generatedTokens: number;
  calls: number;
  malformedCalls: number;
  transcript: AgentEvent[];
}

export class AgentProtocolError extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const count = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0);
const text = (v: unknown): string => (typeof v === "string" ? v : v === undefined || v === null ? "" : String(v));

/** The request's params; `files` only when there are some. Throws on an empty task. */
export function agentParams(task: string, files: string[] = [], workDoneToken?: string): AgentParams {
  const trimmed = task.trim();
  if (trimmed === "") throw new AgentProtocolError("The task is empty.");
  const params: AgentParams = { task: trimmed };
  if (files.length > 0) params.files = [...new Set(files)];
  if (workDoneToken !== undefined) params.workDoneToken = workDoneToken;
  return params;
}

/** One transcript event, from the server's snake_case JSON. Never throws: junk becomes `unknown`. */
export function parseAgentEvent(raw: unknown): AgentEvent {
  if (!isObject(raw) || typeof raw.kind !== "string") return { kind: "unknown", raw };
  switch (raw.kind) {
    case "step":
      return {
        kind: "step",
        step: count(raw.step),
        maxSteps: count(raw.max_steps),
        promptTokens: count(raw.prompt_tokens),
        contextTokens: count(raw.context_tokens),
      };
    case "text":
      return { kind: "text", text: text(raw.text) };
    case "tool_call":
      return { kind: "tool_call", id: text(raw.id), name: text(raw.name), arguments: raw.arguments ?? null };
    case "tool_result":
      return { kind: "tool_result", id: text(raw.id), name: text(raw.name), ok: raw.ok === true, text: text(raw.text) };
    case "format_error":
      return { kind: "format_error", message: text(raw.message) };
    case "note":
      return { kind: "note", text: text(raw.text) };
    default:
      return { kind: "unknown", raw };
  }
}

/** A `hearth/agentTranscript` notification's `{session, event}`, or undefined when it is malformed. */
export function parseTranscriptNotification(raw: unknown): { session: number; event: AgentEvent } | undefined {
  if (!isObject(raw) || typeof raw.session !== "number") return undefined;
  return { session: raw.session, event: parseAgentEvent(raw.event) };
}

/** Validates a `hearth/agent` result; throws AgentProtocolError naming what is wrong. */
export function parseAgentResult(value: unknown): AgentResult {
  if (!isObject(value)) throw new AgentProtocolError("hearth/agent returned no result");
  if (typeof value.session !== "number") throw new AgentProtocolError("hearth/agent result has no `session` number");
  if (!isObject(value.edit)) throw new AgentProtocolError("hearth/agent result has no `edit` WorkspaceEdit");
  if (typeof value.stop !== "string") throw new AgentProtocolError("hearth/agent result has no `stop` reason");
  const files = (Array.isArray(value.files) ? value.files : [])
    .filter((f): f is Record<string, unknown> => isObject(f) && typeof f.path === "string")
    .map((f) => ({ uri: typeof f.uri === "string" ? f.uri : null, path: f.path as string, diff: text(f.diff) }));
  return {
    session: value.session,
    edit: value.edit,
    files,
    answer: typeof value.answer === "string" ? value.answer : null,
    stop: value.stop,
    steps: count(value.steps),
    generatedTokens: count(value.generatedTokens),
    calls: count(value.calls),
    malformedCalls: count(value.malformedCalls),
    transcript: (Array.isArray(value.transcript) ? value.transcript : []).map(parseAgentEvent),
  };
}

/** Why the session ended, in words. */
export function describeStop(stop: string): string {
  switch (stop) {
    case "answered":
      return "the model answered";
    case "step_budget":
      return "stopped: the step budget ran out (hearth.agent.maxSteps)";
    case "token_budget":
      return "stopped: the token budget ran out";
    case "context_full":
      return "stopped: the prompt no longer fits the model's context (see the notes)";
    default:
      return `stopped: ${stop}`;
  }
}

/** One line for the review list and messages, e.g. `the model answered · 7 steps, 6 calls`. */
export function summarizeAgent(result: AgentResult): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const parts = [plural(result.steps, "step"), plural(result.calls, "call")];
  if (result.malformedCalls > 0) parts.push(`${result.malformedCalls} malformed`);
  parts.push(`${result.generatedTokens} tokens`);
  return `${describeStop(result.stop)} · ${parts.join(", ")}`;
}

/**
 * Which task a transcript notification belongs to. The server names a session only in its notifications
 * and its result, so the one task waiting for its first notification adopts the first unknown session;
 * the extension runs one agent task at a time, which keeps this exact. Notifications of sessions no
 * task adopted (or of finished ones) are dropped.
 */
export class TranscriptRouter<T> {
  private waiting: T | undefined;
  private readonly bySession = new Map<number, T>();

  /** A task was sent; it adopts the next unknown session. */
  expect(task: T): void {
    this.waiting = task;
  }

  route(session: number): T | undefined {
    const known = this.bySession.get(session);
    if (known !== undefined) return known;
    if (this.waiting === undefined) return undefined;
    const task = this.waiting;
    this.waiting = undefined;
    this.bySession.set(session, task);
    return task;
  }

  /** The task ended (result, error or cancellation): its session gets no more notifications. */
  finish(task: T): void {
    if (this.waiting === task) this.waiting = undefined;
    for (const [session, t] of this.bySession) if (t === task) this.bySession.delete(session);
  }
}

/**
 * Whether a failed request was cancelled rather than failing: the server's RequestCancelled (-32800),
 * or the client's own cancellation (a vscode.CancellationError is named "Canceled").
 */
export function isCancellation(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const e = error as { code?: unknown; name?: unknown };
  return e.code === -32800 || e.name === "Canceled";
}
