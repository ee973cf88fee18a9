"""A notebook buffer's analysis, on the worker thread: the engine on the editor's cells, and
its findings split into one result per cell, in the cell's own lines.

Two kinds of buffer reach here: VS Code's notebook (the cells of an open notebook
document, ``lsp/notebooks.py``) and JupyterLab's virtual document (one Python text under
the ``.ipynb``'s URI, ``lsp/jupyterlab.py``). Either becomes the head ``Notebook`` of a
``NotebookChange`` against the committed ``.ipynb`` (the base), so the cells are paired
and compared exactly as ``mldiff check`` compares them. For JupyterLab the findings are
positions in its virtual document already; for VS Code each code cell gets its own
``DocumentResult`` (diagnostics, findings, base text of its counterpart), so publishing,
pulled diagnostics, hovers, code lenses and code actions work on the cell URI as on a file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Sequence

from lsprotocol import types

from mldiff.lsp.documents import split_lsp_lines
from mldiff.lsp.results import DocumentResult

if TYPE_CHECKING:
    from mldiff.analysis.notebook import Cell, Notebook
    from mldiff.findings import FileResult, Finding
    from mldiff.lsp.analysis import Snapshot
    from mldiff.lsp.notebooks import CellText, NotebookStore

SAVED_NOTEBOOK_MAX_BYTES = 20_000_000   # the saved notebook guides JupyterLab's cells only up to this size


@dataclass
class NotebookResult:
    """An analysis of a VS Code notebook: the notebook's own result and one per code cell."""

    uri: str
    revision: int
    notebook: DocumentResult
    cells: list[DocumentResult] = field(default_factory=list)


def notebook_snapshot(notebooks: NotebookStore, uri: str, roots: tuple[str, ...]) -> Snapshot:
    """On the event loop: the notebook's cells as they are now; ``lines`` is the document
    its code cells make (``Notebook.of_cells``), the text the engine reads."""
    from mldiff.analysis.notebook import Notebook
    from mldiff.lsp.analysis import Snapshot
    notebook = notebooks.get(uri)
    assert notebook is not None
    cells = notebooks.cell_texts(uri)
    _, document = Notebook.of_cells((cell.kind, cell.text, cell.cell_id) for cell in cells)
    return Snapshot(uri, notebook.path, notebook.revision, notebook.version, tuple(split_lsp_lines(document)), roots,
                    language_id="python", cells=cells)


def notebook_engine(relpath: str, snapshot: Snapshot, base_text: str | None, text: str,
                    settings) -> FileResult | None:
    """The engine's result for a notebook buffer (cells, or JupyterLab's virtual document);
    None for the ``.ipynb`` JSON itself, which the engine reads as it reads the file."""
    from mldiff.engine import analyze_change
    from mldiff.analysis.notebook import Notebook, editor_notebook_change
    from mldiff.lsp.jupyterlab import is_virtual_document, virtual_notebook
    if snapshot.cells is not None:
        head, document = Notebook.of_cells((cell.kind, cell.text, cell.cell_id) for cell in snapshot.cells)
    elif is_virtual_document(text, snapshot.language_id):
        head, document = virtual_notebook(text, saved_notebook(snapshot.path)), text
    else:
        return None
    base = _read(base_text) if base_text else None
    change = editor_notebook_change(relpath, base if base is not None else base_text, head, document)
    return analyze_change("notebook", change, base_text, document, settings)


def saved_notebook(path: str | None) -> Notebook | None:
    """The notebook as last saved (the guide to JupyterLab's cells), if it can be read."""
    if not path:
        return None
    try:
        if os.path.getsize(path) > SAVED_NOTEBOOK_MAX_BYTES:
            return None
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    return _read(text)


@lru_cache(maxsize=8)
def _read(text: str) -> Notebook | None:
    """A notebook's cells (the base's are read once, not on every edit)."""
    from mldiff.analysis.configtree import ConfigSyntaxError
    from mldiff.analysis.notebook import read_notebook
    try:
        return read_notebook(text)
    except ConfigSyntaxError:
        return None


