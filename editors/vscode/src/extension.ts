//! VS Code glue: starts `hearth serve`, shows its status, serves inline completions, next-edit suggestions and the edit/agent/context commands.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as vscode from "vscode";
import {
  CloseAction,
  DidChangeConfigurationNotification,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  State,
  WorkDoneProgress,
  type LanguageClientOptions,
  type ServerOptions,
} from "vscode-languageclient/node";
import { AgentPanel } from "./agentPanel";
import {
  AGENT_REQUEST,
  AGENT_TRANSCRIPT_NOTIFICATION,
  agentParams,
  isCancellation,
  parseAgentResult,
  parseTranscriptNotification,
  summarizeAgent,
  TranscriptRouter,
  type AgentResult,
} from "./core/agent";
import { findBinary } from "./core/binary";
import { buildPreview, describeFile, staleFiles, summarizePreview, type Preview, type PreviewFile, type TextEdit } from "./core/diffModel";
import { NEXT_EDIT_REQUEST } from "./core/nextEdit";
import { NextEditController, type ActiveDocument } from "./core/nextEditController";
import {
  codeActionEditArgs,
  COMMANDS,
  contextArgs,
  editArgs,
  parseContextResult,
  parseEditResult,
  renderContext,
  STATUS_NOTIFICATION,
  type EditArgs,
  type EditScope,
} from "./core/protocol";
import { CrashTracker, crashMessage } from "./core/restart";
import {
  didChangeConfigurationParams,
  languageEnabled,
  needsRestart,
  nextEditEnabled,
  readSettings,
  serverArgs,
  type Settings,
} from "./core/settings";
import { initialStatus, nextStatus, viewStatus, type StatusEvent, type StatusState } from "./core/status";
import { withTimeout } from "./core/timeout";
import { NextEditDecorations } from "./nextEditView";

const PREVIEW_SCHEME = "hearth-proposed";
const CONTEXT_SCHEME = "hearth-context";

