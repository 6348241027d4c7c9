//! The agent transcript panel's HTML: each event, the outcome, and the page with its CSP. Everything
//! that came from the server or the model is escaped; the page runs only its own nonce'd script.

import { describeStop, type AgentEvent, type AgentResult } from "./agent";

/** Lines of a tool's output or a long argument shown before the rest is folded away. */
export const SHOWN_LINES = 6;

/** Escapes text for HTML element content and double- or single-quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const esc = escapeHtml;
const num = (n: number) => n.toLocaleString("en-US");

/** Text in a <pre>, its first `shown` lines visible and the rest in a <details> (not for a line or two more). */
export function collapsedText(text: string, shown = SHOWN_LINES): string {
  if (text === "") return `<p class="dim">(empty)</p>`;
  const lines = text.replace(/\r\n?/g, "\n").replace(/\n$/, "").split("\n");
  if (lines.length <= shown + 2) return `<pre>${esc(lines.join("\n"))}</pre>`;
  const rest = lines.length - shown;
  return (
    `<pre>${esc(lines.slice(0, shown).join("\n"))}</pre>` +
    `<details><summary>${rest} more lines</summary><pre>${esc(lines.slice(shown).join("\n"))}</pre></details>`
  );
}

/** A tool call's arguments: one row per key, strings as they are (multi-line ones folded), the rest as JSON. */
export function renderArguments(args: unknown): string {
  if (typeof args !== "object" || args === null || Array.isArray(args)) return collapsedText(JSON.stringify(args, null, 2) ?? "null");
  const entries = Object.entries(args as Record<string, unknown>);
  if (entries.length === 0) return `<p class="dim">(no arguments)</p>`;
  const rows = entries.map(([key, value]) => {
    const shown =
      typeof value === "string"
        ? value.includes("\n") || value.length > 120
          ? collapsedText(value)
          : value === ""
            ? `<span class="dim">""</span>`
            : `<code>${esc(value)}</code>`
        : `<code>${esc(JSON.stringify(value) ?? "null")}</code>`;
    return `<div class="arg"><span class="key">${esc(key)}</span>${shown}</div>`;
  });
  return `<div class="args">${rows.join("")}</div>`;
}

/** One transcript event as an HTML fragment. */
export function renderEvent(event: AgentEvent): string {
  switch (event.kind) {
    case "step":
      return (
        `<h2 class="step">Step ${event.step}<span class="dim"> of at most ${event.maxSteps} · ` +
        `prompt ${num(event.promptTokens)} of ${num(event.contextTokens)} tokens</span></h2>`
      );
    case "text":
      return `<div class="text">${esc(event.text)}</div>`;
    case "tool_call":
      return (
        `<div class="call"><div class="head">→ <b>${esc(event.name)}</b><span class="dim"> ${esc(event.id)}</span></div>` +
        `${renderArguments(event.arguments)}</div>`
      );
    case "tool_result":
      return (
        `<div class="result ${event.ok ? "ok" : "error"}"><div class="head">${event.ok ? "✓" : "✗"} <b>${esc(event.name)}</b> ` +
        `${event.ok ? "ok" : "error"}<span class="dim"> ${esc(event.id)}</span></div>${collapsedText(event.text)}</div>`
      );
    case "format_error":
      return `<div class="format-error"><b>⚠ The call did not parse</b> (the model was told):<div class="text">${esc(event.message)}</div></div>`;
    case "note":
      return `<div class="note">ℹ ${esc(event.text)}</div>`;
    case "unknown":
      return `<div class="note">Event this version does not know: <code>${esc(JSON.stringify(event.raw) ?? String(event.raw))}</code></div>`;
  }
}

/** A unified diff with its added and removed lines marked. */
export function renderDiff(diff: string): string {
  const lines = diff.replace(/\n$/, "").split("\n");
  const cls = (l: string) =>
    l.startsWith("+++") || l.startsWith("---")
      ? "meta"
      : l.startsWith("+")
        ? "add"
        : l.startsWith("-")
          ? "del"
          : l.startsWith("@@")
            ? "meta"
            : "";
  return `<pre class="diff">${lines.map((l) => `<span class="${cls(l)}">${esc(l)}</span>`).join("\n")}</pre>`;
}

