import { test } from "node:test";
import assert from "node:assert/strict";
import { interpret } from "../src/runner";
import { daemonState, statusText } from "../src/status";
import { capture } from "./fixtures";

const run = (name: string) => { const c = capture(name); return interpret(c.exit_code, c.stdout, c.stderr); };

test("gpuemu status with the daemon up and down", () => {
  const up = daemonState(run("status_up"));
  assert.equal(up.daemon, "up");
  assert.match(up.detail, /^project: .*gpuemu\.toml \(2 ops, 0 kernels\)\ndaemon: up \d+s, version /);
  const down = daemonState(run("status_down"));
  assert.equal(down.daemon, "down");
  assert.match(down.detail, /^gpuemu: no gpuemu daemon answers on .*; start it with: gpuemu daemon start$/);
});

test("anything else is unknown, with the CLI's message", () => {
  const usage = daemonState(run("fuzz_unknown_op"));
  assert.equal(usage.daemon, "unknown");
  assert.match(usage.detail, /is not configured/);
  // A report without a "daemon:" note (another command's) says nothing about the daemon.
  assert.deepEqual(daemonState(run("test_pass")), { daemon: "unknown", detail: "gpuemu status said nothing about the daemon (exit 0)" });
});

test("the status bar text shows the daemon and the last run", () => {
  const up = daemonState(run("status_up"));
  assert.equal(statusText(up).text, "$(vm-running) gpuemu: up");
  const at = new Date(2026, 0, 2, 3, 4, 5);
  const s = statusText(daemonState(run("status_down")), { outcome: "failed", at });
  assert.equal(s.text, `$(debug-disconnect) gpuemu: down · last run failed (${at.toLocaleTimeString()})`);
  assert.match(s.tooltip, /no gpuemu daemon answers[^]*Click to run gpuemu test\.$/);
});

test("a gpuemu.toml that does not parse leaves the daemon state to `gpuemu daemon status`", () => {
  const broken = run("status_broken_toml");
  assert.equal(broken.outcome, "usage-error");
  const up = daemonState(broken, interpret(capture("daemon_status_up").exit_code, "", "", false));
  assert.equal(up.daemon, "up");
  assert.match(up.detail, /^a daemon answers \(gpuemu daemon status\)\ngpuemu status could not read the project: gpuemu: gpuemu\.toml: invalid TOML/);
  const d = capture("daemon_status_down");
  const down = daemonState(broken, interpret(d.exit_code, d.stdout, d.stderr, false));
  assert.equal(down.daemon, "down");
  assert.match(down.detail, /no gpuemu daemon answers[^]*invalid TOML/);
  // Without the second opinion it stays unknown, with the CLI's line.
  assert.equal(daemonState(broken).daemon, "unknown");
});

test("a CLI that cannot be started reads 'CLI not found' with what to set", () => {
  const s = daemonState({ outcome: "crashed", exitCode: null, cliMissing: true, error: 'set "gpuemu.command"' });
  assert.deepEqual(s, { daemon: "no-cli", detail: 'set "gpuemu.command"' });
  assert.equal(statusText(s).text, "$(error) gpuemu: CLI not found");
});

test("a run of several CLI calls is as bad as its worst call", async () => {
  const { worstOutcome } = await import("../src/status");
  assert.equal(worstOutcome(["failed", "passed", "passed"]), "failed");
  assert.equal(worstOutcome(["passed", "failed", "daemon-unreachable"]), "daemon-unreachable");
  assert.equal(worstOutcome(["passed"]), "passed");
  assert.equal(worstOutcome([]), undefined);
});
