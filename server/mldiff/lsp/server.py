"""The language server: shared state, and the fan-out from events to features.

Each feature module has ``register(server)``; a failure inside one feature's handler
is answered or logged by pygls without touching the others. Everything slow (git,
libcst, the rules) happens on the scheduler's worker thread.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from mldiff import __version__
from mldiff.lsp import diagnostics
from mldiff.lsp.code_lens import lens_summary
from mldiff.lsp.documents import DocumentStore
from mldiff.lsp.notebooks import SYNC_OPTIONS, NotebookStore
from mldiff.lsp.positions import UTF16
from mldiff.lsp.protocol import MldiffProtocol
from mldiff.lsp.results import DocumentResult, ResultStore
from mldiff.lsp.scheduler import FULL, GIT, Scheduler
from mldiff.lsp.settings import ServerOptions, SettingsState
from mldiff.lsp.validation_runs import ValidationRuns

if TYPE_CHECKING:
    from mldiff.lsp.analysis import Analyzer, Snapshot
    from mldiff.lsp.notebook_analysis import NotebookResult

logger = logging.getLogger(__name__)


class MldiffServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("mldiff", __version__, protocol_cls=MldiffProtocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         notebook_document_sync=SYNC_OPTIONS)
        self.documents = DocumentStore()
        self.notebooks = NotebookStore(self.documents)   # their cells are in self.documents
        self.results = ResultStore()
        self.settings = SettingsState(report=lambda message: self.say_once(message, message, True))
        self._analyzer: Analyzer | None = None
        self.options = ServerOptions()
        self.push = True                    # publishDiagnostics; False: the client pulls
        self.loop: asyncio.AbstractEventLoop | None = None
        self._scheduler: Scheduler | None = None
        self._held: set[str] | None = None  # documents waiting for the client's settings
        self._said: set[str] = set()
        self.watched_git_dirs: set[str] = set()
        self._said_lock = threading.Lock()
        self.validations = ValidationRuns()
        self.lens_answers: dict[str, tuple] = {}  # uri -> the code lenses last answered (their summary)

    # -- telling the user (any thread) --------------------------------------------------------
    def say_once(self, key: str, message: str, show: bool = False) -> None:
        """Log ``message`` (and show it when ``show``) the first time ``key`` comes up."""
        with self._said_lock:
            if key in self._said:
                return
            self._said.add(key)
        logger.warning("%s", message)
        kind = types.MessageType.Warning if show else types.MessageType.Info

        def send() -> None:
            if show:
                self.window_show_message(types.ShowMessageParams(type=kind, message=message))
            self.window_log_message(types.LogMessageParams(type=kind, message=message))

        self.on_loop(send)

    def on_loop(self, callback) -> None:
        loop = self.loop
        if loop is None:
            return
        try:
            if threading.current_thread() is threading.main_thread():
                callback()
            else:
                loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop closed during shutdown
            pass

    def on_cancel_request(self, request_id) -> None:
        """``$/cancelRequest``: pygls cannot stop a handler that runs; a validation stops itself."""
        self.validations.cancel_request(request_id)

    def report_server_error(self, error: Exception, source) -> None:
        """Log instead of pygls' pop-up: a confused client is not the user's problem. A
        client's mistake was answered with the error already: one warning line here; a
        fault of the server also goes to the client's log, as an error."""
        from mldiff.lsp.protocol import is_client_mistake
        if is_client_mistake(error):
            logger.warning("%s: %s", getattr(source, "__name__", source), error)
            return
        logger.error("%s: %s", getattr(source, "__name__", source), error)
        self.window_log_message(types.LogMessageParams(type=types.MessageType.Error,
                                                       message=f"mldiff: {error}"))

    # -- analysis -----------------------------------------------------------------------------
    @property
    def analyzer(self) -> Analyzer:
        """The worker's state (its module imports the engine's plumbing: not before initialize)."""
        if self._analyzer is None:
            from mldiff.lsp.analysis import Analyzer
            self._analyzer = Analyzer(self.settings, self.say_once)
        return self._analyzer

    @property
    def scheduler(self) -> Scheduler:
        if self._scheduler is None:
            self.loop = asyncio.get_running_loop()
            self._scheduler = Scheduler(self._snapshot, self._job, self._on_result)
        return self._scheduler

    @property
    def encoding(self) -> str:
        return self.documents.encoding or UTF16

    def hold_analysis(self) -> None:
        """Keep new work until the client's settings arrive (no flash of wrong diagnostics)."""
        self._held = set()

    async def settings_arrived(self) -> None:
        """Until the client's settings are in (or the wait for them ended, see ``hold_analysis``):
        a command that reads them, such as ``mldiff.validate.command``, must not run on the
        defaults because the editor sent it right after starting the server."""
        while self._held is not None:
            await asyncio.sleep(0.01)

    def release_analysis(self) -> None:
        held, self._held = self._held, None
        for uri in held or ():
            self.request_analysis(uri, delay_s=0)

    def request_analysis(self, uri: str, delay_s: float | None = None, reason: str = FULL) -> None:
        uri = self.notebooks.notebook_of(uri) or uri   # a cell is analysed with its notebook
        if self._held is not None:
            self._held.add(uri)
            return
        if delay_s is None:
            delay_s = self.scheduler.delay_s(uri, self.options.debounce_ms)
        self.scheduler.schedule(uri, delay_s, reason)

    def recheck_all(self, reason: str = GIT, delay_s: float = 0.05) -> None:
        """Analyse every open document again (``GIT``: only where git's state changed)."""
        for document in self.documents:
            self.request_analysis(document.uri, delay_s, reason)

    def _snapshot(self, uri: str) -> Snapshot | None:
        """On the event loop."""
        from mldiff.lsp.analysis import Snapshot
        if uri in self.notebooks:
            from mldiff.lsp.notebook_analysis import notebook_snapshot
            return notebook_snapshot(self.notebooks, uri, self.workspace_roots())
        document = self.documents.get(uri)
        if document is None:
            return None
        return Snapshot(uri, document.path, document.revision, document.version, tuple(document.lines),
                        self.workspace_roots(), document.language_id)

    def workspace_roots(self) -> tuple[str, ...]:
        """The file-system paths of the client's workspace folders (else its root): the
        only places whose documents the server analyses."""
        from pygls.uris import to_fs_path
        try:
            workspace = self.workspace
        except RuntimeError:  # before initialize
            return ()
        uris = [folder.uri for folder in workspace.folders.values()] or \
            ([workspace.root_uri] if workspace.root_uri else [])
        return tuple(path for path in map(to_fs_path, uris) if path)

    def _job(self, snapshot: Snapshot, reason: str) -> DocumentResult | NotebookResult | None:
        """On the worker thread."""
        if snapshot.cells is not None:
            notebook = self.notebooks.get(snapshot.uri)
            if notebook is None or notebook.revision != snapshot.revision:
                return None
            from mldiff.lsp.notebook_analysis import analyse_notebook
            return analyse_notebook(self, snapshot, only_if_git_changed=reason == GIT)
        document = self.documents.get(snapshot.uri)
        if document is None or document.revision != snapshot.revision:
            return None  # closed or edited since: a newer job is on its way
        return self.analyzer.analyse(snapshot, self.encoding, self.options, self.results.get(snapshot.uri),
                                     only_if_git_changed=reason == GIT)

    def _on_result(self, uri: str, result) -> None:
        """On the event loop: keep and send a result that is still about the current text
        (a notebook's: the result of each of its cells)."""
        cells = getattr(result, "cells", None)
        if cells is not None:
            if uri in self.notebooks:
                self.results.put(result.notebook)
                for cell in cells:
                    self._keep(cell.uri, cell)
            return
        self._keep(uri, result)

    def _keep(self, uri: str, result: DocumentResult | None) -> None:
        document = self.documents.get(uri)
        if result is None or document is None or document.revision != result.revision:
            return
        previous = self.results.put(result)
        changed = previous is None or previous.result_id != result.result_id
        if self.push:
            diagnostics.publish(self, uri, result.version, result.diagnostics)
        elif changed and previous is not None and previous.revision == result.revision:
            self._refresh(types.WORKSPACE_DIAGNOSTIC_REFRESH, "workspace.diagnostics.refresh_support")
        if uri in self.lens_answers and self.lens_answers[uri] != lens_summary(result):
            # The client shows lenses for other findings than these (asked before this result, or
            # git changed): a lens of a suppressed finding must not linger.
            self.lens_answers.pop(uri)
            self._refresh(types.WORKSPACE_CODE_LENS_REFRESH, "workspace.code_lens.refresh_support")
        if result.git_dir is not None:
            from mldiff.lsp import watchers
            watchers.watch(self, result.git_dir, result.common_dir)

    def _refresh(self, method: str, capability: str) -> None:
        """Ask the client to pull again (diagnostics, code lenses) after a change it did not make."""
        from pygls.capabilities import get_capability
        if get_capability(self.client_capabilities, capability, False):
            self.protocol.send_request(method, None)

    async def current_result(self, uri: str, timeout_s: float = 2.0) -> DocumentResult | None:
        """The result for the document as it is now (waiting briefly for a running analysis)."""
        document = self.documents.get(uri)
        if document is None:
            return None
        result = await self.results.wait_for(uri, document.revision, timeout_s)
        if result is None or result.revision != document.revision:
            return None
        return result

    def forget(self, uri: str) -> None:
        if self._scheduler is not None:
            self._scheduler.cancel(uri)
            self._scheduler.submit(lambda: self.analyzer.forget(uri))
        self.results.drop(uri)
        self.lens_answers.pop(uri, None)


def create_server() -> MldiffServer:
    from mldiff.lsp import (code_actions, code_lens, commands, configuration, hover, notebook_sync, sync,
                            validation_commands, watchers)
    server = MldiffServer()
    for feature in (configuration, sync, notebook_sync, watchers, hover, code_lens, code_actions, commands,
                    validation_commands):
        feature.register(server)
    return server
