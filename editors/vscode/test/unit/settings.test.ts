//! Settings mapping: VS Code settings in, initializationOptions and didChangeConfiguration out.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import {
  didChangeConfigurationParams,
  languageEnabled,
  needsRestart,
  nextEditEnabled,
  readSettings,
  serverArgs,
} from "../../src/core/settings";

const from = (values: Record<string, unknown>) => (key: string) => values[key];

test("defaults match docs/protocol.md", () => {
  const s = readSettings(from({}));
  assert.deepEqual(s.server, {
    draftModel: null,
    device: "auto",
    multiline: false,
    debounceMs: 30,
    maxTokens: 64,
    enabledLanguages: ["*"],
    agent: { commands: [], maxSteps: 16 },
    nextEdit: { enabled: true },
  });
  assert.equal("model" in s.server, false, "an unset model is left to the server's default");
  assert.equal("contextBudget" in s.server, false, "an unset budget is left to the server, which adapts it");
  assert.deepEqual(s.client, { enabled: true, serverPath: "", extraArgs: [], requestTimeoutMs: 3000, logPrompts: false });
  assert.deepEqual(s.warnings, []);
});

test("every user setting maps to its protocol key", () => {
  const s = readSettings(
    from({
      model: " /models/tiny ",
      draftModel: "/models/draft",
      device: "cuda",
      multiline: true,
      debounceMs: 75,
      contextBudget: 2048,
      maxTokens: 128,
      enabledLanguages: ["python", "rust", "python", " "],
      enable: false,
      serverPath: "~/bin/hearth",
      serverArgs: ["--log", "debug", 3],
      "agent.commands": [" cargo test -q ", "npm test", "cargo test -q", ""],
      "agent.maxSteps": 8,
      "nextEdit.enabled": false,
      "nextEdit.format": "chat",
    }),
  );
  assert.deepEqual(s.server, {
    model: "/models/tiny",
    draftModel: "/models/draft",
    device: "cuda",
    multiline: true,
    debounceMs: 75,
    contextBudget: 2048,
    maxTokens: 128,
    enabledLanguages: ["python", "rust"],
    agent: { commands: ["cargo test -q", "npm test"], maxSteps: 8 },
    nextEdit: { enabled: false, format: "chat" },
  });
  assert.equal(s.client.enabled, false);
  assert.equal(s.client.serverPath, "~/bin/hearth");
  assert.deepEqual(s.client.extraArgs, ["--log", "debug"]);
  assert.deepEqual(s.warnings, []);
});

test("bad values fall back with a warning instead of reaching the server", () => {
  const s = readSettings(from({ device: "tpu", debounceMs: -5, contextBudget: "lots", enabledLanguages: "python", maxTokens: 1e9 }));
  assert.equal(s.server.device, "auto");
  assert.equal(s.server.debounceMs, 0);
  assert.equal(s.server.contextBudget, 1024);
  assert.equal(s.server.maxTokens, 1024);
  assert.deepEqual(s.server.enabledLanguages, ["*"]);
  assert.equal(s.warnings.length, 5);
  assert.match(s.warnings.join("\n"), /hearth\.device = "tpu"/);
  assert.match(s.warnings.join("\n"), /hearth\.debounceMs = -5 is outside 0\.\.2000; using 0/);
});

test("didChangeConfiguration nests the options under `hearth`", () => {
  const s = readSettings(from({ multiline: true }));
  assert.deepEqual(didChangeConfigurationParams(s.server), { settings: { hearth: s.server } });
  assert.equal(didChangeConfigurationParams(s.server).settings.hearth.multiline, true);
});

test("only the server path and arguments need a restart", () => {
  const base = readSettings(from({}));
  assert.equal(needsRestart(base, readSettings(from({ model: "x", multiline: true, device: "cpu" }))), false);
  assert.equal(needsRestart(base, readSettings(from({ serverPath: "/opt/hearth" }))), true);
  assert.equal(needsRestart(base, readSettings(from({ serverArgs: ["--log", "debug"] }))), true);
});

test("language filter", () => {
  const all = readSettings(from({})).server;
  const some = readSettings(from({ enabledLanguages: ["python"] })).server;
  assert.equal(languageEnabled(all, "go"), true);
  assert.equal(languageEnabled(some, "python"), true);
  assert.equal(languageEnabled(some, "go"), false);
});

test("hearth.logPrompts adds --log-prompts to the server's arguments and restarts it", () => {
  const off = readSettings(from({ serverArgs: ["--no-index"] }));
  const on = readSettings(from({ serverArgs: ["--no-index"], logPrompts: true }));
  assert.deepEqual(serverArgs(off.client), ["serve", "--no-index"]);
  assert.deepEqual(serverArgs(on.client), ["serve", "--no-index", "--log-prompts"]);
  assert.deepEqual(serverArgs(readSettings(from({ serverArgs: ["--log-prompts"], logPrompts: true })).client), ["serve", "--log-prompts"]);
  assert.equal(needsRestart(off, on), true);
  assert.equal(readSettings(from({ logPrompts: "yes" })).client.logPrompts, false, "only a real true turns it on");
});

test("agent settings: bad values fall back with a warning, and an empty command list is still sent", () => {
  const s = readSettings(from({ "agent.commands": "cargo test", "agent.maxSteps": 0 }));
  assert.deepEqual(s.server.agent, { commands: [], maxSteps: 1 });
  assert.equal(s.warnings.length, 2);
  assert.match(s.warnings.join("\n"), /hearth\.agent\.commands must be a list/);
  const mixed = readSettings(from({ "agent.commands": ["make check", 7] }));
  assert.deepEqual(mixed.server.agent.commands, ["make check"]);
  assert.match(mixed.warnings.join("\n"), /not strings are ignored/);
  assert.deepEqual(didChangeConfigurationParams(readSettings(from({})).server).settings.hearth.agent, { commands: [], maxSteps: 16 });
});

test("next-edit settings: sent as `nextEdit`, a bad format falls back to auto, and off means no requests", () => {
  const bad = readSettings(from({ "nextEdit.format": "diff", "nextEdit.enabled": "no" }));
  assert.deepEqual(bad.server.nextEdit, { enabled: true }, "only a real false turns it off; auto sends no format");
  assert.match(bad.warnings.join("\n"), /hearth\.nextEdit\.format = "diff" is not one of auto, sweep, zeta, chat/);
  const chat = readSettings(from({ "nextEdit.format": "chat" }));
  assert.deepEqual(didChangeConfigurationParams(chat.server).settings.hearth.nextEdit, { enabled: true, format: "chat" });
  assert.equal(nextEditEnabled(chat.server, "python"), true);
  assert.equal(nextEditEnabled(readSettings(from({ "nextEdit.enabled": false })).server, "python"), false);
  assert.equal(
    nextEditEnabled(readSettings(from({ enabledLanguages: ["rust"] })).server, "python"),
    false,
    "the language filter applies too",
  );
});
