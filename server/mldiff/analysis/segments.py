"""Split Python source into logical lines without parsing it.

A logical line is what Python's tokenizer calls one: a simple statement, or the
header of a compound statement, spanning every physical line its brackets,
strings and backslashes join. Each one records its indentation and the header
it belongs to, so the analyzer can parse only the statements a diff touches
(with libcst, one logical line at a time, cached by text) and still know that
``optimizer.step()`` sits inside ``for micro_step in ...:``.

Scanning a physical line is cached by its text, so re-segmenting a 5,000-line
buffer after a keystroke costs a few dictionary look-ups per line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple, Sequence

# What can change the tokenizer's state: comments, quotes, backslashes, brackets.
_INTERESTING = re.compile(r"""[#'"\\()\[\]{}]""")
_STRING_END = {
    "'''": re.compile(r"(?:\\.|[^\\])*?'''", re.S),
    '"""': re.compile(r'(?:\\.|[^\\])*?"""', re.S),
    "'": re.compile(r"(?:\\.|[^\\'\n])*'", re.S),
    '"': re.compile(r'(?:\\.|[^\\"\n])*"', re.S),
}
_FIRST_WORD = re.compile(r"[ \t\f]*(@|[A-Za-z_][A-Za-z0-9_]*)")
_SECOND_WORD = re.compile(r"[ \t\f]*async[ \t]+([A-Za-z_]+)")
_BRACKET_DELTA = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}

COMPOUND = frozenset({
    "if", "elif", "else", "for", "while", "with", "try", "except", "finally",
    "def", "class", "match", "case",
})
# Clauses that continue the compound statement above them at the same indentation.
CONTINUATION_CLAUSES = frozenset({"elif", "else", "except", "finally"})

_BROKEN = "\x00"  # "last code char" of a line whose one-line string never closes

# (depth change, string still open at end or None, ends with a joining backslash, last code char)
LineScan = tuple[int, "str | None", bool, str]
_SCAN_CACHE: dict[tuple[str, str | None], LineScan] = {}
_SCAN_CACHE_LIMIT = 100_000  # entries per line cache; cleared when full (a few MB at most)


def scan_line(line: str, open_string: str | None) -> LineScan:
    """Tokenizer state change across one physical line (cached by text and entry state)."""
    key = (line, open_string)
    hit = _SCAN_CACHE.get(key)
    if hit is not None:
        return hit
    result = _scan_line(line, open_string)
    if len(_SCAN_CACHE) >= _SCAN_CACHE_LIMIT:
        _SCAN_CACHE.clear()
    _SCAN_CACHE[key] = result
    return result


def _scan_line(line: str, open_string: str | None) -> LineScan:
    pos = 0
    depth = 0
    if open_string is not None:
        end = _STRING_END[open_string].match(line, 0)
        if end is None:
            return 0, _still_open(line, open_string), False, ""
        pos = end.end()
    code_end = len(line)
    while True:
        match = _INTERESTING.search(line, pos)
        if match is None:
            break
        char = match.group()
        start = match.start()
        if char == "#":
            code_end = start
            break
        if char == "\\":
            if line[start + 1:] in ("\n", "\r\n", "\r", ""):
                return depth, None, True, line[:start].rstrip()[-1:]
            pos = start + 2
            continue
        if char in "'\"":
            quote = char * 3 if line.startswith(char * 3, start) else char
            end = _STRING_END[quote].match(line, start + len(quote))
            if end is None:
                still_open = _still_open(line, quote)
                # an unterminated one-line string is a syntax error that ends the statement: recover
                # there instead of letting the open bracket swallow the rest of the file
                return depth, still_open, False, "" if still_open is not None else _BROKEN
            pos = end.end()
            continue
        depth += _BRACKET_DELTA[char]
        pos = start + 1
    return depth, None, False, line[:code_end].rstrip()[-1:]


def _still_open(line: str, quote: str) -> str | None:
    """A string left open at the end of a line continues only if it is triple-quoted
    or ends with a backslash; otherwise it is unterminated and the line ends it."""
    if len(quote) == 3:
        return quote
    stripped = line.rstrip("\r\n")
    trailing = len(stripped) - len(stripped.rstrip("\\"))
    return quote if trailing % 2 == 1 else None


class LogicalLine(NamedTuple):
    start: int          # 0-based first physical line
    end: int            # 0-based, exclusive
    indent: int         # indentation width of the first line (tabs to multiples of 8)
    indent_chars: int   # raw whitespace characters before the first token
    keyword: str        # "def", "if", "@", ... or "" for a simple statement
    is_header: bool     # opens an indented block (ends with ':')
    parent: int         # index of the enclosing header, -1 at module level
    # A very long statement (a 1,000-line config dict or registry list) is split into
    # parts so that an edit re-parses only the element it touches: "head" (up to the
    # opening bracket; parsed with ``closer`` appended), "element" (items of the outermost
    # container; parsed inside ``opener`` ... matching bracket) and "tail" (the closing
    # brackets). "" for an ordinary logical line.
    part: str = ""
    opener: str = ""
    closer: str = ""


