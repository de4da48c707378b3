import { test } from "node:test";
import assert from "node:assert/strict";
import { validateConfig, suggest } from "../src/configValidator";
import { EXAMPLES, EXAMPLE_TOML } from "./fixtures";

const lineOf = (text: string, needle: string, from = 0) => text.split("\n").findIndex((l, i) => i >= from && l.includes(needle));
const check = (text: string) => validateConfig(text, EXAMPLES).map((p) => [p.line, p.message]);

test("the example project's gpuemu.toml has no problems", () => {
  assert.deepEqual(validateConfig(EXAMPLE_TOML, EXAMPLES), []);
});

test("a TOML syntax error is one problem at its line", () => {
  const broken = EXAMPLE_TOML.replace('name = "layernorm"', 'name = "layernorm');
  const [p, ...rest] = validateConfig(broken, EXAMPLES);
  assert.deepEqual(rest, []);
  assert.equal(p.line, lineOf(broken, 'name = "layernorm'));
  assert.match(p.message, /^invalid TOML: .+ \(at line \d+, column \d+\)$/);
});

test("an unknown top-level section is named, with the closest known one", () => {
  const text = EXAMPLE_TOML.replace("[validation]", "[validaton]");
  assert.deepEqual(check(text), [[lineOf(text, "[validaton]"),
    "validaton: unknown section (did you mean 'validation'?); expected one of 'project', 'validation', 'policies', 'ci', 'daemon', 'ops', 'kernels'"]]);
  const key = `telemetry = true\n${EXAMPLE_TOML}`;
  assert.deepEqual(check(key).map(([l]) => l), [0]);
});

test("ops without name or reference, and duplicate names, at their lines", () => {
  const noName = EXAMPLE_TOML.replace('name = "matmul"\n', "");
  assert.deepEqual(check(noName), [[lineOf(noName, "[[ops]]", lineOf(noName, 'name = "layernorm"')), "ops[2]: missing required key 'name'"]]);
  const noRef = EXAMPLE_TOML.replace('reference = "refs/relu.py"\n', "");
  assert.deepEqual(check(noRef), [[lineOf(noRef, "[[ops]]", lineOf(noRef, 'name = "matmul"')), "ops[3] (relu): missing required key 'reference'"]]);
  const dup = EXAMPLE_TOML.replace('name = "gelu"', 'name = "relu"');
  assert.deepEqual(check(dup), [[lineOf(EXAMPLE_TOML, 'name = "gelu"'), "ops[4] (relu).name: duplicate op name 'relu'; op names must be unique"]]);
});

test("scripts that do not exist, relative to the toml's folder", () => {
  const text = EXAMPLE_TOML.replace('op_script = "ops/matmul.py"', 'op_script = "ops/matmull.py"');
  assert.deepEqual(check(text), [[lineOf(text, "ops/matmull.py"),
    `ops[2] (matmul).op_script: file 'ops/matmull.py' does not exist (looked for ${EXAMPLES}/ops/matmull.py); fix the path, which is relative to ${EXAMPLES}`]]);
  // The same file seen from another folder is missing too: paths start at the toml's folder.
  assert.equal(validateConfig(EXAMPLE_TOML, "/nonexistent").filter((p) => /does not exist/.test(p.message)).length, 12);
});

test("unknown dtypes in op, fuzz, tolerance and validation settings", () => {
  const text = EXAMPLE_TOML
    .replace('dtypes = ["float32", "float16"]\ninvariants', 'dtypes = ["float32", "flaot16"]\ninvariants')
    .replace('[validation]\ndtypes = ["float32"]', '[validation]\ndtypes = ["Float32", "half"]')
    .replace("tolerances = { float32 = { atol = 1e-4, rtol = 1e-4 } }\n[ops.schema]\noutput = [\"M\", \"N\"]\n[ops.schema.dims]\nM = [1, 4",
      "tolerances = { fp32 = { atol = 1e-4, rtol = 1e-4 } }\n[ops.schema]\noutput = [\"M\", \"N\"]\n[ops.schema.dims]\nM = [1, 4")
    .replace('[ops.fuzz]\niterations = 20\nlayouts = ["contiguous", "transposed", "strided", "channels_last", "offset"]',
      '[ops.fuzz]\niterations = 20\ndtypes = ["int3"]\nlayouts = ["contiguous", "transposed", "strided", "channels_last", "offset"]');
  const tail = "; expected one of 'float16', 'bfloat16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool' (or the enum spelling, e.g. 'Float32')";
  assert.deepEqual(check(text), [
    [lineOf(text, '"half"'), `validation.dtypes[1]: unknown dtype "half"${tail}`],
    [lineOf(text, '"flaot16"'), `ops[0] (softmax).dtypes[1]: unknown dtype "flaot16" (did you mean 'float16'?)${tail}`],
    [lineOf(text, "fp32 ="), `ops[1] (layernorm).tolerances.fp32: unknown dtype 'fp32'${tail}`],
    [lineOf(text, '["int3"]'), `ops[3] (relu).fuzz.dtypes[0]: unknown dtype "int3" (did you mean 'int32'?)${tail}`],
  ]);
});

test("unknown op keys suggest the right one; problems come in line order", () => {
  const text = EXAMPLE_TOML.replace('op_type = "matmul"', 'op_typ = "matmul"');
  const [p] = check(text);
  assert.equal(p[0], lineOf(text, "op_typ ="));
  assert.match(p[1] as string, /^ops\[2\] \(matmul\)\.op_typ: unknown key \(did you mean 'op_type'\?\); expected one of 'name', 'reference', /);
  const many = validateConfig(`[bogus]\n${EXAMPLE_TOML.replace('name = "gelu"', 'name = "relu"')}`, "/nonexistent");
  assert.deepEqual(many.map((p) => p.line), [...many.map((p) => p.line)].sort((a, b) => a - b));
});

test("suggest picks the closest option above the cutoff", () => {
  assert.equal(suggest("kernel", ["ops", "kernels"]), " (did you mean 'kernels'?)");
  assert.equal(suggest("zzz", ["ops", "kernels"]), "");
});
