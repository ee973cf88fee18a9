/** The diff base this workspace compares with: one chosen with "Set diff base", else the setting. */
import * as vscode from "vscode";

const KEY = "mldiff.baseOverride";

export class BaseState {
  private readonly changed = new vscode.EventEmitter<string>();
  readonly onDidChange = this.changed.event;

  private readonly memento: vscode.Memento;

  constructor(memento: vscode.Memento) {
    this.memento = memento;
  }

  override(): string | undefined {
    return this.memento.get<string>(KEY) || undefined;
  }

  current(): string {
    return this.override() ?? (vscode.workspace.getConfiguration("mldiff").get<string>("base")?.trim() || "HEAD");
  }

  async set(base: string): Promise<void> {
    await this.memento.update(KEY, base);
    this.changed.fire(base);
  }

  /** The user edited mldiff.base: that choice now wins over an earlier "Set diff base". */
  async clear(): Promise<void> {
    await this.memento.update(KEY, undefined);
    this.changed.fire(this.current());
  }

  dispose(): void {
    this.changed.dispose();
  }
}
