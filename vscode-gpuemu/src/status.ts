/**
 * The status bar's daemon state from `gpuemu status --format json` (which never starts a daemon):
 * exit 0 with a "daemon: up …" note is up, exit 3 (no daemon answers) is down. `gpuemu status`
 * reads gpuemu.toml, so while the file does not parse (it is being typed) the state comes from
 * `gpuemu daemon status`, which does not. Pure; extension.ts polls and shows it.
 */
import { Outcome, RunResult } from "./runner";

export type Daemon = "up" | "down" | "unknown" | "no-cli";

export interface DaemonState { daemon: Daemon; detail: string }

/**
 * Read one finished `gpuemu status --format json` run (runner.interpret's result); `daemonStatus`
 * is the `gpuemu daemon status` run made when that one was a usage error (a broken gpuemu.toml).
 */
export function daemonState(result: RunResult, daemonStatus?: RunResult): DaemonState {
  if (result.cliMissing) return { daemon: "no-cli", detail: result.error ?? "the gpuemu CLI could not be started" };
  if (result.outcome === "daemon-unreachable") return { daemon: "down", detail: result.error ?? "no gpuemu daemon answers" };
  const note = result.report?.notes?.find((n) => n.startsWith("daemon: "));
  if (result.outcome === "passed" && note) return { daemon: "up", detail: (result.report?.notes ?? []).join("\n") };
  if (result.outcome === "usage-error" && daemonStatus) {
    const project = `gpuemu status could not read the project: ${result.error}`;
    if (daemonStatus.outcome === "passed") return { daemon: "up", detail: `a daemon answers (gpuemu daemon status)\n${project}` };
    if (daemonStatus.outcome === "daemon-unreachable") return { daemon: "down", detail: `${daemonStatus.error}\n${project}` };
  }
  return { daemon: "unknown", detail: result.error ?? `gpuemu status said nothing about the daemon (exit ${result.exitCode})` };
}

/** How bad an outcome is, for a run of several ops: the worst one is the run's. */
const RANK: Outcome[] = ["passed", "failed", "usage-error", "daemon-unreachable", "crashed"];

/** The outcome of a run made of several CLI calls (a Test explorer run calls it once per op). */
export function worstOutcome(outcomes: Outcome[]): Outcome | undefined {
  return outcomes.reduce<Outcome | undefined>((w, o) => (w === undefined || RANK.indexOf(o) > RANK.indexOf(w) ? o : w), undefined);
}

const ICON: Record<Daemon, string> = { up: "$(vm-running)", down: "$(debug-disconnect)", unknown: "$(question)", "no-cli": "$(error)" };
const WORD: Record<Daemon, string> = { up: "up", down: "down", unknown: "unknown", "no-cli": "CLI not found" };

const LAST: Record<Outcome, string> = {
  passed: "passed", failed: "failed", "usage-error": "config error", "daemon-unreachable": "daemon down", crashed: "CLI error",
};

/** The last test run (not reproduce, minimize or daemon commands): its outcome and when it ended. */
export interface LastRun { outcome: Outcome; at: Date }

/** "$(vm-running) gpuemu: up · last run failed (10:02:03)" and its tooltip. */
export function statusText(state: DaemonState, last?: LastRun): { text: string; tooltip: string } {
  const tail = last ? ` · last run ${LAST[last.outcome]} (${last.at.toLocaleTimeString()})` : "";
  return { text: `${ICON[state.daemon]} gpuemu: ${WORD[state.daemon]}${tail}`, tooltip: `${state.detail}\nClick to run gpuemu test.` };
}
