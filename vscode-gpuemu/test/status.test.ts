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
