"""Jupyter notebooks: the code cells of each side read as one Python text, analysed by the
same rules as a ``.py`` file, with every finding moved back to the notebook's own lines.

A notebook is JSON: its code lives in the ``source`` strings of code cells, and the rest
(outputs, execution counts, metadata, markdown) does not change how a model trains. Each
side's code cells are joined into a *virtual* Python text (IPython magics and shell lines
turned into ``pass`` so the rest still parses; a cell that does not parse replaced by
comments so it cannot swallow the cells after it) and compared as a ``PythonChange``.
``map_findings`` then maps each finding's virtual line and column to the line and column
of the ``.ipynb`` file where that character is written (inside its JSON string, escapes
counted), so CLI and editor positions are real positions in the file.

The engine calls ``map_findings`` after the rules ran (its one notebook hook) and runs
the Python rules on notebooks.
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Iterable

from mldiff.analysis.change import PythonChange
from mldiff.analysis.configtree import ConfigSyntaxError, Node, parse_json
from mldiff.analysis.module import ModuleView
from mldiff.findings import Finding, Fix, Span, TextEdit
from mldiff.hunks import split_lines

# Cell magics whose body is still Python; any other (%%bash, %%writefile, %%html) is not.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "python", "python3", "memit",
                                "tensorboard", "autoreload", "skip"})
# Parts of a notebook read without positions (nothing is reported inside them), and parts
# not needed at all (stepped over by the C decoder).
_METADATA = frozenset({"metadata"})
_NOT_CODE = frozenset({"outputs", "attachments"})
_MAGIC_LINE = re.compile(r"[ \t]*(?:[%!?]|[A-Za-z_][\w.]*[ \t]*=[ \t]*[%!]|[\w.]+\?{1,2}[ \t]*$)")


@dataclass(frozen=True)
class _Piece:
    """Part of a virtual line that comes from one JSON string of the notebook."""

    start: int          # offset in the virtual line
    token: Node         # the JSON string node (its span and written text)
    offset: int         # offset in the string's decoded value


@dataclass
class VirtualNotebook:
    """One side: the Python text of its code cells and where each of its lines came from."""

    text: str
    pieces: list[list[_Piece]]                     # per virtual line (0-based)
    broken_cells: list[tuple[int, str]]            # (virtual 0-based line of the error, message)
    cell_texts: list[str]
    skipped: str = ""                              # why the notebook's code was not read

    def position(self, line: int, column: int) -> tuple[int, int] | None:
        """1-based notebook (line, column) of 1-based virtual (``line``, ``column``)."""
        if not 0 < line <= len(self.pieces) or not self.pieces[line - 1]:
            return None
        pieces = self.pieces[line - 1]
        offset = column - 1
        piece = pieces[0]
        for candidate in pieces:
            if candidate.start <= offset:
                piece = candidate
        decoded = piece.offset + max(offset - piece.start, 0)
        raw = _raw_offsets(piece.token.written)
        index = raw[min(decoded, len(raw) - 1)]
        return piece.token.span.line, piece.token.span.column + index


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


def read_notebook(text: str) -> VirtualNotebook:
    """The virtual Python text of a notebook; ``ConfigSyntaxError`` if it is not JSON."""
    root = parse_json(text, skip=_METADATA, drop=_NOT_CODE)
    if root.kind != "map":
        raise ConfigSyntaxError("not a notebook: the document is not a JSON object", root.span.line)
    language = _language(root)
    if language and language != "python":
        return VirtualNotebook("", [], [], [], skipped=f"a {language} notebook")
    lines: list[str] = []
    pieces: list[list[_Piece]] = []
    broken: list[tuple[int, str]] = []
    cell_texts: list[str] = []
    for cell in _cells(root):
        source = cell.get("source") or cell.get("input")
        if source is None:
            continue
        tokens = [source] if source.kind == "scalar" else [item for _, item in source.items]
        tokens = [t for t in tokens if t.kind == "scalar" and isinstance(t.value, str)]
        cell_lines, cell_pieces = _split(tokens)
        if not cell_lines:
            continue
        code = "\n".join(cell_lines)
        cell_texts.append(code)
        python, error = pythonize(code)
        first = len(lines)
        if error is not None:
            broken.append((first + error[0] - 1, error[1]))
        lines.extend(python.split("\n"))
        pieces.extend(cell_pieces)
    text = "".join(line + "\n" for line in lines)
    return VirtualNotebook(text, pieces, broken, cell_texts)


def _language(root: Node) -> str:
    metadata = root.get("metadata")
    if metadata is None or metadata.kind != "map":
        return ""
    for key, field in (("language_info", "name"), ("kernelspec", "language")):
        section = metadata.get(key)
        value = section.get(field) if section is not None and section.kind == "map" else None
        if value is not None and isinstance(value.value, str):
            return value.value.strip().lower()
    return ""


def _cells(root: Node) -> Iterable[Node]:
    """Code cells of nbformat 4 (``cells``) and 3 (``worksheets[].cells``)."""
    containers = [root.get("cells")]
    worksheets = root.get("worksheets")
    if worksheets is not None and worksheets.kind == "list":
        containers += [sheet.get("cells") for _, sheet in worksheets.items if sheet.kind == "map"]
    for cells in containers:
        if cells is None or cells.kind != "list":
            continue
        for _, cell in cells.items:
            if cell.kind != "map":
                continue
            kind = cell.get("cell_type")
            if kind is not None and kind.value == "code":
                yield cell


def _split(tokens: list[Node]) -> tuple[list[str], list[list[_Piece]]]:
    """A cell's lines (a line may run across several strings of ``source``) and their pieces."""
    lines: list[str] = []
    pieces: list[list[_Piece]] = []
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
            pieces.append(current_pieces)
            current, current_pieces = "", []
            offset = newline + 1
    if current_pieces:
        lines.append(current.rstrip("\r"))
        pieces.append(current_pieces)
    return lines, pieces


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


