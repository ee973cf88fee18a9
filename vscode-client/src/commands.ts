/** The palette and context-menu commands; the work itself is the server's. */
import * as vscode from "vscode";
import { baseChoices, revisionProblem } from "./bases.ts";
import { findingItems } from "./findings.ts";
import { gitRepository } from "./gitApi.ts";
import { isCommit, localBranches } from "./processes.ts";
import type { MldiffServer } from "./server.ts";
import { addTrailers, readAttachAnswer } from "./trailers.ts";
import type { BaseState } from "./baseState.ts";
import type { WorkDoneProgressBegin, WorkDoneProgressEnd, WorkDoneProgressReport } from "vscode-languageclient/node";

const VALIDATE = "mldiff.validate";
const ATTACH = "mldiff.attachToCommit";

export function registerCommands(server: MldiffServer, bases: BaseState): vscode.Disposable[] {
  // The server's own commands, as code lenses and source actions run them, get the same UI.
  server.commandHandlers.set(VALIDATE, (args) => validateChange(server, args));
  server.commandHandlers.set(ATTACH, (args) => attachValidation(server, args));
  return [
    vscode.commands.registerCommand("mldiff.validateChange", () => validateChange(server, defaultArguments(server))),
    vscode.commands.registerCommand("mldiff.attachValidation", () => attachValidation(server, defaultArguments(server))),
    vscode.commands.registerCommand("mldiff.chooseBase", () => chooseBase(server, bases)),
    vscode.commands.registerCommand("mldiff.showFileChanges", (uri?: vscode.Uri) => showFileChanges(uri, bases)),
    vscode.commands.registerCommand("mldiff.restartServer", () => server.restart()),
    vscode.commands.registerCommand("mldiff.showOutput", () => server.output.show()),
    vscode.commands.registerCommand("mldiff.installServer", () => server.install()),
  ];
}

/** What the server's commands get from the palette: the active file (else the folder), as code lenses pass it. */
function defaultArguments(server: MldiffServer): unknown[] {
  const uri = vscode.window.activeTextEditor?.document.uri ?? server.folder()?.uri;
  return uri ? [uri.toString()] : [];
}

function failed(action: string, error: unknown, server: MldiffServer): void {
  const reason = error instanceof Error ? error.message : String(error);
  server.output.error(`${action}: ${reason}`);
  void vscode.window.showErrorMessage(`mldiff: ${action}: ${reason}`, "Show output")
    .then((choice) => choice && server.output.show());
}

function isCancellation(error: unknown): boolean {
  return error instanceof vscode.CancellationError || (error as { code?: number } | undefined)?.code === -32800;
}

/**
 * Validate change: the server asks before it first runs the project's command, then runs it
 * with progress on the request's workDoneToken. The notification opens when that progress
 * begins (after the question, not over it); its Cancel cancels the request, which stops the
 * runs and removes the base checkout. The server shows the summary or the problem itself.
 */
async function validateChange(server: MldiffServer, args: unknown[]): Promise<unknown> {
  if (!vscode.workspace.isTrusted) {
    const manage = "Manage Workspace Trust";
    const choice = await vscode.window.showWarningMessage(
      "mldiff: Validate change runs this project's training command, so it is off in a workspace you have not trusted. Trust the workspace to validate.",
      manage);
    if (choice === manage) {
      await vscode.commands.executeCommand("workbench.trust.manage");
    }
    return undefined;
  }
  const cancel = new vscode.CancellationTokenSource();
  let finish = (): void => undefined;
  const finished = new Promise<void>((resolve) => { finish = resolve; });
  let notification: vscode.Progress<{ message?: string; increment?: number }> | undefined;
  let reported = 0; // vscode's progress takes increments, LSP's gives percentages
  const show = (value: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd): void => {
    const percentage = value.kind === "end" ? 100 : value.percentage;
    const increment = percentage !== undefined ? Math.max(0, percentage - reported) : undefined;
    reported = percentage ?? reported;
    notification?.report({ message: value.message, increment });
  };
  const onProgress = (value: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd): void => {
    if (value.kind === "begin" && notification === undefined) {
      void vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: value.title, cancellable: value.cancellable ?? true },
        (progress, token) => {
          notification = progress;
          token.onCancellationRequested(() => cancel.cancel());
          show(value);
          return finished;
        });
      return;
    }
    show(value);
  };
  try {
    return await server.execute<unknown>(VALIDATE, args, cancel.token, onProgress);
  } catch (error) {
    if (isCancellation(error)) {
      void vscode.window.showInformationMessage("mldiff: validation cancelled: the runs were stopped and nothing was stored.");
    } else {
      failed("validation failed", error, server);
    }
    return undefined;
  } finally {
    finish();
    cancel.dispose();
  }
}

