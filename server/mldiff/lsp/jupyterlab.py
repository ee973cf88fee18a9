"""JupyterLab's virtual document: a notebook's cells joined into one Python text, read back as cells.

jupyterlab-lsp (through jupyter-lsp) opens a notebook with the server as one text
document under the notebook's own ``file:`` URI, language ``python``: every cell in
order, each followed by two blank lines (a markdown or raw cell as one empty line), and
IPython syntax rewritten into Python:

    %matplotlib inline   ->  get_ipython().run_line_magic("matplotlib", " inline")
    files = !ls          ->  files = get_ipython().getoutput("ls")
    help?                ->  get_ipython().run_line_magic('pinfo',  'help')
    %%time (a cell)      ->  # START_CELL_MAGIC("time", "") ... # END_CELL_MAGIC
    %%bash (a cell)      ->  get_ipython().run_cell_magic("bash", "", <the body, triple-quoted>)

It sends the whole text on every change and knows no cell ids. ``virtual_notebook``
splits the text back into cells, with the notebook saved on disk as the guide (a cell may
hold two blank lines itself): lines equal to the saved notebook's belong to its cells,
edited lines to the cell they are in, and a run the saved notebook does not have is split
at blank-line pairs into new cells. The magics are written back as the user wrote them,
so a cell nobody touched equals its base cell and pairs with it; each cell remembers its
first line in the virtual document, so findings land there.
"""
from __future__ import annotations

import ast
import re
from typing import Sequence

from mldiff.analysis.notebook import Cell, Notebook

_LINE_MAGIC = re.compile(r"^(?P<indent>[ \t]*)(?P<target>[\w.]+[ \t]*=[ \t]*)?get_ipython\(\)\."
                         r"(?P<kind>run_line_magic|getoutput|system)\((?P<args>.*)\)[ \t]*$")
_CELL_MAGIC_START = re.compile(r"^# START_CELL_MAGIC\((?P<args>.*)\)[ \t]*$")
_CELL_MAGIC_END = "# END_CELL_MAGIC"
_RUN_CELL_MAGIC = "get_ipython().run_cell_magic("
_END = "\0"   # a line of the virtual document that is no line of the cell (# END_CELL_MAGIC)


def is_virtual_document(text: str, language_id: str) -> bool:
    """An ``.ipynb`` buffer in Python (JupyterLab's), not the notebook's JSON."""
    return language_id.lower() in ("python", "ipython") and not text.lstrip("\ufeff \t\r\n").startswith("{")


def virtual_notebook(text: str, saved: Notebook | None) -> Notebook:
    """The cells of JupyterLab's virtual document ``text``, guided by ``saved`` (the notebook
    as last saved, or None); each cell's ``first_line`` is its first line in ``text``."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    plain = [_line_as_written(line) for line in lines]
    owners = _owners(plain, saved)
    cells: list[Cell] = []
    start = 0
    while start < len(plain):
        owner = owners[start]
        if owner is None:
            start += 1
            continue
        end = start
        while end < len(plain) and owners[end] == owner:
            end += 1
        body = [line for line in plain[start:end] if line != _END]
        if body == [""]:
            body = []      # an empty cell (or a markdown cell's place)
        kind, cell_id = "code", None
        if saved is not None and owner[0] == "saved":
            known = saved.cells[owner[1]]
            kind, cell_id = known.kind or "code", known.id
        cells.append(Cell(len(cells) + 1, kind, cell_id, tuple(_cell_as_written(body)) if kind == "code" else (),
                          first_line=start + 1))
        start = end
    return Notebook(tuple(cells))


def _line_as_written(line: str) -> str:
    """One line with jupyterlab-lsp's rewriting of a line magic or shell escape undone."""
    if "get_ipython()" not in line and "_CELL_MAGIC" not in line:
        return line
    if line.strip() == _CELL_MAGIC_END:
        return _END
    start = _CELL_MAGIC_START.match(line)
    if start is not None:
        args = _strings(start.group("args"))
        return f"%%{args[0]}{args[1] if len(args) > 1 else ''}" if args else line
    match = _LINE_MAGIC.match(line)
    if match is None:
        return line
    args = _strings(match.group("args"))
    if not args:
        return line
    if match.group("kind") == "run_line_magic":
        name, rest = args[0], args[1] if len(args) > 1 else ""
        magic = rest.strip() + ("??" if name == "pinfo2" else "?") if name in ("pinfo", "pinfo2") else f"%{name}{rest}"
    else:
        magic = "!" + args[0]
    return f"{match.group('indent')}{match.group('target') or ''}{magic}"


