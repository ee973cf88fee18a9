import assert from "node:assert/strict";
import { test } from "node:test";
import { commandLine, expandPath, type InterpreterInputs, resolveInterpreter, serverEnvironment } from "../src/interpreter.ts";

const base: InterpreterInputs = {
  setting: "",
  pythonExtension: undefined,
  workspaceFolder: "/home/ada/project",
  home: "/home/ada",
  trusted: true,
  platform: "linux",
};

test("the mldiff.interpreter setting wins over the Python extension", () => {
  const interpreter = resolveInterpreter({ ...base, setting: "/opt/venv/bin/python", pythonExtension: ["/usr/bin/python3.12"] });
  assert.deepEqual(interpreter, { command: "/opt/venv/bin/python", args: [], source: "setting" });
});

test("a blank setting falls through to the Python extension's environment", () => {
  const interpreter = resolveInterpreter({ ...base, setting: "  ", pythonExtension: ["/home/ada/project/.venv/bin/python"] });
  assert.deepEqual(interpreter, { command: "/home/ada/project/.venv/bin/python", args: [], source: "python-extension" });
});

test("an environment command with a prefix keeps its arguments", () => {
  const interpreter = resolveInterpreter({ ...base, pythonExtension: ["conda", "run", "-n", "ml", "python"] });
  assert.deepEqual(interpreter, { command: "conda", args: ["run", "-n", "ml", "python"], source: "python-extension" });
  assert.equal(commandLine(interpreter, "-m", "pip", "install", "mldiff"), "conda run -n ml python -m pip install mldiff");
});

test("without a setting or the Python extension: python3, python on Windows", () => {
  assert.deepEqual(resolveInterpreter(base), { command: "python3", args: [], source: "default" });
  assert.equal(resolveInterpreter({ ...base, platform: "win32" }).command, "python");
  assert.equal(resolveInterpreter({ ...base, pythonExtension: [] }).source, "default");
});

test("an untrusted workspace never runs an environment that lives inside it", () => {
  const inside = resolveInterpreter({ ...base, trusted: false, pythonExtension: ["/home/ada/project/.venv/bin/python"] });
  assert.deepEqual(inside, { command: "python3", args: [], source: "default" });
  const outside = resolveInterpreter({ ...base, trusted: false, pythonExtension: ["/usr/bin/python3.11"] });
  assert.equal(outside.source, "python-extension");
  // A sibling folder whose name starts like the workspace's is not inside it.
  const sibling = resolveInterpreter({ ...base, trusted: false, pythonExtension: ["/home/ada/project-envs/bin/python"] });
  assert.equal(sibling.source, "python-extension");
});

test("setting paths: variables, ~ and relative paths are expanded", () => {
  assert.equal(expandPath("${workspaceFolder}/.venv/bin/python", "/home/ada/project", "/home/ada"), "/home/ada/project/.venv/bin/python");
  assert.equal(expandPath("~/envs/ml/bin/python", "/home/ada/project", "/home/ada"), "/home/ada/envs/ml/bin/python");
  assert.equal(expandPath("${userHome}/py", undefined, "/home/ada"), "/home/ada/py");
  assert.equal(expandPath(".venv/bin/python", "/home/ada/project", "/home/ada"), "/home/ada/project/.venv/bin/python");
  assert.equal(expandPath("python3.11", "/home/ada/project", "/home/ada"), "python3.11", "a bare name is looked up on PATH");
});

test("display quoting makes a copy-pasteable command", () => {
  const interpreter = { command: "/opt/my envs/python", args: [], source: "setting" as const };
  assert.equal(commandLine(interpreter, "-m", "pip", "install", "mldiff==0.1.0"), "'/opt/my envs/python' -m pip install mldiff==0.1.0");
});

test("untrusted workspaces turn off git's fsmonitor hook for the server, keeping other overrides", () => {
  assert.deepEqual(serverEnvironment({ PATH: "/bin" }, true), { PATH: "/bin" });
  const env = serverEnvironment({ PATH: "/bin", GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "a.b", GIT_CONFIG_VALUE_0: "c" }, false);
  assert.equal(env.GIT_CONFIG_COUNT, "2");
  assert.equal(env.GIT_CONFIG_KEY_0, "a.b");
  assert.equal(env.GIT_CONFIG_KEY_1, "core.fsmonitor");
  assert.equal(env.GIT_CONFIG_VALUE_1, "false");
});
