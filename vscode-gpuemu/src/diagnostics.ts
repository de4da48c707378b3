/**
 * Report JSON + gpuemu.toml text -> problems located at each op's `name = "…"` line.
 *
 * Pure (no vscode import) so that the mapping is tested against real CLI output; extension.ts only
 * turns these into vscode.Diagnostic objects.
 */
import { caseDtype, caseShape, FuzzResults, Report, ValidationResult } from "./report";
import { findEntry } from "./toml";

export type Severity = "error" | "warning" | "information";

export interface Problem {
  file: string;
  /** 0-based line of the op's `name = "…"` in gpuemu.toml (0 when the op is not in the file). */
  line: number;
  message: string;
  severity: Severity;
  op: string;
  /** The worst failing case, for the Reproduce / Minimize / Adjust tolerance code actions. */
  worst?: ValidationResult;
}

export function kindsOf(cases: ValidationResult[]): string[] {
  return [...new Set(cases.flatMap((c) => (c.failures ?? []).map((f) => f.kind)))];
}

/** The case with the greatest max_diff (a NaN diff, written as null, counts as the worst). */
export function worstCase(cases: ValidationResult[]): ValidationResult | undefined {
  const diff = (c: ValidationResult) => (c.max_diff === null ? Infinity : c.max_diff ?? -Infinity);
  return cases.reduce<ValidationResult | undefined>((w, c) => (w === undefined || diff(c) > diff(w) ? c : w), undefined);
}

/** A traceback's first and last lines ("script … raised in run(): … RuntimeError: boom"). */
export function oneLine(message: string): string {
  const lines = message.split("\n").map((l) => l.trim()).filter(Boolean);
  return lines.length > 1 ? `${lines[0]} … ${lines[lines.length - 1]}` : lines[0] ?? "";
}

/** The worst case's shape, dtype, first failure and replay command, in one sentence. */
export function describe(worst: ValidationResult): string {
  const shape = caseShape(worst);
  const where = [worst.case_index !== undefined && `(case ${worst.case_index})`, shape && `shape ${shape}`,
    caseDtype(worst)].filter(Boolean).join(" ");
  const first = oneLine(worst.failures?.[0]?.message ?? "failed");
  // The CLI fills repro_info.command for every case; the extension never builds its own copy.
  const replay = worst.repro_info?.command;
  return `worst case${where ? ` ${where}` : ""}: ${first}.${replay ? ` Reproduce: ${replay}` : ""}`;
}

function fromOp(op: FuzzResults): Omit<Problem, "file" | "line">[] {
  const out: Omit<Problem, "file" | "line">[] = [];
  const cases = op.failures ?? [];
  if (op.failed > 0) {
    const worst = worstCase(cases);
    out.push({ op: op.op_name, severity: "error", worst,
      message: `${op.op_name}: ${op.failed} of ${op.iterations} cases failed (${kindsOf(cases).join(", ") || "no kind"}; seed ${op.seed})` +
        (worst ? `; ${describe(worst)}` : "") });
  }
  for (const h of op.health ?? []) {
    out.push({ op: op.op_name, severity: h.severity === "error" ? "error" : "warning", message: `${op.op_name}: ${h.kind}: ${h.message}` });
  }
  if (op.vacuous && !(op.health ?? []).some((h) => h.severity === "error")) {
    out.push({ op: op.op_name, severity: "warning", message: `${op.op_name}: the run was vacuous: it could not have failed a wrong op` });
  }
  return out;
}

function fromResults(results: ValidationResult[]): Omit<Problem, "file" | "line">[] {
  const byOp = new Map<string, ValidationResult[]>();
  for (const r of results.filter((r) => !r.passed)) byOp.set(r.op_name, [...(byOp.get(r.op_name) ?? []), r]);
  return [...byOp].map(([op, cases]) => {
    const worst = worstCase(cases)!;
    return { op, severity: "error", worst,
      message: `${op}: ${cases.length} failing case${cases.length === 1 ? "" : "s"} (${kindsOf(cases).join(", ")}); ${describe(worst)}` };
  });
}

/** Problems for every failing, vacuous or skipped op in the report, located in gpuemu.toml. */
export function problemsFor(report: Report, tomlText: string, tomlFile: string): Problem[] {
  const raw = [
    ...(report.ops ?? []).flatMap(fromOp),
    ...fromResults(report.results ?? []),
    ...(report.skipped ?? []).map((s) => ({ op: s.op_name, severity: "information" as const, message: `${s.op_name}: skipped: ${s.reason}` })),
  ];
  return raw.map((p) => {
    const entry = findEntry(tomlText, p.op);
    return entry
      ? { ...p, file: tomlFile, line: entry.nameLine }
      : { ...p, file: tomlFile, line: 0, message: `${p.message} (op "${p.op}" has no [[ops]] entry in this gpuemu.toml)` };
  });
}

/**
 * The atol that lets this case pass: its max abs diff plus 10%, rounded up to two significant
 * digits. Throws when no tolerance can help (a NaN diff, or a failure that is not numeric).
 */
export function suggestedAtol(c: ValidationResult): number {
  const kinds = (c.failures ?? []).map((f) => f.kind);
  if (c.max_diff === null || c.max_diff === undefined || kinds.some((k) => k !== "ToleranceExceeded")) {
    throw new RangeError(`seed ${c.seed} of ${c.op_name} failed with ${kinds.join(", ") || "no kind"} ` +
      `(max diff ${c.max_diff ?? "NaN"}); only ToleranceExceeded can be fixed by a tolerance — fix the op instead`);
  }
  const target = c.max_diff * 1.1;
  const step = 10 ** (Math.floor(Math.log10(target)) - 1);
  return Number((Math.ceil(Number((target / step).toFixed(9))) * step).toPrecision(2));
}
