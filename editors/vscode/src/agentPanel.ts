//! VS Code glue for the agent transcript: a webview panel per task that shows the events as they
//! come and the outcome at the end. The HTML comes from core/agentView (escaped, strict CSP).

import * as crypto from "node:crypto";
import * as vscode from "vscode";
import type { AgentEvent, AgentResult } from "./core/agent";
import { renderEvent, renderFailure, renderOutcome, renderPage, type PageMessage } from "./core/agentView";

export class AgentPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private readonly log: string[] = [];
  private status = "Running… (cancel from the progress notification)";
  private outcome: string | undefined;
  private done = false;

  constructor(private readonly task: string) {
    this.reveal();
  }

  /** Shows the panel, opening it again (from what it has seen so far) if it was closed. */
  reveal(): void {
    if (this.panel !== undefined) {
      this.panel.reveal(undefined, true);
      return;
    }
    const title = `Hearth agent: ${this.task.length > 40 ? `${this.task.slice(0, 39)}…` : this.task}`;
    const panel = vscode.window.createWebviewPanel(
      "hearth.agentTranscript",
      title,
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      // Scripts only for the page's own nonce'd script (the CSP allows no other); no local files,
      // no command links, no forms.
      { enableScripts: true, enableCommandUris: false, enableForms: false, localResourceRoots: [], retainContextWhenHidden: true },
    );
    panel.onDidDispose(() => {
      if (this.panel === panel) this.panel = undefined;
    });
    this.panel = panel;
    this.render();
  }

  get isDone(): boolean {
    return this.done;
  }

  /** A live `hearth/agentTranscript` event. */
  append(event: AgentEvent): void {
    if (this.done) return;
    const html = renderEvent(event);
    this.log.push(html);
    this.post({ type: "append", html });
  }

  /** The result: its transcript replaces the live one (it is the complete record), then the outcome. */
  finish(result: AgentResult, status: string): void {
    this.log.splice(0, this.log.length, ...result.transcript.map(renderEvent));
    this.end(status, renderOutcome(result), true);
  }

  fail(message: string, cancelled: boolean): void {
    this.end(cancelled ? "Cancelled" : "Failed", renderFailure(message, cancelled), false);
  }

  private end(status: string, outcome: string, replaceLog: boolean): void {
    this.done = true;
    this.status = status;
    this.outcome = outcome;
    this.post({ type: "finish", status, outcome, ...(replaceLog ? { log: this.log.join("\n") } : {}) });
  }

  private post(message: PageMessage): void {
    void this.panel?.webview.postMessage(message);
  }

  private render(): void {
    if (this.panel === undefined) return;
    this.panel.webview.html = renderPage({
      nonce: crypto.randomBytes(16).toString("hex"),
      task: this.task,
      status: this.status,
      log: this.log,
      ...(this.outcome !== undefined ? { outcome: this.outcome } : {}),
    });
  }

  dispose(): void {
    this.panel?.dispose();
  }
}
