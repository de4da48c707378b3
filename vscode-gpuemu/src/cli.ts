/**
 * Which command runs the gpuemu CLI. A `gpuemu.command` the user set is used as written. Otherwise
 * the first that exists of: `gpuemu` on PATH, the project's own virtualenv (`.venv/bin/gpuemu`,
 * `venv/bin/gpuemu` in each folder), and the interpreter the Python extension selected
 * (`python -m gpuemu`). An editor's extension host does not inherit a shell's activated
 * virtualenv (code-server rebuilds PATH), so PATH alone often misses it. Pure but for the
 * file-system test it is given.
 */
import * as path from "node:path";

export interface CliChoice { command: string[]; source: string }

export interface LookupInput {
  /** gpuemu.command when the user set it (any scope), else undefined. */
  configured?: string[];
  /** Folders to look in for a virtualenv: the gpuemu.toml's folder, then the workspace folders. */
  folders: string[];
  /** The Python extension's selected interpreter, when there is one. */
  interpreter?: string;
  pathEnv?: string;
}

/** The places to try, in order. */
export function candidates(input: LookupInput): CliChoice[] {
  const onPath = (input.pathEnv ?? "").split(path.delimiter).filter(Boolean)
    .map((dir) => ({ command: [path.join(dir, "gpuemu")], source: "gpuemu on PATH" }));
  const venvs = [...new Set(input.folders)].flatMap((f) => [".venv", "venv"].map((v) =>
    ({ command: [path.join(f, v, "bin", "gpuemu")], source: `the project's ${v}` })));
  const python = input.interpreter ? [{ command: [input.interpreter, "-m", "gpuemu"], source: "the Python extension's interpreter" }] : [];
  return [...onPath, ...venvs, ...python];
}

/** The command to run, or why none was found and what to set. */
export function lookup(input: LookupInput, isExecutable: (file: string) => boolean): CliChoice | { error: string } {
  if (input.configured?.length) return { command: input.configured, source: "the gpuemu.command setting" };
  const found = candidates(input).find((c) => isExecutable(c.command[0]));
  if (found) return found;
  const tried = ["gpuemu on PATH", ...input.folders.map((f) => path.join(f, ".venv", "bin", "gpuemu")),
    input.interpreter ? `${input.interpreter} -m gpuemu` : "no Python interpreter selected (Python extension)"];
  return { error: `the gpuemu CLI was not found (tried ${[...new Set(tried)].join(", ")}); ` +
    `set "gpuemu.command" in settings.json to how gpuemu runs here, e.g. ["/path/to/.venv/bin/gpuemu"] or ["python3", "-m", "gpuemu"]` };
}
