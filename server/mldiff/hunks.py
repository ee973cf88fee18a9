"""Two texts -> the hunks ``git diff -U0`` shows for them, and line maps between sides.

Pure: no git process. The language server diffs an unsaved buffer against its base
on every edit, and the CLI must report the same findings for the same pair of texts,
so both use this one implementation (tests compare it with git on real file pairs).
"""
from __future__ import annotations

import difflib
from bisect import bisect_right
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True, slots=True)
class Hunk:
    """Lines ``base_start:base_end`` of the base replaced by ``head_start:head_end`` of the head
    (0-based, end exclusive; an empty range is a pure insertion or removal at that boundary)."""

    base_start: int
    base_end: int
    head_start: int
    head_end: int

    def header(self) -> str:
        """The ``@@ -a,b +c,d @@`` line git prints for this hunk."""
        return f"@@ -{_side(self.base_start, self.base_end)} +{_side(self.head_start, self.head_end)} @@"


def _side(start: int, end: int) -> str:
    count = end - start
    first = start + 1 if count else start  # git names the line before an empty side
    return f"{first}" if count == 1 else f"{first},{count}"


def split_lines(text: str) -> list[str]:
    """Lines with their endings, as git compares them (only '\\n' ends a line)."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
        return [line + "\n" for line in lines]
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def diff_lines(base: Sequence[str], head: Sequence[str]) -> list[Hunk]:
    """Hunks between two lists of lines (each with its line ending)."""
    prefix = 0
    limit = min(len(base), len(head))
    while prefix < limit and base[prefix] == head[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and base[-1 - suffix] == head[-1 - suffix]:
        suffix += 1
    base_mid = base[prefix:len(base) - suffix]
    head_mid = head[prefix:len(head) - suffix]
    if not base_mid and not head_mid:
        return []
    matcher = difflib.SequenceMatcher(None, base_mid, head_mid, autojunk=False)
    hunks = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            hunks.append(Hunk(i1 + prefix, i2 + prefix, j1 + prefix, j2 + prefix))
    return hunks


class LineMap:
    """Which lines a diff changed, and where unchanged lines moved to."""

    def __init__(self, hunks: Sequence[Hunk], base_len: int, head_len: int) -> None:
        self.hunks = list(hunks)
        self.base_len = base_len
        self.head_len = head_len
        self._base_starts = [h.base_start for h in self.hunks]
        self._head_starts = [h.head_start for h in self.hunks]

    def base_to_head(self, line: int) -> int | None:
        """Head line of an unchanged base line (0-based), or None if the line changed."""
        i = bisect_right(self._base_starts, line) - 1
        if i >= 0:
            hunk = self.hunks[i]
            if line < hunk.base_end:
                return None
            return line - hunk.base_end + hunk.head_end
        return line

    def head_to_base(self, line: int) -> int | None:
        """Base line of an unchanged head line (0-based), or None if the line is new."""
        i = bisect_right(self._head_starts, line) - 1
        if i >= 0:
            hunk = self.hunks[i]
            if line < hunk.head_end:
                return None
            return line - hunk.head_end + hunk.base_end
        return line

    def hunk_for_head_line(self, line: int) -> Hunk | None:
        """The hunk whose head side holds ``line``, or that removed lines just before it."""
        for hunk in self.hunks:
            if hunk.head_start <= line < hunk.head_end:
                return hunk
            if hunk.head_start == hunk.head_end == line:
                return hunk
        return None


def head_line_of_removed(hunks: Sequence[Hunk], line_map: LineMap, base_line: int, head_len: int) -> int:
    """Where 0-based base line ``base_line`` stands in the head (0-based): the first line of
    its hunk's replacement if it was changed or removed, else where it moved; clamped to
    the head's last line (a removal at the end of the file is anchored there)."""
    hunk = next((h for h in hunks if h.base_start <= base_line < h.base_end), None)
    if hunk is None:
        mapped = line_map.base_to_head(base_line)
        line = mapped if mapped is not None else 0
    else:
        line = hunk.head_start
    return max(min(line, head_len - 1), 0)
