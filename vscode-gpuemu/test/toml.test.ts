import { test } from "node:test";
import assert from "node:assert/strict";
import * as toml from "smol-toml";
import { findEntries, findEntry, toleranceEdit, applyEdit, ToleranceEditError } from "../src/toml";
import { TOML } from "./fixtures";

const KERNELS = `${TOML}
[[kernels]]
name = 'saxpy'   # a comment
ptx = "kernels/saxpy.ptx"
[kernels.limits]
registers = 32
`;

/** smol-toml builds null-prototype objects; compare plain ones. */
const parse = (text: string): unknown => JSON.parse(JSON.stringify(toml.parse(text)));

type Cfg = { ops: { name: string; tolerances?: Record<string, { atol: number; rtol: number }>; fuzz?: unknown }[] };

test("finds every op and kernel with its header, name line and extent", () => {
  const lines = KERNELS.split("\n");
  const entries = findEntries(KERNELS);
  assert.deepEqual(entries.map((e) => [e.kind, e.name, lines[e.headerLine], lines[e.nameLine]]), [
    ["ops", "softmax", "[[ops]]", 'name = "softmax"'],
    ["ops", "softmax_tail", "[[ops]]", 'name = "softmax_tail"'],
    ["kernels", "saxpy", "[[kernels]]", "name = 'saxpy'   # a comment"],
  ]);
  // [ops.fuzz] belongs to its op: an op's extent ends at the next entry.
  assert.equal(entries[0].endLine, entries[1].headerLine);
  assert.equal(entries[1].endLine, entries[2].headerLine);
  assert.equal(entries[2].endLine, lines.length);
  assert.equal(findEntry(KERNELS, "saxpy", "kernels")!.name, "saxpy");
  assert.equal(findEntry(KERNELS, "saxpy"), undefined);
});

test("the tolerance edit appends a table to the op that a TOML parser reads back", () => {
  for (const text of [TOML, KERNELS, TOML.replace(/\n/g, "\r\n")]) {
    const edited = applyEdit(text, toleranceEdit(text, "softmax", "Float32", 0.002, 1e-5));
    const cfg = parse(edited) as Cfg;
    assert.deepEqual(cfg.ops.map((o) => o.tolerances), [{ float32: { atol: 0.002, rtol: 1e-5 } }, undefined]);
    assert.ok(cfg.ops[0].fuzz, "the op's [ops.fuzz] table is kept");
    assert.deepEqual(parse(text), { ...(parse(edited) as Cfg), ops: (parse(edited) as Cfg).ops.map(({ tolerances, ...o }) => o) });
  }
  const last = applyEdit(TOML, toleranceEdit(TOML, "softmax_tail", "float32", 1, 0));
  assert.deepEqual((parse(last) as Cfg).ops[1].tolerances, { float32: { atol: 1, rtol: 0 } });
  assert.ok(last.endsWith('hidden_dims = [16, 32, 48, 40]\n\n[ops.tolerances.float32]\natol = 1.0\nrtol = 0.0\n'));
});

test("an existing tolerance table is replaced in place, keeping its other lines", () => {
  const once = applyEdit(TOML, toleranceEdit(TOML, "softmax", "float32", 0.002, 1e-5));
  const withComment = once.replace("atol = 0.002", "# loosened for the tail\natol = 0.002");
  const twice = applyEdit(withComment, toleranceEdit(withComment, "softmax", "float32", 0.5, 0.01));
  assert.deepEqual((parse(twice) as Cfg).ops[0].tolerances, { float32: { atol: 0.5, rtol: 0.01 } });
  assert.equal(twice.match(/\[ops\.tolerances\.float32\]/g)!.length, 1);
  assert.match(twice, /atol = 0\.5\nrtol = 0\.01\n# loosened for the tail\n/);
});

test("inline tolerances and unknown ops are refused with where to edit", () => {
  const inline = TOML.replace('name = "softmax"\n', 'name = "softmax"\ntolerances = { float32 = 1e-4 }\n');
  assert.throws(() => toleranceEdit(inline, "softmax", "float32", 1, 1), (e: Error) =>
    e instanceof ToleranceEditError && /gpuemu\.toml line 4 sets the tolerances of "softmax" inline; edit it there to float32 = \{ atol = 1\.0, rtol = 1\.0 \}/.test(e.message));
  const table = TOML.replace("[ops.fuzz]", "[ops.tolerances]\nfloat32 = 1e-4\n[ops.fuzz]");
  assert.throws(() => toleranceEdit(table, "softmax", "float32", 1, 1), /sets the tolerances of "softmax" inline/);
  const other = applyEdit(table, toleranceEdit(table, "softmax", "float64", 1e-9, 0));
  assert.deepEqual((parse(other) as Cfg).ops[0].tolerances, { float32: 1e-4, float64: { atol: 1e-9, rtol: 0 } });
  assert.throws(() => toleranceEdit(TOML, "nope", "float32", 1, 1), /op "nope" has no \[\[ops\]\] entry with name = "nope" in gpuemu\.toml; add the op first/);
});
