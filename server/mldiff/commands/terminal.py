"""What the commands print for people on a terminal: colour only there, and one status line
that rewrites itself (progress) and disappears before real output."""
from __future__ import annotations

import os


def is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def use_color(stream) -> bool:
    return is_tty(stream) and not os.environ.get("NO_COLOR")


class StatusLine:
    """One terminal line, rewritten in place by ``show`` and wiped by ``clear``."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.shown = False

    def show(self, text: str) -> None:
        self.stream.write(f"\r\033[K{text}")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False
