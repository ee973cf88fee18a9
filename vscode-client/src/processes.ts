/** Running the interpreter: is mldiff importable, and `pip install` it. No shell, ever. */
import { execFile, spawn } from "node:child_process";
import type { Interpreter } from "./interpreter.ts";

export type ImportCheck =
  | { ok: true; version: string }
  | { ok: false; missingInterpreter: boolean; detail: string };

// Prints the version; exits 3 when this mldiff is too old to have the language server.
const CHECK = "import sys, mldiff, mldiff.cli; sys.stdout.write(mldiff.__version__); sys.exit(0 if 'serve' in mldiff.cli.COMMANDS else 3)";

export function checkMldiff(interpreter: Interpreter, cwd: string | undefined, env: NodeJS.ProcessEnv): Promise<ImportCheck> {
  return new Promise((resolve) => {
    execFile(interpreter.command, [...interpreter.args, "-c", CHECK], { cwd, env, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error === null) {
        resolve({ ok: true, version: stdout.trim() });
        return;
      }
      if (error.code === 3) {
        resolve({ ok: false, missingInterpreter: false, detail: `mldiff ${stdout.trim()} is too old to have the language server (mldiff serve)` });
        return;
      }
      const missingInterpreter = (error as NodeJS.ErrnoException).code === "ENOENT";
      const lastLine = stderr.trim().split(/\r?\n/).pop() ?? "";
      resolve({ ok: false, missingInterpreter, detail: missingInterpreter ? `${interpreter.command} was not found` : lastLine || error.message });
    });
  });
}

export interface Cancellation {
  isCancellationRequested: boolean;
  onCancellationRequested(listener: () => void): { dispose(): void };
}

/** `python -m pip install SOURCE`, its output streamed line by line; resolves with the exit code. */
export function pipInstall(
  interpreter: Interpreter,
  source: string,
  cwd: string | undefined,
  env: NodeJS.ProcessEnv,
  output: (text: string) => void,
  cancellation: Cancellation,
): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(interpreter.command, [...interpreter.args, "-m", "pip", "install", "--upgrade", "--", source],
      { cwd, env: { ...env, PIP_DISABLE_PIP_VERSION_CHECK: "1" }, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (chunk: Buffer) => output(chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => output(chunk.toString()));
    const cancelled = cancellation.onCancellationRequested(() => child.kill());
    child.on("error", (error) => {
      output(`${String(error)}\n`);
      cancelled.dispose();
      resolve(127);
    });
    child.on("close", (code) => {
      cancelled.dispose();
      resolve(code ?? 1);
    });
  });
}

/** Local branches, for the merge-base choices; empty when git cannot answer. */
export function localBranches(cwd: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  return gitLines(cwd, env, ["for-each-ref", "--format=%(refname:short)", "refs/heads/"]);
}

/** Whether a revision names a commit in the repository at cwd. */
export async function isCommit(cwd: string, env: NodeJS.ProcessEnv, revision: string): Promise<boolean> {
  const lines = await gitLines(cwd, env, ["rev-parse", "--verify", "--quiet", "--end-of-options", `${revision}^{commit}`]);
  return lines.length > 0;
}

function gitLines(cwd: string, env: NodeJS.ProcessEnv, args: string[]): Promise<string[]> {
  return new Promise((resolve) => {
    execFile("git", ["-c", "core.fsmonitor=false", ...args], { cwd, env: { ...env, GIT_OPTIONAL_LOCKS: "0" }, timeout: 15_000 },
      (error, stdout) => resolve(error ? [] : stdout.split("\n").map((line) => line.trim()).filter(Boolean)));
  });
}
