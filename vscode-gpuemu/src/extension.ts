/**
 * VS Code glue: commands, Problems, the status bar, the Test explorer (testController.ts), the
 * Failures view and result pages (views.ts), the gpuemu.toml validator and the save watcher. Thin
 * on purpose: what to run (runner.ts, cli.ts), what it means (report.ts, diagnostics.ts,
 * testItems.ts, status.ts, minimize.ts, reproduce.ts), what gpuemu.toml says (toml.ts,
 * opConfig.ts, configValidator.ts) and when to re-run (debounce.ts) are pure modules tested
 * without an editor.
 */
import * as path from "node:path";
import * as vscode from "vscode";
import { args, isExecutable, Outcome, runGpuemu, RunResult } from "./runner";
import { failingCases, ValidationResult } from "./report";
import { Problem, problemsFor, suggestedAtol } from "./diagnostics";
import { findEntries, findEntry, toleranceEdit } from "./toml";
import { validateConfig } from "./configValidator";
import { Debouncer } from "./debounce";
import { formatMinimize } from "./minimize";
import { formatReproduce, reproduceVerdict } from "./reproduce";
import { opsForPath } from "./opConfig";
import { CliChoice, lookup } from "./cli";
import { daemonState, DaemonState, LastRun, statusText, worstOutcome } from "./status";
import { GpuemuTests } from "./testController";
import { FailuresView, Pages, PAGE_SCHEME, ProblemActions } from "./views";

const SEVERITY: Record<Problem["severity"], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  information: vscode.DiagnosticSeverity.Information,
};

const CONFIG_FILE = "gpuemu.toml";

const diagnostic = (line: number, message: string, severity: Problem["severity"]): vscode.Diagnostic => {
  const d = new vscode.Diagnostic(new vscode.Range(line, 0, line, Number.MAX_SAFE_INTEGER), message, SEVERITY[severity]);
  d.source = "gpuemu";
  return d;
};

/** The interpreter the Python extension selected for `folder`, when it is installed. */
async function pythonInterpreter(folder: vscode.Uri | undefined): Promise<string | undefined> {
  try {
    const ext = vscode.extensions.getExtension("ms-python.python");
    const api = ext ? (ext.isActive ? ext.exports : await ext.activate()) : undefined;
    const selected = api?.environments?.getActiveEnvironmentPath?.(folder)?.path as string | undefined;
    const configured = vscode.workspace.getConfiguration("python", folder).get<string>("defaultInterpreterPath");
    return selected ?? (configured && configured !== "python" ? configured : undefined);
  } catch {
    return undefined; // an older Python extension without this API: the other places were tried
  }
}

/** A run's effect on the editor: a test run updates Problems and the Failures view; reproduce and minimize do not. */
interface RunOptions { quiet?: boolean; record?: boolean }

