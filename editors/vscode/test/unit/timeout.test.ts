//! Completion requests are cancelled when the editor cancels them or when they take too long.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { CancellationTokenSource, type CancellationToken } from "vscode-languageserver-protocol/node";
import { withTimeout } from "../../src/core/timeout";

const make = () => new CancellationTokenSource();
const untilCancelled = (t: CancellationToken) => new Promise<string>((resolve) => t.onCancellationRequested(() => resolve("cancelled")));

test("a fast answer passes through", async () => {
  const r = await withTimeout(new CancellationTokenSource().token, 1000, make, async () => "ghost", null);
  assert.deepEqual(r, { value: "ghost", timedOut: false });
});

test("a slow request is cancelled at the deadline and resolves to the fallback", async () => {
  let inner: CancellationToken | undefined;
  const r = await withTimeout(new CancellationTokenSource().token, 50, make, (t) => ((inner = t), untilCancelled(t)), null);
  assert.deepEqual(r, { value: null, timedOut: true });
  assert.equal(inner?.isCancellationRequested, true, "the server-side request is cancelled too");
});

test("typing on (the editor's token) cancels the request", async () => {
  const outer = new CancellationTokenSource();
  setTimeout(() => outer.cancel(), 20);
  const r = await withTimeout(outer.token, 10_000, make, untilCancelled, null);
  assert.deepEqual(r, { value: "cancelled", timedOut: false });
});

test("an already-cancelled editor token cancels at once", async () => {
  const outer = new CancellationTokenSource();
  outer.cancel();
  const r = await withTimeout(outer.token, 10_000, make, (t) => t.isCancellationRequested, false);
  assert.deepEqual(r, { value: true, timedOut: false });
});
