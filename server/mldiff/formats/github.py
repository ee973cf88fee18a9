"""``--format github``: GitHub Actions workflow commands, one annotation per finding.

    ::warning file=train.py,line=14,col=1,endLine=14,endColumn=33,title=ML201 [normalization]::message

``error`` findings become ``::error``, ``warning`` ``::warning``, ``information`` and
``hint`` ``::notice``. Values are escaped the way GitHub's own toolkit does: in the
message ``%``, CR and LF; in properties also ``:`` and ``,``. So a message or a path can
never end the command early or start a new one. Files that could not be analysed get a
``::warning`` titled ``mldiff: not analysed``; the summary line goes to stderr.
"""
from __future__ import annotations

from typing import TextIO

COMMANDS = {"error": "error", "warning": "warning", "information": "notice", "hint": "notice"}
NOT_ANALYSED = "mldiff: not analysed"


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


def write(result, out: TextIO, err: TextIO, *, color: bool = False, err_color: bool = False) -> None:
    from mldiff.formats.text import summary
    for finding in result.findings:
        span = finding.span
        out.write(command(COMMANDS[finding.severity], finding.message, file=finding.path, line=span.line,
                          col=span.column, endLine=span.end_line, endColumn=span.end_column,
                          title=f"{finding.code} [{finding.family}]") + "\n")
    for error in result.errors:
        out.write(command("warning", error.message, file=error.path, line=error.line, title=NOT_ANALYSED) + "\n")
    out.flush()
    err.write(summary(result) + "\n")
    err.flush()
