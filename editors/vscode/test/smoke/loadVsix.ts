//! Checks a packaged .vsix: its manifest names an entry point that loads with only the packaged
//! node_modules (a stand-in for the `vscode` module) and exports activate/deactivate.
//! Usage: node out/test/smoke/loadVsix.js <unpacked-vsix-dir>
/* eslint-disable @typescript-eslint/no-require-imports -- it loads the packaged CommonJS entry point as VS Code does */

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import Module = require("node:module");

const dir = process.argv[2];
if (!dir) throw new Error("usage: loadVsix <unpacked-vsix-dir>");
const ext = path.join(dir, "extension");
const manifest = JSON.parse(fs.readFileSync(path.join(ext, "package.json"), "utf8"));
const main = path.join(ext, manifest.main);
const commands: string[] = manifest.contributes.commands.map((c: { command: string }) => c.command);
for (const c of [
  "hearth.toggle",
  "hearth.editSelection",
  "hearth.refactorRepository",
  "hearth.showContext",
  "hearth.acceptWord",
  "hearth.acceptLine",
  "hearth.restart",
  "hearth.nextEdit.jumpOrAccept",
  "hearth.nextEdit.dismiss",
  "hearth.nextEdit.trigger",
]) {
  assert.ok(commands.includes(c), `the manifest lacks ${c}`);
}
for (const s of [
  "model",
  "draftModel",
  "device",
  "multiline",
  "debounceMs",
  "contextBudget",
  "enabledLanguages",
  "serverPath",
  "nextEdit.enabled",
  "nextEdit.format",
]) {
  assert.ok(manifest.contributes.configuration.properties[`hearth.${s}`], `the manifest lacks hearth.${s}`);
}
// Tab and Escape go to the next edit only while one is shown and no inline suggestion is.
for (const command of ["hearth.nextEdit.jumpOrAccept", "hearth.nextEdit.dismiss"]) {
  const binding = manifest.contributes.keybindings.find((k: { command: string }) => k.command === command) as { when?: string } | undefined;
  assert.ok(
    binding?.when?.includes("hearth.nextEditVisible") && binding.when.includes("!inlineSuggestionVisible"),
    `${command}: ${binding?.when}`,
  );
}
// The next-edit gutter marker's icon ships in the package.
assert.ok(fs.existsSync(path.join(ext, "media", "next-edit.svg")), "media/next-edit.svg is not in the .vsix");

// Resolve nothing from outside the unpacked extension, except node built-ins and `vscode`.
const loader = Module as unknown as {
  _load: (request: string, parent: unknown, isMain: boolean) => unknown;
  _resolveFilename: (r: string, p: { filename?: string } | undefined, ...rest: unknown[]) => string;
};
const originalLoad = loader._load;
const originalResolve = loader._resolveFilename;
loader._load = function (request, parent, isMain) {
  if (request === "vscode") return new Proxy({}, { get: () => function stub() {} });
  return originalLoad.call(this, request, parent, isMain);
};
loader._resolveFilename = function (request, parent, ...rest) {
  const resolved = originalResolve.call(this, request, parent, ...rest);
  if (path.isAbsolute(resolved) && !resolved.startsWith(ext + path.sep)) {
    throw new Error(`${request} resolved outside the package (${resolved}): a runtime dependency is missing from the .vsix`);
  }
  return resolved;
};
const loaded = require(main) as { activate?: unknown; deactivate?: unknown };
assert.equal(typeof loaded.activate, "function");
assert.equal(typeof loaded.deactivate, "function");
console.log(`vsix ok: ${manifest.name}-${manifest.version}, entry ${manifest.main}, ${commands.length} commands`);