@dataclass(frozen=True, slots=True)
class Segments:
    """The logical lines of a text, and which one each physical line belongs to."""

    lines: tuple[LogicalLine, ...]
    line_owner: tuple[int, ...]  # physical line -> logical line index, -1 for blank/comment lines

    def at(self, line: int) -> int:
        """Index of the logical line holding 0-based physical ``line``, or -1."""
        if 0 <= line < len(self.line_owner):
            return self.line_owner[line]
        return -1

    def ancestors(self, index: int) -> list[int]:
        """Enclosing headers, innermost first (none for an index past the end: an empty text)."""
        if not 0 <= index < len(self.lines):
            return []
        out = []
        parent = self.lines[index].parent
        while parent >= 0:
            out.append(parent)
            parent = self.lines[parent].parent
        return out

    def children(self, index: int) -> list[int]:
        """Logical lines directly inside the block of header ``index``."""
        header = self.lines[index]
        out = []
        i = index + 1
        while i < len(self.lines) and self.lines[i].start >= header.end:
            line = self.lines[i]
            if line.parent == index:
                out.append(i)
            elif not self._inside(i, index):
                break
            i += 1
        return out

    def block_end(self, index: int) -> int:
        """One past the last logical line inside header ``index``'s block."""
        i = index + 1
        while i < len(self.lines) and self._inside(i, index):
            i += 1
        return i

    def _inside(self, i: int, header: int) -> bool:
        parent = self.lines[i].parent
        while parent > header:
            parent = self.lines[parent].parent
        return parent == header


