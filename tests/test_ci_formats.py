"""``--format gitlab``, ``--format rdjson`` and ``--format markdown`` on real repositories.

Each is validated against what its consumer documents:
- GitLab Code Quality: a JSON array of issues with ``description``, ``check_name``,
  ``fingerprint`` (unique in a report), ``severity`` (info, minor, major, critical,
  blocker) and ``location.path`` / ``location.lines.begin`` (GitLab's "Code Quality report
  format" table); other keys are allowed, as Code Climate engines send them.
- Reviewdog Diagnostic Format: the messages of reviewdog's ``proto/rdf/reviewdog.proto``
  (DiagnosticResult, Diagnostic, Location, Range, Position with 1-based lines and 1-based
  UTF-8 byte columns, Suggestion, Code, Source, RelatedLocation), written below as a JSON
  schema that also rejects keys the proto does not have. No ``reviewdog`` binary can be
  installed from PyPI or npm, so the test cannot run reviewdog itself.
- Markdown: a table per file, links to the rules' documentation, old -> new values.
"""
from __future__ import annotations

import io
import json

import jsonschema
import pytest

from conftest import mldiff
from mldiff.checking import CheckResult
from mldiff.findings import FileError, Finding, Span
from mldiff.formats import markdown
from repo_snapshot import unchanged

NORMALIZED = ("from torchvision import transforms\n"
              "transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])\n")
PLAIN = "from torchvision import transforms\ntransform = transforms.Compose([transforms.ToTensor()])\n"
LR = "import torch\nLR = {lr}\nmodel = torch.nn.Linear(2, 2)\nopt = torch.optim.Adam(model.parameters(), lr=LR)\n"
# A with-item that holds a non-ASCII string before the deprecated autocast (ML107, a fix with
# two edits on the line), and a loop that steps the optimizer past the GradScaler (ML803, a fix
# that replaces the call and inserts a line at the end of the file).
AMP = '''\
import torch
from contextlib import nullcontext
model = torch.nn.Linear(4, 1)
for x in loader:
    with nullcontext("größe"), torch.autocast("cuda"):
        loss = model(x).sum()
'''
LOOP = '''\
import torch
model = torch.nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scaler = torch.amp.GradScaler("cuda")
for x, y in loader:
    loss = model(x).sum()
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
'''

GITLAB_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["description", "check_name", "fingerprint", "severity", "location"],
        "properties": {
            "description": {"type": "string", "minLength": 1},
            "check_name": {"type": "string", "minLength": 1},
            "fingerprint": {"type": "string", "minLength": 1},
            "severity": {"enum": ["info", "minor", "major", "critical", "blocker"]},
            "location": {
                "type": "object",
                "required": ["path", "lines"],
                "properties": {
                    "path": {"type": "string", "minLength": 1, "not": {"pattern": "^(/|\\./)"}},
                    "lines": {"type": "object", "required": ["begin"],
                              "properties": {"begin": {"type": "integer", "minimum": 1},
                                             "end": {"type": "integer", "minimum": 1}}},
                },
            },
        },
    },
}

_POSITION = {"type": "object", "additionalProperties": False, "required": ["line"],
             "properties": {"line": {"type": "integer", "minimum": 1}, "column": {"type": "integer", "minimum": 1}}}
_RANGE = {"type": "object", "additionalProperties": False, "required": ["start"],
          "properties": {"start": _POSITION, "end": _POSITION}}
_LOCATION = {"type": "object", "additionalProperties": False, "required": ["path"],
             "properties": {"path": {"type": "string", "minLength": 1}, "range": _RANGE}}
_SOURCE = {"type": "object", "additionalProperties": False, "required": ["name"],
           "properties": {"name": {"type": "string"}, "url": {"type": "string", "format": "uri"}}}
_SEVERITY = {"enum": ["UNKNOWN_SEVERITY", "ERROR", "WARNING", "INFO"]}
RDJSON_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["diagnostics"],
    "properties": {
        "source": _SOURCE,
        "severity": _SEVERITY,
        "diagnostics": {"type": "array", "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["message", "location"],
            "properties": {
                "message": {"type": "string", "minLength": 1},
                "location": _LOCATION,
                "severity": _SEVERITY,
                "source": _SOURCE,
                "code": {"type": "object", "additionalProperties": False, "required": ["value"],
                         "properties": {"value": {"type": "string"}, "url": {"type": "string", "format": "uri"}}},
                "suggestions": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False, "required": ["range", "text"],
                    "properties": {"range": _RANGE, "text": {"type": "string"}}}},
                "original_output": {"type": "string"},
                "related_locations": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False, "required": ["location"],
                    "properties": {"message": {"type": "string"}, "location": _LOCATION}}},
            },
        }},
    },
}