/** The end of a session: its answer, why it stopped, the counts and the files it changed. */
export function renderOutcome(result: AgentResult): string {
  const answer = result.answer === null ? `<p class="dim">(no answer)</p>` : `<div class="text">${esc(result.answer)}</div>`;
  const counts =
    `${result.steps} step(s), ${result.calls} tool call(s), ${result.malformedCalls} malformed call(s), ` +
    `${num(result.generatedTokens)} generated token(s)`;
  const files =
    result.files.length === 0
      ? `<p>No files changed.</p>`
      : `<h3>${result.files.length} file(s) changed</h3>` +
        result.files.map((f) => `<details><summary><code>${esc(f.path)}</code></summary>${renderDiff(f.diff)}</details>`).join("") +
        `<p class="dim">Nothing is written until you apply the edit in the review list.</p>`;
  return `<h2>Answer</h2>${answer}<p class="stop"><b>${esc(describeStop(result.stop))}</b></p><p class="dim">${esc(counts)}</p>${files}`;
}

/** The end of a session that gave no result. */
export function renderFailure(message: string, cancelled: boolean): string {
  return cancelled
    ? `<h2>Cancelled</h2><p>The session was cancelled; nothing was changed.</p>`
    : `<h2>Failed</h2><div class="text error">${esc(message)}</div>`;
}

export interface PageParts {
  /** A fresh random nonce (letters and digits) for the page's style and script. */
  nonce: string;
  task: string;
  status: string;
  /** Already-rendered fragments (renderEvent), in order. */
  log: string[];
  /** renderOutcome or renderFailure, once the session ended. */
  outcome?: string;
}

/**
 * The whole page. The CSP allows nothing but the nonce'd style and script (no network, no images,
 * no frames, no forms); the script only inserts fragments the extension rendered and escaped.
 */
export function renderPage(parts: PageParts): string {
  if (!/^[A-Za-z0-9]+$/.test(parts.nonce)) throw new Error("the nonce must be letters and digits");
  const csp = `default-src 'none'; style-src 'nonce-${parts.nonce}'; script-src 'nonce-${parts.nonce}'; base-uri 'none'; form-action 'none'`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Hearth agent</title>
<style nonce="${parts.nonce}">${STYLE}</style>
</head>
<body>
<header><h1>${esc(parts.task)}</h1><p id="status">${esc(parts.status)}</p></header>
<main id="log">${parts.log.join("\n")}</main>
<section id="outcome">${parts.outcome ?? ""}</section>
<script nonce="${parts.nonce}">${SCRIPT}</script>
</body>
</html>`;
}

/** Messages the panel posts to the page's script. */
export type PageMessage = { type: "append"; html: string } | { type: "finish"; status: string; log?: string; outcome: string };

const STYLE = `
body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); padding: 0 1em 2em; }
h1 { font-size: 1.2em; white-space: pre-wrap; }
h2 { font-size: 1.05em; margin: 1.2em 0 0.4em; border-top: 1px solid var(--vscode-panel-border, #8884); padding-top: 0.6em; }
pre, code { font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); }
pre { white-space: pre-wrap; word-break: break-word; background: var(--vscode-textCodeBlock-background); padding: 0.4em 0.6em; margin: 0.3em 0; }
.dim { opacity: 0.7; font-weight: normal; }
.text { white-space: pre-wrap; margin: 0.4em 0; }
.call, .result, .format-error, .note { margin: 0.5em 0; padding-left: 0.6em; border-left: 3px solid var(--vscode-textLink-foreground); }
.result.ok { border-left-color: var(--vscode-testing-iconPassed, #3a3); }
.result.error, .format-error, .error { border-left-color: var(--vscode-errorForeground, #c33); }
.note { border-left-color: var(--vscode-editorInfo-foreground, #38c); white-space: pre-wrap; }
.arg { display: flex; gap: 0.6em; align-items: baseline; }
.arg .key { opacity: 0.8; min-width: 6em; }
.arg pre { flex: 1; }
summary { cursor: pointer; opacity: 0.8; }
.diff .add { color: var(--vscode-gitDecoration-addedResourceForeground, #3a3); }
.diff .del { color: var(--vscode-gitDecoration-deletedResourceForeground, #c33); }
.diff .meta { opacity: 0.7; }
#status { opacity: 0.8; }
`;

const SCRIPT = `
(() => {
  const log = document.getElementById("log");
  const outcome = document.getElementById("outcome");
  const status = document.getElementById("status");
  const atBottom = () => window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
  window.addEventListener("message", (e) => {
    const m = e.data;
    if (!m || typeof m !== "object") return;
    const follow = atBottom();
    if (m.type === "append" && typeof m.html === "string") log.insertAdjacentHTML("beforeend", m.html);
    if (m.type === "finish") {
      if (typeof m.log === "string") log.innerHTML = m.log;
      if (typeof m.outcome === "string") outcome.innerHTML = m.outcome;
      if (typeof m.status === "string") status.textContent = m.status;
    }
    if (follow) window.scrollTo(0, document.body.scrollHeight);
  });
})();
`;
