/**
 * Which Python runs the language server. Pure: the caller gathers the inputs
 * (the mldiff.interpreter setting, the Python extension's active environment,
 * workspace trust) so the order of precedence can be tested without VS Code.
 */
import * as path from "node:path";

export type InterpreterSource = "setting" | "python-extension" | "default";

export interface Interpreter {
  /** Executable to spawn (a path, or a name looked up on PATH). */
  command: string;
  /** Arguments that come before `-m mldiff ...` (e.g. `conda run -n env python`). */
  args: string[];
  source: InterpreterSource;
}

export interface InterpreterInputs {
  /** The effective `mldiff.interpreter` value ("" when unset). */
  setting: string | undefined;
  /** The Python extension's command for the active environment, when that extension is present. */
  pythonExtension: string[] | undefined;
  workspaceFolder: string | undefined;
  home: string;
  trusted: boolean;
  platform: NodeJS.Platform;
}

/** Setting first, then the Python extension's environment, then `python3` (`python` on Windows). */
export function resolveInterpreter(inputs: InterpreterInputs): Interpreter {
  const setting = inputs.setting?.trim();
  if (setting) {
    return { command: expandPath(setting, inputs.workspaceFolder, inputs.home), args: [], source: "setting" };
  }
  const fromExtension = inputs.pythonExtension?.filter((part) => part.length > 0);
  if (fromExtension && fromExtension.length > 0) {
    // An environment inside an untrusted workspace is the workspace's code: don't run it.
    const inWorkspace = inputs.workspaceFolder !== undefined && isInside(fromExtension[0], inputs.workspaceFolder);
    if (inputs.trusted || !inWorkspace) {
      return { command: fromExtension[0], args: fromExtension.slice(1), source: "python-extension" };
    }
  }
  return { command: inputs.platform === "win32" ? "python" : "python3", args: [], source: "default" };
}

/** `${workspaceFolder}`, `${userHome}` and a leading `~` expanded; a relative path with a separator taken from the workspace folder. */
export function expandPath(value: string, workspaceFolder: string | undefined, home: string): string {
  let expanded = value.replace(/\$\{userHome\}/g, home);
  if (workspaceFolder !== undefined) {
    expanded = expanded.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
  }
  if (expanded === "~" || expanded.startsWith("~/")) {
    expanded = path.join(home, expanded.slice(1));
  }
  const hasSeparator = expanded.includes("/") || expanded.includes("\\");
  if (hasSeparator && !path.isAbsolute(expanded) && workspaceFolder !== undefined) {
    expanded = path.join(workspaceFolder, expanded);
  }
  return expanded;
}

export function isInside(candidate: string, folder: string): boolean {
  if (!path.isAbsolute(candidate)) {
    return false;
  }
  const relative = path.relative(folder, candidate);
  return relative === "" || (!relative.startsWith("..") && !path.isAbsolute(relative));
}

/** The command line, for messages ("/usr/bin/python3 -m pip install mldiff"). */
export function commandLine(interpreter: Interpreter, ...args: string[]): string {
  return [interpreter.command, ...interpreter.args, ...args].map(quoteForDisplay).join(" ");
}

function quoteForDisplay(part: string): string {
  return /^[\w@%+=:,./-]+$/.test(part) ? part : `'${part.replace(/'/g, `'\\''`)}'`;
}

/**
 * The environment of the server process. In an untrusted workspace git must not run the
 * repository's fsmonitor hook (a command named in .git/config), so it is turned off.
 */
export function serverEnvironment(base: NodeJS.ProcessEnv, trusted: boolean): NodeJS.ProcessEnv {
  if (trusted) {
    return { ...base };
  }
  const count = Number.parseInt(base.GIT_CONFIG_COUNT ?? "0", 10) || 0;
  return {
    ...base,
    GIT_CONFIG_COUNT: String(count + 1),
    [`GIT_CONFIG_KEY_${count}`]: "core.fsmonitor",
    [`GIT_CONFIG_VALUE_${count}`]: "false",
  };
}
