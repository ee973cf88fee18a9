"""``--format text``: one line per finding, ``path:line:col: CODE [family] message``
(in a notebook ``path: cell N, line L: CODE [family] message``), grouped by file; errors, notes and a one-line summary go to stderr. Colour only when
the stream is a terminal and NO_COLOR is unset (decided by the caller)."""
from __future__ import annotations

from typing import TextIO

from mldiff.findings import SEVERITIES, SEVERITY_RANK

_RESET = "\033[0m"
_BOLD = "\033[1m"
_DIM = "\033[2m"
_SEVERITY_COLOUR = {"error": "\033[1;31m", "warning": "\033[33m", "information": "\033[36m", "hint": "\033[2m"}


def write(result, out: TextIO, err: TextIO, *, color: bool = False, err_color: bool = False,
          source=None) -> None:
    paint = _painter(color)
    previous = None
    for finding in result.findings:
        if color and previous is not None and finding.path != previous:
            out.write("\n")  # on a terminal, a blank line between files
        previous = finding.path
        message = " ".join(finding.message.split("\n"))
        where = finding.location()   # path:line:col, or in a notebook "path: cell 3, line 2"
        out.write(f"{paint(finding.path, _BOLD)}{where[len(finding.path):]}: "
                  f"{paint(finding.code, _SEVERITY_COLOUR[finding.severity])} "
                  f"{paint('[' + finding.family + ']', _DIM)} {message}\n")
    out.flush()
    write_side(result, err, color=err_color)


def write_side(result, err: TextIO, *, color: bool = False) -> None:
    """Errors, notes and the summary line: what a person reads next to the report."""
    paint = _painter(color)
    for error in result.errors:
        where = f"{error.path}:{error.line}" if error.line else error.path
        err.write(f"{where}: {paint('error', _SEVERITY_COLOUR['error'])}: {error.message}\n")
    for note in result.notes:
        err.write(f"{paint('note', _DIM)}: {note}\n")
    err.write(summary(result) + "\n")
    err.flush()


def summary(result) -> str:
    """One line: how many findings of each severity, in how many files, and what was compared."""
    counts = {severity: 0 for severity in SEVERITIES}
    for finding in result.findings:
        counts[finding.severity] += 1
    total = len(result.findings)
    files = len({finding.path for finding in result.findings})
    parts = [f"{counts[s]} {_plural(counts[s], s)}" for s in sorted(counts, key=SEVERITY_RANK.__getitem__) if counts[s]]
    text = f"mldiff: {total} {_plural(total, 'finding')}"
    if total:
        text += f" ({', '.join(parts)}) in {files} {_plural(files, 'file')}"
    if result.errors:
        text += f", {len(result.errors)} {_plural(len(result.errors), 'error')}"
    head = result.head if result.head in ("worktree", "index") else result.head[:12]
    text += (f"; {result.base[:12]}..{head}: {result.files_analysed} of {result.files_changed} changed "
             f"{_plural(result.files_changed, 'file')} analysed")
    return text


def _plural(count: int, word: str) -> str:
    if count == 1 or word in ("information",):
        return word
    return word + "s"


def _painter(color: bool):
    if not color:
        return lambda text, style: text
    return lambda text, style: f"{style}{text}{_RESET}"
