/**
 * VS Code glue: commands, Problems, the failures view, the status bar, the Test explorer
 * (testController.ts), the gpuemu.toml validator, the save watcher and minimize pages. Thin on
 * purpose: what to run (runner.ts), what it means (report.ts, diagnostics.ts, testItems.ts,
 * status.ts, minimize.ts), what gpuemu.toml says (toml.ts, opConfig.ts, configValidator.ts) and
 * when to re-run (debounce.ts) are pure modules tested without an editor.
 */
import * as path from "node:path";
import * as vscode from "vscode";
import { args, runGpuemu, RunResult } from "./runner";
import { failingCases, ValidationResult } from "./report";
import { Problem, problemsFor, suggestedAtol } from "./diagnostics";
import { findEntries, toleranceEdit } from "./toml";
import { validateConfig } from "./configValidator";
import { Debouncer } from "./debounce";
import { formatMinimize } from "./minimize";
import { opsForPath } from "./opConfig";
import { daemonState, DaemonState, LastRun, statusText } from "./status";
import { GpuemuTests } from "./testController";

const SEVERITY: Record<Problem["severity"], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  information: vscode.DiagnosticSeverity.Information,
};

const CONFIG_FILE = "gpuemu.toml";
const MINIMIZE_SCHEME = "gpuemu-minimize";

const diagnostic = (line: number, message: string, severity: Problem["severity"]): vscode.Diagnostic => {
  const d = new vscode.Diagnostic(new vscode.Range(line, 0, line, Number.MAX_SAFE_INTEGER), message, SEVERITY[severity]);
  d.source = "gpuemu";
  return d;
};

