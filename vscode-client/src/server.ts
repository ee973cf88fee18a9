/**
 * The language server's lifecycle: pick the interpreter, check that it can import
 * mldiff (and offer to install it), start `python -m mldiff serve`, restart on demand.
 */
import { randomUUID } from "node:crypto";
import * as os from "node:os";
import * as vscode from "vscode";
import {
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
  State,
  TransportKind,
  WorkDoneProgress,
  type WorkDoneProgressBegin,
  type WorkDoneProgressEnd,
  type WorkDoneProgressReport,
} from "vscode-languageclient/node";
import { commandLine, type Interpreter, resolveInterpreter, serverEnvironment } from "./interpreter.ts";
import { checkMldiff, pipInstall } from "./processes.ts";
import { activeEnvironmentCommand } from "./pythonExtension.ts";
import { isServerSection, type Inspected, type ServerKey, sectionOf, serverSettings } from "./settings.ts";

const RESTRICTED = ["mldiff.interpreter", "mldiff.install.source", "mldiff.validate.command", "mldiff.validate.runner"];

const DOCUMENTS: LanguageClientOptions["documentSelector"] = [
  { scheme: "file", language: "python" },
  // Python cells of notebooks in the notebook editor (the server syncs them as notebook documents)
  { notebook: "jupyter-notebook", language: "python" },
  { scheme: "file", pattern: "**/{Dockerfile,*.Dockerfile,*.dockerfile,devcontainer.json,.devcontainer.json}" },
  { scheme: "file", pattern: "**/{docker-compose,compose}*.{yml,yaml}" },
  { scheme: "file", pattern: "**/{requirements*.txt,requirements/*.{txt,in},constraints*.txt,Containerfile}" },
  // Hyperparameter configs (YAML, JSON, TOML: the server skips package.json and lock files)
  // and notebooks opened as text
  { scheme: "file", pattern: "**/*.{yaml,yml,json,toml,ipynb}" },
];

/** Client-side handling of a server command, also when a code lens or code action runs it. */
export type CommandHandler = (args: unknown[]) => Promise<unknown>;

export type ServerState =
  | { kind: "stopped" }
  | { kind: "starting" }
  | { kind: "running"; version: string; interpreter: Interpreter }
  | { kind: "failed"; reason: string };

