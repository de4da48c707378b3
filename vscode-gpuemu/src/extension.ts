/**
 * VS Code glue: commands, Problems, the failures view and the status bar. Thin on purpose: what
 * to run (runner.ts), what it means (report.ts, diagnostics.ts) and how gpuemu.toml changes
 * (toml.ts) are pure modules tested without an editor.
 */
import * as path from "node:path";
import * as vscode from "vscode";
import { args, Outcome, runGpuemu, RunResult } from "./runner";
import { failingCases, ValidationResult } from "./report";
import { Problem, problemsFor, suggestedAtol } from "./diagnostics";
import { findEntries, toleranceEdit } from "./toml";

const SEVERITY: Record<Problem["severity"], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  information: vscode.DiagnosticSeverity.Information,
};

const STATUS: Record<Outcome, string> = {
  passed: "$(pass) gpuemu: passed", failed: "$(error) gpuemu: failed", "usage-error": "$(warning) gpuemu: config error",
  "daemon-unreachable": "$(debug-disconnect) gpuemu: daemon down", crashed: "$(warning) gpuemu: CLI error",
};

class FailuresView implements vscode.TreeDataProvider<ValidationResult> {
  private cases: ValidationResult[] = [];
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;

  show(cases: ValidationResult[]): void { this.cases = cases; this.changed.fire(); }
  getChildren(): ValidationResult[] { return this.cases; }
  getTreeItem(c: ValidationResult): vscode.TreeItem {
    const item = new vscode.TreeItem(`${c.op_name} · seed ${c.seed}`);
    item.description = `${(c.failures ?? []).map((f) => f.kind).join(", ")} ${c.dtype ?? ""} [${(c.shape ?? []).join("×")}]`;
    item.tooltip = (c.failures ?? []).map((f) => f.message).join("\n");
    item.contextValue = "failure";
    item.command = { command: "gpuemu.reproduce", title: "Reproduce", arguments: [c] };
    return item;
  }
}

/** Code actions on a gpuemu problem: reproduce, minimize, adjust tolerance for its worst case. */
class ProblemActions implements vscode.CodeActionProvider {
  constructor(private readonly worst: Map<vscode.Diagnostic, ValidationResult>) {}
  provideCodeActions(_d: vscode.TextDocument, _r: vscode.Range, ctx: vscode.CodeActionContext): vscode.CodeAction[] {
    return ctx.diagnostics.flatMap((d) => {
      const c = this.worst.get(d);
      if (!c) return [];
      return ([["Reproduce this failure", "gpuemu.reproduce"], ["Minimize this failure", "gpuemu.minimize"],
        ["Adjust tolerance so it passes", "gpuemu.adjustTolerance"]] as const).map(([title, command]) => {
        const action = new vscode.CodeAction(title, vscode.CodeActionKind.QuickFix);
        action.command = { command, title, arguments: [c] };
        action.diagnostics = [d];
        return action;
      });
    });
  }
}