/** Read-only documents holding minimize results (documents of a content provider cannot be edited). */
class MinimizePages implements vscode.TextDocumentContentProvider {
  private readonly pages = new Map<string, string>();
  provideTextDocumentContent(uri: vscode.Uri): string { return this.pages.get(uri.toString()) ?? ""; }
  async show(name: string, text: string): Promise<void> {
    const uri = vscode.Uri.from({ scheme: MINIMIZE_SCHEME, path: `/${name}.md` });
    this.pages.set(uri.toString(), text);
    const doc = await vscode.languages.setTextDocumentLanguage(await vscode.workspace.openTextDocument(uri), "markdown");
    await vscode.window.showTextDocument(doc, { preview: true });
  }
}

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
  const configProblems = vscode.languages.createDiagnosticCollection("gpuemu-config");
  const byOp = new Map<string, vscode.Diagnostic[]>();
  const status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left);
  const output = vscode.window.createOutputChannel("gpuemu");
  const pages = new MinimizePages();
  const settings = () => vscode.workspace.getConfiguration("gpuemu");
  let daemon: DaemonState = { daemon: "unknown", detail: "not polled yet" };
  let last: LastRun | undefined;
  const showStatus = () => Object.assign(status, statusText(daemon, last));
  status.command = "gpuemu.runTests";
  showStatus();
  status.show();

  async function findToml(): Promise<vscode.Uri | undefined> {
    return (await vscode.workspace.findFiles(`**/${CONFIG_FILE}`, "**/node_modules/**", 1))[0];
  }

  async function configUri(): Promise<vscode.Uri | undefined> {
    const uri = await findToml();
    if (!uri) void vscode.window.showErrorMessage("gpuemu: no gpuemu.toml in this workspace; run `gpuemu init` first");
    return uri;
  }

  /** Run-result problems, per op: a run of some ops (--op) replaces only theirs. */
  function showProblems(toml: vscode.Uri, problems: Problem[], onlyOps: string[] | undefined): void {
    for (const op of onlyOps ?? [...byOp.keys()]) {
      (byOp.get(op) ?? []).forEach((d) => worst.delete(d));
      byOp.delete(op);
    }
    for (const p of problems) {
      const d = diagnostic(p.line, p.message, p.severity);
      if (p.worst) worst.set(d, p.worst);
      byOp.set(p.op, [...(byOp.get(p.op) ?? []), d]);
    }
    diagnostics.set(toml, [...byOp.values()].flat());
  }

  async function run(title: string, argv: string[], quiet = false): Promise<RunResult | undefined> {
    const toml = quiet ? await findToml() : await configUri();
    if (!toml) return undefined;
    const command = settings().get<string[]>("command", ["gpuemu"]);
    output.appendLine(`$ ${[...command, ...argv].join(" ")}`);
    const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title },
      () => runGpuemu(command, argv, { cwd: path.dirname(toml.fsPath) }));
    last = { outcome: result.outcome, at: new Date() };
    showStatus();
    if (result.error) {
      output.appendLine(result.error);
      if (!quiet) void vscode.window.showErrorMessage(`gpuemu: ${result.error}`);
    }
    if (result.report) {
      const text = (await vscode.workspace.openTextDocument(toml)).getText();
      const ops = argv.flatMap((a, i) => (argv[i - 1] === "--op" ? [a] : []));
      const onlyOps = ops.length ? ops : argv[0] === "fuzz" ? [argv[1]] : undefined;
      showProblems(toml, problemsFor(result.report, text, toml.fsPath), onlyOps);
      failures.show(failingCases(result.report));
    }
    return result;
  }

  const tests = new GpuemuTests((op) => run(`gpuemu test --op ${op}`, args.test(op), true), findToml);

  /** Problems of a gpuemu.toml as it is typed; its test items follow it. */
  function checkConfig(doc: vscode.TextDocument): void {
    if (path.basename(doc.uri.fsPath) !== CONFIG_FILE || doc.uri.scheme !== "file") return;
    const dir = path.dirname(doc.uri.fsPath);
    configProblems.set(doc.uri, validateConfig(doc.getText(), dir).map((p) => diagnostic(p.line, p.message, p.severity)));
    tests.refresh(doc.uri, doc.getText());
  }

  /** On save of an op's script: re-run that op (debounced; gpuemu.revalidateDelayMs). */
  const revalidate = new Debouncer<string>(() => settings().get<number>("revalidateDelayMs", 500), (op) => tests.runOps([op]));
  async function scriptSaved(doc: vscode.TextDocument): Promise<void> {
    if (path.basename(doc.uri.fsPath) === CONFIG_FILE || doc.uri.scheme !== "file") return;
    const toml = await findToml();
    if (!toml) return;
    const text = (await vscode.workspace.openTextDocument(toml)).getText();
    opsForPath(text, path.dirname(toml.fsPath), doc.uri.fsPath).forEach((op) => revalidate.schedule(op));
  }

  /** Poll `gpuemu status` (never starts a daemon) every gpuemu.statusPollSeconds; 0 turns it off. */
  let poll: ReturnType<typeof setTimeout> | undefined;
  let disposed = false;
  async function checkDaemon(): Promise<void> {
    const toml = await findToml();
    if (!toml) return;
    daemon = daemonState(await runGpuemu(settings().get<string[]>("command", ["gpuemu"]), args.status(), { cwd: path.dirname(toml.fsPath) }));
    showStatus();
  }
  async function pollDaemon(): Promise<void> {
    await checkDaemon();
    const seconds = settings().get<number>("statusPollSeconds", 10);
    if (seconds > 0 && !disposed) poll = setTimeout(() => void pollDaemon(), seconds * 1000);
  }
  void pollDaemon();

  async function pickCase(c?: ValidationResult): Promise<{ seed: string; op?: string } | undefined> {
    if (c) return { seed: c.seed, op: c.op_name };
    const seed = await vscode.window.showInputBox({ prompt: "Seed of the failing case", validateInput: (s) => (/^\d+$/.test(s) ? undefined : "a seed is a non-negative integer") });
    return seed ? { seed } : undefined;
  }

  const commands: Record<string, (...a: never[]) => unknown> = {
    "gpuemu.startDaemon": () => run("Starting the gpuemu daemon", args.startDaemon()).then(checkDaemon),
    "gpuemu.stopDaemon": () => run("Stopping the gpuemu daemon", args.stopDaemon()).then(checkDaemon),
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
      if (!picked) return;
      const result = await run(`gpuemu minimize ${picked.seed}`, args.minimize(picked.seed, picked.op));
      if (result?.report) await pages.show(`minimize-${picked.seed}`, formatMinimize(result.report));
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

  vscode.workspace.textDocuments.forEach(checkConfig);
  context.subscriptions.push(diagnostics, configProblems, status, output, tests,
    { dispose: () => { disposed = true; revalidate.dispose(); clearTimeout(poll); } },
    vscode.workspace.registerTextDocumentContentProvider(MINIMIZE_SCHEME, pages),
    vscode.workspace.onDidOpenTextDocument(checkConfig),
    vscode.workspace.onDidChangeTextDocument((e) => checkConfig(e.document)),
    vscode.workspace.onDidCloseTextDocument((d) => configProblems.delete(d.uri)),
    vscode.workspace.onDidSaveTextDocument((d) => void scriptSaved(d)),
    vscode.window.registerTreeDataProvider("gpuemu.failures", failures),
    vscode.languages.registerCodeActionsProvider({ pattern: "**/gpuemu.toml" }, new ProblemActions(worst)),
    ...Object.entries(commands).map(([id, fn]) => vscode.commands.registerCommand(id, fn)));
}

export function deactivate(): void {}