def _cell_as_written(lines: list[str]) -> list[str]:
    """A cell whose whole text is ``get_ipython().run_cell_magic(name, args, body)`` as the
    ``%%name args`` cell it was; any other cell as it is."""
    if not lines or not lines[0].startswith(_RUN_CELL_MAGIC):
        return lines
    try:
        call = ast.parse("\n".join(lines)).body[0].value  # type: ignore[attr-defined]
        name, args, body = (ast.literal_eval(argument) for argument in call.args)
    except (SyntaxError, ValueError, AttributeError, IndexError, TypeError):
        return lines
    if not all(isinstance(part, str) for part in (name, args, body)):
        return lines
    return [f"%%{name}{args}", *body.split("\n")]


def _strings(args: str) -> tuple[str, ...]:
    try:
        value = ast.literal_eval(f"({args},)")
    except (SyntaxError, ValueError):
        return ()
    return value if all(isinstance(part, str) for part in value) else ()


def _owners(lines: Sequence[str], saved: Notebook | None) -> list[tuple[str, int] | None]:
    """For each line of the virtual document, the cell it belongs to: ("saved", index of the
    saved notebook's cell) or ("new", n); None for the blank lines between cells."""
    from mldiff.hunks import diff_lines
    expected: list[str] = []
    expected_owners: list[tuple[str, int] | None] = []
    for index, cell in enumerate(saved.cells if saved is not None else ()):
        if index:
            expected += ["", ""]
            expected_owners += [None, None]
        text = list(cell.lines) if cell.kind == "code" else []
        if cell.kind == "code" and _ends_with_newline(cell):
            text.append("")
        text = text or [""]
        expected += text
        expected_owners += [("saved", index)] * len(text)
    owners: list[tuple[str, int] | None] = [None] * len(lines)
    new = iter(range(1, 1_000_000))
    base_at = head_at = 0
    hunks = diff_lines([line + "\n" for line in expected], [line + "\n" for line in lines])
    for hunk in [*hunks, None]:
        base_end, head_end = (hunk.base_start, hunk.head_start) if hunk else (len(expected), len(lines))
        for offset in range(head_end - head_at):
            owners[head_at + offset] = expected_owners[base_at + offset]
        if hunk is None:
            break
        before = expected_owners[hunk.base_start - 1] if hunk.base_start > 0 else None
        after = expected_owners[hunk.base_end] if hunk.base_end < len(expected) else None
        replaced = expected_owners[hunk.base_start:hunk.base_end]
        block = range(hunk.head_start, hunk.head_end)
        if replaced and None not in replaced and len(set(replaced)) == 1 or (
                not replaced and before is not None and before == after):
            for line in block:                       # edited inside one cell
                owners[line] = replaced[0] if replaced else before
        else:
            inside = [owner for owner in dict.fromkeys(replaced) if owner is not None and owner not in (before, after)]
            segments = _segments(lines, block)
            for number, segment in enumerate(segments):
                if number == 0 and before is not None:
                    owner = before
                elif number == len(segments) - 1 and after is not None:
                    owner = after
                elif inside:
                    owner = inside.pop(0)
                else:
                    owner = ("new", next(new))
                for line in segment:
                    owners[line] = owner
        base_at, head_at = hunk.base_end, hunk.head_end
    return owners


def _ends_with_newline(cell: Cell) -> bool:
    """Whether the saved cell's text ended with a line break (the editor then shows one more line)."""
    if cell.pieces and cell.pieces[-1]:
        last = cell.pieces[-1][-1]
        return last.token.value.endswith("\n")
    return False


def _segments(lines: Sequence[str], block: range) -> list[list[int]]:
    """The lines of ``block`` split into cells at the blank lines between them. Between two
    cells a run of r blank lines holds the first cell's trailing blank lines (e), the two
    separating lines and k empty cells of one line and two separators each:
    r = e + 2 + 3k. At the start of the document there is no cell before the run
    (r = 3k + e, the e lines leading the next cell); at its end no cell after it (r = e + 3k).
    Fewer than two blank lines between cells are part of a cell."""
    segments: list[list[int]] = [[]]
    index = block.start
    while index < block.stop:
        if lines[index] != "":
            segments[-1].append(index)
            index += 1
            continue
        run = index
        while run < block.stop and lines[run] == "":
            run += 1
        blank = list(range(index, run))
        if index == 0:                               # empty cells first, then the next cell's lead
            empty, extra = divmod(len(blank), 3)
            for cell in range(empty):
                segments[-1].append(blank[3 * cell])
                segments.append([])
            segments[-1].extend(blank[3 * empty:])
        elif run == len(lines):                      # the last cell's trail, then empty cells
            empty, extra = divmod(len(blank), 3)
            segments[-1].extend(blank[:extra])
            for cell in range(empty):
                segments.append([blank[extra + 3 * cell + 2]])
        elif len(blank) >= 2:
            empty, extra = divmod(len(blank) - 2, 3)
            segments[-1].extend(blank[:extra])
            for cell in range(empty):
                segments.append([blank[extra + 2 + 3 * cell]])
            segments.append([])
        else:
            segments[-1].extend(blank)
        index = run
    return segments   # an empty segment still marks a boundary (a cell ends where the block does)
