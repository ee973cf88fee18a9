"""notebookDocument/didOpen / didChange / didSave / didClose: when to analyse a notebook,
and clearing its cells' diagnostics when they go.

The notebook itself is kept by ``protocol`` and ``notebooks`` (its cells are documents of
the document store); here the events only (re)start the notebook's debounce timer, as
text edits do for a file. Every code cell gets its diagnostics on its own URI, ``[]``
when it has none; a cell deleted from the notebook, and every cell of a closed notebook,
is cleared.
"""
from __future__ import annotations

from lsprotocol import types

from mldiff.lsp import diagnostics
from mldiff.lsp.scheduler import GIT


def clear(ls, uri: str) -> None:
    """Forget a cell that went away and clear what the client shows for it."""
    ls.forget(uri)
    if ls.push:
        diagnostics.publish(ls, uri, None, [])


def register(server) -> None:
    @server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def did_open(ls, params: types.DidOpenNotebookDocumentParams) -> None:
        ls.request_analysis(params.notebook_document.uri, delay_s=0)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def did_change(ls, params: types.DidChangeNotebookDocumentParams) -> None:
        structure = params.change.cells.structure if params.change.cells is not None else None
        for document in (structure.did_close or []) if structure is not None else []:
            clear(ls, document.uri)
        ls.request_analysis(params.notebook_document.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
    def did_save(ls, params: types.DidSaveNotebookDocumentParams) -> None:
        ls.scheduler.submit(ls.analyzer.bases.forget_missing)
        ls.recheck_all(GIT, 0)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def did_close(ls, params: types.DidCloseNotebookDocumentParams) -> None:
        ls.forget(params.notebook_document.uri)
        for document in params.cell_text_documents:
            clear(ls, document.uri)
