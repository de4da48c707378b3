/**
 * The CLI's `--format json` report (docs/json-output.md) and a parser that keeps u64 seeds exact.
 *
 * Seeds are u64 JSON integers; JSON.parse would round them through a double, so every seed (and
 * any other integer too big for a double) is quoted before parsing and arrives as a string.
 */

export type Seed = string;

export interface FailureReason { kind: string; message: string }

export interface ReproInfo {
  seed: Seed; op_name: string; command: string;
  input_shapes?: Record<string, number[]>; input_dtypes?: Record<string, string>;
}

export interface ValidationResult {
  passed: boolean; op_name: string; seed: Seed; dtype?: string; shape?: number[];
  max_diff?: number | null; max_rel_diff?: number | null; atol?: number; rtol?: number;
  tolerance_source?: string; failures?: FailureReason[]; repro_info?: ReproInfo;
  /** The case's index within its fuzz run (absent outside one). */
  case_index?: number;
}

export interface Health { kind: string; message: string; severity: "error" | "warning" }

export interface FuzzResults {
  op_name: string; seed: Seed; iterations: number; passed: number; failed: number;
  failures?: ValidationResult[]; vacuous?: boolean; health?: Health[];
  /** How many cases ran per dtype (keys in the config spelling, e.g. "float32"), among others. */
  coverage?: { cases?: number; dtypes?: Record<string, number> };
}

export interface Report {
  schema_version: number; command: string; passed: boolean; config_path?: string;
  ops?: FuzzResults[]; results?: ValidationResult[]; skipped?: { op_name: string; reason: string }[];
  notes?: string[];
}

const SEED_KEYS = new Set(["seed", "original_seed", "minimized_seed"]);
const TOKEN = /("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
const KEY_FOLLOWS = /\s*:/y;

/** Quote seed values and unsafe integers in raw JSON text, so JSON.parse keeps every digit. */
export function quoteBigIntegers(text: string): string {
  let lastKey: string | undefined;
  return text.replace(TOKEN, (token: string, str: string | undefined, num: string | undefined,
    offset: number) => {
    if (str !== undefined) {
      KEY_FOLLOWS.lastIndex = offset + token.length;
      lastKey = KEY_FOLLOWS.test(text) ? JSON.parse(str) as string : undefined;
      return token;
    }
    const key = lastKey;
    lastKey = undefined;
    const integer = /^-?\d+$/.test(num!);
    if (integer && (SEED_KEYS.has(key ?? "") || !Number.isSafeInteger(Number(num)))) {
      return `"${num}"`;
    }
    return token;
  });
}

/** Parse a report printed by `gpuemu … --format json`; throws SyntaxError on anything else. */
export function parseReport(text: string): Report {
  const data = JSON.parse(quoteBigIntegers(text)) as unknown;
  if (typeof data !== "object" || data === null || !("schema_version" in data) || !("command" in data)) {
    throw new SyntaxError(`expected a gpuemu JSON report with schema_version and command, got: ${text.slice(0, 80)}`);
  }
  return data as Report;
}

/**
 * A case's dtype in the config spelling's case as the CLI wrote it ("Float32"): its own, else its
 * inputs' (a case whose script raised has no output dtype, but its repro_info names the inputs').
 */
export function caseDtype(c: ValidationResult): string | undefined {
  return c.dtype ?? Object.values(c.repro_info?.input_dtypes ?? {})[0];
}

/** A case's shape for people: its output's ("[2, 16]"); its inputs' ("x=[0, 16]") when it has
 * none, or when the op raised (an ExecutionError's shape is its first input's, unnamed). */
export function caseShape(c: ValidationResult): string | undefined {
  const inputs = Object.entries(c.repro_info?.input_shapes ?? {});
  const raised = (c.failures ?? []).some((f) => f.kind === "ExecutionError");
  if (c.shape && !(raised && inputs.length)) return `[${c.shape.join(", ")}]`;
  return inputs.length ? inputs.map(([n, s]) => `${n}=[${s.join(", ")}]`).join(" ") : undefined;
}

/** Every failing case in a report, whether it came per op (test, fuzz) or as results (failures, reproduce). */
export function failingCases(report: Report): ValidationResult[] {
  const fromOps = (report.ops ?? []).flatMap((op) => op.failures ?? []);
  return [...fromOps, ...(report.results ?? []).filter((r) => !r.passed)];
}
