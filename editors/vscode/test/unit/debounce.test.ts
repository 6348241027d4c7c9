//! The edit pause: only a pause after the last change runs the action, once.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { Debouncer, NEXT_EDIT_PAUSE_MS } from "../../src/core/debounce";
import { FakeClock } from "../fakeClock";

test("the action runs once, the pause after the last change", () => {
  const clock = new FakeClock();
  const d = new Debouncer(NEXT_EDIT_PAUSE_MS, clock);
  const runs: number[] = [];
  for (let i = 0; i < 5; i++) {
    d.schedule(() => runs.push(clock.now));
    clock.advance(100); // typing: 100 ms between keys
  }
  assert.deepEqual(runs, [], "nothing runs while changes come faster than the pause");
  assert.equal(d.pending, true);
  clock.advance(NEXT_EDIT_PAUSE_MS - 100 - 1);
  assert.deepEqual(runs, []);
  clock.advance(1);
  assert.deepEqual(runs, [400 + 400], "400 ms after the last change (at 400)");
  assert.equal(d.pending, false);
  clock.advance(10_000);
  assert.equal(runs.length, 1, "once");
});

test("a newer action replaces the waiting one", () => {
  const clock = new FakeClock();
  const d = new Debouncer(400, clock);
  const runs: string[] = [];
  d.schedule(() => runs.push("first"));
  clock.advance(200);
  d.schedule(() => runs.push("second"));
  clock.advance(400);
  assert.deepEqual(runs, ["second"]);
  assert.equal(clock.waiting, 0, "no timer is left behind");
});

test("cancel drops the waiting action", () => {
  const clock = new FakeClock();
  const d = new Debouncer(400, clock);
  let ran = false;
  d.schedule(() => (ran = true));
  d.cancel();
  assert.equal(d.pending, false);
  clock.advance(1000);
  assert.equal(ran, false);
  d.cancel(); // nothing waiting: no error
});

test("the real timers run the action", async () => {
  const d = new Debouncer(5);
  const ran = await new Promise<boolean>((resolve) => d.schedule(() => resolve(true)));
  assert.equal(ran, true);
});
