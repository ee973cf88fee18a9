"""``--format rdjson``: the Reviewdog Diagnostic Format (one ``DiagnosticResult`` object).

``reviewdog -f=rdjson`` reads it to comment on pull requests, filter by the diff or
print locally. Each finding is a diagnostic with its message, ``ERROR`` / ``WARNING`` /
``INFO`` (information and hint), the rule code with a link to its documentation, the
head-side range, and related locations. RDFormat counts columns in UTF-8 bytes where
mldiff counts code points, so columns are converted with the head text of the file;
without it a range names lines only.

A finding's quick fixes become ``suggestions``: each fix's edits are applied to the lines
they touch, and the suggestion replaces those whole lines (a line-wise range, which
reviewdog turns into a GitHub suggestion as it is), so an insertion before a line
replaces that line with the inserted text followed by the line. A fix that reaches past
the end of the file is left out. Files that could not be analysed, notes and the summary
go to stderr.
"""
from __future__ import annotations

import json
from typing import Any, TextIO

from mldiff.findings import Fix, Span

SEVERITIES = {"error": "ERROR", "warning": "WARNING", "information": "INFO", "hint": "INFO"}


def write(result, out: TextIO, err: TextIO, *, color: bool = False, err_color: bool = False,
          source=None) -> None:
    from mldiff.formats.text import write_side
    json.dump(diagnostic_result(result, source), out, indent=2, ensure_ascii=False)
    out.write("\n")
    out.flush()
    write_side(result, err, color=err_color)


def diagnostic_result(result, source=None) -> dict[str, Any]:
    """The ``DiagnosticResult`` for a ``CheckResult``; ``source(path)`` gives head texts."""
    from mldiff.docs import rule_url
    from mldiff.formats.sarif import INFORMATION_URI
    texts: dict[str, list[str] | None] = {}

    def lines_of(path: str) -> list[str] | None:
        if path not in texts:
            text = source(path) if source is not None else None
            texts[path] = text.splitlines(keepends=True) if text is not None else None
        return texts[path]

    diagnostics = []
    for finding in result.findings:
        lines = lines_of(finding.path)
        diagnostic: dict[str, Any] = {
            "message": finding.message,
            "location": {"path": finding.path, "range": _range(finding.span, lines)},
            "severity": SEVERITIES[finding.severity],
            "source": {"name": "mldiff", "url": INFORMATION_URI},
            "code": {"value": finding.code, "url": rule_url(finding.code)},
        }
        suggestions = [s for s in (_suggestion(fix, lines) for fix in finding.fixes) if s is not None]
        if suggestions:
            diagnostic["suggestions"] = suggestions
        if finding.related:
            diagnostic["related_locations"] = [
                {"message": related.message,
                 "location": {"path": related.path or finding.path,
                              "range": _range(related.span, lines_of(related.path or finding.path))}}
                for related in finding.related]
        diagnostics.append(diagnostic)
    return {"source": {"name": "mldiff", "url": INFORMATION_URI}, "diagnostics": diagnostics}


def byte_column(line: str, column: int) -> int:
    """A 1-based code-point column of ``line`` as RDFormat's 1-based UTF-8 byte column."""
    text = line.rstrip("\r\n")
    head = text[:max(column - 1, 0)]
    beyond = max(column - 1 - len(text), 0)   # past the end of the line: one byte each
    return len(head.encode("utf-8", "surrogateescape")) + beyond + 1


def _range(span: Span, lines: list[str] | None) -> dict[str, Any]:
    start: dict[str, int] = {"line": max(span.line, 1)}
    end: dict[str, int] = {"line": max(span.end_line, start["line"])}
    if lines is not None and start["line"] <= len(lines) and end["line"] <= len(lines):
        start["column"] = byte_column(lines[start["line"] - 1], max(span.column, 1))
        end["column"] = byte_column(lines[end["line"] - 1], max(span.end_column, 1))
        if (end["line"], end["column"]) < (start["line"], start["column"]):
            end = dict(start)
    return {"start": start, "end": end}


def _suggestion(fix: Fix, lines: list[str] | None) -> dict[str, Any] | None:
    """The fix as one line-wise suggestion over the whole lines its edits touch."""
    if lines is None or not fix.edits:
        return None
    first, last = _lines_touched(fix, len(lines))
    if first < 1 or last > len(lines) or first > last:
        return None
    region = lines[first - 1:last]

    def offset(line: int, column: int) -> int | None:
        if line == last + 1 and column == 1:
            return sum(map(len, region))
        if not first <= line <= last or column - 1 > len(region[line - first]):
            return None
        return sum(map(len, region[:line - first])) + column - 1

    spans = []
    for edit in fix.edits:
        start, end = offset(edit.span.line, edit.span.column), offset(edit.span.end_line, edit.span.end_column)
        if start is None or end is None or end < start:
            return None
        spans.append((start, end, edit.new_text))
    spans.sort()
    if any(a_end > b_start for (_, a_end, _), (b_start, _, _) in zip(spans, spans[1:])):
        return None   # overlapping edits: not one fix to apply
    text = "".join(region)
    for start, end, new_text in reversed(spans):
        text = text[:start] + new_text + text[end:]
    for ending in ("\r\n", "\n"):
        if region[-1].endswith(ending) and text.endswith(ending):
            text = text[:-len(ending)]
            break
    return {"range": {"start": {"line": first}, "end": {"line": last}}, "text": text}


def _lines_touched(fix: Fix, count: int) -> tuple[int, int]:
    """The first and last whole line a fix's edits replace. An insertion at the start of a
    line belongs to the line before when another edit ends there (or the file ends),
    else to the line it comes before."""
    touched: list[tuple[int, int]] = []
    insertions: list[int] = []
    for edit in fix.edits:
        span = edit.span
        if (span.line, span.column) == (span.end_line, span.end_column) and span.column == 1:
            insertions.append(span.line)
        elif span.end_column == 1 and span.end_line > span.line:
            touched.append((span.line, span.end_line - 1))
        else:
            touched.append((span.line, span.end_line))
    for line in insertions:
        before = line - 1
        if before >= 1 and (line > count or any(start <= before <= end for start, end in touched)):
            touched.append((before, before))
        else:
            touched.append((line, line))
    return min(start for start, _ in touched), max(end for _, end in touched)
