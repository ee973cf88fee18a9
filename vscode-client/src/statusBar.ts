/** Status bar item: the diff base and how many ML changes the workspace has (diagnostics with source mldiff). */
import * as vscode from "vscode";
import type { BaseState } from "./baseState.ts";
import { countFindings, statusText } from "./findings.ts";
import type { MldiffServer } from "./server.ts";

export function createStatusBar(server: MldiffServer, bases: BaseState): vscode.Disposable {
  const item = vscode.window.createStatusBarItem("mldiff.status", vscode.StatusBarAlignment.Left, 50);
  item.name = "mldiff";
  const update = (): void => {
    const state = server.state;
    if (state.kind === "failed") {
      item.text = "$(warning) mldiff";
      item.tooltip = `mldiff is not running: ${state.reason}. Click for the output.`;
      item.command = "mldiff.showOutput";
      item.backgroundColor = new vscode.ThemeColor("statusBarItem.warningBackground");
    } else {
      const count = countFindings(vscode.languages.getDiagnostics());
      item.text = state.kind === "running" ? statusText(bases.current(), count) : `$(sync~spin) mldiff: ${bases.current()}`;
      const tooltip = new vscode.MarkdownString(
        `**mldiff** compares with \`${bases.current()}\`: ${count} ML change${count === 1 ? "" : "s"} in open files.\n\n` +
        "[Set diff base](command:mldiff.chooseBase) · [Show ML changes for this file](command:mldiff.showFileChanges) · " +
        "[Show output](command:mldiff.showOutput)");
      tooltip.isTrusted = { enabledCommands: ["mldiff.chooseBase", "mldiff.showFileChanges", "mldiff.showOutput"] };
      item.tooltip = tooltip;
      item.command = "mldiff.chooseBase";
      item.backgroundColor = undefined;
    }
    item.show();
  };
  update();
  return vscode.Disposable.from(
    item,
    vscode.languages.onDidChangeDiagnostics(update),
    server.onDidChangeState(update),
    bases.onDidChange(update),
  );
}
