/**
 * `gpuemu minimize --format json` as a Markdown page: the original and minimized shapes side by
 * side, the steps that shrank it, the failure of the minimized case and how to replay it. Pure;
 * extension.ts shows the text in a read-only document.
 */
import { Report, Seed, ValidationResult } from "./report";

export interface MinimizeResult {
  original_seed: Seed; minimized_seed: Seed; strategy?: string; calls?: number;
  original_shape: Record<string, number[]>; minimized_shape: Record<string, number[]>;
  steps?: string[]; result?: ValidationResult;
  /** Dims of the minimized case whose size the op schema does not list ("H=3 (candidates 16, 64)"). */
  outside_schema?: string[];
}

/** The MinimizeResult of a minimize report; throws when the report is another command's. */
export function minimizeResult(report: Report): MinimizeResult {
  const m = (report as Report & { minimize?: MinimizeResult }).minimize;
  if (report.command !== "minimize" || !m) {
    throw new SyntaxError(`expected a \`gpuemu minimize --format json\` report, got a "${report.command}" report without "minimize"`);
  }
  return m;
}

const shape = (s: number[] | undefined) => (s ? `[${s.join(", ")}]` : "—");

/** Markdown for one minimize report. */
export function formatMinimize(report: Report): string {
  const m = minimizeResult(report);
  const r = m.result;
  const op = r?.op_name ?? "the op";
  const inputs = [...new Set([...Object.keys(m.original_shape), ...Object.keys(m.minimized_shape)])];
  const lines = [
    `# gpuemu minimize: ${op}`,
    "",
    `${report.passed ? "The case passes now: nothing to minimize" : "Still fails the same way"} after ${m.calls ?? "?"} op runs (strategy ${m.strategy ?? "?"}).`,
    "",
    "| input | original | minimized |",
    "|---|---|---|",
    ...inputs.map((n) => `| ${n} | ${shape(m.original_shape[n])} | ${shape(m.minimized_shape[n])} |`),
    `| seed | ${m.original_seed} | ${m.minimized_seed} |`,
    "",
    "## Steps",
    "",
    ...(m.steps?.length ? m.steps.map((s, i) => `${i + 1}. ${s}`) : ["(none: the original case was already minimal)"]),
  ];
  if (m.outside_schema?.length) {
    lines.push("", `Outside the op's schema: ${m.outside_schema.join("; ")} (the smallest failing case found; fuzzing draws only the schema's candidates).`);
  }
  if (r) {
    lines.push("", "## Minimized case", "",
      `${r.passed ? "passed" : "failed"} · ${r.dtype ?? "?"} · max diff ${r.max_diff ?? "NaN"} (atol ${r.atol ?? "?"}, rtol ${r.rtol ?? "?"})`, "",
      ...(r.failures ?? []).map((f) => `- **${f.kind}**: ${f.message}`));
    if (r.repro_info?.command) lines.push("", "Replay:", "", "```sh", r.repro_info.command, "```");
  }
  return lines.join("\n") + "\n";
}