def assert_valid(schema, data) -> None:
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = list(validator.iter_errors(data))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def check(repo, fmt: str, *args: str):
    with unchanged(repo.path):
        result = mldiff("check", "--format", fmt, *args, cwd=repo.path)
    assert result.returncode in (0, 1), result.stderr
    return result


@pytest.fixture
def mixed(repo):
    """Normalize removed, a learning rate changed (with a related place), autocast moved to the
    deprecated API on a line with non-ASCII text, the GradScaler bypassed, a file that stops parsing."""
    repo.write("train.py", NORMALIZED)
    repo.write("opt.py", LR.format(lr="0.001"))
    repo.write("amp.py", AMP)
    repo.write("loop.py", LOOP)
    repo.write("broken.py", "x = 1\n")
    repo.commit("base")
    repo.write("train.py", PLAIN)
    repo.write("opt.py", LR.format(lr="0.01"))
    repo.write("amp.py", AMP.replace('torch.autocast("cuda")', "torch.cuda.amp.autocast()"))
    repo.write("loop.py", LOOP.replace("    scaler.step(optimizer)\n    scaler.update()\n", "    optimizer.step()\n"))
    repo.write("broken.py", "def f(:\n")
    return repo


def contract(repo, *args: str) -> dict:
    return json.loads(mldiff("check", "--format", "json", *args, cwd=repo.path).stdout)


# -- gitlab ----------------------------------------------------------------------------------------

def test_gitlab_code_quality_report(mixed):
    result = check(mixed, "gitlab")
    report = json.loads(result.stdout)
    assert_valid(GITLAB_SCHEMA, report)
    findings = contract(mixed)["findings"]
    assert [issue["check_name"] for issue in report] == [f["code"] for f in findings]
    assert len({issue["fingerprint"] for issue in report}) == len(report)
    by_code = {issue["check_name"]: issue for issue in report}
    removal = by_code["ML201"]
    assert removal["location"] == {"path": "train.py", "lines": {"begin": 2}}
    assert removal["severity"] == "major" and removal["description"].startswith("ML201 [normalization] ")
    assert "Normalize((0.5,), (0.5,)) removed" in removal["description"]
    # The rest of the finding rides along, keys as the JSON contract has them.
    expected = next(f for f in findings if f["code"] == "ML201")
    assert removal["mldiff"] == {k: v for k, v in expected.items() if k not in ("path", "code", "message")}
    assert by_code["ML301"]["mldiff"]["related"][0]["message"] == "used as Adam lr"
    # Errors are for people: on stderr with the summary, not issues in the report.
    assert "broken.py" not in {issue["location"]["path"] for issue in report}
    assert "broken.py:2: error: head side does not parse" in result.stderr
    assert f"mldiff: {len(findings)} findings" in result.stderr


def test_gitlab_severities_follow_the_settings(repo):
    repo.write("pyproject.toml", '[tool.mldiff.severity]\nML201 = "error"\nML301 = "hint"\n')
    repo.write("train.py", NORMALIZED)
    repo.write("opt.py", LR.format(lr="0.001"))
    repo.commit("base")
    repo.write("train.py", PLAIN)
    repo.write("opt.py", LR.format(lr="0.01"))
    report = json.loads(check(repo, "gitlab").stdout)
    assert {issue["check_name"]: issue["severity"] for issue in report} == {"ML201": "critical", "ML301": "info"}