class Hearth implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private settings: Settings;
  private status: StatusState = initialStatus;
  private readonly crashes = new CrashTracker();
  private readonly output = vscode.window.createOutputChannel("Hearth", { log: true });
  private readonly statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  /** Read-only virtual documents: proposed file contents and context pages, by URI. */
  private readonly proposed = new Map<string, string>();
  private contextPages = 0;
  private edits = 0;
  private agents = 0;
  /** The agent task in flight (one at a time), and which session its transcript notifications carry. */
  private agentRun: AgentPanel | undefined;
  private readonly transcripts = new TranscriptRouter<AgentPanel>();
  /** Next-edit suggestions: the flow (core) and its decorations. */
  private readonly nextEdits: NextEditController<vscode.CancellationToken>;
  private readonly nextEditView: NextEditDecorations;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly context: vscode.ExtensionContext) {
    this.settings = this.readSettings();
    this.statusItem.command = "hearth.showOutput";
    this.statusItem.show();
    this.render();
    this.nextEditView = new NextEditDecorations(context.extensionUri);
    this.nextEdits = new NextEditController(
      {
        active: () => activeDocument(),
        wanted: (doc) => this.nextEditWanted(doc),
        request: (params, token) => {
          const client = this.client;
          if (client === undefined) return Promise.resolve(null);
          return client.sendRequest(NEXT_EDIT_REQUEST, params, token);
        },
        render: (view) => this.nextEditView.render(view === undefined ? undefined : editorFor(view.uri), view),
        moveCursor: (p) => {
          const editor = vscode.window.activeTextEditor;
          if (editor === undefined) return;
          const at = new vscode.Position(p.line, p.character);
          editor.selection = new vscode.Selection(at, at);
          editor.revealRange(new vscode.Range(at, at), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
        },
        apply: (uri, version, edits) => applyEdits(uri, version, edits),
        log: (level, message) => (level === "error" ? this.output.error(message) : this.output.debug(message)),
      },
      () => new vscode.CancellationTokenSource(),
    );
    this.disposables.push(
      this.nextEdits,
      this.nextEditView,
      this.output,
      this.statusItem,
      vscode.workspace.registerTextDocumentContentProvider(PREVIEW_SCHEME, {
        provideTextDocumentContent: (uri) => this.proposed.get(uri.toString()) ?? "",
      }),
      vscode.workspace.registerTextDocumentContentProvider(CONTEXT_SCHEME, {
        provideTextDocumentContent: (uri) => this.proposed.get(uri.toString()) ?? "",
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration("hearth")) void this.onSettingsChanged();
      }),
      // An edit pause in the active document asks for the next edit; any change clears the shown one.
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.contentChanges.length > 0) this.nextEdits.changed(e.document.uri.toString());
      }),
      vscode.window.onDidChangeActiveTextEditor(() => this.nextEdits.activeChanged()),
      vscode.window.onDidChangeTextEditorSelection((e) => {
        if (e.textEditor === vscode.window.activeTextEditor) this.nextEdits.refresh();
      }),
      vscode.window.onDidChangeTextEditorVisibleRanges((e) => {
        if (e.textEditor === vscode.window.activeTextEditor) this.nextEdits.refresh();
      }),
    );
    const commands: Record<string, (...args: unknown[]) => unknown> = {
      "hearth.toggle": () => this.toggle(),
      "hearth.restart": () => this.restart(),
      "hearth.showOutput": () => this.output.show(),
      "hearth.acceptWord": () => vscode.commands.executeCommand("editor.action.inlineSuggest.acceptNextWord"),
      "hearth.acceptLine": () => vscode.commands.executeCommand("editor.action.inlineSuggest.acceptNextLine"),
      "hearth.editSelection": () => this.edit("selection"),
      "hearth.refactorRepository": () => this.edit("repository"),
      "hearth.showContext": () => this.showContext(),
      "hearth.agentTask": () => this.agentTask(),
      "hearth.nextEdit.jumpOrAccept": () => this.jumpOrAccept(),
      "hearth.nextEdit.dismiss": () => this.nextEdits.dismiss(),
      "hearth.nextEdit.trigger": () => this.triggerNextEdit(),
    };
    for (const [id, run] of Object.entries(commands)) this.disposables.push(vscode.commands.registerCommand(id, run));
  }

  private readSettings(): Settings {
    const config = vscode.workspace.getConfiguration("hearth");
    const settings = readSettings((key) => config.get(key));
    for (const w of settings.warnings) this.output.warn(w);
    void vscode.commands.executeCommand("setContext", "hearth.completionsEnabled", settings.client.enabled);
    return settings;
  }

  private transition(event: StatusEvent): void {
    this.status = nextStatus(this.status, event);
    this.render();
  }

  private render(): void {
    const view = viewStatus(this.status, this.settings.client.enabled);
    this.statusItem.text = `$(${view.icon}) ${view.text}`;
    this.statusItem.tooltip = view.tooltip;
    this.statusItem.backgroundColor =
      view.severity === "normal" ? undefined : new vscode.ThemeColor(`statusBarItem.${view.severity}Background`);
  }

  async start(): Promise<void> {
    if (this.client !== undefined) return;
    const found = findBinary({
      setting: this.settings.client.serverPath,
      pathEnv: process.env.PATH,
      extensionPath: this.context.extensionPath,
      platform: process.platform,
      home: os.homedir(),
      workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
      isExecutable: (file) => {
        try {
          fs.accessSync(file, fs.constants.X_OK);
          return fs.statSync(file).isFile();
        } catch {
          return false;
        }
      },
    });
    if (!found.ok) {
      this.output.error(`${found.message}\nSearched:\n  ${found.searched.join("\n  ")}`);
      this.transition({ type: "startFailed", message: found.message });
      void this.offerFix(found.message);
      return;
    }
    const args = serverArgs(this.settings.client);
    this.output.info(`Starting ${found.path} ${args.join(" ")} (found via ${found.source}).`);
    if (this.settings.client.logPrompts) {
      this.output.warn(
        "hearth.logPrompts is on: the server logs SOURCE CODE (prompts and completions) to this output. Turn it off when done debugging.",
      );
    }
    const server: ServerOptions = { command: found.path, args };
    const client = new LanguageClient("hearth", "Hearth", server, this.clientOptions());
    client.onDidChangeState((e) => {
      if (e.newState === State.Starting) this.transition({ type: "starting" });
      else if (e.newState === State.Running) this.transition({ type: "running" });
      else if (e.newState === State.Stopped && this.status.kind !== "crashed" && this.status.kind !== "error")
        this.transition({ type: "stopped" });
    });
    client.onNotification(STATUS_NOTIFICATION, (payload: unknown) => {
      this.transition({ type: "notification", payload });
      if (this.status.kind === "error") this.output.error(`Server: ${this.status.message}`);
    });
    client.onNotification(AGENT_TRANSCRIPT_NOTIFICATION, (payload: unknown) => {
      const n = parseTranscriptNotification(payload);
      if (n !== undefined) this.transcripts.route(n.session)?.append(n.event);
    });
    this.client = client;
    this.transition({ type: "starting" });
    try {
      await client.start();
    } catch (e) {
      const message = `Hearth could not start ${found.path}: ${e instanceof Error ? e.message : String(e)}`;
      this.output.error(message);
      this.client = undefined;
      this.transition({ type: "startFailed", message });
      void this.offerFix(message);
    }
  }

  private clientOptions(): LanguageClientOptions {
    return {
      documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
      initializationOptions: this.settings.server,
      outputChannel: this.output,
      errorHandler: {
        error: (error) => {
          this.output.error(`Connection error: ${error.message}`);
          return { action: ErrorAction.Continue };
        },
        closed: () => {
          const { restart, recent } = this.crashes.onCrash(Date.now());
          const message = crashMessage(recent, restart);
          this.output.error(message);
          this.transition({ type: "crashed", message });
          if (!restart) void this.offerFix(message);
          return { action: restart ? CloseAction.Restart : CloseAction.DoNotRestart, message, handled: true };
        },
      },
      middleware: {
        // Ghost text is the interface; the server's plain completions would duplicate it in the suggest list.
        provideCompletionItem: () => undefined,
        // The "Hearth: edit selection…" code action runs hearth.edit without an instruction: ask for
        // one, then review the result like "Hearth: Edit selection…".
        executeCommand: (command, args, next) => (command === COMMANDS.edit ? this.editFromCodeAction(args[0]) : next(command, args)),
        provideInlineCompletionItems: async (document, position, context, token, next) => {
          const { client: c, server } = this.settings;
          if (!c.enabled || !languageEnabled(server, document.languageId)) return null;
          const { value, timedOut } = await withTimeout(
            token,
            c.requestTimeoutMs,
            () => new vscode.CancellationTokenSource(),
            (t) => next(document, position, context, t),
            null,
          );
          if (timedOut) this.output.debug(`Inline completion timed out after ${c.requestTimeoutMs} ms and was cancelled.`);
          return value;
        },
      },
    };
  }

  private async offerFix(message: string): Promise<void> {
    const choice = await vscode.window.showErrorMessage(message, "Restart server", "Open settings", "Show output");
    if (choice === "Restart server") await this.restart();
    else if (choice === "Open settings") await vscode.commands.executeCommand("workbench.action.openSettings", "hearth");
    else if (choice === "Show output") this.output.show();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) {
      try {
        await client.stop(5000);
      } catch (e) {
        this.output.warn(`Stopping the server: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    this.transition({ type: "stopped" });
    this.nextEdits.reconsider();
  }

  async restart(): Promise<void> {
    this.crashes.reset();
    await this.stop();
    await this.start();
  }

  private async toggle(): Promise<void> {
    const config = vscode.workspace.getConfiguration("hearth");
    await config.update("enable", !this.settings.client.enabled, vscode.ConfigurationTarget.Global);
  }

  private async onSettingsChanged(): Promise<void> {
    const before = this.settings;
    this.settings = this.readSettings();
    this.render();
    this.nextEdits.reconsider();
    if (needsRestart(before, this.settings)) {
      this.output.info("Server path or arguments changed; restarting the server.");
      await this.restart();
    } else if (this.client?.isRunning()) {
      await this.client.sendNotification(DidChangeConfigurationNotification.type, didChangeConfigurationParams(this.settings.server));
    } else if (this.client === undefined) {
      await this.start();
    }
  }

  /** Next edits for the active editor's document: on, its language enabled, synced to the server (file or untitled), a server running. */
  private nextEditWanted(doc: ActiveDocument): boolean {
    const editor = vscode.window.activeTextEditor;
    if (editor === undefined || editor.document.uri.toString() !== doc.uri) return false;
    const { scheme } = editor.document.uri;
    return (
      (scheme === "file" || scheme === "untitled") &&
      nextEditEnabled(this.settings.server, editor.document.languageId) &&
      this.client?.isRunning() === true
    );
  }

  /** Tab while a next edit is shown. */
  private async jumpOrAccept(): Promise<void> {
    const outcome = await this.nextEdits.jumpOrAccept();
    if (outcome === "stale") void vscode.window.setStatusBarMessage("Hearth: the document changed; the next edit was dropped.", 4000);
    // The context key was out of date: Tab does what it does without a suggestion.
    else if (outcome === "none") await vscode.commands.executeCommand("tab");
  }

  /** "Hearth: Suggest the next edit": asks now, without the edit pause. */
  private async triggerNextEdit(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (editor === undefined) {
      void vscode.window.showWarningMessage("Open a file and put the cursor where you edited.");
      return;
    }
    if (!nextEditEnabled(this.settings.server, editor.document.languageId)) {
      void vscode.window.showInformationMessage(
        "Next-edit suggestions are off for this file (hearth.nextEdit.enabled, hearth.enabledLanguages).",
      );
      return;
    }
    if (this.runningClient() === undefined) return;
    const asked = this.nextEdits.trigger();
    vscode.window.setStatusBarMessage("$(sync~spin) Hearth: predicting the next edit…", asked);
    if ((await asked) === null) void vscode.window.setStatusBarMessage("Hearth: no next edit suggested.", 4000);
  }

  private runningClient(): LanguageClient | undefined {
    if (this.client?.isRunning()) return this.client;
    void this.offerFix("The Hearth server is not running.");
    return undefined;
  }

  private async readText(uri: string): Promise<string | undefined> {
    try {
      return (await vscode.workspace.openTextDocument(vscode.Uri.parse(uri))).getText();
    } catch {
      return undefined;
    }
  }

  private askInstruction(scope: EditScope): Thenable<string | undefined> {
    return vscode.window.showInputBox({
      title: scope === "repository" ? "Hearth: Refactor across the repository" : "Hearth: Edit selection",
      prompt:
        scope === "repository"
          ? "What should change across the repository?"
          : "What should change in the selection (or the whole file when nothing is selected)?",
      placeHolder: scope === "repository" ? "e.g. rename fetch_user to load_user" : "e.g. add type hints",
      ignoreFocusOut: true,
    });
  }

  private async edit(scope: EditScope): Promise<void> {
    const client = this.runningClient();
    if (client === undefined) return;
    const editor = vscode.window.activeTextEditor;
    if (scope === "selection" && editor === undefined) {
      void vscode.window.showWarningMessage("Open a file and select the code to edit.");
      return;
    }
    const instruction = await this.askInstruction(scope);
    if (instruction === undefined || instruction.trim() === "") return;
    const effectiveScope: EditScope = scope === "selection" && editor!.selection.isEmpty ? "file" : scope;
    const range = editor && !editor.selection.isEmpty ? client.code2ProtocolConverter.asRange(editor.selection) : undefined;
    let args;
    try {
      args = editArgs(instruction, effectiveScope, editor?.document.uri.toString(), effectiveScope === "selection" ? range : undefined);
    } catch (e) {
      void vscode.window.showErrorMessage(e instanceof Error ? e.message : String(e));
      return;
    }
    await this.runEdit(client, args);
  }

  /** The code action's command: its arguments name the selection; the user names the change. */
  private async editFromCodeAction(raw: unknown): Promise<void> {
    const client = this.runningClient();
    if (client === undefined) return;
    const instruction = await this.askInstruction("selection");
    if (instruction === undefined || instruction.trim() === "") return;
    let args;
    try {
      args = codeActionEditArgs(raw, instruction);
    } catch (e) {
      void vscode.window.showErrorMessage(e instanceof Error ? e.message : String(e));
      return;
    }
    await this.runEdit(client, args);
  }

  /** Asks the server for the edit (with a cancellable progress notification), then the review. */
  private async runEdit(client: LanguageClient, args: EditArgs): Promise<void> {
    let edit: unknown;
    let report = "";
    try {
      // The server's `$/progress` (planning, region i of n, checking) on our token, in one notification;
      // cancelling it sends `$/cancelRequest`, which stops the server's decoding.
      const workDoneToken = `hearth-edit-${++this.edits}`;
      const raw = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: "Hearth is preparing the edit…", cancellable: true },
        async (progress, token) => {
          const steps = client.onProgress(WorkDoneProgress.type, workDoneToken, (value) => {
            if (value.kind === "report" && value.message !== undefined) progress.report({ message: value.message });
          });
          try {
            return await client.sendRequest(
              ExecuteCommandRequest.type,
              { command: COMMANDS.edit, arguments: [args], workDoneToken },
              token,
            );
          } finally {
            steps.dispose();
          }
        },
      );
      const result = parseEditResult(raw);
      edit = result.edit;
      report = result.report;
      if (report !== "") this.output.info(`Edit report:\n${report}`);
    } catch (e) {
      this.showFailure("Hearth edit failed", e);
      return;
    }
    await this.proposeEdit(edit, report, "Hearth");
  }

  private showFailure(what: string, e: unknown): void {
    const message = `${what}: ${e instanceof Error ? e.message : String(e)}`;
    this.output.error(message);
    void vscode.window.showErrorMessage(message, "Show output").then((c) => c && this.output.show());
  }

  /**
   * The review shared by "Hearth: edit…" and "Hearth: agent task…": the proposed WorkspaceEdit as
   * diffs and a list to apply or discard it. Nothing is applied unless the user picks Apply.
   */
  private async proposeEdit(workspaceEdit: unknown, report: string, who: string): Promise<void> {
    let preview: Preview;
    try {
      preview = await buildPreview(workspaceEdit, (uri) => this.readText(uri));
    } catch (e) {
      this.showFailure(`${who}'s edit cannot be shown`, e);
      return;
    }
    for (const p of preview.problems) this.output.warn(`Edit not shown: ${p}`);
    if (preview.files.length === 0) {
      const why = preview.problems.length > 0 ? ` ${preview.problems.length} file(s) could not be shown (see the output).` : "";
      void vscode.window.showInformationMessage(`${who} proposed no changes.${report ? ` ${report}` : ""}${why}`);
      return;
    }
    await this.review(preview, report);
  }

  private async showDiff(file: PreviewFile): Promise<void> {
    const target = vscode.Uri.parse(file.uri);
    const stamp = String(Date.now());
    const proposed = vscode.Uri.from({ scheme: PREVIEW_SCHEME, path: target.path, query: stamp });
    this.proposed.set(proposed.toString(), file.after);
    // A file Hearth would create does not exist yet: its left side is an empty page.
    const original = file.created ? vscode.Uri.from({ scheme: PREVIEW_SCHEME, path: target.path, query: `${stamp}-empty` }) : target;
    if (file.created) this.proposed.set(original.toString(), "");
    const name = path.basename(target.path);
    const title = file.created ? `${name}: new file ↔ Hearth's proposal` : `${name}: current ↔ Hearth's proposal`;
    await vscode.commands.executeCommand("vscode.diff", original, proposed, title, { preview: true });
  }

  private async review(preview: Preview, report: string): Promise<void> {
    const summary = summarizePreview(preview);
    const extra = [...preview.resourceOperations.map((r) => `not applied: ${r}`), ...preview.problems];
    if (preview.files.length === 1) await this.showDiff(preview.files[0]!);
    for (;;) {
      type Item = vscode.QuickPickItem & { action: "apply" | "discard" | PreviewFile };
      const items: Item[] = [
        { label: "$(check) Apply", description: summary, action: "apply" },
        { label: "$(close) Discard", action: "discard" },
        { label: "Files", kind: vscode.QuickPickItemKind.Separator, action: "discard" },
        ...preview.files.map((f): Item => ({
          label: describeFile(f, vscode.workspace.asRelativePath(vscode.Uri.parse(f.uri))),
          description: "show diff",
          action: f,
        })),
      ];
      const picked = await vscode.window.showQuickPick(items, {
        title: `Review Hearth's edit: ${summary}`,
        placeHolder: [report, ...extra].filter((s) => s !== "").join(" · ") || "Pick a file to see its diff, then apply or discard.",
        ignoreFocusOut: true,
      });
      if (picked === undefined || picked.action === "discard") return;
      if (picked.action === "apply") break;
      await this.showDiff(picked.action);
    }
    const stale = await staleFiles(preview, (uri) => this.readText(uri));
    if (stale.length > 0) {
      void vscode.window.showErrorMessage(
        `Not applied: ${stale.map((u) => vscode.workspace.asRelativePath(vscode.Uri.parse(u))).join(", ")} changed since Hearth proposed the edit. Run it again.`,
      );
      return;
    }
    const edit = new vscode.WorkspaceEdit();
    for (const f of preview.files) {
      const uri = vscode.Uri.parse(f.uri);
      const range = (e: PreviewFile["edits"][number]) =>
        new vscode.Range(e.range.start.line, e.range.start.character, e.range.end.line, e.range.end.character);
      if (f.created) {
        // Created first, then filled: in this order within the one edit (fails if the file exists by now).
        edit.createFile(uri, { overwrite: false, ignoreIfExists: false });
        for (const e of f.edits) edit.replace(uri, range(e), e.newText);
      } else {
        edit.set(
          uri,
          f.edits.map((e) => new vscode.TextEdit(range(e), e.newText)),
        );
      }
    }
    const ok = await vscode.workspace.applyEdit(edit);
    if (!ok) void vscode.window.showErrorMessage("VS Code refused to apply Hearth's edit; nothing was changed.");
    else void vscode.window.setStatusBarMessage(`Hearth: applied, ${summary}. Undo with Ctrl+Z in each file.`, 5000);
  }

  /**
   * "Hearth: Agent task…": the task in an input box, `hearth/agent` with the active file, the transcript
   * live in a panel, then the proposed edit in the same review as "Hearth: Edit…". `run` confirmations
   * are the server's `window/showMessageRequest`, which the language client shows with its buttons.
   */
  private async agentTask(): Promise<void> {
    if (this.agentRun !== undefined) {
      const running = this.agentRun;
      const choice = await vscode.window.showInformationMessage(
        "A Hearth agent task is already running; cancel it from its progress notification to start another.",
        "Show transcript",
      );
      if (choice === "Show transcript") running.reveal();
      return;
    }
    const client = this.runningClient();
    if (client === undefined) return;
    const doc = vscode.window.activeTextEditor?.document;
    // The server takes files in its workspace (the first folder) only.
    const root = vscode.workspace.workspaceFolders?.[0];
    const inWorkspace =
      doc !== undefined && doc.uri.scheme === "file" && root !== undefined && vscode.workspace.getWorkspaceFolder(doc.uri) === root;
    const files = inWorkspace ? [doc.uri.toString()] : [];
    const task = await vscode.window.showInputBox({
      title: "Hearth: Agent task",
      prompt:
        `What should the agent do${inWorkspace ? `, starting from ${vscode.workspace.asRelativePath(doc.uri)}` : ""}? ` +
        "It searches, reads and edits on its own; you review the diff before anything is applied.",
      placeHolder: "e.g. rename parse_config to load_config and make it strip what it reads",
      ignoreFocusOut: true,
    });
    if (task === undefined || task.trim() === "" || this.agentRun !== undefined) return;
    const workDoneToken = `hearth-agent-${++this.agents}`;
    const params = agentParams(task, files, workDoneToken);
    const panel = new AgentPanel(params.task);
    this.disposables.push(panel);
    this.agentRun = panel;
    this.transcripts.expect(panel);
    let result: AgentResult;
    try {
      result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: "Hearth agent", cancellable: true },
        async (progress, token) => {
          // `$/progress` (step i of at most N, calling NAME) on our token; cancelling sends `$/cancelRequest`.
          const steps = client.onProgress(WorkDoneProgress.type, workDoneToken, (value) => {
            if (value.kind === "report" && value.message !== undefined) progress.report({ message: value.message });
          });
          try {
            return parseAgentResult(await client.sendRequest(AGENT_REQUEST, params, token));
          } catch (e) {
            throw token.isCancellationRequested ? new vscode.CancellationError() : e;
          } finally {
            steps.dispose();
          }
        },
      );
    } catch (e) {
      const cancelled = isCancellation(e);
      panel.fail(e instanceof Error ? e.message : String(e), cancelled);
      if (cancelled) this.output.info("Agent task cancelled.");
      else this.showFailure("Hearth agent failed", e);
      return;
    } finally {
      this.transcripts.finish(panel);
      this.agentRun = undefined;
    }
    const summary = summarizeAgent(result);
    this.output.info(`Agent session ${result.session}: ${summary}`);
    panel.finish(result, `Done: ${summary}`);
    await this.proposeEdit(result.edit, summary, "Hearth's agent");
  }

  private async showContext(): Promise<void> {
    const client = this.runningClient();
    const editor = vscode.window.activeTextEditor;
    if (client === undefined) return;
    if (editor === undefined) {
      void vscode.window.showWarningMessage("Open a file and put the cursor where you want to see the context.");
      return;
    }
    const pos = editor.selection.active;
    try {
      const raw = await client.sendRequest(ExecuteCommandRequest.type, {
        command: COMMANDS.context,
        arguments: [contextArgs(editor.document.uri.toString(), { line: pos.line, character: pos.character })],
      });
      const where = `${vscode.workspace.asRelativePath(editor.document.uri)}:${pos.line + 1}:${pos.character + 1}`;
      const uri = vscode.Uri.from({ scheme: CONTEXT_SCHEME, path: `/Hearth context ${++this.contextPages}.md` });
      this.proposed.set(uri.toString(), renderContext(parseContextResult(raw), where));
      const doc = await vscode.workspace.openTextDocument(uri);
      await vscode.languages.setTextDocumentLanguage(doc, "markdown");
      await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true });
    } catch (e) {
      const message = `Hearth could not show the context: ${e instanceof Error ? e.message : String(e)}`;
      this.output.error(message);
      void vscode.window.showErrorMessage(message);
    }
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

