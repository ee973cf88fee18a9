"""Jupyter notebooks: code cells paired across the two sides, compared as one Python module,
every finding placed both in the ``.ipynb`` file and in its cell.

A notebook is JSON: its code lives in the ``source`` strings of code cells, and the rest
(outputs, execution counts, metadata, markdown) does not change how a model trains. Each
code cell of the head is paired with its counterpart in the base (``pair_cells``: the
nbformat cell id, else the same or the most similar code), so a cell inserted, deleted or
moved leaves the others unchanged. Each side's code cells are then laid out as one
*virtual* Python module, the base's in the order of their head counterparts (a deleted
cell stays after its predecessor), so the line diff between the two modules shows only
what changed inside cells, and a check that spans cells (a GradScaler created in one,
``optimizer.step()`` in another) sees the notebook as one module, as the kernel does.
IPython magics and shell lines become ``pass``; a cell that does not parse is commented
out, so it cannot swallow the cells after it, and reported once.

``NotebookChange.map_findings`` (the engine's one notebook hook, run after the rules)
moves each finding from the virtual module to the line and column of the ``.ipynb`` file
where that character is written (inside its JSON string, escapes counted) and records
its cell (``Finding.cell``: number, id, span inside the cell) with the fixes as edits of
the cell. A head side can also come from an editor, as cells laid out in a text document
(``Notebook.of_cells``, VS Code's notebook cells; JupyterLab's virtual document): then
``Finding.span`` is a position in that document.
"""
from __future__ import annotations

import ast
import bisect
import difflib
import json
import re
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import Iterable, Sequence

from mldiff.analysis.change import PythonChange
from mldiff.analysis.configtree import ConfigSyntaxError, Node, parse_json
from mldiff.analysis.module import ModuleView
from mldiff.findings import CellSpan, Finding, Fix, Span, TextEdit
from mldiff.hunks import split_lines

# Cell magics whose body is still Python; any other (%%bash, %%writefile, %%html) is not.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "python", "python3", "memit",
                                "tensorboard", "autoreload", "skip"})
# What mldiff reads of a notebook is its code: the file is read up to MAX_NOTEBOOK_BYTES
# (filekinds: outputs, images and all), and its code cells count against the limit of other files.
MAX_CODE_CHARS = 5_000_000         # matches engine.MAX_BYTES
# Parts of a notebook read without positions (nothing is reported inside them), and parts
# not needed at all (stepped over by the C decoder).
_METADATA = frozenset({"metadata"})
_NOT_CODE = frozenset({"outputs", "attachments"})
# Line numbers in a rule's message: "at line 42", "(line 42)", "also at lines 42, 77".
_LINES = re.compile(r"\b(at )?(lines?) (\d+(?:, \d+)*)\b")
_MAGIC_LINE = re.compile(r"[ \t]*(?:[%!?]|[A-Za-z_][\w.]*[ \t]*=[ \t]*[%!]|[\w.]+\?{1,2}[ \t]*$)")
# Pairing by similarity: at least this similar, and not more candidate pairs than this.
_SIMILAR = 0.5
_MAX_CANDIDATES = 40_000


@dataclass(frozen=True)
class _Piece:
    """Part of a cell's line that comes from one JSON string of the notebook."""

    start: int          # offset in the line
    token: Node         # the JSON string node (its span and written text)
    offset: int         # offset in the string's decoded value


@dataclass(frozen=True)
class Cell:
    """One cell of one side. ``lines``: its text split at line ends, without the empty line
    after a final line break (``"a\\nb\\n"`` and ``["a\\n", "b\\n"]`` are two lines)."""

    number: int                          # 1-based position among all cells, markdown counted
    kind: str                            # "code", "markdown", "raw", ...
    id: str | None
    lines: tuple[str, ...]
    first_line: int = 1                  # a cell laid out in a text document: its first line there
    pieces: tuple[tuple[_Piece, ...], ...] | None = None   # a cell read from JSON: where each line is written

    def locate(self, line: int, column: int) -> tuple[int, int]:
        """The 1-based (line, column) in the side's document of 0-based cell ``line`` and
        1-based ``column`` (a column past the end of the line is the end of the line)."""
        if self.pieces is None:
            return self.first_line + line, column
        pieces = self.pieces[min(line, len(self.pieces) - 1)]
        if not pieces:
            return 1, 1
        offset = column - 1
        piece = pieces[0]
        for candidate in pieces:
            if candidate.start <= offset:
                piece = candidate
        decoded = piece.offset + max(offset - piece.start, 0)
        raw = _raw_offsets(piece.token.written)
        index = raw[min(decoded, len(raw) - 1)]
        return piece.token.span.line, piece.token.span.column + index