export function activate(context: vscode.ExtensionContext): void {
  const diagnostics = vscode.languages.createDiagnosticCollection("gpuemu");
  const worst = new Map<vscode.Diagnostic, ValidationResult>();
  const failures = new FailuresView();
  const status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left);
  const output = vscode.window.createOutputChannel("gpuemu");
  status.text = "$(beaker) gpuemu";
  status.command = "gpuemu.runTests";
  status.show();

  async function configUri(): Promise<vscode.Uri | undefined> {
    const [uri] = await vscode.workspace.findFiles("**/gpuemu.toml", "**/node_modules/**", 1);
    if (!uri) void vscode.window.showErrorMessage("gpuemu: no gpuemu.toml in this workspace; run `gpuemu init` first");
    return uri;
  }

  async function run(title: string, argv: string[]): Promise<RunResult | undefined> {
    const toml = await configUri();
    if (!toml) return undefined;
    const command = vscode.workspace.getConfiguration("gpuemu").get<string[]>("command", ["gpuemu"]);
    output.appendLine(`$ ${[...command, ...argv].join(" ")}`);
    const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title },
      () => runGpuemu(command, argv, { cwd: path.dirname(toml.fsPath) }));
    status.text = `${STATUS[result.outcome]} (${new Date().toLocaleTimeString()})`;
    if (result.error) {
      output.appendLine(result.error);
      void vscode.window.showErrorMessage(`gpuemu: ${result.error}`);
    }
    if (result.report) {
      const text = (await vscode.workspace.openTextDocument(toml)).getText();
      worst.clear();
      diagnostics.set(toml, problemsFor(result.report, text, toml.fsPath).map((p) => {
        const d = new vscode.Diagnostic(new vscode.Range(p.line, 0, p.line, Number.MAX_SAFE_INTEGER), p.message, SEVERITY[p.severity]);
        d.source = "gpuemu";
        if (p.worst) worst.set(d, p.worst);
        return d;
      }));
      failures.show(failingCases(result.report));
    }
    return result;
  }

  async function pickCase(c?: ValidationResult): Promise<{ seed: string; op?: string } | undefined> {
    if (c) return { seed: c.seed, op: c.op_name };
    const seed = await vscode.window.showInputBox({ prompt: "Seed of the failing case", validateInput: (s) => (/^\d+$/.test(s) ? undefined : "a seed is a non-negative integer") });
    return seed ? { seed } : undefined;
  }

  const commands: Record<string, (...a: never[]) => unknown> = {
    "gpuemu.startDaemon": () => run("Starting the gpuemu daemon", args.startDaemon()),
    "gpuemu.stopDaemon": () => run("Stopping the gpuemu daemon", args.stopDaemon()),
    "gpuemu.runTests": () => run("gpuemu test", args.test()),
    "gpuemu.fuzzOp": async () => {
      const toml = await configUri();
      if (!toml) return;
      const ops = findEntries((await vscode.workspace.openTextDocument(toml)).getText()).filter((e) => e.kind === "ops").map((e) => e.name);
      const op = await vscode.window.showQuickPick(ops, { placeHolder: "Op to fuzz" });
      if (op) await run(`gpuemu fuzz ${op}`, args.fuzz(op));
    },
    "gpuemu.reproduce": async (c?: ValidationResult) => {
      const picked = await pickCase(c);
      if (picked) await run(`gpuemu reproduce ${picked.seed}`, args.reproduce(picked.seed, picked.op));
    },
    "gpuemu.minimize": async (c?: ValidationResult) => {
      const picked = await pickCase(c);
      if (picked) await run(`gpuemu minimize ${picked.seed}`, args.minimize(picked.seed, picked.op));
    },
    "gpuemu.adjustTolerance": async (c?: ValidationResult) => {
      const toml = await configUri();
      if (!c || !toml) return;
      const doc = await vscode.workspace.openTextDocument(toml);
      try {
        const e = toleranceEdit(doc.getText(), c.op_name, c.dtype ?? "float32", suggestedAtol(c), c.rtol ?? 0);
        const edit = new vscode.WorkspaceEdit();
        edit.replace(toml, new vscode.Range(e.range.start.line, e.range.start.character, e.range.end.line, e.range.end.character), e.newText);
        await vscode.workspace.applyEdit(edit);
        await vscode.window.showTextDocument(doc);
      } catch (err) {
        void vscode.window.showErrorMessage(`gpuemu: ${(err as Error).message}`);
      }
    },
  };

  context.subscriptions.push(diagnostics, status, output,
    vscode.window.registerTreeDataProvider("gpuemu.failures", failures),
    vscode.languages.registerCodeActionsProvider({ pattern: "**/gpuemu.toml" }, new ProblemActions(worst)),
    ...Object.entries(commands).map(([id, fn]) => vscode.commands.registerCommand(id, fn)));
}

export function deactivate(): void {}