export class MldiffServer implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly stateChanged = new vscode.EventEmitter<ServerState>();
  readonly onDidChangeState = this.stateChanged.event;
  state: ServerState = { kind: "stopped" };
  /** Server commands the extension wraps (progress, cancellation, the commit message box). */
  readonly commandHandlers = new Map<string, CommandHandler>();

  readonly output: vscode.LogOutputChannel;
  private readonly baseOverride: () => string | undefined;

  constructor(output: vscode.LogOutputChannel, baseOverride: () => string | undefined) {
    this.output = output;
    this.baseOverride = baseOverride;
  }

  private setState(state: ServerState): void {
    this.state = state;
    this.stateChanged.fire(state);
  }

  folder(): vscode.WorkspaceFolder | undefined {
    const active = vscode.window.activeTextEditor?.document.uri;
    return (active && vscode.workspace.getWorkspaceFolder(active)) ?? vscode.workspace.workspaceFolders?.[0];
  }

  async interpreter(): Promise<Interpreter> {
    const folder = this.folder();
    const setting = vscode.workspace.getConfiguration("mldiff", folder?.uri).get<string>("interpreter");
    const fromExtension = setting?.trim() ? undefined : await activeEnvironmentCommand(folder?.uri, (line) => this.output.warn(line));
    return resolveInterpreter({
      setting,
      pythonExtension: fromExtension,
      workspaceFolder: folder?.uri.fsPath,
      home: os.homedir(),
      trusted: vscode.workspace.isTrusted,
      platform: process.platform,
    });
  }

  environment(): NodeJS.ProcessEnv {
    return serverEnvironment(process.env, vscode.workspace.isTrusted);
  }

  async start(): Promise<void> {
    if (this.client !== undefined) {
      return;
    }
    this.setState({ kind: "starting" });
    const interpreter = await this.interpreter();
    const folder = this.folder();
    const env = this.environment();
    this.output.info(`interpreter (${interpreter.source}): ${commandLine(interpreter)}`);
    const check = await checkMldiff(interpreter, folder?.uri.fsPath, env);
    if (!check.ok) {
      this.output.error(`cannot import mldiff: ${check.detail}`);
      this.setState({ kind: "failed", reason: check.detail });
      void this.offerInstall(interpreter, check.missingInterpreter, check.detail);
      return;
    }
    const serverOptions: ServerOptions = {
      command: interpreter.command,
      args: [...interpreter.args, "-m", "mldiff", "serve"],
      transport: TransportKind.stdio,
      options: { cwd: folder?.uri.fsPath, env },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: DOCUMENTS,
      outputChannel: this.output,
      diagnosticCollectionName: "mldiff",
      initializationOptions: this.settingsFor(folder?.uri),
      middleware: {
        executeCommand: (command, args, next) => {
          const handler = this.commandHandlers.get(command);
          return handler ? handler(args) : next(command, args);
        },
        workspace: {
          configuration: async (params, token, next) => {
            const answers = await next(params, token);
            if (!Array.isArray(answers)) {
              return answers;
            }
            return params.items.map((item, index) =>
              isServerSection(item.section)
                ? sectionOf(this.settingsFor(item.scopeUri ? vscode.Uri.parse(item.scopeUri) : folder?.uri), item.section)
                : answers[index]);
          },
        },
      },
    };
    const client = new LanguageClient("mldiff", "mldiff", serverOptions, clientOptions);
    this.client = client;
    client.onDidChangeState((event) => {
      if (event.newState === State.Stopped && this.client === client && this.state.kind === "running") {
        this.setState({ kind: "failed", reason: "the language server stopped" });
      }
    });
    try {
      await client.start();
      this.output.info(`mldiff ${check.version} serving ${folder?.uri.fsPath ?? "(no folder)"}`);
      this.setState({ kind: "running", version: check.version, interpreter });
    } catch (error) {
      this.client = undefined;
      const reason = error instanceof Error ? error.message : String(error);
      this.output.error(`language server did not start: ${reason}`);
      this.setState({ kind: "failed", reason });
      void vscode.window.showErrorMessage(`mldiff: the language server did not start (${reason}).`, "Show output")
        .then((choice) => choice && this.output.show());
    }
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) {
      try {
        await client.stop(5000);
      } catch (error) {
        this.output.warn(`stopping the language server: ${String(error)}`);
      }
    }
    this.setState({ kind: "stopped" });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** The settings the server gets for a resource (see settings.ts). */
  settingsFor(scope: vscode.Uri | undefined) {
    const configuration = vscode.workspace.getConfiguration("mldiff", scope);
    return serverSettings((key: ServerKey) => configuration.inspect(key) as Inspected | undefined, {
      trusted: vscode.workspace.isTrusted,
      restricted: RESTRICTED,
      baseOverride: this.baseOverride(),
    });
  }

  /** Tell the server that settings changed; it reads them back through workspace/configuration. */
  async settingsChanged(): Promise<void> {
    await this.client?.sendNotification("workspace/didChangeConfiguration", { settings: { mldiff: this.settingsFor(this.folder()?.uri) } });
  }

  supports(command: string): boolean {
    const commands = this.client?.initializeResult?.capabilities.executeCommandProvider?.commands ?? [];
    return commands.includes(command);
  }

  /**
   * A server command through workspace/executeCommand. Cancelling the token sends
   * $/cancelRequest; the server's progress for the request ($/progress on the request's
   * workDoneToken) goes to ``onProgress``, so it shows in the caller's own notification.
   */
  async execute<T>(command: string, args: unknown[], token?: vscode.CancellationToken,
    onProgress?: (progress: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd) => void): Promise<T> {
    const client = await this.runningClient();
    if (!this.supports(command)) {
      throw new Error(`this mldiff server (${this.state.kind === "running" ? this.state.version : "?"}) has no ${command} command; upgrade mldiff`);
    }
    const workDoneToken = onProgress ? randomUUID() : undefined;
    const listening = workDoneToken && onProgress ? client.onProgress(WorkDoneProgress.type, workDoneToken, onProgress) : undefined;
    try {
      return await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args, workDoneToken }, token) as T;
    } finally {
      listening?.dispose();
    }
  }

  private async runningClient(): Promise<LanguageClient> {
    if (this.client === undefined) {
      await this.start();
    }
    if (this.client === undefined || this.state.kind !== "running") {
      throw new Error(`the language server is not running${this.state.kind === "failed" ? `: ${this.state.reason}` : ""}`);
    }
    return this.client;
  }

  private async offerInstall(interpreter: Interpreter, missingInterpreter: boolean, detail: string): Promise<void> {
    const choose = "Choose interpreter";
    const show = "Show output";
    if (missingInterpreter) {
      const choice = await vscode.window.showErrorMessage(
        `mldiff: the Python interpreter ${interpreter.command} was not found. Set mldiff.interpreter to a Python 3.10+ that has mldiff installed.`,
        choose, show);
      await this.handleChoice(choice, interpreter);
      return;
    }
    const install = "Install mldiff";
    const source = this.installSource();
    const where = interpreter.source === "python-extension" ? " (the Python extension's active environment)" : "";
    const choice = await vscode.window.showErrorMessage(
      `mldiff cannot run with ${commandLine(interpreter)}${where}: ${detail}. ` +
      `Fix: run \`${commandLine(interpreter, "-m", "pip", "install", "--upgrade", source)}\`, or set mldiff.interpreter to a Python that has mldiff.`,
      install, choose, show);
    await this.handleChoice(choice, interpreter);
  }

  private async handleChoice(choice: string | undefined, interpreter: Interpreter): Promise<void> {
    if (choice === "Install mldiff") {
      await this.install(interpreter);
    } else if (choice === "Choose interpreter") {
      await vscode.commands.executeCommand("workbench.action.openSettings", "mldiff.interpreter");
    } else if (choice === "Show output") {
      this.output.show();
    }
  }

  installSource(): string {
    return vscode.workspace.getConfiguration("mldiff", this.folder()?.uri).get<string>("install.source")?.trim() || "mldiff";
  }

  /** `pip install` mldiff into the interpreter, then start the server. */
  async install(interpreter?: Interpreter): Promise<void> {
    const target = interpreter ?? await this.interpreter();
    const source = this.installSource();
    const folder = this.folder()?.uri.fsPath;
    this.output.info(`$ ${commandLine(target, "-m", "pip", "install", "--upgrade", "--", source)}`);
    this.output.show(true);
    const code = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `mldiff: installing ${source}`, cancellable: true },
      (_progress, token) => pipInstall(target, source, folder, this.environment(), (text) => this.output.append(text), token),
    );
    if (code !== 0) {
      void vscode.window.showErrorMessage(
        `mldiff: pip install ${source} failed (exit ${code}); see the output. In an externally managed Python, make a venv and set mldiff.interpreter to it.`,
        "Show output").then((choice) => choice && this.output.show());
      return;
    }
    await this.restart();
  }

  dispose(): void {
    void this.stop();
    this.stateChanged.dispose();
  }
}