/** The repository the command is about: the file or folder it was given, else the active one's. */
function commandUri(server: MldiffServer, args: unknown[]): vscode.Uri | undefined {
  const first = args[0];
  if (typeof first === "string" && first !== "") {
    try {
      return vscode.Uri.parse(first, true);
    } catch {
      // not a URI: fall back to the active folder
    }
  }
  return server.folder()?.uri;
}

async function attachValidation(server: MldiffServer, args: unknown[]): Promise<unknown> {
  let answer: unknown;
  try {
    answer = await server.execute<unknown>(ATTACH, args);
  } catch (error) {
    failed("no trailers to attach", error, server);
    return undefined;
  }
  const read = readAttachAnswer(answer);
  if ("reason" in read) {
    if (!read.shownByServer) {
      const validate = "Validate change";
      void vscode.window.showInformationMessage(`mldiff: nothing to attach: ${read.reason}`,
        ...(vscode.workspace.isTrusted ? [validate] : []))
        .then((choice) => choice === validate && validateChange(server, args));
    }
    return answer;
  }
  const repository = await gitRepository(commandUri(server, args));
  if (typeof repository === "string") {
    failed("cannot reach the commit message", repository, server);
    return answer;
  }
  repository.inputBox.value = addTrailers(repository.inputBox.value, read.trailers);
  await vscode.commands.executeCommand("workbench.view.scm");
  return answer;
}

async function chooseBase(server: MldiffServer, bases: BaseState): Promise<void> {
  const folder = server.folder();
  if (folder === undefined) {
    void vscode.window.showWarningMessage("mldiff: open a folder with a git repository first.");
    return;
  }
  const branches = await localBranches(folder.uri.fsPath, server.environment());
  const picked = await vscode.window.showQuickPick(baseChoices(branches, bases.current()), {
    title: "mldiff: compare with",
    placeHolder: `current base: ${bases.current()}`,
  });
  if (picked === undefined) {
    return;
  }
  let base = picked.base;
  if (base === undefined) {
    base = (await vscode.window.showInputBox({
      title: "mldiff: compare with revision",
      prompt: "A commit, tag or branch name (anything `git rev-parse` knows)",
      validateInput: revisionProblem,
    }))?.trim();
    if (!base) {
      return;
    }
    if (!await isCommit(folder.uri.fsPath, server.environment(), base)) {
      void vscode.window.showErrorMessage(`mldiff: ${base} does not name a commit in ${folder.name}.`);
      return;
    }
  }
  await bases.set(base);
  try {
    if (server.supports("mldiff.setBase")) {
      await server.execute("mldiff.setBase", [base]);
    } else {
      await server.settingsChanged();
    }
  } catch (error) {
    failed(`cannot compare with ${base}`, error, server);
  }
}

async function showFileChanges(uri: vscode.Uri | undefined, bases: BaseState): Promise<void> {
  const target = uri ?? vscode.window.activeTextEditor?.document.uri;
  if (target === undefined) {
    void vscode.window.showInformationMessage("mldiff: open a file to see its ML changes.");
    return;
  }
  const items = findingItems(vscode.languages.getDiagnostics(target));
  const name = vscode.workspace.asRelativePath(target);
  if (items.length === 0) {
    void vscode.window.showInformationMessage(`mldiff: no ML changes in ${name} against ${bases.current()}.`);
    return;
  }
  const problems: vscode.QuickPickItem = { label: "$(list-flat) Show in the Problems view", alwaysShow: true };
  const picked = await vscode.window.showQuickPick<vscode.QuickPickItem & { line?: number; character?: number }>(
    [...items, { label: "", kind: vscode.QuickPickItemKind.Separator }, problems],
    { title: `mldiff: ML changes in ${name} (against ${bases.current()})`, matchOnDetail: true },
  );
  if (picked === undefined) {
    return;
  }
  if (picked === problems) {
    await vscode.commands.executeCommand("workbench.actions.view.problems");
    return;
  }
  const position = new vscode.Position(picked.line ?? 0, picked.character ?? 0);
  await vscode.window.showTextDocument(target, { selection: new vscode.Range(position, position) });
}
