import assert from "node:assert/strict";
import { test } from "node:test";
import { baseChoices, revisionProblem } from "../src/bases.ts";
import { countFindings, type DiagnosticLike, findingItems, statusText } from "../src/findings.ts";

function diagnostic(line: number, code: DiagnosticLike["code"], source = "mldiff", severity = 1): DiagnosticLike {
  return { source, message: `finding at ${line}`, severity, code, range: { start: { line, character: 4 } } };
}

test("the status bar counts mldiff's diagnostics only", () => {
  const all = [
    ["a.py", [diagnostic(1, "ML201"), diagnostic(2, "E501", "ruff")]],
    ["b.py", [diagnostic(3, { value: "ML101" })]],
  ] as const;
  assert.equal(countFindings(all), 2);
  assert.equal(statusText("HEAD", 2), "$(git-compare) HEAD · 2 ML changes");
  assert.equal(statusText("merge-base:main", 1), "$(git-compare) merge-base:main · 1 ML change");
});

test("findings are listed in line order with code, 1-based line and message", () => {
  const items = findingItems([diagnostic(9, "ML301", "mldiff", 0), diagnostic(2, { value: "ML201" }), diagnostic(4, "x", "pylance")]);
  assert.deepEqual(items.map((item) => [item.label, item.description, item.detail]), [
    ["$(warning) ML201", "line 3", "finding at 2"],
    ["$(error) ML301", "line 10", "finding at 9"],
  ]);
});

test("base choices: HEAD, index, one merge base per local branch, then a custom revision", () => {
  const choices = baseChoices(["main", "feature/amp"], "merge-base:main");
  assert.deepEqual(choices.map((choice) => choice.base), ["HEAD", "index", "merge-base:main", "merge-base:feature/amp", undefined]);
  assert.match(choices[2].description, /\(current\)$/);
  assert.doesNotMatch(choices[0].description, /current/);
});

test("a typed revision that git would take for an option or that has spaces is refused", () => {
  assert.equal(revisionProblem("v1.2^"), undefined);
  assert.ok(revisionProblem(""));
  assert.ok(revisionProblem("--output=/tmp/x"));
  assert.ok(revisionProblem("main bad"));
});
