"""Notebooks in the language server, end to end with a real ``mldiff serve`` process.

VS Code's notebook editor: the server advertises notebookDocumentSync for Python cells;
each code cell gets its diagnostics on its own URI in cell-relative positions (unsaved
edits included, ``[]`` when clean, cleared on close), pushed or pulled, and hovers, code
lenses and code actions work in cells. JupyterLab's virtual document (the cells joined,
magics rewritten) is read back into cells and compared with the committed notebook.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from lsprotocol import types

from conftest import FIXTURES, Repo
from lsp_notebook import OpenNotebook
from lsp_session import capabilities, session, uri_of

NOTEBOOK = FIXTURES / "notebooks" / "train.ipynb"
DATA, MODEL = 2, 4     # cells (0-based, markdown counted): the transform and data; model and optimizer
REMOVED = "transforms.Normalize((0.1307,), (0.3081,)) removed"
VSCODE = [("visual-studio-code", "push"), ("visual-studio-code", "pull")]


@pytest.fixture
def notebook_repo(repo: Repo) -> Repo:
    repo.write("train.ipynb", NOTEBOOK.read_text(encoding="utf-8"))
    repo.write("pyproject.toml", (FIXTURES / "notebooks" / "pyproject.toml").read_text(encoding="utf-8"))
    repo.commit("notebook")
    return repo


def vscode(pull: bool = False, encodings: list[str] | None = None) -> types.ClientCapabilities:
    """VS Code's capabilities (pytest-lsp's recording) with its notebook sync, which the
    recording leaves out (pygls advertises notebook sync only to a client that has it), and
    with ``pull`` the pulled diagnostics that VS Code 1.91+ has."""
    caps = capabilities("visual-studio-code", refresh=pull)
    if pull:
        caps.text_document.diagnostic = types.DiagnosticClientCapabilities(dynamic_registration=True)
    caps.notebook_document = types.NotebookDocumentClientCapabilities(
        synchronization=types.NotebookDocumentSyncClientCapabilities(dynamic_registration=True,
                                                                     execution_summary_support=True))
    if encodings:
        caps.general = types.GeneralClientCapabilities(position_encodings=encodings)
    return caps


def edits_of(action: types.CodeAction, uri: str) -> list[types.TextEdit]:
    """The edits a code action makes to ``uri`` (VS Code gets them as document changes)."""
    if action.edit.changes:
        return list(action.edit.changes[uri])
    return [edit for change in action.edit.document_changes if change.text_document.uri == uri for edit in change.edits]


def code_cells(notebook: OpenNotebook) -> list[str]:
    return [cell.uri for cell in notebook.cells if cell.kind == types.NotebookCellKind.Code]


def ml201(diagnostics: list[types.Diagnostic]) -> list[types.Diagnostic]:
    return [d for d in diagnostics if d.code == "ML201"]


@pytest.mark.parametrize("profile, mode", VSCODE, ids=["push", "pull"])
async def test_a_cell_edit_gets_diagnostics_on_the_cell_and_clean_cells_get_none(
        notebook_repo: Repo, profile: str, mode: str) -> None:
    async with session(notebook_repo.path, profile, mode, caps=vscode(pull=mode == "pull")) as lsp:
        sync = lsp.initialize_result.capabilities.notebook_document_sync
        (selector,) = sync.notebook_selector
        assert selector.notebook.notebook_type == "jupyter-notebook"
        assert [cell.language for cell in selector.cells] == ["python", "markdown", "raw"]

        notebook = OpenNotebook.of_file(lsp, notebook_repo.path / "train.ipynb")
        for uri in code_cells(notebook):
            assert await lsp.diagnostics(uri) == []            # every code cell: clean
        data = notebook.code(DATA)
        version = notebook.delete_line(DATA, "transforms.Normalize(")   # unsaved
        (diagnostic,) = ml201(await lsp.diagnostics(data.uri, lambda d: bool(ml201(d))))
        assert diagnostic.message == REMOVED
        # anchored where the removed line stood: the cell's line 3 (0-based 2), now the closing `])`
        closing = notebook.code(DATA).text.split("\n")[2]
        assert closing == "])"
        assert diagnostic.range == types.Range(start=types.Position(line=2, character=0),
                                               end=types.Position(line=2, character=len(closing)))
        assert diagnostic.data["version"] == version and diagnostic.data["family"] == "normalization"
        for uri in code_cells(notebook):
            if uri != data.uri:
                assert await lsp.diagnostics(uri) == []
        if mode == "push":
            assert lsp.published[data.uri][-1].version == version
        assert (notebook_repo.path / "train.ipynb").read_text(encoding="utf-8") == NOTEBOOK.read_text(encoding="utf-8")

        notebook.edit(DATA, (1, 26), (1, 26), "\n    transforms.Normalize((0.1307,), (0.3081,)),")   # undone
        assert await lsp.diagnostics(data.uri, lambda d: not d) == []


async def test_hover_code_lens_and_code_actions_in_a_cell(notebook_repo: Repo) -> None:
    async with session(notebook_repo.path, caps=vscode()) as lsp:
        notebook = OpenNotebook.of_file(lsp, notebook_repo.path / "train.ipynb")
        data = notebook.code(DATA)
        notebook.delete_line(DATA, "transforms.Normalize(")
        found = ml201(await lsp.diagnostics(data.uri, lambda d: bool(ml201(d))))

        hover = await lsp.hover(data.uri, 2, 1)   # on `])`, where the removed line stood
        assert "**ML201** normalization" in hover.contents.value
        assert "before: `transforms.Normalize((0.1307,), (0.3081,))`" in hover.contents.value
        assert hover.range.start.line == 2

        (lens,) = await lsp.code_lenses(data.uri)
        assert lens.command.title == "ML: normalization" and lens.range.start.line == 2   # above the removal
        assert lens.command.arguments[0] == data.uri

        actions = await lsp.code_actions(data.uri, found)
        titles = [action.title for action in actions]
        assert "Suppress ML201 on this line" in titles
        suppress = next(action for action in actions if action.title == "Suppress ML201 on this line")
        (edit,) = edits_of(suppress, data.uri)
        assert edit.new_text == "  # mldiff: ignore[ML201]" and edit.range.start.line == 2
        # applying it (as the client would): the finding goes
        notebook.edit(DATA, (2, edit.range.start.character), (2, edit.range.end.character), edit.new_text)
        assert await lsp.diagnostics(data.uri, lambda d: not ml201(d)) == []


async def test_positions_in_cells_follow_the_negotiated_encoding(notebook_repo: Repo) -> None:
    """UTF-16 by default, UTF-8 when the client prefers it: a CJK comment and an emoji in
    front of the changed value move its column differently."""
    for encoding in ("utf-16", "utf-8"):
        caps = vscode(encodings=[types.PositionEncodingKind.Utf8] if encoding == "utf-8" else None)
        async with session(notebook_repo.path, caps=caps) as lsp:
            assert lsp.initialize_result.capabilities.position_encoding == encoding
            notebook = OpenNotebook.of_file(lsp, notebook_repo.path / "train.ipynb")
            model = notebook.code(MODEL)
            line = next(i for i, text in enumerate(model.text.split("\n")) if "lr=1e-3" in text)
            old = model.text.split("\n")[line]
            new = "s = '学習率🚀'; " + old.replace("lr=1e-3", "lr=1e-2")
            notebook.edit(MODEL, (line, 0), (line, len(old)), new)
            found = await lsp.diagnostics(model.uri, lambda d: any(x.code == "ML301" for x in d))
            (diagnostic,) = [d for d in found if d.code == "ML301"]
            prefix = new[:new.index("1e-2")]
            units = len(prefix.encode("utf-16-le")) // 2 if encoding == "utf-16" else len(prefix.encode("utf-8"))
            assert (diagnostic.range.start.line, diagnostic.range.start.character) == (line, units)


async def test_cells_inserted_moved_and_deleted(notebook_repo: Repo) -> None:
    async with session(notebook_repo.path, caps=vscode()) as lsp:
        notebook = OpenNotebook.of_file(lsp, notebook_repo.path / "train.ipynb")
        data = notebook.code(DATA)
        notebook.delete_line(DATA, "transforms.Normalize(")
        assert ml201(await lsp.diagnostics(data.uri, lambda d: bool(ml201(d))))
        published = len(lsp.published[data.uri])

        new = notebook.insert_cell(1, "print('peek')")          # a cell above: nothing else changes
        assert await lsp.diagnostics(new.uri) == []
        await lsp.until(lambda: len(lsp.published[data.uri]) > published)
        assert [d.code for d in lsp.published[data.uri][-1].diagnostics] == ["ML201"]

        loop = notebook.cells[-1]
        notebook.move_cell(len(notebook.cells) - 1, 1)          # the training loop to the top...
        notebook.edit(1, (0, 0), (0, 0), "# first\n")           # ...and a comment in it (a new version)
        assert await lsp.diagnostics(loop.uri) == []            # compared with itself: nothing changed
        for uri in code_cells(notebook):
            assert [d.code for d in (await lsp.diagnostics(uri))] == (["ML201"] if uri == data.uri else [])

        deleted = notebook.delete_cell(notebook.cells.index(data))   # the finding's cell goes: cleared
        await lsp.until(lambda: not lsp.published[deleted.uri][-1].diagnostics)


async def test_closing_the_notebook_clears_every_cell(notebook_repo: Repo) -> None:
    async with session(notebook_repo.path, caps=vscode()) as lsp:
        notebook = OpenNotebook.of_file(lsp, notebook_repo.path / "train.ipynb")
        data = notebook.code(DATA)
        notebook.delete_line(DATA, "transforms.Normalize(")
        assert ml201(await lsp.diagnostics(data.uri, lambda d: bool(ml201(d))))
        counts = {uri: len(lsp.published.get(uri, [])) for uri in code_cells(notebook)}
        notebook.close()
        for uri in code_cells(notebook):
            await lsp.until(lambda uri=uri: len(lsp.published.get(uri, [])) > counts[uri])
            assert not lsp.published[uri][-1].diagnostics
        assert await lsp.hover(data.uri, 0, 5) is None


async def test_bad_notebook_messages_are_dropped_and_the_server_keeps_serving(notebook_repo: Repo) -> None:
    async with session(notebook_repo.path, caps=vscode()) as lsp:
        ghost = uri_of(notebook_repo.path / "ghost.ipynb")
        await lsp.send_raw({"method": "notebookDocument/didChange", "params": {
            "notebookDocument": {"uri": ghost, "version": 2}, "change": {"cells": {"textContent": []}}}})
        await lsp.send_raw({"method": "notebookDocument/didClose", "params": {
            "notebookDocument": {"uri": ghost}, "cellTextDocuments": []}})
        notebook = OpenNotebook.of_file(lsp, notebook_repo.path / "train.ipynb")
        await lsp.send_raw({"method": "notebookDocument/didChange", "params": {
            "notebookDocument": {"uri": notebook.uri, "version": 9}, "change": {"cells": {
                "structure": {"array": {"start": 99, "deleteCount": 7}},
                "textContent": [{"document": {"uri": "vscode-notebook-cell:/nowhere#x", "version": 3},
                                 "changes": [{"text": "x"}]}]}}}})
        data = notebook.code(DATA)
        notebook.delete_line(DATA, "transforms.Normalize(")
        assert ml201(await lsp.diagnostics(data.uri, lambda d: bool(ml201(d))))


# -- JupyterLab --------------------------------------------------------------------------------
def virtual_document(path: Path) -> str:
    """The text jupyterlab-lsp 5 opens for a notebook (as recorded from JupyterLab 4.6): every
    cell followed by two blank lines, a markdown cell as an empty line, magics rewritten."""
    parts = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        source = "".join(cell["source"]) if cell["cell_type"] == "code" else ""
        parts.append(source.replace("%matplotlib inline", 'get_ipython().run_line_magic("matplotlib", " inline")'))
    return "\n\n\n".join(parts) + "\n"


async def test_jupyterlab_virtual_document_is_compared_cell_by_cell(notebook_repo: Repo) -> None:
    path = notebook_repo.path / "train.ipynb"
    text = virtual_document(path)
    async with session(notebook_repo.path, caps=types.ClientCapabilities(
            text_document=types.TextDocumentClientCapabilities(
                publish_diagnostics=types.PublishDiagnosticsClientCapabilities()))) as lsp:
        uri = lsp.open(path, text, language="python")
        assert await lsp.diagnostics(uri) == []                 # the magic and the layout are no change
        lines = text.split("\n")
        line = next(i for i, value in enumerate(lines) if "transforms.Normalize(" in value)
        without = "\n".join(lines[:line] + lines[line + 1:])
        lsp.change(uri, (None, without))
        (diagnostic,) = ml201(await lsp.diagnostics(uri, lambda d: bool(ml201(d))))
        assert diagnostic.range.start.line == line and diagnostic.message == REMOVED   # on `])`, where it stood
        moved = "\n\n\n" + "print('new cell')\n\n\n" + without.lstrip("\n")       # a new cell in front
        lsp.change(uri, (None, moved))
        (diagnostic,) = ml201(await lsp.diagnostics(uri, lambda d: bool(ml201(d)) and d[0].range.start.line != line))
        moved_lines = moved.split("\n")
        assert moved_lines[diagnostic.range.start.line] == "])"
        assert moved_lines[diagnostic.range.start.line - 2].startswith("transform = transforms.Compose(")


async def test_a_fix_is_an_edit_of_the_cell(repo: Repo) -> None:
    """A finding's fix (restore the base lines) comes as an edit of the cell's own text."""
    one_line = "tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])"
    cells = [{"cell_type": "markdown", "id": "t", "metadata": {}, "source": ["# Data"]},
             {"cell_type": "code", "id": "i", "metadata": {}, "outputs": [], "execution_count": None,
              "source": ["from torchvision import transforms"]},
             {"cell_type": "code", "id": "d", "metadata": {}, "outputs": [], "execution_count": None,
              "source": ["x = 1\n", one_line + "\n", "y = 2"]}]
    repo.write("data.ipynb", json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    repo.commit("data")
    async with session(repo.path, caps=vscode()) as lsp:
        notebook = OpenNotebook.of_file(lsp, repo.path / "data.ipynb")
        cell = notebook.code(2)
        notebook.edit(2, (1, 0), (1, len(one_line)), "tf = transforms.ToTensor()")
        found = ml201(await lsp.diagnostics(cell.uri, lambda d: bool(ml201(d))))
        actions = await lsp.code_actions(cell.uri, found)
        restore = next(action for action in actions if action.title == "Restore the removed lines from the base")
        (edit,) = edits_of(restore, cell.uri)
        assert edit.range == types.Range(start=types.Position(line=1, character=0), end=types.Position(line=2, character=0))
        assert edit.new_text == one_line + "\n"
        notebook.edit(2, (1, 0), (2, 0), edit.new_text)
        assert await lsp.diagnostics(cell.uri, lambda d: not d) == []
        assert cell.text == "x = 1\n" + one_line + "\ny = 2"
