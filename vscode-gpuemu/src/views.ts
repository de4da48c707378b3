/**
 * The editor surfaces that hold results: the Failures tree, read-only Markdown pages (minimize and
 * reproduce results) and the quick fixes on a gpuemu problem. VS Code glue only; what they show
 * comes from the pure modules.
 */
import * as vscode from "vscode";
import { caseDtype, caseShape, ValidationResult } from "./report";

export const PAGE_SCHEME = "gpuemu-page";

/** Read-only documents holding minimize and reproduce results (a content provider's documents cannot be edited). */
export class Pages implements vscode.TextDocumentContentProvider {
  private readonly pages = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  provideTextDocumentContent(uri: vscode.Uri): string { return this.pages.get(uri.toString()) ?? ""; }
  async show(name: string, text: string): Promise<void> {
    const uri = vscode.Uri.from({ scheme: PAGE_SCHEME, path: `/${name}.md` });
    this.pages.set(uri.toString(), text);
    this.changed.fire(uri); // a page shown again (the same seed) shows its new text
    const doc = await vscode.languages.setTextDocumentLanguage(await vscode.workspace.openTextDocument(uri), "markdown");
    await vscode.window.showTextDocument(doc, { preview: true });
  }
}

/**
 * The failing cases of the test runs, per op: a run of some ops replaces only theirs, so a Test
 * explorer run (one CLI call per op) leaves every op's failures listed.
 */
export class FailuresView implements vscode.TreeDataProvider<ValidationResult> {
  private readonly byOp = new Map<string, ValidationResult[]>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;

  /** Show these cases for `ops` (every op when undefined), keeping the other ops' cases. */
  show(cases: ValidationResult[], ops?: string[]): void {
    for (const op of ops ?? [...this.byOp.keys()]) this.byOp.delete(op);
    for (const c of cases) this.byOp.set(c.op_name, [...(this.byOp.get(c.op_name) ?? []), c]);
    this.changed.fire();
  }
  getChildren(): ValidationResult[] { return [...this.byOp.values()].flat(); }
  getTreeItem(c: ValidationResult): vscode.TreeItem {
    const item = new vscode.TreeItem(`${c.op_name} · seed ${c.seed}`);
    item.description = [[...new Set((c.failures ?? []).map((f) => f.kind))].join(", "), caseDtype(c), caseShape(c)].filter(Boolean).join(" ");
    item.tooltip = (c.failures ?? []).map((f) => f.message).join("\n");
    item.accessibilityInformation = { label: `${item.label} ${item.description}` };
    item.contextValue = "failure";
    item.command = { command: "gpuemu.reproduce", title: "Reproduce", arguments: [c] };
    return item;
  }
}

/** Code actions on a gpuemu problem: reproduce, minimize, adjust tolerance for its worst case. */
export class ProblemActions implements vscode.CodeActionProvider {
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
