"""Merge-conflict markers: a side that holds a conflict is reported once, not per marker."""
from __future__ import annotations

import re

# git's conflict markers: seven characters at the start of a line (``=======`` alone can be a
# heading underline, so a side counts as conflicted only with an opening and a closing marker).
_CONFLICT_OPEN = re.compile(r"^<{7}(?: |$)", re.M)
_CONFLICT_CLOSE = re.compile(r"^>{7}(?: |$)", re.M)


def conflict_marker_line(text: str | None) -> int | None:
    """The 1-based line of the first merge-conflict marker, when ``text`` holds a conflict."""
    if not text:
        return None
    opening = _CONFLICT_OPEN.search(text)
    if opening is None or _CONFLICT_CLOSE.search(text, opening.end()) is None:
        return None
    return text.count("\n", 0, opening.start()) + 1
