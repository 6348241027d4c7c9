//! The status bar state machine.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { initialStatus, nextStatus, parseServerStatus, viewStatus, type StatusEvent, type StatusState } from "../../src/core/status";

const run = (events: StatusEvent[], from: StatusState = initialStatus) => events.reduce(nextStatus, from);
const note = (payload: unknown): StatusEvent => ({ type: "notification", payload });

test("a normal start: starting, loading, indexing with percentage, ready", () => {
  const seen: string[] = [];
  let s = initialStatus;
  for (const e of [
    { type: "starting" },
    { type: "running" },
    note({ state: "loading", message: "tiny-coder" }),
    note({ state: "indexing", percentage: 42.4 }),
    note({ state: "indexing", percentage: 100 }),
    note({ state: "ready" }),
  ] as StatusEvent[]) {
    s = nextStatus(s, e);
    seen.push(viewStatus(s, true).text);
  }
  assert.deepEqual(seen, [
    "Hearth: starting",
    "Hearth: loading model",
    "Hearth: loading model",
    "Hearth: indexing 42%",
    "Hearth: indexing 100%",
    "Hearth",
  ]);
  assert.equal(
    viewStatus(run([{ type: "starting" }, { type: "running" }, note({ state: "loading", message: "tiny-coder" })]), true).tooltip,
    "tiny-coder Click to open the Hearth output.",
  );
});

test("server errors and crashes show as error/warning and say how to recover", () => {
  const err = run([{ type: "starting" }, { type: "running" }, note({ state: "error", message: "model file is corrupt" })]);
  assert.deepEqual(err, { kind: "error", message: "model file is corrupt" });
  assert.equal(viewStatus(err, true).severity, "error");
  const crashed = run([{ type: "crashed", message: "exit code 101" }], err);
  assert.equal(viewStatus(crashed, true).severity, "warning");
  assert.match(viewStatus(crashed, true).tooltip, /Restart server/);
  // A late notification from the dead process does not pretend all is well.
  assert.equal(nextStatus(crashed, note({ state: "ready" })).kind, "crashed");
  // The restart path: starting again, then running, reaches loading.
  assert.equal(run([{ type: "starting" }, { type: "running" }], crashed).kind, "loading");
});

test("malformed notifications change nothing", () => {
  const ready = run([{ type: "starting" }, { type: "running" }, note({ state: "ready" })]);
  for (const bad of [null, 3, "ready", {}, { state: "dancing" }, { state: 1 }]) {
    assert.deepEqual(nextStatus(ready, note(bad)), ready, JSON.stringify(bad));
  }
  assert.equal(parseServerStatus({ state: "indexing", percentage: 250 })?.percentage, 100);
  assert.equal(parseServerStatus({ state: "indexing", percentage: "50" })?.percentage, undefined);
});

test("start failure (missing binary) is an error state with the message", () => {
  const s = run([{ type: "startFailed", message: "Cannot find the `hearth` binary" }]);
  assert.equal(viewStatus(s, true).text, "Hearth: error");
  assert.match(viewStatus(s, true).tooltip, /Cannot find/);
});

test("completions toggled off shows in the bar", () => {
  const ready = run([{ type: "starting" }, { type: "running" }, note({ state: "ready" })]);
  assert.equal(viewStatus(ready, false).text, "Hearth (completions off)");
  assert.equal(viewStatus(ready, false).icon, "circle-slash");
});

test("a remote backend is named in the bar itself, and dropped when the server runs the model again", () => {
  const start: StatusEvent[] = [{ type: "starting" }, { type: "running" }];
  const remote = run([
    ...start,
    note({ state: "ready", message: "m (llama-server, remote: 10.0.0.5:8080) ready", remote: "10.0.0.5:8080" }),
  ]);
  assert.equal(viewStatus(remote, true).text, "Hearth (remote: 10.0.0.5:8080)");
  assert.equal(viewStatus(remote, false).text, "Hearth (remote: 10.0.0.5:8080) (completions off)");
  assert.equal(viewStatus(run([note({ state: "ready", message: "m ready" })], remote), true).text, "Hearth");
  assert.equal(parseServerStatus({ state: "ready", remote: 7 })?.remote, undefined);
});

test("once ready, index work shows in the tooltip, not as a step back to indexing", () => {
  const ready = run([
    { type: "starting" },
    { type: "running" },
    note({ state: "loading" }),
    note({ state: "ready", message: "tiny-coder ready" }),
  ]);
  const reindexing = run([note({ state: "indexing", percentage: 10 }), note({ state: "indexing", percentage: 55.2 })], ready);
  assert.equal(reindexing.kind, "ready");
  assert.equal(viewStatus(reindexing, true).text, "Hearth");
  assert.match(viewStatus(reindexing, true).tooltip, /^tiny-coder ready \(indexing 55% in the background\)/);
  const done = nextStatus(reindexing, note({ state: "ready", message: "tiny-coder ready" }));
  assert.deepEqual(done, { kind: "ready", message: "tiny-coder ready" });
  // A model reload is a real change of state and shows.
  assert.equal(viewStatus(nextStatus(done, note({ state: "loading", message: "other" })), true).text, "Hearth: loading model");
});

test("an indexing percentage never goes backwards", () => {
  const s = run([
    { type: "starting" },
    { type: "running" },
    note({ state: "indexing", percentage: 60 }),
    note({ state: "indexing", percentage: 20 }),
    note({ state: "indexing" }),
  ]);
  assert.equal(viewStatus(s, true).text, "Hearth: indexing 60%");
  assert.equal(viewStatus(nextStatus(s, note({ state: "indexing", percentage: 80 })), true).text, "Hearth: indexing 80%");
});
