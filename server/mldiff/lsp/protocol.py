"""pygls' protocol, hardened: our own document store, and an answer to every request.

pygls applies didOpen/didChange to its workspace before any handler runs, and a
didChange for a document it never saw raises there; a request whose params do not
deserialize gets no reply at all, so the client waits forever. Here document sync
goes to ``MldiffServer.documents`` (which ignores unknown documents and clamps bad
ranges), an unreadable request is answered with InvalidParams, and an unreadable
notification is logged and dropped.
"""
from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol, lsp_method

logger = logging.getLogger(__name__)


class _Unreadable:
    """A message whose params could not be read (kept so the request can be answered)."""

    jsonrpc = "2.0"

    def __init__(self, data: dict[str, Any], error: JsonRpcException) -> None:
        self.id = data.get("id")
        self.method = data.get("method")
        self.error = error


class MldiffProtocol(LanguageServerProtocol):
    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if isinstance(data, dict) and "method" in data:
                return _Unreadable(data, error)
            raise

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
