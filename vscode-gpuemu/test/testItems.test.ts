import { test } from "node:test";
import assert from "node:assert/strict";
import { interpret } from "../src/runner";
import { opOutcome, testItemsFor } from "../src/testItems";
import { capture, EXAMPLES, EXAMPLE_TOML, TOML } from "./fixtures";

const run = (name: string) => { const c = capture(name); return interpret(c.exit_code, c.stdout, c.stderr); };
const lines = TOML.split("\n");

test("one item per op at its name line, one child per dtype", () => {
  const items = testItemsFor(TOML, "/p");
  assert.deepEqual(items.map((i) => [i.id, lines[i.line], i.children.map((c) => [c.id, c.label, c.op, c.dtype])]), [
    ["softmax", 'name = "softmax"', [["softmax/float32", "float32", "softmax", "float32"]]],
    ["softmax_tail", 'name = "softmax_tail"', [["softmax_tail/float32", "float32", "softmax_tail", "float32"]]],
  ]);
  const ex = testItemsFor(EXAMPLE_TOML, EXAMPLES);
  assert.deepEqual(ex.map((i) => [i.op, i.children.map((c) => c.dtype)]), [
    ["softmax", ["float32", "float16"]], ["layernorm", ["float32", "float16"]], ["matmul", ["float32", "float16"]],
    ["relu", ["float32", "float16"]], ["gelu", ["float32", "float16"]], ["attention", ["float32"]]]);
});

test("[ops.fuzz] dtypes win over the op's; enum spellings become config spellings; duplicates and nameless ops get no item", () => {
  const text = TOML.replace("[ops.fuzz]\nbatch_sizes = [1, 2]\nseq_lengths = [4]\n", '[ops.fuzz]\ndtypes = ["Float64", "bfloat16"]\nbatch_sizes = [1, 2]\nseq_lengths = [4]\n')
    .replace('name = "softmax_tail"', 'name = "softmax"');
  assert.deepEqual(testItemsFor(text, "/p").map((i) => [i.op, i.children.map((c) => c.dtype)]), [["softmax", ["float64", "bfloat16"]]]);
  assert.deepEqual(testItemsFor("[[ops]]\nreference = 'r.py'\n", "/p"), []);
  // Unparsable text still lists the ops the line scan finds, with the default dtype.
  assert.deepEqual(testItemsFor(`${TOML}\n[broken`, "/p").map((i) => [i.op, i.children.length]), [["softmax", 1], ["softmax_tail", 1]]);
});

test("a failing op run fails the op and its dtype, with the failure and the replay command", () => {
  const r = run("test_tail");
  const o = opOutcome(r, "softmax_tail", ["float32", "float16"]);
  const op = r.report!.ops![0];
  assert.equal(o.op.state, "failed");
  assert.match(o.op.message!, new RegExp(`^softmax_tail: ${op.failed} of 12 cases failed \\(ToleranceExceeded\\); worst case shape \\[.*\\] Float32: .*exceed atol=1e-05.*Reproduce: gpuemu reproduce --seed \\d+ --op softmax_tail$`));
  assert.equal(o.dtypes.float32.state, "failed");
  assert.match(o.dtypes.float32.message!, new RegExp(`^${op.failed} float32 cases of 12 failed \\(ToleranceExceeded\\)`));
  // The run had no float16 case (coverage.dtypes counts float32 only).
  assert.deepEqual(o.dtypes.float16, { state: "skipped", message: "no float16 case ran in this run of softmax_tail" });
});

test("a passing op passes; in a run of every op each item reads its own result", () => {
  assert.deepEqual(opOutcome(run("test_pass"), "softmax", ["float32"]), { op: { state: "passed" }, dtypes: { float32: { state: "passed" } } });
  const all = run("test_all");
  assert.equal(opOutcome(all, "softmax", ["float32"]).op.state, "passed");
  assert.equal(opOutcome(all, "softmax_tail", ["float32"]).op.state, "failed");
  assert.deepEqual(opOutcome(run("test_pass"), "softmax_tail", ["float32"]).op,
    { state: "errored", message: 'the test report has no result for op "softmax_tail"' });
});

test("no report (daemon down, config error) errors every item with the CLI's line", () => {
  const down = opOutcome(run("daemon_down"), "softmax", ["float32", "float16"]);
  for (const o of [down.op, down.dtypes.float32, down.dtypes.float16]) {
    assert.equal(o.state, "errored");
    assert.match(o.message!, /no gpuemu daemon answers .*gpuemu daemon start/);
  }
  assert.match(opOutcome(run("fuzz_unknown_op"), "no_such_op", []).op.message!, /op 'no_such_op' is not configured/);
});

test("skipped ops and error health checks", () => {
  const report = { schema_version: 1, command: "test", passed: false,
    ops: [{ op_name: "softmax", seed: "1", iterations: 5, passed: 5, failed: 0,
      health: [{ kind: "VacuousCheck", message: "zeros pass too", severity: "error" as const }] }],
    skipped: [{ op_name: "softmax_tail", reason: "client-side op" }] };
  const r = { outcome: "failed" as const, exitCode: 1, report };
  assert.deepEqual(opOutcome(r, "softmax", ["float32"]).op, { state: "failed", message: "softmax: VacuousCheck: zeros pass too" });
  assert.deepEqual(opOutcome(r, "softmax_tail", ["float32"]).dtypes.float32, { state: "skipped", message: "softmax_tail: skipped: client-side op" });
});

test("an op whose every case raised fails each dtype: no dtype passes unchecked", () => {
  const r = run("test_crash");
  const o = opOutcome(r, "softmax_crash", ["float32", "float16", "float64"]);
  assert.equal(o.op.state, "failed");
  // ExecutionError cases have no output dtype: their inputs' dtype places them.
  assert.match(o.op.message!, /^softmax_crash: 6 of 6 cases failed \(ExecutionError\); worst case shape x=\[[\d, ]*\] Float(32|16): script .*softmax_crash\.py raised in run\(\): … RuntimeError: kernel launch failed\. Reproduce: gpuemu reproduce --seed \d+ --op softmax_crash/);
  for (const d of ["float32", "float16"]) {
    assert.equal(o.dtypes[d].state, "failed", d);
    assert.match(o.dtypes[d].message!, new RegExp(`^3 ${d} cases of 3 failed \\(ExecutionError\\)`));
  }
  assert.equal(o.dtypes.float64.state, "skipped");
});

test("a dtype whose cases never reached the check fails with the daemon's health message", () => {
  const r = run("test_crash");
  const op = r.report!.ops![0];
  const unreached = { ...r, report: { ...r.report!, ops: [{ ...op, failures: [], failed: 0, passed: op.iterations }] } };
  const o = opOutcome(unreached, "softmax_crash", ["float32", "float16"]);
  assert.deepEqual(o.dtypes.float16, { state: "failed",
    message: "no float16 case reached the check: dtype 'float16' was drawn in 3 cases but never reached the check: the reference failed on, or had empty outputs in, every one" });
});
