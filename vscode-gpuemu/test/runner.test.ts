import { test } from "node:test";
import assert from "node:assert/strict";
import { interpret, runGpuemu, args } from "../src/runner";
import { quoteBigIntegers, failingCases } from "../src/report";
import { capture } from "./fixtures";

function run(name: string) {
  const c = capture(name);
  return interpret(c.exit_code, c.stdout, c.stderr);
}

test("a failing fuzz run is 'failed' with every u64 seed exact", () => {
  const c = capture("fuzz_softmax_tail");
  const r = run("fuzz_softmax_tail");
  assert.equal(r.outcome, "failed");
  const op = r.report!.ops![0];
  assert.equal(op.op_name, "softmax_tail");
  assert.equal(op.seed, "2024");
  assert.ok(op.failed > 0 && op.failures!.length === op.failed);
  for (const f of op.failures!) {
    assert.equal(typeof f.seed, "string");
    assert.match(c.stdout, new RegExp(`"seed": ${f.seed}\\b`), `seed ${f.seed} is not in the raw output`);
    assert.ok(f.repro_info!.command.includes(`--seed ${f.seed} `));
  }
  // At least one seed is beyond 2^53, where JSON.parse alone would have rounded it.
  assert.ok(op.failures!.some((f) => BigInt(f.seed) > BigInt(Number.MAX_SAFE_INTEGER)));
});

test("test over two ops: the report fails, the good op passes", () => {
  const r = run("test_all");
  assert.equal(r.outcome, "failed");
  assert.deepEqual(r.report!.ops!.map((o) => [o.op_name, o.failed > 0]), [["softmax", false], ["softmax_tail", true]]);
  assert.equal(run("test_pass").outcome, "passed");
});

test("failures lists results, not ops", () => {
  const r = run("failures");
  assert.equal(r.outcome, "passed");
  const cases = failingCases(r.report!);
  assert.ok(cases.length > 0 && cases.every((c) => c.op_name === "softmax_tail" && /^\d+$/.test(c.seed)));
});

test("exit 2 and 3 surface the CLI's stderr line", () => {
  const usage = run("fuzz_unknown_op");
  assert.equal(usage.outcome, "usage-error");
  assert.match(usage.error!, /op 'no_such_op' is not configured .*configured ops: softmax, softmax_tail/);
  const down = run("daemon_down");
  assert.equal(down.outcome, "daemon-unreachable");
  assert.match(down.error!, /no gpuemu daemon answers .*gpuemu daemon start/);
});

test("exit 0/1 without JSON, or disagreeing with the report, is 'crashed'", () => {
  assert.equal(interpret(1, "Traceback ...", "boom").outcome, "crashed");
  assert.match(interpret(1, "", "KeyError: x").error!, /printed no JSON report.*KeyError: x/);
  const passing = capture("test_pass");
  assert.match(interpret(1, passing.stdout, "").error!, /exit code 1 disagrees with its report \(passed=true\)/);
  assert.match(interpret(null, "", "").error!, /exited with a signal/);
  assert.equal(interpret(0, "", "", false).outcome, "passed");
});

test("quoteBigIntegers leaves strings, floats and small non-seed ints alone", () => {
  const text = '{"seed": 18446744073709551615, "n": 3, "x": 1.5e-5, "s": "seed: 12", "big": 123456789012345678901}';
  assert.deepEqual(JSON.parse(quoteBigIntegers(text)),
    { seed: "18446744073709551615", n: 3, x: 1.5e-5, s: "seed: 12", big: "123456789012345678901" });
});

test("runGpuemu spawns a real process and reports a missing executable", async () => {
  const echo = await runGpuemu([process.execPath, "-e", 'process.stdout.write(\'{"schema_version":1,"command":"test","passed":true,"ops":[{"op_name":"a","seed":9007199254740993}]}\')'], [], { cwd: __dirname });
  assert.equal(echo.outcome, "passed");
  const failing = await runGpuemu([process.execPath, "-e", "console.error('gpuemu: no gpuemu.toml here; run gpuemu init'); process.exit(2)"], [], { cwd: __dirname });
  assert.deepEqual([failing.outcome, failing.error], ["usage-error", "gpuemu: no gpuemu.toml here; run gpuemu init"]);
  const missing = await runGpuemu(["/nonexistent/gpuemu"], args.test(), { cwd: __dirname });
  assert.equal(missing.outcome, "crashed");
  assert.match(missing.error!, /could not run \/nonexistent\/gpuemu: .*ENOENT.*gpuemu.command/);
});

test("argument lists pass seeds through as text", () => {
  assert.deepEqual(args.reproduce("18446744073709551615", "softmax_tail"),
    ["reproduce", "--seed", "18446744073709551615", "--op", "softmax_tail", "--format", "json"]);
  assert.deepEqual(args.fuzz("relu", 30, "2024"), ["fuzz", "relu", "-n", "30", "--seed", "2024", "--format", "json"]);
});
