/** Entry point: wires the server, the commands and the status bar together. */
import * as vscode from "vscode";
import { BaseState } from "./baseState.ts";
import { registerCommands } from "./commands.ts";
import { onDidChangeEnvironment } from "./pythonExtension.ts";
import { MldiffServer } from "./server.ts";
import { createStatusBar } from "./statusBar.ts";

let server: MldiffServer | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("mldiff", { log: true });
  const bases = new BaseState(context.workspaceState);
  server = new MldiffServer(output, () => bases.override());
  const running = server;
  context.subscriptions.push(output, bases, running, ...registerCommands(running, bases), createStatusBar(running, bases));

  context.subscriptions.push(vscode.workspace.onDidChangeConfiguration(async (event) => {
    if (event.affectsConfiguration("mldiff.interpreter")) {
      await running.restart();
      return;
    }
    if (event.affectsConfiguration("mldiff.base")) {
      await bases.clear();
    }
    if (event.affectsConfiguration("mldiff")) {
      await running.settingsChanged();
    }
  }));
  // Trust changes what may run (the workspace's interpreter setting, validation): start over.
  context.subscriptions.push(vscode.workspace.onDidGrantWorkspaceTrust(() => running.restart()));
  const environmentChanged = await onDidChangeEnvironment(() => {
    if (!vscode.workspace.getConfiguration("mldiff").get<string>("interpreter")?.trim()) {
      void running.restart();
    }
  });
  if (environmentChanged) {
    context.subscriptions.push(environmentChanged);
  }
  await running.start();
}

export async function deactivate(): Promise<void> {
  await server?.stop();
}
