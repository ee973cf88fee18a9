"""The one analysis entry point: a path and two texts in, findings and errors out.

kind -> Change (``analysis``: what each side's text says) -> Context (``facts``: what the
change means, computed once) -> rules (``rules``: judgements and messages) -> finish
(positions mapped back for derived texts, suppressions, severities, order). Every front
end (``mldiff check``, the language server, ``mldiff log``) calls ``analyze``, so the same
pair of texts always gets the same findings.
"""
from __future__ import annotations

import traceback
from dataclasses import replace
from functools import lru_cache
from typing import Any, Iterable

from mldiff.analysis.change import EMPTY, Change, PythonChange
from mldiff.analysis.filekinds import MAX_NOTEBOOK_BYTES, file_kind
from mldiff.analysis.module import ModuleView
from mldiff.analysis.project import Project
from mldiff.config import Settings
from mldiff.facts.context import Context, PythonContext, TextContext
from mldiff.findings import SEVERITY_RANK, FileError, FileResult, Finding
from mldiff.rules.base import Rule, all_rules
from mldiff.suppression import suppression

MAX_BYTES = 5_000_000  # larger files are skipped with a note


@lru_cache(maxsize=1)
def rule_instances() -> tuple[Rule[Any], ...]:
    """One instance of every rule, in code order (rules keep no state between changes)."""
    return tuple(cls() for cls in all_rules())


def rules_for(kind: str, settings: Settings) -> list[Rule[Any]]:
    return list(_rules_for(kind, settings))


@lru_cache(maxsize=64)  # an editor asks on every keystroke, with the same few settings
def _rules_for(kind: str, settings: Settings) -> tuple[Rule[Any], ...]:
    # A notebook's code cells are Python: every Python rule runs on them (see analysis/notebook.py).
    kinds = (kind, "python") if kind == "notebook" else (kind,)
    return tuple(rule for rule in rule_instances()
                 if any(k in rule.file_kinds for k in kinds) and settings.enabled(rule.code, rule.family))


def analyze(path: str, base_text: str | None, head_text: str | None,
            settings: Settings | None = None, previous: FileResult | None = None,
            project: Project | None = None) -> FileResult:
    """Findings for the change of ``path`` from ``base_text`` to ``head_text`` (None: the file
    does not exist on that side). ``previous``: this file's last result, whose head side is
    re-used where the new text did not change it (the language server passes it after an edit).
    ``project``: the repository's other files on each side, where a function of this file is
    used (``analysis.project``); without it the file is read alone."""
    settings = settings or Settings()
    result = FileResult(path)
    kind = file_kind(path)
    if kind is None or base_text == head_text:
        return result
    limit = MAX_NOTEBOOK_BYTES if kind == "notebook" else MAX_BYTES  # a notebook's code is measured there
    for side, text in (("base", base_text), ("head", head_text)):
        if text is not None and len(text) > limit:
            result.notes.append(f"{path}: {side} side is {len(text) // 1_000_000} MB, larger than mldiff reads "
                                f"({limit // 1_000_000} MB); skipped")
            return result
    try:
        change = _make_change(kind, path, base_text, head_text, previous)
    except Exception as exc:  # a bug in mldiff must not hide the other files' findings
        result.errors.append(FileError(path, f"internal error while reading the change: {exc!r}"))
        return result
    return analyze_change(kind, change, base_text, head_text, settings, result, project)


