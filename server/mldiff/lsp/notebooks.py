"""The open notebooks (LSP notebook documents): their cells, in order, as the client has them.

VS Code sends a notebook's cells with ``notebookDocument/did*`` once the server advertises
``notebookDocumentSync``; each cell is a text document with its own URI
(``vscode-notebook-cell:/path/train.ipynb#W2sZmlsZQ==``). The cells' texts live in the
server's ``DocumentStore`` like any buffer (so hovers, code actions and pulled
diagnostics on a cell URI work as on a file), and here the notebook keeps their order,
kinds and ids. Like the document store, this one ignores what it never saw and clamps
what is out of range: a confused client cannot take the server down.
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any, Iterator

from lsprotocol import types

from mldiff.lsp.documents import DocumentStore, uri_to_path

logger = logging.getLogger(__name__)

# The notebooks whose Python cells the server reads (VS Code's type for .ipynb files); their
# markdown and raw cells are synced too, only so that cells are numbered as Jupyter numbers them.
NOTEBOOK_TYPE = "jupyter-notebook"
SYNC_OPTIONS = types.NotebookDocumentSyncOptions(notebook_selector=[types.NotebookDocumentFilterWithNotebook(
    notebook=types.NotebookDocumentFilterNotebookType(notebook_type=NOTEBOOK_TYPE),
    cells=[types.NotebookCellLanguage(language=language) for language in ("python", "markdown", "raw")])])
_REVISIONS = itertools.count(1)


@dataclass(frozen=True)
class CellText:
    """One cell as it was when an analysis started."""

    uri: str
    kind: str                 # "code" (Python), "markdown" or "raw"
    text: str
    cell_id: str | None       # the nbformat id when the client passes it in the cell's metadata
    revision: int             # the cell document's revision (its result is stored under it)
    version: int | None
    lines: tuple[str, ...]    # with line endings, as the document store keeps them


@dataclass
class OpenNotebook:
    uri: str
    path: str | None                       # the .ipynb on disk (file: URIs only)
    version: int
    cells: list[types.NotebookCell]
    revision: int = field(default_factory=lambda: next(_REVISIONS))   # new on every change

    def changed(self) -> None:
        self.revision = next(_REVISIONS)


def cell_id(metadata: Any) -> str | None:
    """The nbformat id in a cell's metadata (VS Code's ipynb support keeps it there, at the top
    level or under ``metadata``), else None: cells are then paired by their code."""
    for table in (metadata, metadata.get("metadata") if isinstance(metadata, dict) else None):
        if isinstance(table, dict) and isinstance(table.get("id"), str) and table["id"]:
            return table["id"]
    return None


class NotebookStore:
    """Open notebooks by URI, and which notebook each cell belongs to. On the event loop."""

    def __init__(self, documents: DocumentStore) -> None:
        self.documents = documents
        self._notebooks: dict[str, OpenNotebook] = {}
        self._cell_notebook: dict[str, str] = {}

    def __contains__(self, uri: object) -> bool:
        return uri in self._notebooks

    def __iter__(self) -> Iterator[OpenNotebook]:
        return iter(list(self._notebooks.values()))

    def get(self, uri: str) -> OpenNotebook | None:
        return self._notebooks.get(uri)

    def notebook_of(self, uri: str) -> str | None:
        """The notebook URI of cell ``uri`` (None for a document that is no cell)."""
        return self._cell_notebook.get(uri)

    # -- notebookDocument/did* ------------------------------------------------------------------
    def open(self, params: types.DidOpenNotebookDocumentParams) -> OpenNotebook:
        item = params.notebook_document
        if item.uri in self._notebooks:
            self.close(item.uri)
        notebook = OpenNotebook(item.uri, uri_to_path(item.uri), item.version, list(item.cells))
        self._notebooks[item.uri] = notebook
        for document in params.cell_text_documents:
            self._open_cell(notebook, document)
        return notebook

    def change(self, params: types.DidChangeNotebookDocumentParams) -> OpenNotebook | None:
        """Apply a change; None (and nothing done) for a notebook never opened."""
        notebook = self._notebooks.get(params.notebook_document.uri)
        if notebook is None:
            return None
        notebook.version = params.notebook_document.version
        cells = params.change.cells
        if cells is not None:
            if cells.structure is not None:
                array = cells.structure.array
                start = min(max(array.start, 0), len(notebook.cells))
                end = min(start + max(array.delete_count, 0), len(notebook.cells))
                notebook.cells[start:end] = list(array.cells or [])
                for closed in cells.structure.did_close or []:
                    self._close_cell(closed.uri)
                for document in cells.structure.did_open or []:
                    self._open_cell(notebook, document)
            by_uri = {cell.document: cell for cell in notebook.cells}
            for data in cells.data or []:
                if data.document in by_uri:
                    by_uri[data.document].kind = data.kind
                    by_uri[data.document].metadata = data.metadata
            for content in cells.text_content or []:
                if self.documents.change(types.DidChangeTextDocumentParams(
                        text_document=content.document, content_changes=content.changes)) is None:
                    logger.warning("change of cell %s, which is not open: ignored", content.document.uri)
        notebook.changed()
        return notebook

    def close(self, uri: str) -> tuple[OpenNotebook | None, list[str]]:
        """Forget notebook ``uri``: (it, the URIs of its cells, now closed)."""
        notebook = self._notebooks.pop(uri, None)
        closed = [cell for cell, owner in self._cell_notebook.items() if owner == uri]
        for cell in closed:
            self._close_cell(cell)
        return notebook, closed

    def _open_cell(self, notebook: OpenNotebook, item: types.TextDocumentItem) -> None:
        document = self.documents.open(item)
        document.notebook = notebook.uri
        self._cell_notebook[item.uri] = notebook.uri

    def _close_cell(self, uri: str) -> None:
        self.documents.close(uri)
        self._cell_notebook.pop(uri, None)

    # -- what the worker reads ---------------------------------------------------------------
    def cell_texts(self, uri: str) -> tuple[CellText, ...]:
        """The notebook's cells as they are now (cells the client did not send are left out)."""
        notebook = self._notebooks[uri]
        out = []
        for cell in notebook.cells:
            document = self.documents.get(cell.document)
            if document is None:
                continue
            # A raw cell is a code cell of language "raw" to VS Code: only Python cells are code here.
            python = cell.kind == types.NotebookCellKind.Code and document.language_id in ("python", "ipython")
            kind = "code" if python else "markdown" if cell.kind == types.NotebookCellKind.Markup else "raw"
            out.append(CellText(cell.document, kind, document.text, cell_id(cell.metadata), document.revision,
                                document.version, tuple(document.lines)))
        return tuple(out)
