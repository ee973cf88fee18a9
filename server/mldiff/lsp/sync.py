"""didOpen / didChange / didSave / didClose: when to analyse, and clearing on close.

The buffer itself is kept by ``protocol`` and ``documents``; here edits only (re)start
the debounce timer. A save re-checks every open document whose repository changed
(a commit made in a terminal shows up at the next save even where the client cannot
watch the git directory).
"""
from __future__ import annotations

from lsprotocol import types

from mldiff.lsp import diagnostics
from mldiff.lsp.scheduler import GIT


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls, params: types.DidOpenTextDocumentParams) -> None:
        ls.request_analysis(params.text_document.uri, delay_s=0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls, params: types.DidChangeTextDocumentParams) -> None:
        ls.request_analysis(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(ls, params: types.DidSaveTextDocumentParams) -> None:
        ls.scheduler.submit(ls.analyzer.bases.forget_missing)  # a `git init` since?
        ls.scheduler.submit(ls.analyzer.forget_worktree_files)  # it may name other functions now
        ls.recheck_all(GIT, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls, params: types.DidCloseTextDocumentParams) -> None:
        ls.forget(params.text_document.uri)
        diagnostics.publish(ls, params.text_document.uri, None, [])