/** The active editor's document and cursor, as the next-edit flow reads them. */
function activeDocument(): ActiveDocument | undefined {
  const editor = vscode.window.activeTextEditor;
  if (editor === undefined) return undefined;
  const doc = editor.document;
  return {
    uri: doc.uri.toString(),
    version: doc.version,
    getText: () => doc.getText(),
    cursor: editor.selection.active,
    visible: editor.visibleRanges.map((r) => ({ start: r.start.line, end: r.end.line })),
  };
}

/** The active editor if it shows `uri`. */
function editorFor(uri: string): vscode.TextEditor | undefined {
  const editor = vscode.window.activeTextEditor;
  return editor?.document.uri.toString() === uri ? editor : undefined;
}

/** A next edit's edits, in one undoable step, if the document is still at `version`. */
async function applyEdits(uri: string, version: number, edits: TextEdit[]): Promise<boolean> {
  const editor = editorFor(uri);
  if (editor === undefined || editor.document.version !== version) return false;
  return editor.edit((b) => {
    for (const e of edits)
      b.replace(new vscode.Range(e.range.start.line, e.range.start.character, e.range.end.line, e.range.end.character), e.newText);
  });
}

let hearth: Hearth | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  hearth = new Hearth(context);
  context.subscriptions.push(hearth);
  await hearth.start();
}

export async function deactivate(): Promise<void> {
  await hearth?.stop();
  hearth = undefined;
}