def test_gitlab_fingerprints_are_stable_across_runs_and_unrelated_line_shifts(repo):
    repo.write("opt.py", LR.format(lr="0.001"))
    repo.write("train.py", NORMALIZED)
    repo.commit("base")
    repo.write("opt.py", LR.format(lr="0.01"))
    repo.write("train.py", PLAIN)
    first = json.loads(check(repo, "gitlab").stdout)
    again = json.loads(check(repo, "gitlab").stdout)
    assert first == again
    repo.write("opt.py", "# a comment\n\n# and another\n" + LR.format(lr="0.01"))
    shifted = json.loads(check(repo, "gitlab").stdout)
    lines = {issue["check_name"]: issue["location"]["lines"]["begin"] for issue in shifted}
    assert lines["ML301"] == {i["check_name"]: i["location"]["lines"]["begin"] for i in first}["ML301"] + 3
    assert [i["fingerprint"] for i in shifted] == [i["fingerprint"] for i in first]
    repo.write("opt.py", LR.format(lr="0.02"))   # another change is another issue
    other = {i["check_name"]: i["fingerprint"] for i in json.loads(check(repo, "gitlab").stdout)}
    assert other["ML301"] != {i["check_name"]: i["fingerprint"] for i in first}["ML301"]
    assert other["ML201"] == {i["check_name"]: i["fingerprint"] for i in first}["ML201"]


def test_identical_findings_get_distinct_fingerprints(repo):
    compose = NORMALIZED.splitlines(keepends=True)[1]
    double = NORMALIZED + "".join(f"step_{i} = {i}\n" for i in range(8)) + compose.replace("transform =", "other =")
    repo.write("train.py", double)
    repo.commit("base")
    repo.write("train.py", double.replace(", transforms.Normalize((0.5,), (0.5,))", ""))
    report = json.loads(check(repo, "gitlab", "--select", "ML201").stdout)
    assert len(report) == 2 and report[0]["fingerprint"] != report[1]["fingerprint"]


def test_an_empty_change_is_an_empty_report(repo):
    repo.write("train.py", NORMALIZED)
    repo.commit("base")
    assert json.loads(check(repo, "gitlab").stdout) == []
    assert json.loads(check(repo, "rdjson").stdout)["diagnostics"] == []


# -- rdjson ----------------------------------------------------------------------------------------

def apply_suggestion(text: str, suggestion: dict) -> str:
    """What reviewdog does with a line-wise suggestion: lines start..end replaced by its text."""
    lines = text.splitlines(keepends=True)
    start, end = suggestion["range"]["start"]["line"], suggestion["range"]["end"]["line"]
    assert "column" not in suggestion["range"]["start"] and "column" not in suggestion["range"]["end"]
    return "".join(lines[:start - 1]) + suggestion["text"] + "\n" + "".join(lines[end:])


def test_rdjson_diagnostics_with_byte_columns_and_suggestions(mixed):
    result = check(mixed, "rdjson")
    data = json.loads(result.stdout)
    assert_valid(RDJSON_SCHEMA, data)
    findings = contract(mixed)["findings"]
    diagnostics = data["diagnostics"]
    assert [d["code"]["value"] for d in diagnostics] == [f["code"] for f in findings]
    assert data["source"]["name"] == "mldiff"
    for diagnostic, finding in zip(diagnostics, findings):
        assert diagnostic["message"] == finding["message"] and diagnostic["location"]["path"] == finding["path"]
        assert diagnostic["severity"] == {"error": "ERROR", "warning": "WARNING"}.get(finding["severity"], "INFO")
        assert diagnostic["code"]["url"].endswith("#" + finding["code"].lower())
        lines = (mixed.path / finding["path"]).read_text(encoding="utf-8").splitlines()
        start, end = diagnostic["location"]["range"]["start"], diagnostic["location"]["range"]["end"]
        line = lines[finding["line"] - 1]
        assert start == {"line": finding["line"],
                         "column": len(line[:finding["column"] - 1].encode("utf-8")) + 1}
        assert end["line"] == finding["end_line"]
    by_code = {d["code"]["value"]: d for d in diagnostics}
    amp = by_code["ML107"]
    # "größe" is 7 bytes in 5 code points: the byte column is 2 more than mldiff's.
    amp_finding = next(f for f in findings if f["code"] == "ML107")
    assert amp["location"]["range"]["start"]["column"] == amp_finding["column"] + 2
    fixed = apply_suggestion((mixed.path / "amp.py").read_text(encoding="utf-8"), amp["suggestions"][0])
    assert fixed == AMP.replace('torch.autocast("cuda")', 'torch.amp.autocast("cuda")')
    loop = by_code["ML803"]
    assert loop["suggestions"][0]["range"] == {"start": {"line": 8}, "end": {"line": 8}}   # the diagnostic's line
    fixed = apply_suggestion((mixed.path / "loop.py").read_text(encoding="utf-8"), loop["suggestions"][0])
    assert fixed == LOOP
    removal = by_code["ML201"]
    fixed = apply_suggestion((mixed.path / "train.py").read_text(encoding="utf-8"), removal["suggestions"][0])
    assert fixed == NORMALIZED                       # "restore the base lines"
    lr = by_code["ML301"]
    assert "suggestions" not in lr
    use = LR.splitlines()[3].index("LR)") + 1
    assert lr["related_locations"] == [{"message": "used as Adam lr", "location": {
        "path": "opt.py", "range": {"start": {"line": 4, "column": use}, "end": {"line": 4, "column": use + 2}}}}]
    assert "broken.py" not in {d["location"]["path"] for d in diagnostics}
    assert "broken.py:2: error:" in result.stderr


