import { test } from "node:test";
import assert from "node:assert/strict";
import { interpret } from "../src/runner";
import { formatReproduce, reproduceVerdict } from "../src/reproduce";
import { capture } from "./fixtures";

const reportOf = (name: string) => { const c = capture(name); return interpret(c.exit_code, c.stdout, c.stderr).report!; };

test("a reproduce report becomes the CLI's verdict and the replayed case", () => {
  const report = reportOf("reproduce_softmax_tail");
  const [r] = report.results!;
  assert.equal(reproduceVerdict(report), `still fails: seed ${r.seed} (softmax_tail)`);
  const page = formatReproduce(report);
  assert.match(page, new RegExp(`^# gpuemu reproduce: softmax_tail\\n\\n\\*\\*FAILED\\*\\*: still fails: seed ${r.seed} \\(softmax_tail\\)\\n`));
  assert.match(page, new RegExp(`## softmax_tail · seed ${r.seed} · failed\\n\\nFloat32 · shape \\[[\\d, ]+\\] · max diff [\\d.e-]+ \\(atol 0\\.00001, rtol 0\\.00001\\)`));
  assert.match(page, /- \*\*ToleranceExceeded\*\*:\n\n```\n.*exceed atol=1e-05/);
  assert.match(page, new RegExp(`\`\`\`sh\\ngpuemu reproduce --seed ${r.seed} --op softmax_tail\\n\`\`\`\\n$`));
});

test("another command's report is refused", () => {
  assert.throws(() => formatReproduce(reportOf("test_pass")), /expected a `gpuemu reproduce --format json` report, got a "test" report/);
});
