"""``# mldiff: ignore`` and ``# mldiff: ignore[ML201, normalization]``: the one parser.

The engine drops findings on a line that ignores them; the language server's quick fix
adds a code to the line's comment (or appends one). Selectors are rule codes, code
prefixes (``ML2``) or family names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_IGNORE = re.compile(r"#\s*mldiff:\s*ignore(\[([^\]]*)\])?", re.I)


@dataclass(frozen=True)
class Suppression:
    """A line's ignore comment: ``selectors`` None for a bare ``ignore`` (everything)."""

    selectors: tuple[str, ...] | None
    start: int            # where the comment starts in the line
    inside_end: int       # where the text inside the brackets ends (-1 for a bare ignore)

    def covers(self, code: str, family: str) -> bool:
        if self.selectors is None:
            return True
        return any(s == family or code.startswith(s) for s in self.selectors)


def suppression(line: str) -> Suppression | None:
    """The ignore comment on ``line``, if it has one."""
    if "mldiff" not in line:
        return None
    match = _IGNORE.search(line)
    if match is None:
        return None
    if match.group(1) is None:
        return Suppression(None, match.start(), -1)
    selectors = tuple(s.strip() for s in match.group(2).split(",") if s.strip())
    return Suppression(selectors, match.start(), match.end(1) - 1)