def test_rdjson_schema_check_is_not_vacuous(mixed):
    data = json.loads(check(mixed, "rdjson").stdout)
    data["diagnostics"][0]["severity"] = "WARN"
    data["diagnostics"][0]["location"]["range"]["start"]["column"] = 0
    data["diagnostics"][1]["suggestion"] = []
    with pytest.raises(AssertionError) as raised:
        assert_valid(RDJSON_SCHEMA, data)
    message = str(raised.value)
    assert "'WARN' is not one of" in message and "0 is less than the minimum of 1" in message
    assert "'suggestion' was unexpected" in message


def test_show_uses_the_commits_own_text(mixed):
    checked = json.loads(check(mixed, "rdjson").stdout)
    mixed.commit("the change")
    (mixed.path / "amp.py").write_text("# the working tree is not what show reads\n", encoding="utf-8")
    data = json.loads(mldiff("show", "HEAD", "--format", "rdjson", cwd=mixed.path).stdout)
    assert_valid(RDJSON_SCHEMA, data)

    def amp(result):
        return next(d for d in result["diagnostics"] if d["code"]["value"] == "ML107")
    assert amp(data)["location"] == amp(checked)["location"]      # byte columns from the commit's text
    assert amp(data)["suggestions"] == amp(checked)["suggestions"]
    mldiff("show", "HEAD", "--format", "json", cwd=mixed.path)       # the commit now in the cache
    again = json.loads(mldiff("show", "HEAD", "--format", "rdjson", cwd=mixed.path).stdout)
    assert amp(again)["suggestions"] == amp(checked)["suggestions"]  # the cache keeps no fixes: not read
    report = json.loads(mldiff("show", "HEAD", "--format", "gitlab", cwd=mixed.path).stdout)
    assert_valid(GITLAB_SCHEMA, report)
    assert {issue["check_name"] for issue in report} >= {"ML201", "ML301", "ML107", "ML803"}


# -- markdown --------------------------------------------------------------------------------------

def test_markdown_tables_grouped_by_file(mixed):
    result = check(mixed, "markdown")
    text = result.stdout
    findings = contract(mixed)["findings"]
    assert text.startswith(f"### mldiff: {len(findings)} ML-semantic changes (")
    files = [line for line in text.splitlines() if line.startswith("**`")]
    assert files == [f"**`{path}`**" for path in dict.fromkeys(f["path"] for f in findings)]
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith(("| line", "| ---"))]
    assert len(rows) == len(findings)
    for row, finding in zip(rows, findings):
        code = finding["code"]
        assert row.startswith(f"| {finding['line']} | [{code}](https://github.com/mldiff/mldiff/blob/main/docs/"
                              f"rules.md#{code.lower()}) {finding['family']} | {finding['severity']} | ")
    lr = next(row for row in rows if "[ML301]" in row)
    assert lr.endswith("| `0.001` -> `0.01` |")
    removal = next(row for row in rows if "[ML201]" in row)
    assert removal.endswith("| `transforms.Normalize((0.5,), (0.5,))` -> _removed_ |")
    assert "**Not analysed**\n\n- `broken.py` line 2: head side does not parse" in text
    assert "Compared `" in text and "of 5 changed files analysed." in text
    assert result.stderr.startswith(f"mldiff: {len(findings)} findings")


