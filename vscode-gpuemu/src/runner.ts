/**
 * Spawn the gpuemu CLI and turn its exit code, JSON stdout and stderr into one outcome.
 *
 * The CLI's contract (docs/json-output.md): exit 0 passed, 1 a check failed (both print one JSON
 * report), 2 usage or configuration error, 3 daemon unreachable (both print one line on stderr).
 */
import { spawn } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { parseReport, Report, Seed } from "./report";

export type Outcome = "passed" | "failed" | "usage-error" | "daemon-unreachable" | "crashed";

export interface RunResult {
  outcome: Outcome;
  exitCode: number | null;
  report?: Report;
  /** What to show the user when there is no verdict: the CLI's stderr line, or why it broke. */
  error?: string;
  /** The CLI could not be started (not found, not executable): the status bar says what to set. */
  cliMissing?: boolean;
}

const OUTCOMES: Record<number, Outcome> = { 0: "passed", 1: "failed", 2: "usage-error", 3: "daemon-unreachable" };

/** Map one finished CLI run to its outcome; `expectReport` is false for commands without --format json. */
export function interpret(exitCode: number | null, stdout: string, stderr: string, expectReport = true): RunResult {
  const outcome = exitCode === null ? undefined : OUTCOMES[exitCode];
  const lastStderr = stderr.trim().split("\n").filter(Boolean).pop();
  if (outcome === undefined) {
    return { outcome: "crashed", exitCode, error: `gpuemu exited with ${exitCode ?? "a signal"}: ${lastStderr ?? "no output on stderr"}` };
  }
  if (outcome === "usage-error" || outcome === "daemon-unreachable") {
    return { outcome, exitCode, error: stderr.trim() || `gpuemu exited with ${exitCode} and printed nothing` };
  }
  if (!expectReport) return { outcome, exitCode };
  let report: Report;
  try {
    report = parseReport(stdout);
  } catch (e) {
    return { outcome: "crashed", exitCode, error: `gpuemu exited with ${exitCode} but printed no JSON report (${(e as Error).message}); stderr: ${lastStderr ?? ""}` };
  }
  if (report.passed !== (outcome === "passed")) {
    return { outcome: "crashed", exitCode, report, error: `gpuemu's exit code ${exitCode} disagrees with its report (passed=${report.passed})` };
  }
  return { outcome, exitCode, report };
}

/** The argument lists of the commands the extension runs (after the configured `gpuemu.command`). */
export const args = {
  test: (op?: string): string[] => ["test", ...(op ? ["--op", op] : []), "--format", "json"],
  fuzz: (op: string, iterations?: number, seed?: Seed): string[] =>
    ["fuzz", op, ...(iterations ? ["-n", String(iterations)] : []), ...(seed ? ["--seed", seed] : []), "--format", "json"],
  reproduce: (seed: Seed, op?: string): string[] => ["reproduce", "--seed", seed, ...(op ? ["--op", op] : []), "--format", "json"],
  minimize: (seed: Seed, op?: string): string[] => ["minimize", "--seed", seed, ...(op ? ["--op", op] : []), "--format", "json"],
  failures: (op?: string): string[] => ["failures", ...(op ? ["--op", op] : []), "--format", "json"],
  startDaemon: (): string[] => ["daemon", "start", "--background"],
  stopDaemon: (): string[] => ["daemon", "stop"],
  status: (): string[] => ["status", "--format", "json"],
  /** Whether a daemon answers, without reading gpuemu.toml (exit 0 up, 3 down). */
  daemonStatus: (): string[] => ["daemon", "status"],
};

export interface SpawnOptions { cwd: string; env?: NodeJS.ProcessEnv; signal?: AbortSignal }

/** Run `command… args…` (command is e.g. ["gpuemu"] or ["python", "-m", "gpuemu"]) and interpret it. */
export function runGpuemu(command: string[], argv: string[], opts: SpawnOptions): Promise<RunResult> {
  const expectReport = argv.includes("--format");
  return new Promise((resolve) => {
    const child = spawn(command[0], [...command.slice(1), ...argv], { cwd: opts.cwd, env: opts.env ?? process.env, signal: opts.signal });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => { stdout += d; });
    child.stderr.setEncoding("utf8").on("data", (d: string) => { stderr += d; });
    child.on("error", (e) => resolve({ outcome: "crashed", exitCode: null, cliMissing: true,
      error: `could not run ${command.join(" ")}: ${e.message}; set "gpuemu.command" in settings.json to how gpuemu runs here, e.g. ["/path/to/.venv/bin/gpuemu"] or ["python3", "-m", "gpuemu"]` }));
    child.on("close", (code) => resolve(interpret(code, stdout, stderr, expectReport)));
  });
}

/** A file this process may execute (a candidate for the CLI; cli.ts). */
export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}
