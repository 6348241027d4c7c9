//! Client mechanics against a fake server: options reach it, slow requests are cancelled over the wire, crashes are seen.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import * as os from "node:os";
import { CancellationTokenSource } from "vscode-languageserver-protocol/node";
import { clientCapabilities, startServer, type Server } from "../harness";
import { readSettings, didChangeConfigurationParams } from "../../src/core/settings";
import { withTimeout } from "../../src/core/timeout";
import { inlineItems } from "../../src/core/protocol";

const mock = path.join(__dirname, "..", "mock", "mockServer.js");
const uri = "file:///tmp/mock/main.py";

async function start(): Promise<Server> {
  const server = startServer(process.execPath, [mock], os.tmpdir());
  const init = await server.connection.sendRequest("initialize", {
    processId: process.pid,
    rootUri: null,
    capabilities: clientCapabilities,
    initializationOptions: readSettings(() => undefined).server,
  });
  assert.ok((init as { capabilities: object }).capabilities);
  await server.connection.sendNotification("initialized", {});
  await server.connection.sendNotification("textDocument/didOpen", {
    textDocument: { uri, languageId: "python", version: 1, text: "def add(a, b):\n    \nslow = 1\n" },
  });
  return server;
}

test("initializationOptions and didChangeConfiguration reach the server", async () => {
  const server = await start();
  try {
    assert.deepEqual(
      await server.connection.sendRequest("workspace/executeCommand", { command: "mock.options" }),
      readSettings(() => undefined).server,
    );
    const changed = readSettings((k) => (k === "multiline" ? true : undefined)).server;
    await server.connection.sendNotification("workspace/didChangeConfiguration", didChangeConfigurationParams(changed));
    assert.deepEqual(await server.connection.sendRequest("workspace/executeCommand", { command: "mock.options" }), changed);
    assert.equal((await server.waitForStatus("ready", 5000)).state, "ready");
  } finally {
    await server.close();
  }
});

test("a request past the timeout is cancelled with $/cancelRequest, and the server keeps serving", async () => {
  const server = await start();
  try {
    const cancelled = new Promise((resolve) => server.connection.onNotification("mock/cancelled", resolve));
    const outer = new CancellationTokenSource();
    const r = await withTimeout(
      outer.token,
      100,
      () => new CancellationTokenSource(),
      (t) =>
        server.connection
          .sendRequest(
            "textDocument/inlineCompletion",
            { textDocument: { uri }, position: { line: 2, character: 4 }, context: { triggerKind: 2 } },
            t,
          )
          .catch(() => null),
      null,
    );
    assert.deepEqual(r, { value: null, timedOut: true });
    assert.deepEqual(await cancelled, { line: 2 }, "the server saw the cancellation");
    const next = await server.connection.sendRequest("textDocument/inlineCompletion", {
      textDocument: { uri },
      position: { line: 1, character: 4 },
      context: { triggerKind: 2 },
    });
    assert.deepEqual(inlineItems(next), [{ insertText: "return a + b" }]);
  } finally {
    await server.close();
  }
});

test("a crashing server is noticed: the connection closes and the exit code is known", async () => {
  const server = await start();
  const closed = new Promise<void>((resolve) => server.connection.onClose(() => resolve()));
  void server.connection.sendRequest("workspace/executeCommand", { command: "mock.crash" }).catch(() => undefined);
  assert.equal(await server.exited, 3);
  await closed;
});
