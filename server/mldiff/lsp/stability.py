"""Findings that stay put while the user is half-way through typing a statement.

Where a touched statement does not parse, the engine cannot compare base and head and
reports nothing on those lines (``PythonChange.unreliable_head_lines``): an open
bracket being typed near the top of a file would make every finding below it blink
out until the bracket is closed. So on those lines the server shows what the last
analysis without unreliable lines found there, moved to where those lines are now,
and only where those lines did not change since; elsewhere the current findings stand.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import AbstractSet, Sequence

from mldiff.findings import Finding, Fix, Related, Span, TextEdit
from mldiff.hunks import LineMap, diff_lines

@dataclass(frozen=True)
class GoodState:
    """The last analysis of a document whose head side parsed everywhere it looked."""

    base_key: object
    lines: tuple[str, ...]
    findings: tuple[Finding, ...]


def touches(span: Span, unreliable: AbstractSet[int]) -> bool:
    return any(line in unreliable for line in range(span.line, max(span.line, span.end_line) + 1))


def stable_findings(findings: Sequence[Finding], unreliable: AbstractSet[int], good: GoodState | None,
                    lines: Sequence[str]) -> list[Finding]:
    """``findings`` off the ``unreliable`` lines (1-based), plus the last good findings on
    them whose lines are unchanged since."""
    if not unreliable:
        return list(findings)
    kept = [f for f in findings if not touches(f.span, unreliable)]
    if good is None or not good.findings:
        return kept
    mover = _LineMover(good.lines, lines)
    seen = {(f.code, f.span.line, f.message) for f in kept}
    for finding in good.findings:
        moved = mover.finding(finding)
        if moved is None or not touches(moved.span, unreliable):
            continue
        key = (moved.code, moved.span.line, moved.message)
        if key not in seen:
            seen.add(key)
            kept.append(moved)
    kept.sort(key=lambda f: (f.span.line, f.span.column, f.code))
    return kept


class _LineMover:
    """Moves spans from an older text of the document to the current one."""

    def __init__(self, old_lines: Sequence[str], new_lines: Sequence[str]) -> None:
        self.old_len, self.new_len = len(old_lines), len(new_lines)
        self.map = LineMap(diff_lines(old_lines, new_lines), self.old_len, self.new_len)

    def line(self, line: int) -> int | None:
        """1-based line in the old text -> 1-based line now, None if it changed."""
        if line == self.old_len + 1:
            return self.new_len + 1
        moved = self.map.base_to_head(line - 1)
        return None if moved is None else moved + 1

    def span(self, span: Span) -> Span | None:
        start, end = self.line(span.line), self.line(span.end_line)
        if start is None or end is None or end - start != span.end_line - span.line:
            return None
        return replace(span, line=start, end_line=end)

    def finding(self, finding: Finding) -> Finding | None:
        span = self.span(finding.span)
        if span is None:
            return None
        fixes = tuple(fix for fix in (self._fix(f) for f in finding.fixes) if fix is not None)
        related = tuple(r for r in (self._related(r) for r in finding.related) if r is not None)
        return replace(finding, span=span, fixes=fixes, related=related)

    def _fix(self, fix: Fix) -> Fix | None:
        edits = []
        for edit in fix.edits:
            span = self.span(edit.span)
            if span is None:
                return None
            edits.append(TextEdit(span, edit.new_text))
        return Fix(fix.title, tuple(edits))

    def _related(self, related: Related) -> Related | None:
        if related.path is not None:
            return related
        span = self.span(related.span)
        return None if span is None else replace(related, span=span)
