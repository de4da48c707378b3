/** The captured CLI runs (scripts/capture_fixtures.py): envelopes with raw stdout. */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface Capture { args: string[]; exit_code: number; stdout: string; stderr: string }

const DIR = join(__dirname, "..", "..", "test", "fixtures");

export function capture(name: string): Capture {
  return JSON.parse(readFileSync(join(DIR, `${name}.json`), "utf8")) as Capture;
}

export const TOML = readFileSync(join(DIR, "gpuemu.toml"), "utf8");

/** The repository's example project: a real gpuemu.toml whose scripts exist. */
export const EXAMPLES = join(__dirname, "..", "..", "..", "examples");
export const EXAMPLE_TOML = readFileSync(join(EXAMPLES, "gpuemu.toml"), "utf8");
