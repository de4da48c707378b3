import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { candidates, lookup } from "../src/cli";
import { isExecutable } from "../src/runner";

function executable(file: string): string {
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(file, "#!/bin/sh\n");
  chmodSync(file, 0o755);
  return file;
}

test("gpuemu.command wins as written, even where nothing else is found", () => {
  assert.deepEqual(lookup({ configured: ["python3", "-m", "gpuemu"], folders: [] }, () => false),
    { command: ["python3", "-m", "gpuemu"], source: "the gpuemu.command setting" });
});

test("PATH, then the project's .venv, then the Python extension's interpreter", () => {
  const root = mkdtempSync(join(tmpdir(), "gpuemu-cli-"));
  const project = join(root, "proj");
  const input = { folders: [project], interpreter: "/opt/py/bin/python", pathEnv: `${join(root, "bin")}:${join(root, "empty")}` };
  assert.deepEqual(candidates(input).map((c) => c.command.join(" ")), [
    join(root, "bin", "gpuemu"), join(root, "empty", "gpuemu"),
    join(project, ".venv", "bin", "gpuemu"), join(project, "venv", "bin", "gpuemu"), "/opt/py/bin/python -m gpuemu"]);
  const missing = lookup({ ...input, interpreter: undefined }, isExecutable);
  assert.ok("error" in missing);
  assert.match(missing.error, /^the gpuemu CLI was not found \(tried gpuemu on PATH, .*proj\/\.venv\/bin\/gpuemu, no Python interpreter selected \(Python extension\)\); set "gpuemu\.command" in settings\.json/);
  const venv = executable(join(project, ".venv", "bin", "gpuemu"));
  assert.deepEqual(lookup(input, isExecutable), { command: [venv], source: "the project's .venv" });
  const onPath = executable(join(root, "bin", "gpuemu"));
  assert.deepEqual(lookup(input, isExecutable), { command: [onPath], source: "gpuemu on PATH" });
  // A directory named gpuemu is not the CLI.
  mkdirSync(join(root, "empty", "gpuemu"), { recursive: true });
  assert.equal(isExecutable(join(root, "empty", "gpuemu")), false);
});

test("with nothing on disk, the selected interpreter runs `python -m gpuemu`", () => {
  const python = executable(join(mkdtempSync(join(tmpdir(), "gpuemu-py-")), "python"));
  assert.deepEqual(lookup({ folders: ["/nonexistent"], interpreter: python, pathEnv: "" }, isExecutable),
    { command: [python, "-m", "gpuemu"], source: "the Python extension's interpreter" });
});