@dataclass
class Notebook:
    """One side's cells (all of them, in order); ``skipped`` says why its code is not read."""

    cells: tuple[Cell, ...]
    skipped: str = ""

    @cached_property
    def code_cells(self) -> tuple[Cell, ...]:
        return tuple(cell for cell in self.cells if cell.kind == "code" and cell.lines)

    @property
    def code_chars(self) -> int:
        return sum(len(line) + 1 for cell in self.code_cells for line in cell.lines)

    @classmethod
    def of_cells(cls, cells: Iterable[tuple[str, str, str | None]]) -> tuple[Notebook, str]:
        """A notebook from an editor's cells ``(kind, text, id)``, in order, and the text
        document its code cells are laid out in (one after another); findings on this side
        are positions in that document."""
        out: list[Cell] = []
        document: list[str] = []
        line = 1
        for number, (kind, text, cell_id) in enumerate(cells, start=1):
            lines = tuple(_text_lines(text))
            out.append(Cell(number, kind, cell_id, lines, first_line=line))
            if kind == "code":
                document.extend(lines)
                line += len(lines)
        return cls(tuple(out)), "".join(text + "\n" for text in document)


def _text_lines(text: str) -> list[str]:
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return lines if text else []


@lru_cache(maxsize=4096)
def _raw_offsets(written: str) -> tuple[int, ...]:
    """For each character of a JSON string's value, its index in the written token (with
    quotes and escapes); one more entry for the closing quote."""
    out = []
    i = 1
    end = len(written) - 1
    while i < end:
        out.append(i)
        if written[i] == "\\":
            if written[i + 1] == "u":
                code = int(written[i + 2:i + 6], 16)
                if 0xD800 <= code < 0xDC00 and written.startswith("\\u", i + 6):
                    i += 12   # a surrogate pair is one code point
                else:
                    i += 6
            else:
                i += 2
        else:
            i += 1
    out.append(end)
    return tuple(out)


# -- reading the .ipynb ---------------------------------------------------------------------
def read_notebook(text: str) -> Notebook:
    """The cells of a notebook's JSON; ``ConfigSyntaxError`` if it is not a notebook."""
    if len(text) > MAX_CODE_CHARS:
        code = _code_size(text)   # in C: reading positions of 100 MB of code would take minutes
        if code > MAX_CODE_CHARS:
            return Notebook((), skipped=_too_much_code(code))
    root = parse_json(text, skip=_METADATA, drop=_NOT_CODE)
    if root.kind != "map":
        raise ConfigSyntaxError("not a notebook: the document is not a JSON object", root.span.line)
    containers = _cell_lists(root)
    if not containers:
        raise ConfigSyntaxError('not a notebook: it has no "cells" list', root.span.line)
    language = _language(root)
    if language and language != "python":
        return Notebook((), skipped=f"a {language} notebook")
    cells: list[Cell] = []
    for cell in (cell for container in containers for _, cell in container.items):
        number = len(cells) + 1
        if cell.kind != "map":
            cells.append(Cell(number, "", None, ()))
            continue
        kind = _string(cell.get("cell_type")) or ""
        cell_id = _string(cell.get("id"))
        source = cell.get("source") or cell.get("input")
        tokens: list[Node] = []
        if source is not None:
            tokens = [source] if source.kind == "scalar" else [item for _, item in source.items]
            tokens = [t for t in tokens if t.kind == "scalar" and isinstance(t.value, str)]
        lines, pieces = _split(tokens) if kind == "code" else ([], [])
        cells.append(Cell(number, kind, cell_id, tuple(lines), pieces=tuple(pieces)))
    return Notebook(tuple(cells))


