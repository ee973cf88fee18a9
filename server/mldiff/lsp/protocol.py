"""pygls' protocol, hardened: our own document store, and an answer to every request.

pygls applies didOpen/didChange to its workspace before any handler runs, and a
didChange for a document it never saw raises there; a request whose params do not
deserialize gets no reply at all, so the client waits forever. Here document sync
goes to ``MldiffServer.documents`` (which ignores unknown documents and clamps bad
ranges) and notebook sync to ``MldiffServer.notebooks``, an unreadable request is answered with InvalidParams, and an unreadable
notification is logged and dropped.

pygls gives a command handler its arguments only: the request's ``workDoneToken`` is
kept here for it (``work_done_token``), and ``$/cancelRequest`` is passed on to the
server (``on_cancel_request``), since pygls cannot stop a handler that already runs.

A client's mistake (params that do not deserialize, an unknown command) is answered with
the error and logged on one line; pygls' own report of it, a traceback at error level,
is left out: a confused client is not a fault of the server, and the server's real
faults (internal errors) keep their tracebacks.
"""
from __future__ import annotations

import contextvars
import json
import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol, lsp_method

if TYPE_CHECKING:
    from mldiff.lsp.server import MldiffServer

logger = logging.getLogger(__name__)

# The workDoneToken of the workspace/executeCommand request being handled (its handler's
# task starts with a copy of the context this is set in).
_WORK_DONE_TOKEN: contextvars.ContextVar[types.ProgressToken | None] = contextvars.ContextVar(
    "mldiff_work_done_token", default=None)


def is_client_mistake(error: BaseException | None) -> bool:
    """An error the client caused (a body that is not JSON, params that do not
    deserialize, an unknown method or command), not an internal error of ours."""
    if isinstance(error, (json.JSONDecodeError, UnicodeDecodeError)):
        return True
    return isinstance(error, JsonRpcException) and not isinstance(error, JsonRpcInternalError)


def _not_a_client_mistake(record: logging.LogRecord) -> bool:
    """pygls' tracebacks for a client's mistakes stay out of the log (the server logs one line)."""
    if str(record.msg).startswith("Unable to deserialize message"):
        return False
    error = record.exc_info[1] if record.exc_info else None
    return not is_client_mistake(error)


for _name in ("pygls.protocol.json_rpc", "pygls.server"):
    logging.getLogger(_name).addFilter(_not_a_client_mistake)


class _Unreadable:
    """A message whose params could not be read (kept so the request can be answered)."""

    jsonrpc = "2.0"

    def __init__(self, data: dict[str, Any], error: JsonRpcException) -> None:
        self.id = data.get("id")
        self.method = data.get("method")
        self.error = error


class MldiffProtocol(LanguageServerProtocol):
    _server: MldiffServer

    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if isinstance(data, dict) and "method" in data:
                return _Unreadable(data, error)
            raise

    @property
    def work_done_token(self) -> types.ProgressToken | None:
        """The client's progress token for the command request being handled, if it sent one."""
        return _WORK_DONE_TOKEN.get()

    def _handle_cancel_notification(self, msg_id) -> None:
        self._server.on_cancel_request(msg_id)
        super()._handle_cancel_notification(msg_id)

    def _handle_notification(self, method_name: str, params: Any) -> None:
        """pygls 2.1 files the future of a notification's handler in ``_request_futures`` under
        a fresh id and never removes it (only answered requests are removed): every didChange
        kept about 1.5 KB, 30 MB in two minutes of typing in 20 files (bench/lsp_load.py).
        Finished ones are dropped here, at the next notification: never from the future's own
        callback, which pygls' shutdown runs while it iterates that dict (cancelling them)."""
        finished: list[Any] = self.__dict__.setdefault("_finished_notifications", [])
        while finished:
            self._request_futures.pop(finished.pop(), None)
        before = set(self._request_futures)
        super()._handle_notification(method_name, params)
        for key in set(self._request_futures) - before:
            # mypy cannot infer the type of a lambda with a default argument
            self._request_futures[key].add_done_callback(lambda _, key=key: finished.append(key))  # type: ignore[misc]

    def handle_message(self, message) -> None:
        if isinstance(message, _Unreadable):
            logger.warning("unreadable %s message %r: %s", message.method,
                           message.id if message.id is not None else "(notification)", message.error)
            if message.id is not None:
                error = JsonRpcInvalidParams(f"invalid params for {message.method}")
                self._send_response(message.id, None, error.to_response_error())
            return
        super().handle_message(message)

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams):
        self._server.documents.open(params.text_document)
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        if self._server.documents.change(params) is None:
            logger.warning("didChange for %s, which is not open: ignored", params.text_document.uri)
            return
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams):
        if self._server.documents.close(params.text_document.uri) is None:
            return
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    # Notebooks: kept by MldiffServer.notebooks (cells in MldiffServer.documents); a change or
    # close of a notebook never opened is dropped (pygls' own store raises KeyError there).
    @lsp_method(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def lsp_notebook_document__did_open(self, params: types.DidOpenNotebookDocumentParams):
        self._server.notebooks.open(params)
        if (handler := self.fm.features.get(types.NOTEBOOK_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def lsp_notebook_document__did_change(self, params: types.DidChangeNotebookDocumentParams):
        if self._server.notebooks.change(params) is None:
            logger.warning("notebook change for %s, which is not open: ignored", params.notebook_document.uri)
            return
        if (handler := self.fm.features.get(types.NOTEBOOK_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def lsp_notebook_document__did_close(self, params: types.DidCloseNotebookDocumentParams):
        notebook, closed = self._server.notebooks.close(params.notebook_document.uri)
        if notebook is None:
            return
        params.cell_text_documents = [types.TextDocumentIdentifier(uri=uri) for uri in closed]  # every cell it had
        if (handler := self.fm.features.get(types.NOTEBOOK_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(self, params: types.ExecuteCommandParams):
        _WORK_DONE_TOKEN.set(params.work_done_token)
        return (yield from super().lsp_workspace__execute_command(params))
