"""``--format markdown``: a report for job summaries and pull request comments.

A heading with the counts, then one table per file (line, rule linked to its
documentation, severity, what changed, old -> new value), files that could not be
analysed, and what was compared. A change with no finding says so in one line. GitHub
caps a comment at 65,536 characters (a job summary at 1 MiB), so rows stop before
``MAX_CHARS`` and a last line counts the findings left out. Notebook findings name their
cell when the finding carries one (``cell``, ``cell_line``). The summary line also goes
to stderr.
"""
from __future__ import annotations

import re
from typing import TextIO

MAX_CHARS = 60_000
MAX_VALUE = 80   # characters of an old or new value shown in a cell
_EMPHASIS = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def write(result, out: TextIO, err: TextIO, *, color: bool = False, err_color: bool = False,
          source=None) -> None:
    from mldiff.formats.text import summary
    out.write(render(result))
    out.flush()
    err.write(summary(result) + "\n")
    err.flush()


def render(result, max_chars: int = MAX_CHARS) -> str:
    from mldiff.docs import rule_url
    lines = [_heading(result), "", _compared(result), ""]
    size = sum(len(line) + 1 for line in lines)
    shown, path = 0, None
    for finding in result.findings:
        row = [f"| {_where(finding.to_json())} | [{finding.code}]({rule_url(finding.code)}) {finding.family} | "
               f"{finding.severity} | {_cell(finding.message)} | {_values(finding.before, finding.after)} |"]
        if finding.path != path:
            row = ["", f"**{_code(finding.path)}**", "", "| line | rule | severity | change | old -> new |",
                   "| ---: | --- | --- | --- | --- |", *row]
        cost = sum(len(line) + 1 for line in row)
        if size + cost > max_chars:
            break
        lines += row
        size += cost
        shown, path = shown + 1, finding.path
    left_out = len(result.findings) - shown
    if left_out:
        lines += ["", f"_{left_out} more {_plural(left_out, 'finding')} not shown: the report's size is capped; "
                      f"`mldiff check` lists them all._"]
    if result.errors:
        lines += ["", "**Not analysed**", ""]
        lines += [f"- {_code(error.path)}{f' line {error.line}' if error.line else ''}: {_inline(error.message)}"
                  for error in result.errors]
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"


def _heading(result) -> str:
    from mldiff.findings import SEVERITIES
    total = len(result.findings)
    if not total:
        return "### mldiff: no ML-semantic changes"
    counts = {s: sum(1 for f in result.findings if f.severity == s) for s in SEVERITIES}
    breakdown = ", ".join(f"{counts[s]} {_plural(counts[s], s)}" for s in SEVERITIES if counts[s])
    files = len({f.path for f in result.findings})
    return (f"### mldiff: {total} ML-semantic {_plural(total, 'change')} ({breakdown}) "
            f"in {files} {_plural(files, 'file')}")


def _compared(result) -> str:
    head = {"worktree": "the working tree", "index": "the index"}.get(result.head, f"`{result.head[:12]}`")
    text = (f"Compared `{result.base[:12]}` with {head}: {result.files_analysed} of {result.files_changed} "
            f"changed {_plural(result.files_changed, 'file')} analysed")
    if not result.findings:
        text += ", nothing that changes how the model trains"
    return text + "."


def _where(data: dict) -> str:
    if data.get("cell") is not None:
        line = data.get("cell_line")
        return f"cell {data['cell']}" + (f", line {line}" if line is not None else "")
    return str(data["line"])


def _values(before: str | None, after: str | None) -> str:
    if before is None and after is None:
        return ""
    return f"{_value(before, 'none')} -> {_value(after, 'removed' if before is not None else 'none')}"


def _value(text: str | None, missing: str) -> str:
    if text is None:
        return f"_{missing}_"
    text = " ".join(text.split())
    if len(text) > MAX_VALUE:
        text = text[:MAX_VALUE - 1] + "…"
    return _code(text)


def _code(text: str) -> str:
    """Inline code that survives backticks and pipes in ``text`` (inside a table cell)."""
    text = " ".join(text.split()).replace("|", "\\|")
    run = longest = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _cell(text: str) -> str:
    return _inline(text).replace("|", "\\|")


def _inline(text: str) -> str:
    """Plain text on one line, with what markdown would read as markup escaped: backslashes,
    HTML tags, asterisks and underscores that could start emphasis (``learning_rate`` stays)."""
    text = " ".join(text.split()).replace("\\", "\\\\").replace("<", "\\<").replace("*", "\\*")
    return _EMPHASIS.sub(r"\\_", text)


def _plural(count: int, word: str) -> str:
    return word if count == 1 or word == "information" else word + "s"
