"""Columns in code points (the engine's) <-> the client's position encoding.

LSP counts columns in UTF-16 code units unless client and server agree on UTF-8 or
UTF-32 at ``initialize``. A CJK comment or an emoji before a changed token moves every
later column, so every range the server sends or reads goes through here.

A buffer may hold lone surrogates (a JavaScript string can, and JSON carries them as
``\\ud83d``): each counts as one UTF-16 unit (three UTF-8 bytes, as WTF-8 has it), and
two lone halves that happen to sit side by side stay two characters.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from lsprotocol import types

if TYPE_CHECKING:
    from mldiff.findings import Span

UTF8 = types.PositionEncodingKind.Utf8.value
UTF16 = types.PositionEncodingKind.Utf16.value
UTF32 = types.PositionEncodingKind.Utf32.value


def line_content(line: str) -> str:
    """A line without its line ending (``\\n``, ``\\r\\n`` or ``\\r``)."""
    if line.endswith("\n"):
        line = line[:-1]
    if line.endswith("\r"):
        line = line[:-1]
    return line


def to_units(text: str, encoding: str) -> int:
    """Length of ``text`` in the client's code units."""
    if encoding == UTF32 or text.isascii():
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def to_code_points(content: str, units: int, encoding: str) -> int:
    """Code-point column of ``units`` client units into ``content``, clamped to the line
    (a column inside a character rounds down to its start)."""
    units = max(0, units)
    if encoding == UTF32 or content.isascii():
        return min(units, len(content))
    codec = "utf-8" if encoding == UTF8 else "utf-16-le"
    try:
        data = content.encode(codec)
    except UnicodeEncodeError:  # lone surrogates: count character by character
        return _code_points_one_by_one(content, units, encoding)
    return len(data[:units if encoding == UTF8 else 2 * units].decode(codec, errors="ignore"))


def _code_points_one_by_one(content: str, units: int, encoding: str) -> int:
    used = 0
    for index, char in enumerate(content):
        used += to_units(char, encoding)
        if used > units:
            return index
    return len(content)


def position(lines: Sequence[str], line: int, column: int, encoding: str) -> types.Position:
    """LSP position of 0-based ``line`` and 0-based code-point ``column``; a line past the
    last one means the end of the document."""
    if line >= len(lines):
        return end_of_document(lines, encoding)
    content = line_content(lines[line])
    column = min(max(column, 0), len(content))
    return types.Position(line=line, character=to_units(content[:column], encoding))


def end_of_document(lines: Sequence[str], encoding: str) -> types.Position:
    if not lines:
        return types.Position(line=0, character=0)
    last = lines[-1]
    if last.endswith(("\n", "\r")):
        return types.Position(line=len(lines), character=0)
    return types.Position(line=len(lines) - 1, character=to_units(last, encoding))


def span_to_range(span: Span, lines: Sequence[str], encoding: str) -> types.Range:
    """A finding's span (1-based lines and code-point columns, end exclusive; an end line of
    ``len(lines) + 1`` is the end of the document) as an LSP range."""
    start = position(lines, span.line - 1, span.column - 1, encoding)
    end = position(lines, span.end_line - 1, span.end_column - 1, encoding)
    if (end.line, end.character) < (start.line, start.character):
        end = start
    return types.Range(start=start, end=end)