def _code_size(text: str) -> int:
    """Characters of code in a notebook's code cells, read by the C decoder (0 when it is
    not JSON: the positional parser then says where)."""
    try:
        root = json.loads(text.lstrip("\ufeff"))
    except (ValueError, RecursionError):
        return 0
    if not isinstance(root, dict):
        return 0
    lists = [root.get("cells")] + [sheet.get("cells") for sheet in root.get("worksheets") or ()
                                   if isinstance(sheet, dict)]
    total = 0
    for cells in lists:
        for cell in cells if isinstance(cells, list) else ():
            if isinstance(cell, dict) and cell.get("cell_type") == "code":
                source = cell.get("source", cell.get("input"))
                parts = [source] if isinstance(source, str) else source if isinstance(source, list) else []
                total += sum(len(part) for part in parts if isinstance(part, str))
    return total


def _too_much_code(chars: int) -> str:
    return f"{chars / 1_000_000:.1f} MB of code in its cells, more than mldiff reads ({MAX_CODE_CHARS // 1_000_000} MB)"


def _string(node: Node | None) -> str | None:
    return node.value if node is not None and node.kind == "scalar" and isinstance(node.value, str) else None


def _language(root: Node) -> str:
    metadata = root.get("metadata")
    if metadata is None or metadata.kind != "map":
        return ""
    for key, name in (("language_info", "name"), ("kernelspec", "language")):
        section = metadata.get(key)
        value = section.get(name) if section is not None and section.kind == "map" else None
        if value is not None and isinstance(value.value, str):
            return value.value.strip().lower()
    return ""


def _cell_lists(root: Node) -> list[Node]:
    """The lists of cells: nbformat 4's ``cells``, nbformat 3's ``worksheets[].cells``."""
    containers = [root.get("cells")]
    worksheets = root.get("worksheets")
    if worksheets is not None and worksheets.kind == "list":
        containers += [sheet.get("cells") for _, sheet in worksheets.items if sheet.kind == "map"]
    return [cells for cells in containers if cells is not None and cells.kind == "list"]


def _split(tokens: list[Node]) -> tuple[list[str], list[tuple[_Piece, ...]]]:
    """A cell's lines (a line may run across several strings of ``source``) and their pieces."""
    lines: list[str] = []
    pieces: list[tuple[_Piece, ...]] = []
    current, current_pieces = "", []
    for token in tokens:
        value = token.value
        offset = 0
        while True:
            newline = value.find("\n", offset)
            part = value[offset:] if newline < 0 else value[offset:newline]
            if part or newline >= 0:
                current_pieces.append(_Piece(len(current), token, offset))
                current += part
            if newline < 0:
                break
            lines.append(current.rstrip("\r"))
            pieces.append(tuple(current_pieces))
            current, current_pieces = "", []
            offset = newline + 1
    if current_pieces:
        lines.append(current.rstrip("\r"))
        pieces.append(tuple(current_pieces))
    return lines, pieces


# -- cells as Python --------------------------------------------------------------------------
@lru_cache(maxsize=8192)
def pythonize(code: str) -> tuple[str, tuple[int, str] | None]:
    """A cell's code as plain Python with the same number of lines: magics and shell lines
    become ``pass`` (commented), a non-Python cell magic comments out the cell. Returns the
    text and, if it still does not parse, (1-based line, message) with the cell commented out."""
    lines = code.split("\n")
    first = next((line for line in lines if line.strip()), "")
    if first.lstrip().startswith("%%"):
        magic = first.lstrip()[2:].split(maxsplit=1)[0] if first.strip() != "%%" else ""
        index = lines.index(first)
        if magic not in PYTHON_CELL_MAGICS:
            return "\n".join("# " + line for line in lines), None
        lines[index] = "# " + lines[index]
    candidate = "\n".join(lines)
    error = _syntax_error(candidate)
    if error is not None:
        lines = _neutralize_magics(lines)
        candidate = "\n".join(lines)
        error = _syntax_error(candidate)
    if error is not None:
        return "\n".join("# " + line for line in lines), error
    return candidate, None