class NotebookChange(PythonChange):
    """A ``PythonChange`` over the virtual texts of both sides, positions mapped back."""

    def __init__(self, path: str, base: VirtualNotebook | None, head: VirtualNotebook | None,
                 head_text: str | None, errors: list[tuple[str, int, str]]) -> None:
        super().__init__(path, ModuleView(base.text if base else ""), ModuleView(head.text if head else ""))
        self.base_notebook = base
        self.head_notebook = head
        self._file_lines = split_lines(head_text or "")
        self._notebook_errors = errors

    def notes(self) -> list[str]:
        """Why a side's code was not read (a notebook for another language)."""
        return sorted({f"{self.path}: {nb.skipped}; its cells are not analysed"
                       for nb in (self.base_notebook, self.head_notebook) if nb is not None and nb.skipped})

    def head_lines(self) -> list[str]:
        """The ``.ipynb`` file's own lines: suppression comments are looked up there."""
        return self._file_lines

    def parse_errors(self) -> list[tuple[str, int, str]]:
        out = list(self._notebook_errors)
        for side, notebook, other in (("base", self.base_notebook, self.head_notebook),
                                      ("head", self.head_notebook, self.base_notebook)):
            if notebook is None:
                continue
            unchanged = set(other.cell_texts) if other is not None else set()
            for line, message in notebook.broken_cells:
                cell = _cell_at(notebook, line)
                if cell is not None and cell in unchanged:
                    continue
                where = notebook.position(line + 1, 1)
                out.append((side, where[0] if where else 1, f"code cell does not parse: {message}"))
        for side, line, message in super().parse_errors():
            notebook = self.base_notebook if side == "base" else self.head_notebook
            where = notebook.position(line, 1) if notebook else None
            out.append((side, where[0] if where else 1, message))
        return out

    def map_findings(self, findings: Iterable[Finding]) -> list[Finding]:
        """Findings with virtual positions moved to the notebook file's lines and columns."""
        out = []
        for finding in findings:
            span = self._head_span(finding.span)
            if span is None:
                continue
            base_line = None
            if finding.base_line is not None and self.base_notebook is not None:
                where = self.base_notebook.position(finding.base_line, 1)
                base_line = where[0] if where else None
            related = []
            for item in finding.related:
                if item.path is not None and item.path != finding.path:
                    related.append(item)
                    continue
                mapped = self._head_span(item.span)
                if mapped is not None:
                    related.append(replace(item, span=mapped))
            fixes = tuple(fix for fix in (self._fix(f) for f in finding.fixes) if fix is not None)
            out.append(replace(finding, span=span, base_line=base_line, related=tuple(related), fixes=fixes))
        return out

    def _head_span(self, span: Span) -> Span | None:
        notebook = self.head_notebook
        if notebook is None:
            return None
        start = notebook.position(span.line, span.column)
        end = notebook.position(span.end_line, span.end_column)
        if start is None:
            return None
        if end is None or end < start:
            end = start
        return Span(start[0], start[1], end[0], end[1])

    def _fix(self, fix: Fix) -> Fix | None:
        """A quick fix that stays inside one JSON string, its new text escaped; else none."""
        edits = []
        for edit in fix.edits:
            if edit.span.line != edit.span.end_line or "\n" in edit.new_text:
                return None
            span = self._head_span(edit.span)
            if span is None or span.line != span.end_line:
                return None
            edits.append(TextEdit(span, json.dumps(edit.new_text, ensure_ascii=False)[1:-1]))
        return Fix(fix.title, tuple(edits))


def _cell_at(notebook: VirtualNotebook, line: int) -> str | None:
    """The code of the cell holding virtual 0-based ``line``."""
    start = 0
    for code in notebook.cell_texts:
        count = code.count("\n") + 1
        if start <= line < start + count:
            return code
        start += count
    return None


def notebook_change(path: str, base_text: str | None, head_text: str | None) -> NotebookChange | None:
    """The engine's entry point for ``.ipynb`` files. A side that is not valid JSON gives a
    parse error and no other finding (a half-read notebook would look like deleted code).
    Jupyter's autosave copies (``.ipynb_checkpoints/``) are not read."""
    if ".ipynb_checkpoints/" in path.replace("\\", "/"):
        return None
    errors: list[tuple[str, int, str]] = []
    sides: dict[str, VirtualNotebook | None] = {}
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
    return NotebookChange(path, sides["base"], sides["head"], head_text, errors)
