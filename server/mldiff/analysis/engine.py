"""The one analysis entry point: a path and two texts in, findings and errors out.

Every front end (``mldiff check``, the language server, ``mldiff log``) calls
``analyze``, so the same pair of texts always gets the same findings.
"""
from __future__ import annotations

import re
import traceback
from functools import lru_cache
from typing import Iterable

from mldiff.config import Settings
from mldiff.findings import SEVERITY_RANK, FileError, FileResult, Finding
from mldiff.analysis.filekinds import MAX_NOTEBOOK_BYTES, file_kind

_SUPPRESS = re.compile(r"#\s*mldiff:\s*ignore(?:\[([^\]]*)\])?", re.I)
# git's conflict markers: seven characters at the start of a line (``=======`` alone can be a
# heading underline, so a side counts as conflicted only with an opening and a closing marker).
_CONFLICT_OPEN = re.compile(r"^<{7}(?: |$)", re.M)
_CONFLICT_CLOSE = re.compile(r"^>{7}(?: |$)", re.M)
MAX_BYTES = 5_000_000  # larger files are skipped with a note


@lru_cache(maxsize=1)
def _rule_instances():
    from mldiff.rules.base import all_rules
    return tuple(cls() for cls in all_rules())


def rules_for(kind: str, settings: Settings):
    # A notebook's code cells are Python: every Python rule runs on them (see analysis/notebook.py).
    kinds = (kind, "python") if kind == "notebook" else (kind,)
    return [rule for rule in _rule_instances()
            if any(k in rule.file_kinds for k in kinds) and settings.enabled(rule.code, rule.family)]


def analyze(path: str, base_text: str | None, head_text: str | None,
            settings: Settings | None = None, change=None) -> FileResult:
    """Findings for the change of ``path`` from ``base_text`` to ``head_text``
    (None: the file does not exist on that side)."""
    settings = settings or Settings()
    result = FileResult(path)
    kind = file_kind(path)
    if kind is None:
        return result
    if base_text == head_text:
        return result
    limit = MAX_NOTEBOOK_BYTES if kind == "notebook" else MAX_BYTES  # a notebook's code is measured there
    for side, text in (("base", base_text), ("head", head_text)):
        if text is not None and len(text) > limit:
            result.notes.append(f"{path}: {side} side is {len(text) // 1_000_000} MB, larger than mldiff reads "
                                f"({limit // 1_000_000} MB); skipped")
            return result
    if change is None:
        try:
            change = _make_change(kind, path, base_text, head_text)
        except Exception as exc:  # a bug in mldiff must not hide the other files' findings
            result.errors.append(FileError(path, f"internal error while reading the change: {exc!r}"))
            return result
    if change is None or head_text is None:
        return result  # a deleted file changes no training code that remains
    conflicted: set[str] = set()
    for side, line, message in getattr(change, "parse_errors", lambda: [])():
        marker_line = _conflict_marker_line(base_text if side == "base" else head_text)
        if marker_line is not None:  # one clear line instead of a parser error per marker
            if side not in conflicted:
                conflicted.add(side)
                result.errors.append(FileError(
                    path, f"{side} side has merge-conflict markers (line {marker_line}): resolve the conflict "
                          f"first", marker_line))
            continue
        result.errors.append(FileError(path, f"{side} side does not parse at line {line}: {message}", line))
    broken = {(e.line or 0) for e in result.errors}
    findings: list[Finding] = []
    # A new file is all additions: "X added" notes would list the whole file. Only the rules
    # that find problems in the code itself run there.
    rules = [rule for rule in rules_for(kind, settings) if base_text is not None or rule.reports_new_files]
    for rule in rules:
        try:
            findings.extend(rule.check(change))
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            result.errors.append(FileError(
                path, f"internal error in rule {rule.code}: {exc.__class__.__name__}: {exc} "
                      f"({where.filename.rsplit('/', 1)[-1]}:{where.lineno})"))
    unreliable = getattr(change, "unreliable_head_lines", frozenset())
    if unreliable:
        findings = [f for f in findings if not unreliable.intersection(range(f.span.line, f.span.end_line + 1))]
    # Changes over a derived text (notebooks: their code cells as Python) map positions back.
    if hasattr(change, "map_findings"):
        findings = change.map_findings(findings)
    result.notes.extend(getattr(change, "notes", lambda: [])())
    head_lines = change.head_lines() if hasattr(change, "head_lines") else []
    result.findings = _finish(findings, settings, head_lines, broken)
    return result


def _conflict_marker_line(text: str | None) -> int | None:
    """The 1-based line of the first merge-conflict marker, when ``text`` holds a conflict."""
    if not text:
        return None
    opening = _CONFLICT_OPEN.search(text)
    if opening is None or _CONFLICT_CLOSE.search(text, opening.end()) is None:
        return None
    return text.count("\n", 0, opening.start()) + 1


def _make_change(kind: str, path: str, base_text: str | None, head_text: str | None):
    if kind == "python":
        from mldiff.analysis.change import PythonChange
        return PythonChange.from_texts(path, base_text, head_text)
    if kind == "notebook":
        from mldiff.analysis.notebook import notebook_change
        return notebook_change(path, base_text, head_text)
    from mldiff.analysis.textfiles import text_change
    return text_change(kind, path, base_text, head_text)


def _finish(findings: Iterable[Finding], settings: Settings, head_lines: list[str],
            broken_lines: set[int]) -> list[Finding]:
    out: list[Finding] = []
    seen: set[tuple] = set()
    for finding in findings:
        key = (finding.code, finding.span.line, finding.message)
        if key in seen:
            continue
        seen.add(key)
        if _suppressed(finding, head_lines):
            continue
        severity = settings.severity_for(finding.code, finding.family, finding.severity)
        if severity != finding.severity:
            from dataclasses import replace
            finding = replace(finding, severity=severity)
        out.append(finding)
    out.sort(key=lambda f: (f.span.line, f.span.column, SEVERITY_RANK[f.severity], f.code))
    return out


def _suppressed(finding: Finding, head_lines: list[str]) -> bool:
    """``# mldiff: ignore`` or ``# mldiff: ignore[ML201, normalization]`` on a line of the finding."""
    for line in range(finding.span.line, finding.span.end_line + 1):
        if not 0 < line <= len(head_lines):
            continue
        text = head_lines[line - 1]
        if "mldiff" not in text:
            continue
        match = _SUPPRESS.search(text)
        if match is None:
            continue
        if match.group(1) is None:
            return True
        selectors = [s.strip() for s in match.group(1).split(",") if s.strip()]
        if any(s == finding.family or finding.code.startswith(s) for s in selectors):
            return True
    return False
