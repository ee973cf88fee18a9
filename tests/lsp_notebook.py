"""A notebook as VS Code syncs it (``notebookDocument/did*``), driven through a test Session.

Cells get URIs the way VS Code makes them (``vscode-notebook-cell:`` + the notebook's path
+ a fragment per cell), code cells language ``python``, and VS Code's ipynb support puts
the nbformat id in the cell's metadata.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types

from lsp_session import Session, uri_of

CODE, MARKUP = types.NotebookCellKind.Code, types.NotebookCellKind.Markup


@dataclass
class NotebookCell:
    uri: str
    kind: types.NotebookCellKind
    text: str
    cell_id: str | None = None


@dataclass
class OpenNotebook:
    """What the test's client has open: the notebook, its cells, their versions."""

    session: Session
    uri: str
    path: Path
    cells: list[NotebookCell]
    version: int = 1
    _fragments: int = field(default=0)

    @classmethod
    def of_file(cls, session: Session, path: Path) -> OpenNotebook:
        """The .ipynb on disk, opened in the notebook editor: every cell of it synced."""
        data = json.loads(path.read_text(encoding="utf-8"))
        notebook = cls(session, uri_of(path), path, [])
        for cell in data["cells"]:
            kind = CODE if cell["cell_type"] == "code" else MARKUP
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            notebook.cells.append(NotebookCell(notebook.new_cell_uri(), kind, source, cell.get("id")))
        session.client.notebook_document_did_open(types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=notebook.uri, notebook_type="jupyter-notebook", version=notebook.version,
                cells=[notebook.lsp_cell(cell) for cell in notebook.cells]),
            cell_text_documents=[notebook.item(cell) for cell in notebook.cells]))
        for cell in notebook.cells:
            session.versions[cell.uri] = 1
        return notebook

    def new_cell_uri(self) -> str:
        self._fragments += 1
        return f"vscode-notebook-cell:{self.path.as_posix()}#W{self._fragments}sZmlsZQ%3D%3D"

    def lsp_cell(self, cell: NotebookCell) -> types.NotebookCell:
        metadata = {"id": cell.cell_id} if cell.cell_id else None
        return types.NotebookCell(kind=cell.kind, document=cell.uri, metadata=metadata)

    def item(self, cell: NotebookCell) -> types.TextDocumentItem:
        language = "python" if cell.kind == CODE else "markdown"
        return types.TextDocumentItem(uri=cell.uri, language_id=language, version=1, text=cell.text)

    def code(self, index: int) -> NotebookCell:
        """The ``index``-th cell (0-based, markdown counted)."""
        return self.cells[index]

    # -- edits -----------------------------------------------------------------------------
    def _send(self, cells: types.NotebookDocumentCellChanges) -> None:
        self.version += 1
        self.session.client.notebook_document_did_change(types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(version=self.version, uri=self.uri),
            change=types.NotebookDocumentChangeEvent(cells=cells)))

    def edit(self, index: int, start: tuple[int, int], end: tuple[int, int], text: str) -> int:
        """Replace a range of cell ``index`` (unsaved, as typing does); the cell's new version."""
        cell = self.cells[index]
        version = self.session.versions[cell.uri] = self.session.versions[cell.uri] + 1
        lines = cell.text.split("\n")
        offset = lambda line, column: sum(len(l) + 1 for l in lines[:line]) + column  # noqa: E731
        cell.text = cell.text[:offset(*start)] + text + cell.text[offset(*end):]
        change = types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=start[0], character=start[1]),
                              end=types.Position(line=end[0], character=end[1])), text=text)
        self._send(types.NotebookDocumentCellChanges(text_content=[types.NotebookDocumentCellContentChanges(
            document=types.VersionedTextDocumentIdentifier(uri=cell.uri, version=version), changes=[change])]))
        return version

    def delete_line(self, index: int, containing: str) -> int:
        lines = self.cells[index].text.split("\n")
        line = next(i for i, text in enumerate(lines) if containing in text)
        return self.edit(index, (line, 0), (line + 1, 0), "")

    def insert_cell(self, index: int, text: str, kind: types.NotebookCellKind = CODE) -> NotebookCell:
        cell = NotebookCell(self.new_cell_uri(), kind, text)
        self.cells.insert(index, cell)
        self.session.versions[cell.uri] = 1
        self._send(types.NotebookDocumentCellChanges(structure=types.NotebookDocumentCellChangeStructure(
            array=types.NotebookCellArrayChange(start=index, delete_count=0, cells=[self.lsp_cell(cell)]),
            did_open=[self.item(cell)])))
        return cell

    def delete_cell(self, index: int) -> NotebookCell:
        cell = self.cells.pop(index)
        self._send(types.NotebookDocumentCellChanges(structure=types.NotebookDocumentCellChangeStructure(
            array=types.NotebookCellArrayChange(start=index, delete_count=1),
            did_close=[types.TextDocumentIdentifier(uri=cell.uri)])))
        return cell

    def move_cell(self, index: int, to: int) -> None:
        """VS Code moves a cell as two structure changes: out of its place, into the new one."""
        cell = self.cells.pop(index)
        self._send(types.NotebookDocumentCellChanges(structure=types.NotebookDocumentCellChangeStructure(
            array=types.NotebookCellArrayChange(start=index, delete_count=1))))
        self.cells.insert(to, cell)
        self._send(types.NotebookDocumentCellChanges(structure=types.NotebookDocumentCellChangeStructure(
            array=types.NotebookCellArrayChange(start=to, delete_count=0, cells=[self.lsp_cell(cell)]))))

    def close(self) -> None:
        self.session.client.notebook_document_did_close(types.DidCloseNotebookDocumentParams(
            notebook_document=types.NotebookDocumentIdentifier(uri=self.uri),
            cell_text_documents=[types.TextDocumentIdentifier(uri=cell.uri) for cell in self.cells]))
