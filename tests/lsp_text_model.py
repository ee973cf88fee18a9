"""The client's side of LSP document sync, written from the protocol, not from the server's code.

A document is one string. Lines end at ``\\r\\n``, ``\\n`` or ``\\r`` (the LSP definition);
the empty line after a final line break exists. Columns count code units of the
negotiated encoding (UTF-16 by default). For positions a conforming client never sends,
the model takes the forgiving reading the server documents: a line past the end means
the end of the document, a column past the end of a line means the end of that line, a
column inside a character (half of a surrogate pair) means the start of that character,
and a range whose end precedes its start is the same range the right way round.

The fuzz test computes each version's text here and checks every range the server
sends against it.
"""
from __future__ import annotations

import re
from typing import Any

LINE_BREAK = re.compile(r"\r\n|\r|\n")
ENCODINGS = ("utf-16", "utf-8", "utf-32")


def width(char: str, encoding: str) -> int:
    """Code units of one code point."""
    if encoding == "utf-8":
        return len(char.encode("utf-8", "surrogatepass"))
    if encoding == "utf-16":
        return 2 if ord(char) > 0xFFFF else 1
    return 1


def line_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) string offsets of each line's content, the line break left out."""
    spans = []
    start = 0
    for match in LINE_BREAK.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return spans


def line_units(text: str, line: int, encoding: str) -> int:
    start, end = line_spans(text)[line]
    return sum(width(c, encoding) for c in text[start:end])


def offset(text: str, line: int, character: int, encoding: str) -> int:
    """The string offset of an LSP position (clamped, rounded down inside a character)."""
    spans = line_spans(text)
    if line >= len(spans):
        return len(text)
    start, end = spans[line]
    used = 0
    index = start
    while index < end:
        step = width(text[index], encoding)
        if used + step > character:
            break
        used += step
        index += 1
    return index


def boundaries(text: str, line: int, encoding: str) -> list[int]:
    """Every column of ``line`` that falls between two characters (0 and the end included)."""
    start, end = line_spans(text)[line]
    columns = [0]
    for char in text[start:end]:
        columns.append(columns[-1] + width(char, encoding))
    return columns


def inside_characters(text: str, line: int, encoding: str) -> list[int]:
    """Columns that split a character (the middle of a surrogate pair in UTF-16)."""
    start, end = line_spans(text)[line]
    columns = []
    column = 0
    for char in text[start:end]:
        step = width(char, encoding)
        columns.extend(range(column + 1, column + step))
        column += step
    return columns


def apply_change(text: str, change: dict[str, Any], encoding: str) -> str:
    """``text`` after one ``TextDocumentContentChangeEvent`` (JSON form)."""
    if "range" not in change:
        return change["text"]
    start, end = change["range"]["start"], change["range"]["end"]
    first = offset(text, start["line"], start["character"], encoding)
    last = offset(text, end["line"], end["character"], encoding)
    if last < first:
        first, last = last, first
    return text[:first] + change["text"] + text[last:]


def position_problem(text: str, position: dict[str, Any], encoding: str) -> str | None:
    """Why ``position`` is not a position of ``text`` (None when it is one)."""
    line, character = position.get("line"), position.get("character")
    if not isinstance(line, int) or not isinstance(character, int) or line < 0 or character < 0:
        return f"not a position: {position!r}"
    spans = line_spans(text)
    if line >= len(spans):
        return f"line {line} is past the last line ({len(spans) - 1})"
    columns = boundaries(text, line, encoding)
    if character > columns[-1]:
        return f"character {character} is past the end of line {line} ({columns[-1]} {encoding} units)"
    if character not in columns:
        return f"character {character} splits a character of line {line}"
    return None


def range_problem(text: str, value: dict[str, Any], encoding: str) -> str | None:
    """Why ``value`` is not a range inside ``text`` (None when it is one)."""
    for name in ("start", "end"):
        problem = position_problem(text, value.get(name) or {}, encoding)
        if problem:
            return f"{name}: {problem}"
    start, end = value["start"], value["end"]
    if (end["line"], end["character"]) < (start["line"], start["character"]):
        return f"end {end} before start {start}"
    return None
