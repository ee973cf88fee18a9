"""The other files of the project a change is in: where a function of the changed file is used.

One file often cannot say what its function is for: ``utils.cosine_scheduler`` builds a list
of numbers, and only ``main.py``, which writes ``param_group["lr"] = lr_schedule[it]``, shows
that the list is the learning rate. A ``Project`` answers "which other Python files of the
project, on this side of the change, name this word?"; the engine reads those files as it
reads the changed one (``facts.summaries``). Front ends implement it over git (``mldiff
check``, ``mldiff log``, the language server); without one the analysis is of the file alone.
"""
from __future__ import annotations

from typing import Protocol, Sequence

# at most this many files are read for one name: a helper called from everywhere is no single
# operation's, and the look-up must stay cheap on a large repository
MAX_FILES_PER_NAME = 8


class Project(Protocol):
    def files_naming(self, side: str, name: str) -> Sequence[tuple[str, str]]:
        """``(path, text)`` of the project's Python files, other than the changed one, whose
        text on ``side`` ("base" or "head") holds ``name`` as a whole word; at most
        ``MAX_FILES_PER_NAME`` of them, in path order."""
        ...


def module_parts(path: str) -> tuple[str, ...]:
    """The dotted module a repository path is (``dinov2/utils/utils.py`` -> dinov2, utils,
    utils; ``pkg/__init__.py`` -> pkg); empty for a file that is not a Python module."""
    if not path.endswith(".py"):
        return ()
    parts = tuple(path[:-3].replace("\\", "/").split("/"))
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return parts if all(part.isidentifier() for part in parts) else ()


def imports_module(imported: str, parts: tuple[str, ...]) -> bool:
    """Can an import of the dotted ``imported`` (relative dots allowed: ``..utils``) be the
    module at ``parts``? Its name must be the path's tail (``utils`` or ``dinov2.utils.utils``
    for ``dinov2/utils/utils.py``; a ``src/`` layout imports ``pkg.utils`` for
    ``src/pkg/utils.py``)."""
    named = tuple(part for part in imported.lstrip(".").split(".") if part)
    return bool(named) and len(named) <= len(parts) and parts[-len(named):] == named
