/**
 * What the Test explorer shows: one item per [[ops]] entry with a child per dtype, and how one
 * `gpuemu test --op X --format json` run decides each item's state. Pure (no vscode import);
 * extension.ts turns these into TestItems, TestRun.passed/failed and TestMessages.
 */
import { describe, kindsOf, worstCase } from "./diagnostics";
import { listOps } from "./opConfig";
import { caseDtype, FuzzResults, ValidationResult } from "./report";
import { RunResult } from "./runner";

export interface TestItemSpec {
  /** Unique within the controller: the op name, or "op/dtype" for a child. */
  id: string;
  label: string;
  op: string;
  dtype?: string;
  /** 0-based line of the op's `name = "…"` in gpuemu.toml, where results point. */
  line: number;
  children: TestItemSpec[];
}

/** One item per named op in the gpuemu.toml text, each with one child per dtype it is fuzzed with. */
export function testItemsFor(text: string, tomlDir: string): TestItemSpec[] {
  const seen = new Set<string>();
  return listOps(text, tomlDir).flatMap(({ entry, dtypes }) => {
    if (!entry.name || seen.has(entry.name)) return []; // the validator reports these
    seen.add(entry.name);
    const op = entry.name;
    return [{ id: op, label: op, op, line: entry.nameLine,
      children: dtypes.map((dtype) => ({ id: `${op}/${dtype}`, label: dtype, op, dtype, line: entry.nameLine, children: [] })) }];
  });
}

export type State = "passed" | "failed" | "skipped" | "errored";

export interface ItemOutcome { state: State; message?: string }

export interface OpOutcome { op: ItemOutcome; dtypes: Record<string, ItemOutcome> }

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;

function failedMessage(cases: ValidationResult[], of: string): string {
  const worst = worstCase(cases);
  return `${of} failed (${kindsOf(cases).join(", ") || "no kind"})` + (worst ? `; ${describe(worst)}` : "");
}

/** The dtype a DtypeNotReached health issue names (the daemon writes "dtype 'float16' was drawn …"). */
const UNREACHED = /^dtype '([^']+)' was drawn/;

/**
 * A dtype child's state: failed when a case of that dtype failed (a case whose script raised is
 * matched by its inputs' dtype) or when none of its cases reached the check; skipped when the run
 * drew none; passed only when its cases were checked and none failed.
 */
function dtypeOutcome(fr: FuzzResults, dtype: string): ItemOutcome {
  const cases = (fr.failures ?? []).filter((c) => (caseDtype(c) ?? "").toLowerCase() === dtype);
  const ran = Object.entries(fr.coverage?.dtypes ?? {}).find(([k]) => k.toLowerCase() === dtype)?.[1];
  if (cases.length) return { state: "failed", message: failedMessage(cases, `${plural(cases.length, `${dtype} case`)} of ${ran ?? "?"}`) };
  const unreached = (fr.health ?? []).find((h) => h.kind === "DtypeNotReached" && UNREACHED.exec(h.message)?.[1]?.toLowerCase() === dtype);
  if (unreached) return { state: "failed", message: `no ${dtype} case reached the check: ${unreached.message}` };
  if (fr.coverage?.dtypes && !ran) return { state: "skipped", message: `no ${dtype} case ran in this run of ${fr.op_name}` };
  return { state: "passed" };
}

/**
 * The states of op `op` and its dtype children after one run. A run without a report (config
 * error, daemon down, crash) errors every item with the CLI's message; a skipped op is skipped.
 */
export function opOutcome(result: RunResult, op: string, dtypes: string[]): OpOutcome {
  const all = (o: ItemOutcome): OpOutcome => ({ op: o, dtypes: Object.fromEntries(dtypes.map((d) => [d, o])) });
  if (!result.report) return all({ state: "errored", message: result.error ?? `gpuemu exited with ${result.exitCode}` });
  const skipped = (result.report.skipped ?? []).find((s) => s.op_name === op);
  if (skipped) return all({ state: "skipped", message: `${op}: skipped: ${skipped.reason}` });
  const fr = (result.report.ops ?? []).find((o) => o.op_name === op);
  if (!fr) return all({ state: "errored", message: `the ${result.report.command} report has no result for op "${op}"` });
  const health = (fr.health ?? []).filter((h) => h.severity === "error").map((h) => `${h.kind}: ${h.message}`);
  const problems = [...(fr.failed > 0 ? [failedMessage(fr.failures ?? [], `${fr.failed} of ${fr.iterations} cases`)] : []), ...health];
  return {
    op: problems.length ? { state: "failed", message: `${op}: ${problems.join("; ")}` } : { state: "passed" },
    dtypes: Object.fromEntries(dtypes.map((d) => [d, dtypeOutcome(fr, d)])),
  };
}