def _neutralize_magics(lines: list[str]) -> list[str]:
    """Magic and shell lines that start a statement become ``pass``; a ``%`` that continues
    an expression (``(a\n % b)``) is the modulo operator and stays."""
    from mldiff.analysis.segments import scan_line

    out = []
    depth, open_string, joined = 0, None, False
    magic_continues = False
    for line in lines:
        at_start = depth == 0 and open_string is None and not joined
        if magic_continues or (at_start and _MAGIC_LINE.match(line)):
            out.append("# " + line if magic_continues else _neutral(line))
            magic_continues = line.rstrip().endswith("\\")   # "!cmd --a \" goes on
            continue
        change, open_string, joined, _ = scan_line(line + "\n", open_string)
        depth = max(depth + change, 0)
        out.append(line)
    return out


def _neutral(line: str) -> str:
    stripped = line.lstrip()
    indent = line[:len(line) - len(stripped)]
    return f"{indent}pass  # {stripped}"


def _syntax_error(code: str) -> tuple[int, str] | None:
    try:
        ast.parse(code)
    except SyntaxError as exc:
        return (exc.lineno or 1), (exc.msg or "invalid syntax")
    except (ValueError, RecursionError, MemoryError) as exc:
        return 1, str(exc) or exc.__class__.__name__
    return None


# -- pairing --------------------------------------------------------------------------------
def pair_cells(base: Sequence[Cell], head: Sequence[Cell]) -> dict[int, int]:
    """Head code cell index -> its base counterpart's index: the same nbformat id (unique on
    both sides), else the same code, else the most similar code (by position among equals)."""
    pairs: dict[int, int] = {}
    taken: set[int] = set()
    base_ids = _unique_ids(base)
    for cell_id, h in _unique_ids(head).items():
        b = base_ids.get(cell_id)
        if b is not None:
            pairs[h] = b
            taken.add(b)
    by_code: dict[tuple[str, ...], list[int]] = {}
    for b, cell in enumerate(base):
        if b not in taken:
            by_code.setdefault(cell.lines, []).append(b)
    for h, cell in enumerate(head):
        if h in pairs:
            continue
        candidates = [b for b in by_code.get(cell.lines, ()) if b not in taken]
        if candidates:
            pairs[h] = candidates[0]
            taken.add(candidates[0])
    rest_head = [h for h in range(len(head)) if h not in pairs]
    rest_base = [b for b in range(len(base)) if b not in taken]
    if not rest_head or not rest_base or len(rest_head) * len(rest_base) > _MAX_CANDIDATES:
        return pairs
    scored = []
    for h in rest_head:
        head_text = "\n".join(head[h].lines)
        for b in rest_base:
            score = _similarity(head_text, "\n".join(base[b].lines))
            if score >= _SIMILAR:
                scored.append((-score, abs(_relative(h, head) - _relative(b, base)), h, b))
    for _, _, h, b in sorted(scored):
        if h not in pairs and b not in taken:
            pairs[h] = b
            taken.add(b)
    return pairs


def _unique_ids(cells: Sequence[Cell]) -> dict[str, int]:
    seen: dict[str, int] = {}
    repeated: set[str] = set()
    for index, cell in enumerate(cells):
        if cell.id:
            if cell.id in seen:
                repeated.add(cell.id)
            seen[cell.id] = index
    return {id_: index for id_, index in seen.items() if id_ not in repeated}


def _similarity(a: str, b: str) -> float:
    matcher = difflib.SequenceMatcher(None, a[:4000], b[:4000], autojunk=False)
    if matcher.real_quick_ratio() < _SIMILAR or matcher.quick_ratio() < _SIMILAR:
        return 0.0
    return matcher.ratio()


def _relative(index: int, cells: Sequence[Cell]) -> float:
    return index / max(len(cells) - 1, 1)


# -- one side as a module -------------------------------------------------------------------
@dataclass
class _Module:
    """A side's code cells laid out one after another as Python, in a chosen order."""

    cells: list[Cell]
    text: str = ""
    starts: list[int] = field(default_factory=list)         # 0-based module line of each cell
    errors: dict[int, tuple[int, str]] = field(default_factory=dict)   # cell index -> (0-based line, message)

    @classmethod
    def of(cls, cells: list[Cell]) -> _Module:
        module = cls(cells)
        parts, line = [], 0
        for index, cell in enumerate(cells):
            python, error = pythonize("\n".join(cell.lines))
            if error is not None:
                module.errors[index] = (error[0] - 1, error[1])
            module.starts.append(line)
            parts.append(python + "\n")
            line += len(cell.lines)
        module.text = "".join(parts)
        return module

    def at(self, line: int) -> tuple[int, int] | None:
        """(cell index, 0-based line in the cell) of 0-based module ``line``."""
        index = bisect.bisect_right(self.starts, line) - 1
        if index < 0 or line - self.starts[index] >= len(self.cells[index].lines):
            return None
        return index, line - self.starts[index]

    def lines_of(self, index: int) -> range:
        """1-based module lines of cell ``index``."""
        start = self.starts[index]
        return range(start + 1, start + len(self.cells[index].lines) + 1)


