//! Crash restarts: automatic a few times, then the user decides.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { CrashTracker, crashMessage } from "../../src/core/restart";

test("restarts up to the limit within the window, then stops and says how to recover", () => {
  const t = new CrashTracker({ maxRestarts: 3, windowMs: 1000 });
  assert.deepEqual(
    [0, 10, 20].map((now) => t.onCrash(now).restart),
    [true, true, true],
  );
  const fourth = t.onCrash(30);
  assert.deepEqual(fourth, { restart: false, recent: 4 });
  assert.match(
    crashMessage(fourth.recent, false, { maxRestarts: 3, windowMs: 180_000 }),
    /crashed 4 times in 3 minutes.*Hearth: Restart server/,
  );
  // Old crashes age out of the window.
  assert.equal(t.onCrash(5000).restart, true);
  t.reset();
  assert.deepEqual(t.onCrash(5001), { restart: true, recent: 1 });
});
