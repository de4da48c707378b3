import { test } from "node:test";
import assert from "node:assert/strict";
import { interpret } from "../src/runner";
import { formatMinimize, minimizeResult } from "../src/minimize";
import { capture } from "./fixtures";

const report = (name: string) => { const c = capture(name); return interpret(c.exit_code, c.stdout, c.stderr).report!; };

test("the minimize page shows both shapes and seeds, the steps and the replay", () => {
  const c = capture("minimize_softmax_tail");
  const m = minimizeResult(report("minimize_softmax_tail"));
  const text = formatMinimize(report("minimize_softmax_tail"));
  const original = c.args[c.args.indexOf("--seed") + 1];
  assert.equal(m.original_seed, original, "u64 seeds stay exact");
  const row = `| x | [${m.original_shape.x.join(", ")}] | [${m.minimized_shape.x.join(", ")}] |`;
  assert.ok(text.startsWith(`# gpuemu minimize: softmax_tail\n\nStill fails the same way after ${m.calls} op runs (strategy BinarySearchDims).\n`), text);
  assert.ok(text.includes(`| input | original | minimized |\n|---|---|---|\n${row}\n| seed | ${original} | ${m.minimized_seed} |\n`), text);
  assert.ok(m.steps!.length > 0);
  assert.ok(text.includes(m.steps!.map((s, i) => `${i + 1}. ${s}`).join("\n")));
  assert.match(text, /- \*\*ToleranceExceeded\*\*: .*exceed atol=1e-05/);
  assert.ok(text.endsWith(`\`\`\`sh\ngpuemu reproduce --seed ${m.minimized_seed} --op softmax_tail\n\`\`\`\n`), text);
});

test("another command's report is refused", () => {
  assert.throws(() => formatMinimize(report("test_pass")), /expected a `gpuemu minimize --format json` report, got a "test" report without "minimize"/);
});