def _base_order(base: Sequence[Cell], head: Sequence[Cell], pairs: dict[int, int]) -> list[Cell]:
    """The base's code cells in the order of their head counterparts; a base cell with no
    counterpart (deleted) stays right after the base cell before it."""
    head_of = {b: h for h, b in pairs.items()}
    groups: list[tuple[float, list[Cell]]] = [(-1.0, [])]
    for b, cell in enumerate(base):
        if b in head_of:
            groups.append((float(head_of[b]), [cell]))
        else:
            groups[-1][1].append(cell)
    groups.sort(key=lambda group: group[0])
    return [cell for _, cells in groups for cell in cells]


class NotebookChange(PythonChange):
    """A ``PythonChange`` between the two sides' code cells, paired and laid out as modules,
    with positions mapped back to the notebook (its file, and its cells)."""

    def __init__(self, path: str, base: Notebook | None, head: Notebook | None, head_text: str | None,
                 errors: list[tuple[str, int, str]], notes: Sequence[str] = ()) -> None:
        base_cells = list(base.code_cells) if base else []
        head_cells = list(head.code_cells) if head else []
        self.pairs = pair_cells(base_cells, head_cells)
        self.base_module = _Module.of(_base_order(base_cells, head_cells, self.pairs))
        self.head_module = _Module.of(head_cells)
        super().__init__(path, ModuleView.of(self.base_module.text) if base_cells else ModuleView(""),
                         ModuleView(self.head_module.text))
        self.base_notebook = base
        self.head_notebook = head
        self._base_cells = base_cells
        self._file_lines = split_lines(head_text or "")
        self._notebook_errors = errors
        self._notes = list(notes)

    def notes(self) -> list[str]:
        """Why a side's code was not read (a notebook for another language, too much code)."""
        return list(self._notes)

    def head_lines(self) -> list[str]:
        """The head document's own lines (the ``.ipynb`` file): suppression comments are looked up there."""
        return self._file_lines

    def _counterpart(self, head_index: int) -> Cell | None:
        base = self.pairs.get(head_index)
        return self._base_cells[base] if base is not None else None

    def _changed(self, head_index: int) -> bool:
        counterpart = self._counterpart(head_index)
        return counterpart is None or counterpart.lines != self.head_module.cells[head_index].lines

    @cached_property
    def _unreadable_cells(self) -> list[tuple[str, Cell, int, str]]:
        """(side, cell, 0-based line, message) for changed cells that do not parse."""
        out = []
        for index, (line, message) in self.head_module.errors.items():
            if self._changed(index):
                out.append(("head", self.head_module.cells[index], line, message))
        head_of = {id(self._base_cells[b]): h for h, b in self.pairs.items()}
        for index, (line, message) in self.base_module.errors.items():
            cell = self.base_module.cells[index]
            h = head_of.get(id(cell))
            if h is not None and self._changed(h):
                out.append(("base", cell, line, message))
        return out

    def parse_errors(self) -> list[tuple[str, int, str]]:
        out = list(self._notebook_errors)
        for side, cell, line, message in self._unreadable_cells:
            out.append((side, cell.locate(line, 1)[0], f"cell {cell.number}, line {line + 1}: {message}"))
        for side, line, message in super().parse_errors():
            module = self.base_module if side == "base" else self.head_module
            where = module.at(line - 1)
            if where is None:
                out.append((side, 1, message))
                continue
            cell = module.cells[where[0]]
            out.append((side, cell.locate(where[1], 1)[0], f"cell {cell.number}, line {where[1] + 1}: {message}"))
        return out

    @cached_property
    def unreliable_head_lines(self) -> frozenset[int]:
        """Module lines where base and head cannot be compared: those of PythonChange, and
        every line of a changed head cell that does not parse or whose base cell does not
        (the cell is commented out there, so its code would look deleted or added)."""
        lines = set(super().unreliable_head_lines)
        broken_base = {id(self.base_module.cells[i]) for i in self.base_module.errors}
        for index in range(len(self.head_module.cells)):
            counterpart = self._counterpart(index)
            broken = index in self.head_module.errors or (counterpart is not None and id(counterpart) in broken_base)
            if broken and self._changed(index):
                lines.update(self.head_module.lines_of(index))
        return frozenset(lines)

    # -- positions ---------------------------------------------------------------------
    def map_findings(self, findings: Iterable[Finding]) -> list[Finding]:
        """Findings with module positions moved to the head document's (the ``.ipynb``
        file's) lines and columns and to their cell."""
        out = []
        for finding in findings:
            place = self._head_place(finding.span)
            if place is None:
                continue
            cell, span, cell_span = place
            base_line = None
            if finding.base_line is not None:
                where = self.base_module.at(finding.base_line - 1)
                if where is not None:
                    base_line = self.base_module.cells[where[0]].locate(where[1], 1)[0]
            related = []
            for item in finding.related:
                if item.path is not None and item.path != finding.path:
                    related.append(item)
                    continue
                mapped = self._head_place(item.span)
                if mapped is not None:
                    related.append(replace(item, span=mapped[1], cell=CellSpan(mapped[0].number, mapped[0].id,
                                                                               mapped[2])))
            fixes = tuple(fix for fix in (self._file_fix(f) for f in finding.fixes) if fix is not None)
            cell_fixes = tuple(fix for fix in (self._cell_fix(f, cell) for f in finding.fixes) if fix is not None)
            cell_related = tuple(replace(item, message=self._cell_message(item.message)) for item in related)
            out.append(replace(finding, span=span, base_line=base_line, related=cell_related, fixes=fixes,
                               cell=CellSpan(cell.number, cell.id, cell_span), cell_fixes=cell_fixes,
                               message=self._cell_message(finding.message)))
        return out

    def _cell_message(self, message: str) -> str:
        """A message's head line numbers (``used as Adam lr at line 112``: a line of the module
        the cells make) as the cell and line a reader finds them at."""
        if "line" not in message:
            return message

        def place(number: str) -> str | None:
            where = self.head_module.at(int(number) - 1)
            if where is None:
                return None
            return f"cell {self.head_module.cells[where[0]].number}, line {where[1] + 1}"

        def replaced(match: re.Match[str]) -> str:
            places = [place(number) for number in re.findall(r"\d+", match.group(3))]
            if any(where is None for where in places):
                return match.group(0)
            return f"{'in ' if match.group(1) else ''}{'; '.join(places)}"  # type: ignore[arg-type]
        return _LINES.sub(replaced, message)

    def _cell_place(self, span: Span) -> tuple[int, Span] | None:
        """(head cell index, the span inside that cell) of a module span; an end past the
        cell's last line is the end of the cell."""
        start = self.head_module.at(span.line - 1)
        if start is None:
            return None
        index, line = start
        cell = self.head_module.cells[index]
        end = self.head_module.at(span.end_line - 1)
        if end is not None and end[0] == index:
            end_line, end_column = end[1] + 1, span.end_column
        elif end is None and span.end_line - 1 == self.head_module.starts[index] + len(cell.lines) \
                and span.end_column == 1:
            end_line, end_column = len(cell.lines) + 1, 1       # the end of the cell (and of the module)
        elif end is not None and end[0] == index + 1 and end[1] == 0 and span.end_column == 1:
            end_line, end_column = len(cell.lines) + 1, 1       # the start of the next cell: the end of this one
        else:
            end_line, end_column = len(cell.lines), len(cell.lines[-1]) + 1
        if (end_line, end_column) < (line + 1, span.column):
            end_line, end_column = line + 1, span.column
        return index, Span(line + 1, span.column, end_line, end_column)

    def _head_place(self, span: Span) -> tuple[Cell, Span, Span] | None:
        """(cell, span in the head document, span inside the cell) of a module span."""
        place = self._cell_place(span)
        if place is None:
            return None
        index, inside = place
        cell = self.head_module.cells[index]
        start = cell.locate(inside.line - 1, inside.column)
        if inside.end_line > len(cell.lines):
            last = len(cell.lines) - 1
            end = cell.locate(last, len(cell.lines[last]) + 1)
            if cell.pieces is None:
                end = (cell.first_line + len(cell.lines), 1)
        else:
            end = cell.locate(inside.end_line - 1, inside.end_column)
        if end < start:
            end = start
        return cell, Span(start[0], start[1], end[0], end[1]), inside

    def _file_fix(self, fix: Fix) -> Fix | None:
        """A fix as edits of the head document: for a ``.ipynb`` file, only one that stays
        inside one JSON string (its new text escaped); else none."""
        edits = []
        for edit in fix.edits:
            place = self._head_place(edit.span)
            if place is None:
                return None
            cell, span, _ = place
            if cell.pieces is None:
                edits.append(TextEdit(span, edit.new_text))
                continue
            if edit.span.line != edit.span.end_line or "\n" in edit.new_text or span.line != span.end_line:
                return None
            edits.append(TextEdit(span, json.dumps(edit.new_text, ensure_ascii=False)[1:-1]))
        return Fix(fix.title, tuple(edits))

    def _cell_fix(self, fix: Fix, cell: Cell) -> Fix | None:
        """A fix as edits of ``cell``'s own text; none when it edits another cell."""
        edits = []
        for edit in fix.edits:
            place = self._cell_place(edit.span)
            if place is None or self.head_module.cells[place[0]] is not cell:
                return None
            edits.append(TextEdit(place[1], edit.new_text))
        return Fix(fix.title, tuple(edits))