# -- one result per cell ----------------------------------------------------------------------
def analyse_notebook(ls, snapshot: Snapshot, only_if_git_changed: bool) -> NotebookResult | None:
    """On the worker: the notebook's analysis, split into its cells (None: nothing new)."""
    previous = ls.results.get(snapshot.uri)
    result = ls.analyzer.analyse(snapshot, ls.encoding, ls.options, previous, only_if_git_changed)
    if result is None:
        return None
    return NotebookResult(snapshot.uri, snapshot.revision, result,
                          cell_results(result, snapshot.cells or (), ls.encoding))


def cell_results(result: DocumentResult, cells: Sequence[CellText], encoding: str) -> list[DocumentResult]:
    """One result per code cell, findings in the cell's own lines; a cell without findings
    gets an empty one (its diagnostics are cleared)."""
    from mldiff.analysis.notebook import Notebook, pair_cells
    from mldiff.lsp.diagnostics import to_diagnostic
    from mldiff.lsp.positions import span_to_range
    head, _ = Notebook.of_cells((cell.kind, cell.text, cell.cell_id) for cell in cells)
    base = _read(result.base_text) if result.base_text else None
    base_cells = list(base.code_cells) if base is not None else []
    pairs = pair_cells(base_cells, list(head.code_cells))
    by_number = {cell.number: cells[cell.number - 1] for cell in head.code_cells}
    findings: dict[int, list[Finding]] = {}
    for finding in result.findings:
        if finding.cell is not None and finding.cell.cell in by_number:
            findings.setdefault(finding.cell.cell, []).append(finding)
    out = []
    for index, cell in enumerate(head.code_cells):
        text = by_number[cell.number]
        counterpart = base_cells[pairs[index]] if index in pairs else None
        diagnostics, cell_findings = [], []
        for finding in findings.get(cell.number, []):
            inside = _in_cell(finding, counterpart)
            diagnostic = to_diagnostic(inside, text.uri, text.lines, encoding, text.version, result.repo_root)
            elsewhere = [types.DiagnosticRelatedInformation(
                location=types.Location(uri=by_number[r.cell.cell].uri,
                                        range=span_to_range(r.cell.span, by_number[r.cell.cell].lines, encoding)),
                message=r.message)
                for r in finding.related if r.cell is not None and r.cell.cell != cell.number and r.cell.cell in by_number]
            if elsewhere:
                diagnostic.related_information = [*(diagnostic.related_information or []), *elsewhere]
            diagnostics.append(diagnostic)
            cell_findings.append(inside)
        out.append(DocumentResult(
            text.uri, text.revision, text.version, diagnostics=diagnostics, findings=tuple(cell_findings),
            head_lines=text.lines, base_text="".join(line + "\n" for line in counterpart.lines) if counterpart else "",
            base_label=result.base_label, repo_root=result.repo_root, git_dir=result.git_dir,
            common_dir=result.common_dir, git_token=result.git_token))
    return out


def _in_cell(finding: Finding, counterpart: Cell | None) -> Finding:
    """``finding`` in its cell's coordinates: the cell span, the edits of the cell, related
    places of the same cell, and the base line inside the counterpart cell."""
    assert finding.cell is not None
    related = tuple(replace(r, span=r.cell.span, cell=None) for r in finding.related
                    if r.path is None and r.cell is not None and r.cell.cell == finding.cell.cell)
    base_line = None
    if finding.base_line is not None and counterpart is not None and counterpart.pieces:
        base_line = next((line + 1 for line, pieces in enumerate(counterpart.pieces)
                          if pieces and pieces[0].token.span.line == finding.base_line), None)
    return replace(finding, span=finding.cell.span, fixes=finding.cell_fixes, cell_fixes=(), related=related,
                   base_line=base_line)
