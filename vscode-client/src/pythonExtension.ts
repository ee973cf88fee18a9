/**
 * The Python extension's active environment (ms-python.python), when that extension is
 * installed: its environments API, else its older execution-details API.
 */
import * as vscode from "vscode";

interface EnvironmentPath {
  readonly id: string;
  readonly path: string;
}

interface PythonApi {
  ready?: Promise<void>;
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): EnvironmentPath;
    resolveEnvironment(environment: EnvironmentPath | string): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
    onDidChangeActiveEnvironmentPath?: vscode.Event<unknown>;
  };
  settings?: {
    getExecutionDetails(resource?: vscode.Uri): { execCommand: string[] | undefined };
    onDidChangeExecutionDetails?: vscode.Event<unknown>;
  };
}

const PYTHON_EXTENSION = "ms-python.python";

async function pythonApi(): Promise<PythonApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonApi>(PYTHON_EXTENSION);
  if (extension === undefined) {
    return undefined;
  }
  const api = extension.isActive ? extension.exports : await extension.activate();
  await api?.ready;
  return api;
}

/** The command that runs the active environment's Python, or undefined without the extension. */
export async function activeEnvironmentCommand(resource: vscode.Uri | undefined, log: (line: string) => void): Promise<string[] | undefined> {
  let api: PythonApi | undefined;
  try {
    api = await pythonApi();
  } catch (error) {
    log(`Python extension did not activate: ${String(error)}`);
    return undefined;
  }
  if (api === undefined) {
    return undefined;
  }
  try {
    if (api.environments) {
      const environment = await api.environments.resolveEnvironment(api.environments.getActiveEnvironmentPath(resource));
      const executable = environment?.executable.uri?.fsPath;
      if (executable) {
        return [executable];
      }
    }
    const command = api.settings?.getExecutionDetails(resource).execCommand;
    return command && command.length > 0 ? command : undefined;
  } catch (error) {
    log(`Python extension gave no environment: ${String(error)}`);
    return undefined;
  }
}

/** Fires when the user picks another environment in the Python extension. */
export async function onDidChangeEnvironment(listener: () => void): Promise<vscode.Disposable | undefined> {
  const extension = vscode.extensions.getExtension<PythonApi>(PYTHON_EXTENSION);
  if (extension === undefined) {
    return undefined;
  }
  try {
    const api = await pythonApi();
    const event = api?.environments?.onDidChangeActiveEnvironmentPath ?? api?.settings?.onDidChangeExecutionDetails;
    return event?.(() => listener());
  } catch {
    return undefined;
  }
}
