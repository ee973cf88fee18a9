"""The per-change ``Context`` that rules read, and the memo of facts computed on it.

A fact is computed at most once per change, by name (``ctx.fact(key, compute)``), and
shared by every rule that asks for it; facts of one side's text that do not depend on
the change (the norm-layer classes a file defines) are kept per view (``view_fact``), so
that the base side's facts survive across edits of the buffer. Nothing is hung on the
change or the views themselves.
"""
from __future__ import annotations

import weakref
from typing import Callable, Hashable, TypeVar

from mldiff.analysis.change import PythonChange
from mldiff.analysis.environment import Environment
from mldiff.analysis.module import ModuleView
from mldiff.analysis.project import Project
from mldiff.analysis.textfiles import TextChange
from mldiff.findings import Span
from mldiff.hunks import Hunk, LineMap

T = TypeVar("T")

_VIEW_FACTS: "weakref.WeakKeyDictionary[ModuleView, dict[Hashable, object]]" = weakref.WeakKeyDictionary()


def view_fact(view: ModuleView, key: Hashable, compute: Callable[[], T]) -> T:
    """A fact of one side's text alone, computed once for the life of ``view``."""
    store = _VIEW_FACTS.get(view)
    if store is None:
        store = _VIEW_FACTS[view] = {}
    if key not in store:
        store[key] = compute()
    return store[key]  # type: ignore[return-value]


class Context:
    """One file's change as the rules see it: its kind, path, and the facts computed on it."""

    kind: str
    path: str

    def __init__(self) -> None:
        self._facts: dict[Hashable, object] = {}

    def fact(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The fact named ``key``, computed by ``compute()`` the first time it is asked for."""
        if key not in self._facts:
            self._facts[key] = compute()
        return self._facts[key]  # type: ignore[return-value]


class PythonContext(Context):
    """A Python file's change (a notebook's code cells read as one module too)."""

    def __init__(self, change: PythonChange, kind: str = "python", project: Project | None = None) -> None:
        super().__init__()
        self.change = change
        self.kind = kind
        self.path = change.path
        self.project = project  # the other files of the project, where the front end knows them
        self.base: ModuleView = change.base
        self.head: ModuleView = change.head
        self.hunks: list[Hunk] = change.hunks
        self.map: LineMap = change.map

    @property
    def renames(self) -> dict[str, str]:
        return self.change.renames

    @property
    def touched_base(self) -> tuple[int, ...]:
        return self.change.touched_base

    @property
    def touched_head(self) -> tuple[int, ...]:
        return self.change.touched_head

    @property
    def head_regions(self) -> tuple[int, ...]:
        return self.change.head_regions

    def touched(self, side: str) -> tuple[int, ...]:
        return self.change.touched(side)

    def view(self, side: str) -> ModuleView:
        return self.base if side == "base" else self.head

    def other(self, side: str) -> str:
        return "head" if side == "base" else "base"

    def bound_names(self, side: str) -> frozenset[str]:
        return self.change.bound_names(side)

    def head_anchor(self, base_line: int) -> Span:
        """Where 0-based base line ``base_line`` stood in the head (see ``PythonChange.head_anchor``)."""
        return self.change.head_anchor(base_line)


class TextContext(Context):
    """A non-Python file's change: a config, a Dockerfile, a requirements file, ..."""

    def __init__(self, change: TextChange) -> None:
        super().__init__()
        self.change = change
        self.kind = change.kind
        self.path = change.path

    @property
    def hunks(self) -> list[Hunk]:
        return self.change.hunks

    @property
    def map(self) -> LineMap:
        return self.change.map

    def text(self, side: str) -> str | None:
        return self.change.text(side)

    def environment(self, side: str) -> Environment:
        return self.change.environment(side)

    def head_anchor(self, base_line: int) -> Span:
        """Where 1-based base line ``base_line`` stood in the head (see ``TextChange.head_anchor``)."""
        return self.change.head_anchor(base_line)

    def head_line_changed(self, line: int) -> bool:
        return self.change.head_line_changed(line)


def python_context(path: str, base_text: str | None, head_text: str | None) -> PythonContext:
    """The context of a Python change given as two texts (tests and scripts; the engine builds its own)."""
    return PythonContext(PythonChange.from_texts(path, base_text, head_text))
