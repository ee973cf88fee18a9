"""A finding is plain data: what changed, where, old value to new, and how to fix it.

Positions are 1-based lines and 1-based columns counted in code points on the head
side (the CLI contract); the language server converts columns to the client's
position encoding. A finding in a notebook also says where it is among the cells
(``CellSpan``): editors show cells, not the ``.ipynb`` file's JSON lines.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mldiff.hunks import Hunk

SEVERITIES = ("error", "warning", "information", "hint")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class Span:
    """A head-side (or base-side) range: 1-based lines, 1-based code-point columns, end exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class TextEdit:
    """Replace ``span`` of the head text with ``new_text`` (an insertion when the span is empty)."""

    span: Span
    new_text: str


@dataclass(frozen=True)
class Fix:
    """A quick fix that travels with its finding, so editors never re-run the analysis."""

    title: str
    edits: tuple[TextEdit, ...]


@dataclass(frozen=True)
class CellSpan:
    """A place inside one notebook cell."""

    cell: int              # 1-based position among all cells (markdown counted), as Jupyter numbers them
    cell_id: str | None    # the nbformat cell id (nbformat 4.5+), else None
    span: Span             # lines and code-point columns within the cell's own text

    def to_json(self) -> dict[str, Any]:
        return {"cell": self.cell, "cell_id": self.cell_id, "cell_line": self.span.line,
                "cell_column": self.span.column, "cell_end_line": self.span.end_line,
                "cell_end_column": self.span.end_column}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CellSpan | None:
        if not isinstance(data.get("cell"), int) or not isinstance(data.get("cell_line"), int):
            return None
        line = data["cell_line"]
        return cls(data["cell"], data.get("cell_id"),
                   Span(line, data.get("cell_column") or 1, data.get("cell_end_line") or line,
                        data.get("cell_end_column") or 1))


@dataclass(frozen=True)
class Related:
    """Another place the finding concerns, e.g. where a changed constant is used."""

    span: Span
    message: str
    path: str | None = None  # None: the finding's own file
    cell: CellSpan | None = None  # in a notebook: that place among the cells


@dataclass(frozen=True)
class Finding:
    path: str
    code: str
    family: str
    severity: str
    message: str
    span: Span
    base_line: int | None = None
    before: str | None = None
    after: str | None = None
    related: tuple[Related, ...] = ()
    fixes: tuple[Fix, ...] = ()
    # The base-side text that this finding's hunk replaced, for hovers and "restore" fixes.
    base_text: str | None = None
    # Notebooks: where the finding is among the cells, and the fixes as edits of that cell's
    # text (``fixes`` edit the .ipynb file, and only inside one of its JSON strings).
    cell: CellSpan | None = None
    cell_fixes: tuple[Fix, ...] = ()

    @property
    def line(self) -> int:
        return self.span.line

    def location(self) -> str:
        """``train.py:14:5``, or in a notebook ``train.ipynb: cell 3, line 2`` (as the text
        formats print it)."""
        if self.cell is not None:
            return f"{self.path}: cell {self.cell.cell}, line {self.cell.span.line}"
        return f"{self.path}:{self.span.line}:{self.span.column}"

    def to_json(self) -> dict[str, Any]:
        """The contract's JSON object (DESIGN.md); extra keys only add information (a
        notebook's: ``cell``, ``cell_id``, ``cell_line``, ``cell_column``, ``cell_end_line``,
        ``cell_end_column``)."""
        out: dict[str, Any] = {
            "path": self.path,
            "code": self.code,
            "family": self.family,
            "severity": self.severity,
            "message": self.message,
            "line": self.span.line,
            "column": self.span.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
            "base_line": self.base_line,
            "before": self.before,
            "after": self.after,
        }
        if self.cell is not None:
            out.update(self.cell.to_json())
        if self.related:
            out["related"] = [
                {"path": r.path or self.path, "line": r.span.line, "column": r.span.column,
                 "end_line": r.span.end_line, "end_column": r.span.end_column, "message": r.message,
                 **(r.cell.to_json() if r.cell is not None else {})}
                for r in self.related
            ]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        """The inverse of ``to_json`` (fixes and the replaced base text are not kept there)."""
        path = data["path"]
        related = tuple(
            Related(Span(r["line"], r["column"], r["end_line"], r["end_column"]), r["message"],
                    None if r.get("path") == path else r.get("path"), CellSpan.from_json(r))
            for r in data.get("related", ()))
        return cls(path=path, code=data["code"], family=data["family"], severity=data["severity"],
                   message=data["message"],
                   span=Span(data["line"], data["column"], data["end_line"], data["end_column"]),
                   base_line=data.get("base_line"), before=data.get("before"), after=data.get("after"),
                   related=related, cell=CellSpan.from_json(data))


@dataclass(frozen=True)
class FileError:
    """A file that could not be analysed (or only partly): the rest still are."""

    path: str
    message: str
    line: int | None = None
    object_id: str | None = None    # the object that could not be read, when that is the reason

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "message": self.message}
        if self.line is not None:
            out["line"] = self.line
        if self.object_id is not None:
            out["object"] = self.object_id
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileError:
        return cls(data["path"], data["message"], data.get("line"), data.get("object"))


@dataclass
class FileResult:
    """One file's analysis: what front ends show, and what the language server needs to keep
    showing good findings while a statement is half-typed and to analyse the next edit fast."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    hunks: list[Hunk] | None = None                      # Python files: the line hunks the engine used
    unreliable_head_lines: frozenset[int] = frozenset()  # 1-based head lines the engine could not compare
    # The head side as the engine read it, for ``analyze(..., previous=...)``; never pickled
    # (worker processes send findings back, not parses).
    reuse: object = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "reuse": None}
