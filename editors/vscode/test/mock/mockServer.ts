//! A fake Hearth server for unit tests of client mechanics (timeouts, cancellation, crashes). No model.
//! Lines containing "slow" never answer until cancelled; the command "mock.crash" exits the process.

import { createConnection, ProposedFeatures, TextDocuments, TextDocumentSyncKind, type InitializeResult } from "vscode-languageserver/node";
import { TextDocument } from "vscode-languageserver-textdocument";

const connection = createConnection(ProposedFeatures.all, process.stdin, process.stdout);
const documents = new TextDocuments(TextDocument);
let options: unknown = null;

connection.onInitialize((params): InitializeResult => {
  options = params.initializationOptions ?? null;
  return {
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      inlineCompletionProvider: {},
      executeCommandProvider: { commands: ["hearth.edit", "hearth.context", "hearth.status", "mock.crash", "mock.options"] },
    },
  };
});

connection.onInitialized(() => {
  void connection.sendNotification("hearth/status", { state: "loading" });
  void connection.sendNotification("hearth/status", { state: "indexing", percentage: 50 });
  void connection.sendNotification("hearth/status", { state: "ready" });
});

connection.onDidChangeConfiguration((params) => {
  options = (params.settings as { hearth?: unknown } | null)?.hearth ?? options;
});

connection.languages.inlineCompletion.on(async (params, token) => {
  const doc = documents.get(params.textDocument.uri);
  const line = doc?.getText({ start: { line: params.position.line, character: 0 }, end: params.position }) ?? "";
  if (line.includes("slow")) {
    await new Promise<void>((resolve) => token.onCancellationRequested(() => resolve()));
    void connection.sendNotification("mock/cancelled", { line: params.position.line });
    return null;
  }
  return { items: [{ insertText: "return a + b" }] };
});

connection.onExecuteCommand((params) => {
  switch (params.command) {
    case "mock.crash":
      process.exit(3);
      break;
    case "mock.options":
      return options;
    case "hearth.status":
      return { state: "ready" };
    case "hearth.edit": {
      // Upper-cases the selection (or file): enough to check how clients review and apply edits.
      const args = params.arguments?.[0] as
        { uri?: string; range?: { start: { line: number; character: number }; end: { line: number; character: number } } } | undefined;
      const doc = args?.uri ? documents.get(args.uri) : undefined;
      if (!doc) return { edit: { changes: {} }, plan: [], report: "nothing open" };
      const range = args!.range ?? { start: { line: 0, character: 0 }, end: doc.positionAt(doc.getText().length) };
      return { edit: { changes: { [doc.uri]: [{ range, newText: doc.getText(range).toUpperCase() }] } }, plan: [], report: "upper-cased" };
    }
    case "hearth.context":
      return {
        snippets: [{ path: "helpers.py", startLine: 0, endLine: 1, reason: "mock", text: "def helper():\n    pass" }],
        prompt: "<|fim_prefix|>mock",
      };
  }
  return null;
});

documents.listen(connection);
connection.listen();