export function activate(context: vscode.ExtensionContext): void {
  const diagnostics = vscode.languages.createDiagnosticCollection("gpuemu");
  const worst = new Map<vscode.Diagnostic, ValidationResult>();
  const failures = new FailuresView();
  const configProblems = vscode.languages.createDiagnosticCollection("gpuemu-config");
  const status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left);
  const output = vscode.window.createOutputChannel("gpuemu");
  const pages = new Pages();
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

  /** gpuemu.command when set, else the first CLI found (cli.ts); looked up on every call, so a new .venv is seen. */
  async function cli(toml: vscode.Uri): Promise<CliChoice | { error: string }> {
    const inspected = settings().inspect<string[]>("command");
    const configured = inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue;
    const folders = [path.dirname(toml.fsPath), ...(vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath)];
    const input = { configured, folders, pathEnv: process.env.PATH };
    const found = lookup(input, isExecutable);
    if ("command" in found) return found;
    return lookup({ ...input, interpreter: await pythonInterpreter(vscode.workspace.getWorkspaceFolder(toml)?.uri) }, isExecutable);
  }

  /** Spawn the CLI in the toml's folder; a CLI that cannot be found is a "crashed" result saying what to set. */
  async function exec(toml: vscode.Uri, argv: string[]): Promise<RunResult> {
    const found = await cli(toml);
    if (!("command" in found)) return { outcome: "crashed", exitCode: null, cliMissing: true, error: found.error };
    return runGpuemu(found.command, argv, { cwd: path.dirname(toml.fsPath) });
  }

  /**
   * Run-result problems, per op: a run of some ops (--op) replaces only theirs. Each is placed at
   * its op's `name = ` line in the current text, so edits (a new tolerance table) move them along.
   */
  const byOp = new Map<string, Problem[]>();
  function placeProblems(toml: vscode.Uri, text: string): void {
    worst.clear();
    diagnostics.set(toml, [...byOp.values()].flat().map((p) => {
      const d = diagnostic(findEntry(text, p.op)?.nameLine ?? p.line, p.message, p.severity);
      if (p.worst) worst.set(d, p.worst);
      return d;
    }));
  }
  function showProblems(toml: vscode.Uri, text: string, problems: Problem[], onlyOps: string[] | undefined): void {
    for (const op of onlyOps ?? [...byOp.keys()]) byOp.delete(op);
    for (const p of problems) byOp.set(p.op, [...(byOp.get(p.op) ?? []), p]);
    placeProblems(toml, text);
  }

  async function run(title: string, argv: string[], { quiet = false, record = false }: RunOptions = {}): Promise<RunResult | undefined> {
    const toml = quiet ? await findToml() : await configUri();
    if (!toml) return undefined;
    output.appendLine(`$ gpuemu ${argv.join(" ")}`);
    const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title }, () => exec(toml, argv));
    if (result.error) {
      output.appendLine(result.error);
      if (!quiet) void vscode.window.showErrorMessage(`gpuemu: ${result.error}`);
    }
    if (record && result.report) {
      const text = (await vscode.workspace.openTextDocument(toml)).getText();
      const ops = argv.flatMap((a, i) => (argv[i - 1] === "--op" ? [a] : []));
      const onlyOps = ops.length ? ops : argv[0] === "fuzz" ? [argv[1]] : undefined;
      showProblems(toml, text, problemsFor(result.report, text, toml.fsPath), onlyOps);
      failures.show(failingCases(result.report), onlyOps);
    }
    return result;
  }

  /** A test run ended (one or several CLI calls): the status bar shows its outcome, and the daemon it may have started. */
  function runEnded(outcomes: Outcome[]): void {
    const outcome = worstOutcome(outcomes);
    if (outcome) last = { outcome, at: new Date() };
    showStatus();
    void checkDaemon();
  }

  async function recordedRun(title: string, argv: string[]): Promise<RunResult | undefined> {
    const result = await run(title, argv, { record: true });
    if (result) runEnded([result.outcome]);
    return result;
  }

  const tests = new GpuemuTests((op) => run(`gpuemu test --op ${op}`, args.test(op), { quiet: true, record: true }), findToml, runEnded);

  /** Problems of a gpuemu.toml as it is typed; its test items follow it. */
  function checkConfig(doc: vscode.TextDocument): void {
    if (path.basename(doc.uri.fsPath) !== CONFIG_FILE || doc.uri.scheme !== "file") return;
    const dir = path.dirname(doc.uri.fsPath);
    configProblems.set(doc.uri, validateConfig(doc.getText(), dir).map((p) => diagnostic(p.line, p.message, p.severity)));
    tests.refresh(doc.uri, doc.getText());
    placeProblems(doc.uri, doc.getText());
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

  /**
   * `gpuemu status` (never starts a daemon); while gpuemu.toml does not parse, `gpuemu daemon
   * status` (which does not read it) says whether the daemon is up. Polled every
   * gpuemu.statusPollSeconds (0 turns it off), after each run and on each settings change.
   */
  let poll: ReturnType<typeof setTimeout> | undefined;
  let disposed = false;
  async function checkDaemon(): Promise<void> {
    const toml = await findToml();
    if (!toml) return;
    const result = await exec(toml, args.status());
    daemon = daemonState(result, result.outcome === "usage-error" ? await exec(toml, args.daemonStatus()) : undefined);
    showStatus();
  }
  async function pollDaemon(): Promise<void> {
    clearTimeout(poll);
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

  /** Set the op's tolerance for this case's dtype, show the new table, save and re-run the op. */
  async function adjustTolerance(c?: ValidationResult): Promise<void> {
    const toml = await configUri();
    if (!c || !toml) return;
    const doc = await vscode.workspace.openTextDocument(toml);
    let range: vscode.Range;
    try {
      const e = toleranceEdit(doc.getText(), c.op_name, c.dtype ?? "float32", suggestedAtol(c), c.rtol ?? 0);
      const start = new vscode.Position(e.range.start.line, e.range.start.character);
      const edit = new vscode.WorkspaceEdit();
      edit.replace(toml, new vscode.Range(start, new vscode.Position(e.range.end.line, e.range.end.character)), e.newText);
      await vscode.workspace.applyEdit(edit);
      const added = e.newText.split(/\r?\n/);
      range = new vscode.Range(start, new vscode.Position(start.line + added.length - 1,
        (added.length === 1 ? start.character : 0) + added[added.length - 1].length));
    } catch (err) {
      void vscode.window.showErrorMessage(`gpuemu: ${(err as Error).message}`);
      return;
    }
    const editor = await vscode.window.showTextDocument(doc);
    editor.selection = new vscode.Selection(range.start, range.end);
    editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    await doc.save(); // the CLI reads the file
    await tests.runOps([c.op_name]);
  }

  const commands: Record<string, (...a: never[]) => unknown> = {
    "gpuemu.startDaemon": () => run("Starting the gpuemu daemon", args.startDaemon()).then(checkDaemon),
    "gpuemu.stopDaemon": () => run("Stopping the gpuemu daemon", args.stopDaemon()).then(checkDaemon),
    "gpuemu.runTests": () => recordedRun("gpuemu test", args.test()),
    "gpuemu.fuzzOp": async () => {
      const toml = await configUri();
      if (!toml) return;
      const ops = findEntries((await vscode.workspace.openTextDocument(toml)).getText()).filter((e) => e.kind === "ops").map((e) => e.name);
      const op = await vscode.window.showQuickPick(ops, { placeHolder: "Op to fuzz" });
      if (op) await recordedRun(`gpuemu fuzz ${op}`, args.fuzz(op));
    },
    "gpuemu.reproduce": async (c?: ValidationResult) => {
      const picked = await pickCase(c);
      if (!picked) return;
      const result = await run(`gpuemu reproduce ${picked.seed}`, args.reproduce(picked.seed, picked.op));
      if (!result?.report) return;
      const verdict = reproduceVerdict(result.report);
      output.appendLine(verdict);
      await pages.show(`reproduce-${picked.seed}`, formatReproduce(result.report));
      void vscode.window.showInformationMessage(`gpuemu reproduce: ${verdict}`);
    },
    "gpuemu.minimize": async (c?: ValidationResult) => {
      const picked = await pickCase(c);
      if (!picked) return;
      const result = await run(`gpuemu minimize ${picked.seed}`, args.minimize(picked.seed, picked.op));
      if (result?.report) await pages.show(`minimize-${picked.seed}`, formatMinimize(result.report));
    },
    "gpuemu.adjustTolerance": adjustTolerance,
  };

  vscode.workspace.textDocuments.forEach(checkConfig);
  void tests.load();
  const tomlOnDisk = vscode.workspace.createFileSystemWatcher(`**/${CONFIG_FILE}`);
  [tomlOnDisk.onDidCreate, tomlOnDisk.onDidChange].forEach((on) => context.subscriptions.push(on(() => void tests.load())));
  context.subscriptions.push(diagnostics, configProblems, status, output, tests, tomlOnDisk,
    { dispose: () => { disposed = true; revalidate.dispose(); clearTimeout(poll); } },
    vscode.workspace.registerTextDocumentContentProvider(PAGE_SCHEME, pages),
    vscode.workspace.onDidOpenTextDocument(checkConfig),
    vscode.workspace.onDidChangeTextDocument((e) => checkConfig(e.document)),
    vscode.workspace.onDidCloseTextDocument((d) => configProblems.delete(d.uri)),
    vscode.workspace.onDidSaveTextDocument((d) => void scriptSaved(d)),
    // A saved gpuemu.toml changes what `gpuemu status` reads (and may not parse): ask again.
    vscode.workspace.onDidSaveTextDocument((d) => { if (path.basename(d.uri.fsPath) === CONFIG_FILE) void checkDaemon(); }),
    // A new gpuemu.command (or poll interval) takes effect at once, not at the next poll.
    vscode.workspace.onDidChangeConfiguration((e) => { if (e.affectsConfiguration("gpuemu")) void pollDaemon(); }),
    vscode.window.registerTreeDataProvider("gpuemu.failures", failures),
    vscode.languages.registerCodeActionsProvider({ pattern: "**/gpuemu.toml" }, new ProblemActions(worst)),
    ...Object.entries(commands).map(([id, fn]) => vscode.commands.registerCommand(id, fn)));
}

export function deactivate(): void {}
