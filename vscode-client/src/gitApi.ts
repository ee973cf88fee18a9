/** The built-in Git extension's API (vscode.git, version 1): only what mldiff uses. */
import * as vscode from "vscode";

export interface GitRepository {
  readonly rootUri: vscode.Uri;
  readonly inputBox: { value: string };
}

interface GitApi {
  readonly repositories: GitRepository[];
  getRepository(uri: vscode.Uri): GitRepository | null;
}

interface GitExtension {
  readonly enabled: boolean;
  getAPI(version: 1): GitApi;
}

/** The repository holding `uri` (else the only or first one), or a reason there is none. */
export async function gitRepository(uri: vscode.Uri | undefined): Promise<GitRepository | string> {
  const extension = vscode.extensions.getExtension<GitExtension>("vscode.git");
  if (extension === undefined) {
    return "the built-in Git extension is not available";
  }
  const git = extension.isActive ? extension.exports : await extension.activate();
  if (!git.enabled) {
    return "the built-in Git extension is disabled (git.enabled is off)";
  }
  const api = git.getAPI(1);
  const repository = (uri && api.getRepository(uri)) ?? api.repositories[0];
  return repository ?? "Source Control has no git repository open for this workspace";
}
