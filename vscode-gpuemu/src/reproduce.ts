/**
 * `gpuemu reproduce --format json` as a Markdown page: the CLI's verdict ("still fails: seed …"),
 * then each replayed case with its dtype, shape, diffs and failures. Pure; extension.ts shows the
 * text in a read-only document and the verdict in a notification.
 */
import { caseDtype, caseShape, Report } from "./report";

/** The CLI's one-line verdict: its notes, else passed/failed. */
export function reproduceVerdict(report: Report): string {
  return report.notes?.length ? report.notes.join("; ") : report.passed ? "the case passes now" : "the case still fails";
}

/** Markdown for one reproduce report; throws when the report is another command's. */
export function formatReproduce(report: Report): string {
  if (report.command !== "reproduce") {
    throw new SyntaxError(`expected a \`gpuemu reproduce --format json\` report, got a "${report.command}" report`);
  }
  const results = report.results ?? [];
  const lines = [`# gpuemu reproduce: ${results[0]?.op_name ?? "?"}`, "", `**${report.passed ? "PASSED" : "FAILED"}**: ${reproduceVerdict(report)}`];
  for (const r of results) {
    lines.push("", `## ${r.op_name} · seed ${r.seed} · ${r.passed ? "passed" : "failed"}`, "",
      `${caseDtype(r) ?? "?"} · shape ${caseShape(r) ?? "?"} · max diff ${r.max_diff ?? "NaN"} (atol ${r.atol ?? "?"}, rtol ${r.rtol ?? "?"})`);
    for (const f of r.failures ?? []) lines.push("", `- **${f.kind}**:`, "", "```", f.message, "```");
    if (r.repro_info?.command) lines.push("", "Replay:", "", "```sh", r.repro_info.command, "```");
  }
  return lines.join("\n") + "\n";
}
