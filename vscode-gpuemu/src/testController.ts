/**
 * VS Code glue for the Test explorer: items from testItems.testItemsFor, states from
 * testItems.opOutcome. Running an op (or one of its dtypes) runs `gpuemu test --op X`.
 */
import * as path from "node:path";
import * as vscode from "vscode";
import { Outcome, RunResult } from "./runner";
import { ItemOutcome, opOutcome, TestItemSpec, testItemsFor } from "./testItems";

/** Runs `gpuemu test --op <op> --format json` the way the extension runs every command. */
export type RunOp = (op: string) => Promise<RunResult | undefined>;

/** Told the outcomes of a run's CLI calls when the run ends (the status bar's "last run"). */
export type RunEnded = (outcomes: Outcome[]) => void;

export class GpuemuTests implements vscode.Disposable {
  private readonly controller = vscode.tests.createTestController("gpuemu", "gpuemu");
  private toml?: vscode.Uri;

  constructor(private readonly runOp: RunOp, private readonly findToml: () => Promise<vscode.Uri | undefined>,
    private readonly ended: RunEnded) {
    this.controller.resolveHandler = () => this.load();
    this.controller.refreshHandler = () => this.load();
    this.controller.createRunProfile("Run", vscode.TestRunProfileKind.Run,
      (request, token) => this.runRequest(request, token), true);
  }

  /**
   * Items from the workspace's gpuemu.toml as it is on disk (at activation, on refresh, when the
   * file changes on disk): "Run All Tests" needs them before the Testing view was ever opened.
   */
  async load(): Promise<void> {
    const uri = await this.findToml();
    if (uri) this.refresh(uri, (await vscode.workspace.openTextDocument(uri)).getText());
  }

  /** Rebuild the items from gpuemu.toml text (on open, on change). */
  refresh(toml: vscode.Uri, text: string): void {
    this.toml = toml;
    const make = (spec: TestItemSpec): vscode.TestItem => {
      const item = this.controller.createTestItem(spec.id, spec.label, toml);
      item.range = new vscode.Range(spec.line, 0, spec.line, 0);
      item.children.replace(spec.children.map(make));
      return item;
    };
    this.controller.items.replace(testItemsFor(text, path.dirname(toml.fsPath)).map(make));
  }

  /** Run these ops (the validation watcher calls this too) and mark their items. */
  async runOps(ops: string[], token?: vscode.CancellationToken, request?: vscode.TestRunRequest): Promise<void> {
    const items = ops.map((op) => this.controller.items.get(op)).filter((i): i is vscode.TestItem => i !== undefined);
    const run = this.controller.createTestRun(request ?? new vscode.TestRunRequest(items), undefined, false);
    const family = (i: vscode.TestItem) => [i, ...[...i.children].map(([, c]) => c)];
    items.flatMap(family).forEach((i) => run.started(i));
    const outcomes: Outcome[] = [];
    for (const op of ops) {
      if (token?.isCancellationRequested) break;
      const item = this.controller.items.get(op);
      const result = await this.runOp(op);
      if (result) outcomes.push(result.outcome);
      if (!item) continue;
      const children = [...item.children].map(([, c]) => c);
      if (!result) { family(item).forEach((i) => run.skipped(i)); continue; }
      const outcome = opOutcome(result, op, children.map((c) => c.label));
      this.mark(run, item, outcome.op);
      children.forEach((c) => this.mark(run, c, outcome.dtypes[c.label]));
    }
    run.end();
    this.ended(outcomes);
  }

  private mark(run: vscode.TestRun, item: vscode.TestItem, o: ItemOutcome): void {
    const message = () => {
      const m = new vscode.TestMessage(o.message ?? o.state);
      if (this.toml && item.range) m.location = new vscode.Location(this.toml, item.range);
      return m;
    };
    if (o.state === "passed") run.passed(item);
    else if (o.state === "failed") run.failed(item, message());
    else if (o.state === "errored") run.errored(item, message());
    else {
      if (o.message) run.appendOutput(`${item.id}: ${o.message}\r\n`, undefined, item);
      run.skipped(item);
    }
  }

  private runRequest(request: vscode.TestRunRequest, token: vscode.CancellationToken): Promise<void> {
    const requested = request.include ?? [...this.controller.items].map(([, i]) => i);
    const excluded = new Set((request.exclude ?? []).map((i) => i.id));
    // A dtype child runs its op: the CLI has no per-dtype filter; its result is read per dtype.
    const ops = [...new Set(requested.filter((i) => !excluded.has(i.id)).map((i) => i.parent?.id ?? i.id))];
    return this.runOps(ops, token, request);
  }

  dispose(): void { this.controller.dispose(); }
}
