import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { listOps, opsForPath, parseToml, shortDtype } from "../src/opConfig";
import { EXAMPLES, EXAMPLE_TOML } from "./fixtures";

test("a saved script maps to every op that uses it, as op_script or reference", () => {
  assert.deepEqual(opsForPath(EXAMPLE_TOML, EXAMPLES, join(EXAMPLES, "ops", "activations.py")), ["relu", "gelu"]);
  assert.deepEqual(opsForPath(EXAMPLE_TOML, EXAMPLES, join(EXAMPLES, "refs", "matmul.py")), ["matmul"]);
  assert.deepEqual(opsForPath(EXAMPLE_TOML, EXAMPLES, `${EXAMPLES}/ops/../ops/softmax.py`), ["softmax"]);
  assert.deepEqual(opsForPath(EXAMPLE_TOML, EXAMPLES, join(EXAMPLES, "ops", "buggy_softmax.py")), []);
  assert.deepEqual(opsForPath(EXAMPLE_TOML, "/elsewhere", join(EXAMPLES, "ops", "softmax.py")), []);
});

test("listOps resolves scripts from the toml's folder", () => {
  const [softmax] = listOps(EXAMPLE_TOML, EXAMPLES);
  assert.deepEqual([softmax.entry.name, softmax.reference, softmax.opScript],
    ["softmax", join(EXAMPLES, "refs", "softmax.py"), join(EXAMPLES, "ops", "softmax.py")]);
});

test("dtype spellings and TOML errors", () => {
  assert.deepEqual(["Float32", "BFLOAT16", "uint8", "half"].map(shortDtype), ["float32", "bfloat16", "uint8", undefined]);
  assert.deepEqual(parseToml("a = 1\n[x\n").error, { line: 1, column: 2, message: "illegal character in key" });
});
