"""Which changed lines ran: a marker call before each changed statement, nothing else.

A finding whose value did not change at run time has two explanations: the changed line
never ran (a branch not taken, a function not called in N steps) or something overrode its
value (an argparse default, a config merge). To tell them apart the probe compiles the
changed Python files with one call, ``__mldiff_line__(file, lines)``, placed before each
statement that holds a changed line; the call records the optimizer step at which the
statement first ran. Nothing is written to disk, the line numbers of the code stay what
they were (tracebacks are unchanged), and no tracing function is installed: an unchanged
statement costs nothing, a changed one a dictionary lookup each time it runs.

The script itself is compiled here; changed modules it imports come through an import
hook that delegates finding them to the other finders and only compiles their source
with the markers. Self-contained (standard library only) like probe.py, copied beside it.
"""
from __future__ import annotations

import ast
import builtins
import importlib.machinery
import os
import sys
from typing import AbstractSet, Any, Callable, Iterable, cast

MARKER = "__mldiff_line__"


def parse_spec(spec: str) -> tuple[str, set[int]]:
    """``PATH:12,40-42`` -> (PATH, {12, 40, 41, 42}); the path may contain colons."""
    path, _, numbers = spec.rpartition(":")
    if not path or not numbers:
        raise ValueError(f"--lines {spec!r}: expected PATH:LINES (such as train.py:12,40-42)")
    lines: set[int] = set()
    for part in numbers.split(","):
        first, _, last = part.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            raise ValueError(f"--lines {spec!r}: {part!r} is not a line or a range of lines")
        lines.update(range(int(first), int(last or first) + 1))
    return path, lines


def _header_end(node: ast.stmt) -> int:
    """The last line of a compound statement's header: the line before its first block
    (for ``match``, before its first ``case``)."""
    cases = getattr(node, "cases", None)
    if cases:
        return max(node.lineno, cases[0].pattern.lineno - 1)
    body = getattr(node, "body", None)
    if isinstance(body, list) and body:
        return max(node.lineno, body[0].lineno - 1)
    return node.end_lineno or node.lineno


def _is_future_import(node: ast.stmt) -> bool:
    return isinstance(node, ast.ImportFrom) and node.module == "__future__"