def test_markdown_says_so_when_nothing_changed(repo):
    repo.write("train.py", NORMALIZED)
    repo.commit("base")
    repo.write("train.py", NORMALIZED.replace("transform =", "# the training transform\ntransform ="))
    text = check(repo, "markdown").stdout
    assert text.splitlines()[0] == "### mldiff: no ML-semantic changes"
    assert "1 of 1 changed file analysed, nothing that changes how the model trains." in text
    assert "|" not in text


def test_markdown_escapes_table_cells_and_caps_its_size():
    odd = Finding("a|b.py", "ML301", "learning_rate", "warning", "lr 1 -> 2 | *not* <b>bold</b> _x_",
                  Span(3, 1, 3, 2), 3, "`x` | y", "2")
    many = [Finding(f"f{i:03}.py", "ML201", "normalization", "warning", "Normalize removed " + "x" * 100,
                    Span(1, 1, 1, 2), 1, "Normalize()", None) for i in range(400)]
    text = markdown.render(CheckResult("a" * 40, "worktree", [odd]))
    row = next(line for line in text.splitlines() if line.startswith("| 3 "))
    assert row.count(" | ") == 4                      # five cells: every pipe in the values is escaped
    assert r"lr 1 -> 2 \| \*not\* \<b>bold\</b> \_x\_" in row
    assert "| `` `x` \\| y `` -> `2` |" in row
    assert "**`a\\|b.py`**" in text
    capped = markdown.render(CheckResult("a" * 40, "worktree", many, [FileError("z.py", "unreadable")]))
    assert len(capped) < markdown.MAX_CHARS + 1000
    shown = sum(1 for line in capped.splitlines() if line.startswith("| 1 |"))
    assert 0 < shown < 400
    assert f"_{400 - shown} more findings not shown: the report's size is capped" in capped
    assert capped.rstrip().endswith("- `z.py`: unreadable")
    out, err = io.StringIO(), io.StringIO()
    markdown.write(CheckResult("a" * 40, "worktree", [odd]), out, err)
    assert out.getvalue() == text and err.getvalue().startswith("mldiff: 1 finding")


# -- notebooks: the keys a finding carries beyond the contract's pass through -----------------------

class NotebookFinding(Finding):
    """A finding in a notebook, whose JSON has the cell keys of DESIGN.md's contract."""

    def to_json(self):
        return {**super().to_json(), "cell": 3, "cell_id": "a1b2", "cell_line": 2}


def test_notebook_cells_reach_gitlab_and_markdown():
    from mldiff.formats import gitlab
    finding = NotebookFinding("train.ipynb", "ML201", "normalization", "warning", "Normalize removed",
                              Span(41, 6, 41, 30), 40, "Normalize((0.5,), (0.5,))", None)
    result = CheckResult("a" * 40, "worktree", [finding], files_changed=1, files_analysed=1)
    (issue,) = gitlab.report(result)
    assert_valid(GITLAB_SCHEMA, [issue])
    assert issue["location"] == {"path": "train.ipynb", "lines": {"begin": 41}}
    assert {key: issue["mldiff"][key] for key in ("cell", "cell_id", "cell_line")} == {
        "cell": 3, "cell_id": "a1b2", "cell_line": 2}
    text = markdown.render(result)
    assert "| cell 3, line 2 | [ML201](" in text
    assert "Compared `aaaaaaaaaaaa` with the working tree: 1 of 1 changed file analysed." in text


# -- documentation ---------------------------------------------------------------------------------

def test_every_format_is_documented_and_the_readme_names_them():
    from conftest import ROOT
    from mldiff import formats
    check_doc = (ROOT / "docs" / "check.md").read_text(encoding="utf-8")
    ci_doc = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    usage = "[--format " + "|".join(formats.names()) + "]"
    assert usage in check_doc
    for name in formats.names():
        assert f"- `{name}`:" in check_doc, name
        assert f"| `{name}` |" in ci_doc, name
    for name in ("gitlab", "rdjson", "markdown", "sarif", "github"):
        assert f"`{name}`" in readme, name
    for heading in ("## GitHub: the mldiff action", "## GitLab: Code Quality in merge requests",
                    "## reviewdog: review comments on GitHub, GitLab and elsewhere"):
        assert heading in ci_doc
