//! Starts an LSP server process and talks to it with vscode-languageserver-protocol, as the extension's client library does.

import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import {
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from "vscode-languageserver-protocol/node";
import { parseServerStatus, type ServerStatus } from "../src/core/status";

export interface Server {
  connection: MessageConnection;
  process: ChildProcess;
  statuses: ServerStatus[];
  /** Raw `hearth/status` payloads, malformed ones included. */
  rawStatuses: unknown[];
  stderr: () => string;
  exited: Promise<number | null>;
  waitForStatus(state: ServerStatus["state"], timeoutMs: number): Promise<ServerStatus>;
  /** Also called with each raw `hearth/status` payload (a second onNotification would replace the harness's). */
  onStatus(listener: (payload: unknown) => void): void;
  close(): Promise<number | null>;
}

/** The binary under test: $HEARTH_BIN, which must exist. Fails with a message saying how to get one. */
export function requireBinary(): string {
  const bin = process.env.HEARTH_BIN;
  if (bin === undefined || bin === "") {
    throw new Error(
      "HEARTH_BIN is not set. Build the server (cargo build -p hearth-cli) and set HEARTH_BIN=$CARGO_TARGET_DIR/debug/hearth.",
    );
  }
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    throw new Error(`HEARTH_BIN=${bin} does not exist or is not executable. Build it with: cargo build -p hearth-cli`);
  }
  return bin;
}

export function requireModel(): string {
  const model = process.env.HEARTH_TEST_MODEL;
  if (model === undefined || model === "" || !fs.existsSync(model)) {
    throw new Error(`HEARTH_TEST_MODEL=${model ?? "(unset)"} is not a model folder; point it at shared/models/tiny-coder.`);
  }
  return model;
}

export function startServer(command: string, args: string[], cwd: string, env: Record<string, string> = {}): Server {
  const child = spawn(command, args, { cwd, stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, RUST_BACKTRACE: "1", ...env } });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const reader = new StreamMessageReader(child.stdout!);
  // A server killed mid-message leaves half of it buffered; the partial-message timer would then
  // re-arm every 10 s for ever and keep the test process alive.
  reader.partialMessageTimeout = 0;
  const connection = createMessageConnection(reader, new StreamMessageWriter(child.stdin!));
  const statuses: ServerStatus[] = [];
  const rawStatuses: unknown[] = [];
  const waiters: { state: string; resolve: (s: ServerStatus) => void }[] = [];
  const listeners: ((payload: unknown) => void)[] = [];
  connection.onNotification("hearth/status", (payload: unknown) => {
    rawStatuses.push(payload);
    for (const l of listeners) l(payload);
    const status = parseServerStatus(payload);
    if (status === undefined) return;
    statuses.push(status);
    for (const w of waiters.splice(0)) {
      if (w.state === status.state) w.resolve(status);
      else waiters.push(w);
    }
  });
  // Requests a client must answer.
  connection.onRequest("window/workDoneProgress/create", () => null);
  connection.onRequest("client/registerCapability", () => null);
  connection.onRequest("workspace/configuration", (params: { items: unknown[] }) => params.items.map(() => null));
  connection.onRequest("workspace/applyEdit", () => ({ applied: false, failureReason: "the test client reviews edits itself" }));
  connection.onError(() => undefined);
  connection.listen();
  return {
    connection,
    process: child,
    statuses,
    rawStatuses,
    stderr: () => stderr,
    exited,
    onStatus(listener) {
      listeners.push(listener);
    },
    waitForStatus(state, timeoutMs) {
      const seen = statuses.find((s) => s.state === state);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `no hearth/status "${state}" within ${timeoutMs} ms; saw ${JSON.stringify(statuses)}\nstderr:\n${stderr.slice(-4000)}`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({ state, resolve: (s) => (clearTimeout(timer), resolve(s)) });
      });
    },
    async close() {
      if (child.exitCode === null) {
        try {
          await Promise.race([connection.sendRequest("shutdown"), new Promise((r) => setTimeout(r, 5000))]);
          await connection.sendNotification("exit");
        } catch {
          // Already gone.
        }
      }
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const code = await exited;
      clearTimeout(timer);
      connection.dispose();
      return code;
    },
  };
}

export const clientCapabilities = {
  textDocument: {
    synchronization: { dynamicRegistration: false, didSave: true },
    inlineCompletion: { dynamicRegistration: false },
    completion: { completionItem: { snippetSupport: false } },
  },
  workspace: { applyEdit: true, workspaceEdit: { documentChanges: true }, configuration: true, workspaceFolders: true },
  window: { workDoneProgress: true },
  general: { positionEncodings: ["utf-16"] },
};