def analyze_change(kind: str, change: Change | None, base_text: str | None, head_text: str | None,
                   settings: Settings, result: FileResult | None = None,
                   project: Project | None = None) -> FileResult:
    """The rules over a change already read: ``analyze`` after it made the change, or a front end
    that reads one side its own way (the editor's notebook cells, ``lsp/notebook_analysis.py``)."""
    path = change.path if change is not None else (result.path if result is not None else "")
    result = result if result is not None else FileResult(path)
    if change is None or head_text is None:
        return result  # a deleted file changes no training code that remains
    if kind == "python" and isinstance(change, PythonChange):
        result.reuse, result.hunks = change.head, change.hunks
    result.errors.extend(_parse_errors(change, path, base_text, head_text))
    ctx = _context(kind, change, project)
    findings: list[Finding] = []
    # A new file is all additions: "X added" notes would list the whole file. Only the rules
    # that find problems in the code itself run there.
    rules = [rule for rule in rules_for(kind, settings) if base_text is not None or rule.reports_new_files]
    for rule in sorted(rules, key=lambda rule: rule.runs_after_others):  # the generic rule reads the others'
        try:
            findings.extend(rule.check_after(ctx, findings) if rule.runs_after_others else rule.check(ctx))
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            result.errors.append(FileError(
                path, f"internal error in rule {rule.code}: {exc.__class__.__name__}: {exc} "
                      f"({where.filename.rsplit('/', 1)[-1]}:{where.lineno})"))
    unreliable = change.unreliable_head_lines
    if unreliable:
        findings = [f for f in findings if not unreliable.intersection(range(f.span.line, f.span.end_line + 1))]
    # Where the language server keeps the last good findings instead: for Python the lines the
    # engine could not compare; for the other kinds the lines that do not parse.
    result.unreliable_head_lines = unreliable if kind == "python" else \
        frozenset(e.line for e in result.errors if e.line)
    findings = change.map_findings(findings)  # derived texts (notebooks' cells) map positions back
    result.notes.extend(change.notes())
    broken = {(e.line or 0) for e in result.errors}
    result.findings = _finish(findings, settings, change.head_lines(), broken)
    return result


def _make_change(kind: str, path: str, base_text: str | None, head_text: str | None,
                 previous: FileResult | None) -> Change | None:
    if kind == "python":
        earlier = previous.reuse if previous is not None else None
        if not isinstance(earlier, ModuleView) or not head_text:
            return PythonChange.from_texts(path, base_text, head_text)
        base = ModuleView.of(base_text) if base_text else EMPTY
        return PythonChange(path, base, ModuleView(head_text, previous=earlier))
    if kind == "notebook":
        from mldiff.analysis.notebook import notebook_change
        return notebook_change(path, base_text, head_text)
    from mldiff.analysis.textfiles import text_change
    return text_change(kind, path, base_text, head_text)


def _context(kind: str, change: Change, project: Project | None = None) -> Context:
    if isinstance(change, PythonChange):
        return PythonContext(change, kind, project)
    from mldiff.analysis.textfiles import TextChange
    assert isinstance(change, TextChange)
    return TextContext(change)


def _parse_errors(change: Change, path: str, base_text: str | None, head_text: str | None) -> list[FileError]:
    """One error per side that does not parse where the change touches it; a side with
    merge-conflict markers gets one clear line instead of a parser error per marker."""
    from mldiff.analysis.conflicts import conflict_marker_line
    out: list[FileError] = []
    conflicted: set[str] = set()
    for side, line, message in change.parse_errors():
        marker_line = conflict_marker_line(base_text if side == "base" else head_text)
        if marker_line is not None:
            if side not in conflicted:
                conflicted.add(side)
                out.append(FileError(path, f"{side} side has merge-conflict markers (line {marker_line}): "
                                           f"resolve the conflict first", marker_line))
            continue
        out.append(FileError(path, f"{side} side does not parse at line {line}: {message}", line))
    return out


def _finish(findings: Iterable[Finding], settings: Settings, head_lines: list[str],
            broken_lines: set[int]) -> list[Finding]:
    out: list[Finding] = []
    seen: set[tuple[str, int, str]] = set()
    for finding in findings:
        key = (finding.code, finding.span.line, finding.message)
        if key in seen:
            continue
        seen.add(key)
        if _suppressed(finding, head_lines):
            continue
        severity = settings.severity_for(finding.code, finding.family, finding.severity)
        if severity != finding.severity:
            finding = replace(finding, severity=severity)
        out.append(finding)
    out.sort(key=lambda f: (f.span.line, f.span.column, SEVERITY_RANK[f.severity], f.code))
    return out


def _suppressed(finding: Finding, head_lines: list[str]) -> bool:
    """``# mldiff: ignore`` or ``# mldiff: ignore[ML201, normalization]`` on a line of the finding."""
    for line in range(finding.span.line, finding.span.end_line + 1):
        if 0 < line <= len(head_lines):
            ignore = suppression(head_lines[line - 1])
            if ignore is not None and ignore.covers(finding.code, finding.family):
                return True
    return False
