//! Finding the hearth binary.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { findBinary, type Lookup } from "../../src/core/binary";

const base = (files: string[], over: Partial<Lookup> = {}): Lookup => ({
  setting: "",
  pathEnv: "/usr/bin:/opt/hearth/bin",
  extensionPath: "/ext",
  platform: "linux",
  home: "/home/u",
  isExecutable: (f) => files.includes(f),
  ...over,
});

test("PATH first, then the extension folder", () => {
  assert.deepEqual(findBinary(base(["/opt/hearth/bin/hearth", "/ext/bin/hearth"])), {
    ok: true,
    path: "/opt/hearth/bin/hearth",
    source: "PATH",
  });
  assert.deepEqual(findBinary(base(["/ext/bin/hearth"])), { ok: true, path: "/ext/bin/hearth", source: "extension" });
});

test("the setting wins and expands ~ and ${workspaceFolder}", () => {
  assert.deepEqual(findBinary(base(["/home/u/bin/hearth"], { setting: "~/bin/hearth" })), {
    ok: true,
    path: "/home/u/bin/hearth",
    source: "setting",
  });
  assert.deepEqual(
    findBinary(base(["/w/target/debug/hearth"], { setting: "${workspaceFolder}/target/debug/hearth", workspaceFolder: "/w" })).ok,
    true,
  );
});

test("a missing binary gives a message that says where it looked and what to do", () => {
  const r = findBinary(base([]));
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.deepEqual(r.searched, ["/usr/bin/hearth", "/opt/hearth/bin/hearth", "/ext/bin/hearth"]);
    assert.match(r.message, /Cannot find the `hearth` binary.*set hearth\.serverPath/);
  }
  const bad = findBinary(base(["/usr/bin/hearth"], { setting: "/nope/hearth" }));
  assert.equal(bad.ok, false, "a wrong setting is reported, not silently replaced by PATH");
  if (!bad.ok) assert.match(bad.message, /hearth\.serverPath is set to "\/nope\/hearth"/);
});

test("Windows names and separators", () => {
  const r = findBinary(base(["C:\\tools/hearth.exe"], { platform: "win32", pathEnv: "C:\\tools;C:\\other" }));
  assert.equal(r.ok, true);
});
