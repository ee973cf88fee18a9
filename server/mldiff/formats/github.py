"""``--format github``: GitHub Actions workflow commands, one annotation per finding.

    ::warning file=train.py,line=14,col=1,endLine=14,endColumn=33,title=ML201 [normalization]::message

``error`` findings become ``::error``, ``warning`` ``::warning``, ``information`` and
``hint`` ``::notice``. Values are escaped the way GitHub's own toolkit does: in the
message ``%``, CR and LF; in properties also ``:`` and ``,``. So a message or a path can
never end the command early or start a new one. Files that could not be analysed get a
``::warning`` titled ``mldiff: not analysed``; the summary line goes to stderr.

GitHub keeps only 10 annotations of each type per step (and 50 per job) and drops the
rest without a word, so the most severe are written first, at most 10 of each type, and
whatever did not fit is counted in one last ``::notice`` (which takes a notice's place).
"""
# No `from __future__ import annotations` here: it binds the name `annotations`, which is this
# module's main function (every annotation below is valid at run time on Python 3.10).
from typing import TextIO

from mldiff.findings import SEVERITY_RANK

COMMANDS = {"error": "error", "warning": "warning", "information": "notice", "hint": "notice"}
NOT_ANALYSED = "mldiff: not analysed"
PER_TYPE = 10   # GitHub: annotations of one type (error, warning, notice) kept per step
PER_JOB = 50    # GitHub: annotations kept per job
_ORDER = ("error", "warning", "notice")


def escape_data(text: str) -> str:
    """The message part of a workflow command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A ``key=value`` property of a workflow command."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **properties: object) -> str:
    """One workflow command line (without the newline); None-valued properties are left out."""
    fields = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items()
                      if value is not None)
    return f"::{name}{' ' + fields if fields else ''}::{escape_data(message)}"


def annotations(result, per_type: int = PER_TYPE, total: int = PER_JOB) -> list[str]:
    """The workflow commands for ``result``, most severe first, within GitHub's caps:
    ``per_type`` of each command, ``total`` in all, the last one counting what was left out."""
    candidates: list[tuple[str, str, str]] = []   # (command, line, what it is: for the summary)
    for finding in sorted(result.findings, key=lambda f: SEVERITY_RANK[f.severity]):
        span = finding.span
        candidates.append((COMMANDS[finding.severity], command(
            COMMANDS[finding.severity], finding.message, file=finding.path, line=span.line, col=span.column,
            endLine=span.end_line, endColumn=span.end_column, title=f"{finding.code} [{finding.family}]"),
            finding.severity))
    for error in result.errors:
        candidates.append(("warning", command("warning", error.message, file=error.path, line=error.line,
                                              title=NOT_ANALYSED), "not analysed"))
    candidates.sort(key=lambda item: _ORDER.index(item[0]))   # stable: findings keep their file order
    kept, left_out = _within_caps(candidates, per_type, total)
    if left_out:
        # The summary is a notice too: it takes the place of the last notice, or of the last
        # annotation when the total is reached.
        notices = [index for index, item in enumerate(kept) if item[0] == "notice"]
        if len(notices) >= per_type or len(kept) >= total:
            left_out.insert(0, kept.pop(notices[-1] if len(notices) >= per_type else -1))
        kept.append(("notice", _summary(left_out, per_type), ""))
    return [line for _, line, _ in kept]


def _within_caps(candidates: list[tuple[str, str, str]], per_type: int,
                 total: int) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    counts = dict.fromkeys(_ORDER, 0)
    kept: list[tuple[str, str, str]] = []
    left_out: list[tuple[str, str, str]] = []
    for item in candidates:
        if counts[item[0]] < per_type and len(kept) < total:
            counts[item[0]] += 1
            kept.append(item)
        else:
            left_out.append(item)
    return kept, left_out


def _summary(left_out: list[tuple[str, str, str]], per_type: int) -> str:
    counts: dict[str, int] = {}
    for _, _, what in left_out:
        counts[what] = counts.get(what, 0) + 1
    order = ("error", "warning", "information", "hint", "not analysed")
    parts = ", ".join(_counted(counts[what], what) for what in order if what in counts)
    count = len(left_out)
    message = (f"{count} more {'finding' if count == 1 else 'findings'} ({parts}) not annotated: GitHub shows "
               f"at most {per_type} annotations of each type per step. The text, markdown and sarif formats "
               f"list them all.")
    return command("notice", message, title=f"mldiff: {count} more not annotated")


def _counted(count: int, what: str) -> str:
    if what == "not analysed":
        return f"{count} {'file' if count == 1 else 'files'} not analysed"
    return f"{count} {what if count == 1 or what == 'information' else what + 's'}"


def write(result, out: TextIO, err: TextIO, *, color: bool = False, err_color: bool = False,
          source=None) -> None:
    from mldiff.formats.text import summary
    for line in annotations(result):
        out.write(line + "\n")
    out.flush()
    err.write(summary(result) + "\n")
    err.flush()