def _indent_width(line: str) -> tuple[int, int]:
    width = 0
    for chars, char in enumerate(line):
        if char == " ":
            width += 1
        elif char == "\t":
            width = (width // 8 + 1) * 8
        elif char == "\f":
            width = 0
        else:
            return width, chars
    return width, len(line)


# Per physical line, when it starts outside any string: (blank or comment only, scan
# result, indent, indent_chars, first keyword). One look-up per line on the hot path.
_LINE_CACHE: dict[str, tuple] = {}


def _line_info(line: str) -> tuple:
    info = _LINE_CACHE.get(line)
    if info is None:
        stripped = line.lstrip(" \t\f")
        blank = not stripped or stripped[0] in "#\r\n"
        indent, indent_chars = _indent_width(line)
        match = _FIRST_WORD.match(line)
        word = match.group(1) if match else ""
        if word == "async":
            second = _SECOND_WORD.match(line)
            word = second.group(1) if second else word
        keyword = word if (word in COMPOUND or word == "@") else ""
        info = (blank, _scan_line(line, None), indent, indent_chars, keyword)
        if len(_LINE_CACHE) >= _SCAN_CACHE_LIMIT:
            _LINE_CACHE.clear()
        _LINE_CACHE[line] = info
    return info


def segment(lines: Sequence[str]) -> Segments:
    """Logical lines of ``lines`` (physical lines, line endings kept or not)."""
    logical: list[LogicalLine] = []
    owner = [-1] * len(lines)
    stack: list[tuple[int, int]] = []  # (indent, index) of open headers
    open_string: str | None = None
    depth = 0
    start = -1
    first_info: tuple = ()
    last = ""
    for number, line in enumerate(lines):
        if start < 0:
            info = _line_info(line)
            if info[0]:
                continue
            start = number
            first_info = info
            change, open_string, joined, line_last = info[1]
        else:
            change, open_string, joined, line_last = (
                scan_line(line, open_string) if open_string is not None else _line_info(line)[1])
        owner[number] = len(logical)
        depth += change
        if depth < 0 or line_last == _BROKEN:
            depth = 0
            line_last = "" if line_last == _BROKEN else line_last
        if line_last:
            last = line_last
        if open_string is None and depth == 0 and not joined:
            made = _make_logical(start, number + 1, first_info, last, stack, len(logical))
            parts = _split(lines, made) if made.end - made.start > SPLIT_LINES else None
            if parts:
                for part in parts:
                    for physical in range(part.start, part.end):
                        owner[physical] = len(logical)
                    logical.append(part)
            else:
                logical.append(made)
            start = -1
            last = ""
    if start >= 0:  # unterminated bracket or string: the rest is one (broken) logical line
        logical.append(_make_logical(start, len(lines), first_info, last, stack, len(logical)))
    return Segments(tuple(logical), tuple(owner))


def edited_lines(previous_lines: Sequence[str], lines: Sequence[str]) -> dict[int, str] | None:
    """{line number: its earlier text} for the lines an edit changed, or None when it added or
    removed lines."""
    if len(lines) != len(previous_lines):
        return None
    return {number: old for number, (old, new) in enumerate(zip(previous_lines, lines)) if old != new}


def resegment(lines: Sequence[str], previous_lines: Sequence[str], previous: Segments,
              edited: dict[int, str] | None = None) -> Segments:
    """``segment(lines)``, reusing ``previous`` (the segments of ``previous_lines``) when no
    changed line can move a statement boundary: each one is blank or comment, or the first
    line of a statement that is not split into parts, and scans the same as before (same
    brackets, strings, indentation and keyword). Typing inside a statement then costs a
    comparison of the lines, not a scan of the file. ``edited``: ``edited_lines`` of the two,
    when the caller has it."""
    if edited is None:
        edited = edited_lines(previous_lines, lines)
    if edited is None:
        return segment(lines)
    owner, logical = previous.line_owner, previous.lines
    for number, old in edited.items():
        new = lines[number]
        index = owner[number]
        if index >= 0:
            line = logical[index]
            if line.start != number or line.part or line.end - line.start > SPLIT_LINES:
                return segment(lines)
        if _line_info(old) != _line_info(new):
            return segment(lines)
    return previous


_NOT_SPLIT = re.compile(r"[ \t]*(?:from|import|del|global|nonlocal)\b")
SPLIT_LINES = 60  # statements longer than this are split into parts (see LogicalLine.part)
_CLOSING = {"(": ")", "[": "]", "{": "}"}


def _split(lines: Sequence[str], line: LogicalLine) -> list[LogicalLine] | None:
    """Parts of a long simple statement whose first line ends by opening its outermost
    container (``cfgs = {``, ``default_cfgs = generate_default_cfgs({``): the head, one
    part per element (boundaries where the container's depth returns after a comma),
    and the tail. None when the statement does not have that shape."""
    if line.is_header or line.keyword or _NOT_SPLIT.match(lines[line.start]):
        return None
    depth = 0
    open_string: str | None = None
    head_end = -1
    inner = 0
    boundaries: list[int] = []
    previous_last = ""
    tail_start = -1
    for number in range(line.start, line.end):
        text = lines[number]
        if number > line.start and head_end < 0:
            return None  # the container must open at the end of the first line(s) we see
        if head_end >= 0 and open_string is None and depth == inner and number >= head_end:
            stripped = text.lstrip()
            if stripped[:1] in (")", "]", "}"):
                tail_start = number
                break
            if stripped and stripped[0] != "#" and (not boundaries or previous_last == ","):
                boundaries.append(number)
        change, open_string, joined, last = scan_line(text, open_string)
        if joined:
            return None
        depth += change
        if head_end < 0:
            if open_string is not None or depth <= 0 or last not in ("(", "[", "{"):
                return None
            head_end = number + 1
            inner = depth
        if last:
            previous_last = last
    if head_end < 0 or tail_start < 0 or len(boundaries) < 2:
        return None
    head_end = boundaries[0]  # blank and comment lines before the first element stay with the head
    head_text = "".join(lines[line.start:head_end])
    stack = _open_brackets(head_text)
    if not stack:
        return None
    opener = stack[-1]
    closer = "".join(_CLOSING[b] for b in reversed(stack))
    parts = [LogicalLine(line.start, head_end, line.indent, line.indent_chars, "", False, line.parent,
                         "head", "", closer)]
    edges = boundaries + [tail_start]
    for first, stop in zip(edges, edges[1:]):
        indent, indent_chars = _indent_width(lines[first])
        parts.append(LogicalLine(first, stop, indent, indent_chars, "", False, line.parent, "element", opener))
    indent, indent_chars = _indent_width(lines[tail_start])
    parts.append(LogicalLine(tail_start, line.end, indent, indent_chars, "", False, line.parent, "tail"))
    return parts


def _open_brackets(text: str) -> list[str]:
    """The brackets ``text`` leaves open, outermost first (strings and comments skipped)."""
    stack: list[str] = []
    pos = 0
    while True:
        match = _INTERESTING.search(text, pos)
        if match is None:
            return stack
        char, start = match.group(), match.start()
        if char == "#":
            newline = text.find("\n", start)
            if newline < 0:
                return stack
            pos = newline + 1
        elif char == "\\":
            pos = start + 2
        elif char in "'\"":
            quote = char * 3 if text.startswith(char * 3, start) else char
            end = _STRING_END[quote].match(text, start + len(quote))
            if end is None:
                return stack
            pos = end.end()
        elif char in "([{":
            stack.append(char)
            pos = start + 1
        else:
            if stack:
                stack.pop()
            pos = start + 1


def _make_logical(start: int, end: int, first_info: tuple, last: str,
                  stack: list[tuple[int, int]], index: int) -> LogicalLine:
    _, _, indent, indent_chars, keyword = first_info
    if keyword in ("match", "case") and last != ":":
        keyword = ""  # `match = re.match(...)` is a plain statement
    is_header = bool(keyword) and keyword != "@" and last == ":"
    while stack and stack[-1][0] >= indent:
        stack.pop()
    parent = stack[-1][1] if stack else -1
    if is_header:
        stack.append((indent, index))
    return LogicalLine(start, end, indent, indent_chars, keyword, is_header, parent)