def _blocks(node: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists nested in ``node``, in source order."""
    blocks: list[list[ast.stmt]] = []
    for name in ("body", "orelse", "finalbody"):
        value = getattr(node, name, None)
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            blocks.append(value)
    for handler in getattr(node, "handlers", None) or []:
        blocks.append(handler.body)
    for case in getattr(node, "cases", None) or []:
        blocks.append(case.body)
    blocks.sort(key=lambda block: block[0].lineno)
    return blocks


class _Marker:
    """Inserts marker statements into one module's tree; remembers which lines it could mark."""

    def __init__(self, file_index: int, lines: set[int]) -> None:
        self.file_index = file_index
        self.lines = lines
        self.marked: set[int] = set()

    def _call(self, where: ast.stmt, lines: Iterable[int]) -> ast.stmt:
        covered = tuple(sorted(lines))
        self.marked.update(covered)
        position: dict[str, Any] = {"lineno": where.lineno, "col_offset": where.col_offset,
                    "end_lineno": where.lineno, "end_col_offset": where.col_offset}
        return ast.Expr(ast.Call(ast.Name(MARKER, ast.Load(), **position),
                                 [ast.Constant(self.file_index, **position), ast.Constant(cast(Any, covered), **position)],
                                 [], **position), **position)

    def body(self, statements: list[ast.stmt], leading: AbstractSet[int] = frozenset(), module: bool = False) -> list[ast.stmt]:
        """``statements`` with markers; ``leading`` lines (an ``else:`` or ``except X:`` header
        above this block) are marked at its start."""
        out: list[ast.stmt] = []
        pending = set(leading)
        start = 0
        # A docstring (not code) and, in a module, `from __future__` imports stay first.
        while start < len(statements) and (
                (start == 0 and isinstance(statements[0], ast.Expr) and isinstance(statements[0].value, ast.Constant)
                 and isinstance(statements[0].value.value, str))
                or (module and _is_future_import(statements[start]))):
            out.append(statements[start])
            start += 1
        for index in range(start, len(statements)):
            node = statements[index]
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            last = node.end_lineno or node.lineno
            inside = {line for line in self.lines if first <= line <= last}
            blocks = _blocks(node)
            if not blocks:
                if inside or pending:
                    out.append(self._call(node, inside | pending))
                    pending = set()
                out.append(node)
                continue
            header = {line for line in inside if line <= _header_end(node)}
            if header or pending:
                out.append(self._call(node, header | pending))
                pending = set()
            if inside - header:
                self._nested(node, blocks, inside - header)
            out.append(node)
        if pending and out:
            out.append(self._call(out[-1], pending))
        return out

    def _nested(self, node: ast.stmt, blocks: list[list[ast.stmt]], lines: set[int]) -> None:
        """Mark inside each nested block; lines between blocks (``else:``, ``except E:``,
        ``case P:``) are marked at the start of the block that follows them."""
        previous_end = _header_end(node)
        for block in blocks:
            block_first, block_last = block[0].lineno, max(s.end_lineno or s.lineno for s in block)
            gap = {line for line in lines if previous_end < line < block_first}
            replacement = self.body(block, leading=gap) if gap or any(
                block_first <= line <= block_last for line in lines) else block
            block[:] = replacement
            previous_end = block_last


class LineMarks:
    """The changed lines of the run, the step at which each first ran, and the import hook."""

    def __init__(self, targets: dict[str, set[int]], steps_done: Callable[[], int]) -> None:
        self.steps_done = steps_done
        self.paths: list[str] = []
        self.given: dict[str, str] = {}           # real path -> the path as mldiff gave it
        self.lines: dict[str, set[int]] = {}
        for path, lines in targets.items():
            real = os.path.realpath(path)
            if real not in self.lines:
                self.paths.append(real)
                self.given[real] = path
                self.lines[real] = set()
            self.lines[real].update(lines)
        self.index = {path: number for number, path in enumerate(self.paths)}
        self.marked: dict[str, set[int]] = {}     # path -> lines a marker covers (the file was compiled)
        self.first: dict[tuple[int, int], int] = {}   # (file, line) -> steps done when it first ran
        self.errors: list[str] = []
        self._finder: _MarkingFinder | None = None

    # -- running ------------------------------------------------------------------------
    def hit(self, file_index: int, lines: tuple[int, ...]) -> None:
        first = self.first
        key = (file_index, lines[0])
        if key in first:
            return
        steps = self.steps_done()
        for line in lines:
            first.setdefault((file_index, line), steps)

    def install(self) -> None:
        setattr(builtins, MARKER, self.hit)
        self._finder = _MarkingFinder(self)
        sys.meta_path.insert(0, self._finder)

    def remove(self) -> None:
        if self._finder is not None and self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
        # The marker stays callable: code compiled with it may still run (atexit, threads).

    # -- compiling ------------------------------------------------------------------------
    def wants(self, path: str | None) -> str | None:
        if not path:
            return None
        real = os.path.realpath(path)
        return real if real in self.lines else None

    def compile(self, source: bytes | str, path: str) -> Any:
        """The code of ``path`` with markers before its changed statements."""
        real = os.path.realpath(path)
        tree = ast.parse(source, filename=path)
        marker = _Marker(self.index[real], self.lines[real])
        tree.body = marker.body(tree.body, module=True)
        self.marked[real] = marker.marked
        return compile(tree, path, "exec", dont_inherit=True)

    def to_json(self) -> dict[str, Any]:
        files = {}
        for number, path in enumerate(self.paths):
            marked = self.marked.get(path)
            files[self.given[path]] = {
                "loaded": marked is not None,
                "lines": {str(line): self.first.get((number, line)) for line in sorted(self.lines[path])
                          if marked is not None and line in marked},
                "unmarked": sorted(self.lines[path] - (marked or set())) if marked is not None else [],
            }
        return {"files": files, "errors": self.errors}


class _MarkingLoader(importlib.machinery.SourceFileLoader):
    """A source loader that compiles with markers and never reads or writes bytecode caches."""

    def __init__(self, fullname: str, path: str, marks: LineMarks) -> None:
        super().__init__(fullname, path)
        self._marks = marks

    def get_code(self, fullname: str) -> Any:
        path = self.get_filename(fullname)
        try:
            return self._marks.compile(self.get_data(path), path)
        except SyntaxError:
            raise
        except Exception as exc:  # noqa: BLE001 - never stop the run over a marker: load it plainly
            self._marks.errors.append(f"{path}: {type(exc).__name__}: {exc}")
            return super().get_code(fullname)


class _MarkingFinder:
    """Asks the other finders where a module is; a changed source file gets the marking loader."""

    def __init__(self, marks: LineMarks) -> None:
        self._marks = marks
        self._busy = False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if self._busy:
            return None
        self._busy = True
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is None:
                    continue
                if (spec.origin is not None and self._marks.wants(spec.origin) and spec.origin.endswith(".py")
                        and isinstance(spec.loader, importlib.machinery.SourceFileLoader)):
                    spec.loader = _MarkingLoader(fullname, spec.origin, self._marks)
                    spec.cached = None
                return spec
            return None
        finally:
            self._busy = False