def notebook_change(path: str, base_text: str | None, head_text: str | None) -> NotebookChange | None:
    """The engine's entry point for ``.ipynb`` files. A side that is not a readable notebook
    gives a parse error and no other finding (a half-read notebook would look like deleted
    code). Jupyter's autosave copies (``.ipynb_checkpoints/``) are not read."""
    if ".ipynb_checkpoints/" in path.replace("\\", "/"):
        return None
    errors: list[tuple[str, int, str]] = []
    sides: dict[str, Notebook | None] = {}
    for side, text in (("base", base_text), ("head", head_text)):
        if text is None or not text.strip():
            sides[side] = None
            continue
        try:
            sides[side] = read_notebook(text)
        except ConfigSyntaxError as exc:
            errors.append((side, max(exc.line, 1), f"not a valid notebook: {exc.message}"))
            sides[side] = None
    if errors:
        return NotebookChange(path, None, None, head_text, errors)
    return editor_notebook_change(path, sides["base"], sides["head"], head_text)


def editor_notebook_change(path: str, base: Notebook | str | None, head: Notebook | None,
                           head_text: str | None) -> NotebookChange:
    """The change to ``head`` (read from the ``.ipynb`` file, or an editor's cells laid out in
    ``head_text``: ``Notebook.of_cells``) from ``base`` (a ``Notebook``, or the base
    ``.ipynb`` text). Sides with more code than mldiff reads are left out with a note."""
    errors: list[tuple[str, int, str]] = []
    if isinstance(base, str):
        try:
            base = read_notebook(base) if base.strip() else None
        except ConfigSyntaxError as exc:
            errors.append(("base", max(exc.line, 1), f"not a valid notebook: {exc.message}"))
            return NotebookChange(path, None, None, head_text, errors)
    if head is not None and not head.skipped and head.code_chars > MAX_CODE_CHARS:
        head = Notebook((), skipped=_too_much_code(head.code_chars))
    if any(side is not None and side.skipped for side in (base, head)):
        # One side unread would make the other look all added or all deleted: neither is read.
        reasons = {side: notebook.skipped for side, notebook in (("base", base), ("head", head))
                   if notebook is not None and notebook.skipped}
        if len(set(reasons.values())) == 1 and len(reasons) == 2:
            notes = [f"{path}: {reasons['head']}; its cells are not analysed"]
        else:
            notes = [f"{path}: {side} side: {reason}; its cells are not analysed" for side, reason in reasons.items()]
        return NotebookChange(path, None, None, head_text, errors, notes)
    return NotebookChange(path, base, head, head_text, errors)
