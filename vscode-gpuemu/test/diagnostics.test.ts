import { test } from "node:test";
import assert from "node:assert/strict";
import { interpret } from "../src/runner";
import { describe, problemsFor } from "../src/diagnostics";
import { capture, TOML } from "./fixtures";

const lines = TOML.split("\n");

function reportOf(name: string) {
  const c = capture(name);
  return interpret(c.exit_code, c.stdout, c.stderr).report!;
}

test("a failing op is one error at its name line, naming the kinds and the replay command", () => {
  const problems = problemsFor(reportOf("fuzz_softmax_tail"), TOML, "/p/gpuemu.toml");
  assert.equal(problems.length, 1);
  const [p] = problems;
  assert.deepEqual([p.file, p.severity, p.op], ["/p/gpuemu.toml", "error", "softmax_tail"]);
  assert.equal(lines[p.line], 'name = "softmax_tail"');
  assert.match(p.message, /^softmax_tail: 9 of 30 cases failed \(ToleranceExceeded; seed 2024\); worst case shape \[.*\] Float32: .*exceed atol=1e-05.*Reproduce: gpuemu reproduce --seed \d{5,} --op softmax_tail$/);
  assert.equal(p.worst!.max_diff, Math.max(...reportOf("fuzz_softmax_tail").ops![0].failures!.map((f) => f.max_diff as number)));
});

test("the replay command is the CLI's repro_info.command, never one the extension makes up", () => {
  const worst = problemsFor(reportOf("fuzz_softmax_tail"), TOML, "t")[0].worst!;
  assert.ok(describe(worst).endsWith(`. Reproduce: ${worst.repro_info!.command}`));
  assert.doesNotMatch(describe({ ...worst, repro_info: undefined }), /Reproduce/);
});

test("passing ops give no problem; stored failures map to their op too", () => {
  assert.deepEqual(problemsFor(reportOf("test_pass"), TOML, "t"), []);
  assert.deepEqual(problemsFor(reportOf("test_all"), TOML, "t").map((p) => lines[p.line]), ['name = "softmax_tail"']);
  const [stored] = problemsFor(reportOf("failures"), TOML, "t");
  assert.equal(lines[stored.line], 'name = "softmax_tail"');
  assert.match(stored.message, /^softmax_tail: 3 failing cases \(ToleranceExceeded\)/);
});

test("an op missing from gpuemu.toml is reported at line 0 and says so", () => {
  const other = TOML.replace('name = "softmax_tail"', 'name = "renamed"');
  const [p] = problemsFor(reportOf("fuzz_softmax_tail"), other, "t");
  assert.equal(p.line, 0);
  assert.match(p.message, /op "softmax_tail" has no \[\[ops\]\] entry in this gpuemu\.toml\)$/);
});

test("health, vacuous and skipped ops become warnings and information", () => {
  const report = { schema_version: 1, command: "test", passed: true,
    ops: [{ op_name: "softmax", seed: "1", iterations: 5, passed: 5, failed: 0, vacuous: true,
      health: [{ kind: "ConstantOutput", message: "every output was equal", severity: "warning" as const }] }],
    skipped: [{ op_name: "softmax_tail", reason: "client-side op" }] };
  const problems = problemsFor(report, TOML, "t");
  assert.deepEqual(problems.map((p) => [p.severity, lines[p.line], p.message]), [
    ["warning", 'name = "softmax"', "softmax: ConstantOutput: every output was equal"],
    ["warning", 'name = "softmax"', "softmax: the run was vacuous: it could not have failed a wrong op"],
    ["information", 'name = "softmax_tail"', "softmax_tail: skipped: client-side op"],
  ]);
});

test("suggestedAtol covers the worst diff, and refuses what a tolerance cannot fix", async () => {
  const { suggestedAtol } = await import("../src/diagnostics");
  for (const c of reportOf("fuzz_softmax_tail").ops![0].failures!) {
    const atol = suggestedAtol(c);
    assert.ok(atol >= (c.max_diff as number) * 1.1 && atol <= (c.max_diff as number) * 1.25, `${atol} for ${c.max_diff}`);
    assert.equal(String(atol).replace(/^0\.0*|e.*$|\./g, "").length <= 2, true, `${atol} has more than 2 digits`);
  }
  const nan = { ...reportOf("fuzz_softmax_tail").ops![0].failures![0], max_diff: null, failures: [{ kind: "NaNDetected", message: "" }] };
  assert.throws(() => suggestedAtol(nan), /failed with NaNDetected \(max diff NaN\); only ToleranceExceeded can be fixed by a tolerance — fix the op instead/);
});

test("a case whose op raised is shaped by its named inputs, not by the unnamed first input", () => {
  const worst = problemsFor(reportOf("fuzz_softmax_tail"), TOML, "t")[0].worst!;
  const raised = { ...worst, case_index: 3, shape: [2, 7], dtype: "Float16",
    repro_info: { ...worst.repro_info!, input_shapes: { x: [2, 7] } },
    failures: [{ kind: "ExecutionError", message: "script ops/x.py raised in run():\nRuntimeError: boom" }] };
  assert.match(describe(raised), /^worst case \(case 3\) shape x=\[2, 7\] Float16: script ops\/x\.py raised in run\(\): … RuntimeError: boom\./);
  assert.match(describe({ ...raised, failures: worst.failures }), /^worst case \(case 3\) shape \[2, 7\] Float16: /);
});
