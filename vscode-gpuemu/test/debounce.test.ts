import { test } from "node:test";
import assert from "node:assert/strict";
import { Debouncer } from "../src/debounce";

/** Let the run promises' then/finally callbacks run. */
const settle = async () => { for (let i = 0; i < 5; i++) await Promise.resolve(); };

test("several saves within the delay coalesce into one run per op", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const runs: string[] = [];
  const d = new Debouncer<string>(() => 500, async (op) => { runs.push(op); });
  d.schedule("softmax");
  t.mock.timers.tick(300);
  d.schedule("softmax");
  d.schedule("relu");
  t.mock.timers.tick(499);
  assert.deepEqual(runs, []);
  assert.deepEqual(d.pending.sort(), ["relu", "softmax"]);
  t.mock.timers.tick(1);
  await settle();
  assert.deepEqual(runs.sort(), ["relu", "softmax"]);
  assert.deepEqual(d.pending, []);
});

test("a save during a run queues exactly one more run, after it", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const finish: (() => void)[] = [];
  let started = 0;
  const d = new Debouncer<string>(() => 100, () => { started++; return new Promise<void>((r) => finish.push(r)); });
  d.schedule("op");
  t.mock.timers.tick(100);
  assert.equal(started, 1);
  for (let i = 0; i < 3; i++) { d.schedule("op"); t.mock.timers.tick(100); }
  assert.equal(started, 1, "runs of one op never overlap");
  finish.shift()!();
  await settle();
  assert.equal(started, 2);
  finish.shift()!();
  await settle();
  assert.equal(started, 2);
});

test("the delay is read at each save, and dispose drops waiting runs", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  let delay = 50;
  const runs: string[] = [];
  const d = new Debouncer<string>(() => delay, async (op) => { runs.push(op); });
  d.schedule("a");
  t.mock.timers.tick(50);
  delay = 1000;
  d.schedule("b");
  t.mock.timers.tick(999);
  d.dispose();
  t.mock.timers.tick(10);
  await settle();
  assert.deepEqual(runs, ["a"]);
});
