/**
 * The status bar's daemon state from `gpuemu status --format json` (which never starts a daemon):
 * exit 0 with a "daemon: up …" note is up, exit 3 (no daemon answers) is down, anything else
 * (no gpuemu.toml, a broken CLI) is unknown. Pure; extension.ts polls and shows it.
 */
import { Outcome, RunResult } from "./runner";

export type Daemon = "up" | "down" | "unknown";

export interface DaemonState { daemon: Daemon; detail: string }

/** Read one finished `gpuemu status --format json` run (runner.interpret's result). */
export function daemonState(result: RunResult): DaemonState {
  if (result.outcome === "daemon-unreachable") return { daemon: "down", detail: result.error ?? "no gpuemu daemon answers" };
  const note = result.report?.notes?.find((n) => n.startsWith("daemon: "));
  if (result.outcome === "passed" && note) return { daemon: "up", detail: (result.report?.notes ?? []).join("\n") };
  return { daemon: "unknown", detail: result.error ?? `gpuemu status said nothing about the daemon (exit ${result.exitCode})` };
}

const ICON: Record<Daemon, string> = { up: "$(vm-running)", down: "$(debug-disconnect)", unknown: "$(question)" };

const LAST: Record<Outcome, string> = {
  passed: "passed", failed: "failed", "usage-error": "config error", "daemon-unreachable": "daemon down", crashed: "CLI error",
};

export interface LastRun { outcome: Outcome; at: Date }

/** "$(vm-running) gpuemu: up · last run failed (10:02:03)" and its tooltip. */
export function statusText(state: DaemonState, last?: LastRun): { text: string; tooltip: string } {
  const tail = last ? ` · last run ${LAST[last.outcome]} (${last.at.toLocaleTimeString()})` : "";
  return { text: `${ICON[state.daemon]} gpuemu: ${state.daemon}${tail}`, tooltip: `${state.detail}\nClick to run gpuemu test.` };
}
