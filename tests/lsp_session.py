"""A real ``mldiff serve`` process driven by pytest-lsp's client, with waits that time out.

``session(...)`` starts the server, initializes it with a named client's capabilities
(pytest-lsp's recorded VS Code and Neovim profiles), and yields a ``Session`` that
opens and edits documents and waits for their diagnostics, pushed or pulled.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import sys
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Union

from lsprotocol import types
from pygls.protocol import default_converter
from pygls.uris import from_fs_path
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

SERVER_COMMAND = [sys.executable, "-m", "mldiff", "serve"]
WAIT_S = 20.0

# (capability profile, diagnostics mode): every end-to-end test runs with both.
CLIENTS = [("visual-studio-code", "push"), ("neovim", "pull")]
CLIENT_IDS = ["vscode-push", "neovim-pull"]


def uri_of(path: Path) -> str:
    return from_fs_path(str(path))


def _code_action_hook(client: LanguageClient) -> None:
    """lsprotocol 2025's client converter reads a CodeAction that carries a command as a
    Command; pick Command only when ``command`` is a string (RECIPES.md)."""
    converter = client.protocol._converter

    def structure(value: Any, _type) -> Union[types.Command, types.CodeAction]:
        if isinstance(value.get("command"), str):
            return converter.structure(value, types.Command)
        return converter.structure(value, types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], structure)


class Session:
    def __init__(self, client: LanguageClient, mode: str) -> None:
        self.client = client
        self.mode = mode
        self.versions: dict[str, int] = {}
        self.published: dict[str, list[types.PublishDiagnosticsParams]] = {}
        self.registrations: list[types.Registration] = []
        self.refreshes: dict[str, int] = {}
        self.initialize_result: types.InitializeResult | None = None
        # window/showMessageRequest: what the server asked, and the title of the action to
        # answer with (None: dismissed). ``hold`` keeps the question open until it is set.
        self.message_requests: list[types.ShowMessageRequestParams] = []
        self.answer: str | None = None
        self.hold: asyncio.Event | None = None

    # -- documents ---------------------------------------------------------------------------
    def open(self, path: Path, text: str | None = None, language: str = "python") -> str:
        uri = uri_of(path)
        self.versions[uri] = 1
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=uri, language_id=language, version=1,
            text=path.read_text(encoding="utf-8") if text is None else text)))
        return uri

    def change(self, uri: str, *edits: tuple[tuple[int, int, int, int] | None, str]) -> int:
        """Apply edits ((start line, start char, end line, end char) or None for the whole text)."""
        self.versions[uri] = version = self.versions.get(uri, 0) + 1
        changes: list = []
        for where, text in edits:
            if where is None:
                changes.append(types.TextDocumentContentChangeWholeDocument(text=text))
            else:
                start = types.Position(line=where[0], character=where[1])
                end = types.Position(line=where[2], character=where[3])
                changes.append(types.TextDocumentContentChangePartial(range=types.Range(start=start, end=end),
                                                                      text=text))
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=changes))
        return version

    def save(self, uri: str) -> None:
        self.client.text_document_did_save(types.DidSaveTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))

    def close(self, uri: str) -> None:
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))

    # -- diagnostics -------------------------------------------------------------------------
    async def diagnostics(self, uri: str, until: Callable[[list[types.Diagnostic]], bool] = lambda d: True,
                          timeout: float = WAIT_S) -> list[types.Diagnostic]:
        """The document's diagnostics for its current version, once ``until`` holds."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.mode == "push":
                history = self.published.get(uri, [])
                if history and history[-1].version == self.versions.get(uri):
                    last = list(history[-1].diagnostics)
                    if until(last):
                        return last
            else:
                report = await asyncio.wait_for(self.client.text_document_diagnostic_async(
                    types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))), timeout)
                last = list(report.items)
                if until(last):
                    return last
            await asyncio.sleep(0.02)
        raise AssertionError(f"no matching diagnostics for {uri} within {timeout} s; last: {last!r}")

    async def until(self, predicate: Callable[[], Any], timeout: float = WAIT_S) -> Any:
        """Wait (letting the client read its messages) until ``predicate()`` is truthy."""
        deadline = time.monotonic() + timeout
        while not (value := predicate()):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
            await asyncio.sleep(0.02)
        return value

    async def hover(self, uri: str, line: int, character: int = 0):
        return await self.request(self.client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character))))

    async def code_lenses(self, uri: str) -> list[types.CodeLens]:
        return list(await self.request(self.client.text_document_code_lens_async(types.CodeLensParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))) or [])

    async def send_raw(self, body: bytes | dict) -> None:
        """Write a message to the server as is (malformed ones included)."""
        data = body if isinstance(body, bytes) else json.dumps({"jsonrpc": "2.0", **body}).encode()
        stdin = self.client._server.stdin
        stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        await stdin.drain()

    async def raw_request(self, method: str, params: Any) -> Any:
        """A request whose params the client would refuse to send; its answer or error."""
        msg_id = f"raw-{uuid.uuid4()}"
        future: concurrent.futures.Future = concurrent.futures.Future()
        self.client.protocol._request_futures[msg_id] = future
        await self.send_raw({"id": msg_id, "method": method, "params": params})
        return await self.request(asyncio.wrap_future(future))

    async def request(self, awaitable, timeout: float = WAIT_S):
        return await asyncio.wait_for(awaitable, timeout)

    async def code_actions(self, uri: str, diagnostics: list[types.Diagnostic],
                           only: list[str] | None = None) -> list:
        first = diagnostics[0].range if diagnostics else types.Range(
            start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))
        return await self.request(self.client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=first,
            context=types.CodeActionContext(diagnostics=diagnostics, only=only))))

    async def command(self, name: str, *arguments: Any, token: str | None = None, timeout: float = WAIT_S):
        """Run a server command; with ``token``, as the request's workDoneToken (its progress
        is recorded in ``client.progress_reports[token]``)."""
        if token is not None:
            self.client.progress_reports.setdefault(token, [])
        return await self.request(self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=name, arguments=list(arguments), work_done_token=token)), timeout)

    def send_command(self, msg_id: str, name: str, *arguments: Any,
                     token: str | None = None) -> concurrent.futures.Future:
        """Send a command request with a known id (to cancel it later); its answer's future."""
        if token is not None:
            self.client.progress_reports.setdefault(token, [])
        future: concurrent.futures.Future = concurrent.futures.Future()
        self.client.protocol._request_futures[msg_id] = future
        params = {"command": name, "arguments": list(arguments)}
        if token is not None:
            params["workDoneToken"] = token
        asyncio.ensure_future(self.send_raw({"id": msg_id, "method": types.WORKSPACE_EXECUTE_COMMAND,
                                             "params": params}))
        return future

    def cancel_request(self, msg_id: str) -> None:
        self.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))

    def cancel_progress(self, token: str) -> None:
        self.client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))

    def progress(self, token: str) -> list:
        """The work-done progress values reported on ``token`` so far (begin, reports, end)."""
        return list(self.client.progress_reports.get(token, []))


def _recording_client(session_box: list) -> LanguageClient:
    client = LanguageClient(converter_factory=default_converter)
    features = dict(DEFAULT_CLIENT_FEATURES)

    def publish(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        client.diagnostics[params.uri] = params.diagnostics
        session_box[0].published.setdefault(params.uri, []).append(params)

    def register_capability(client: LanguageClient, params: types.RegistrationParams) -> None:
        session_box[0].registrations.extend(params.registrations)

    def refresh(method: str):
        def handler(client: LanguageClient, params: None) -> None:
            session_box[0].refreshes[method] = session_box[0].refreshes.get(method, 0) + 1
        return handler

    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = publish
    features[types.CLIENT_REGISTER_CAPABILITY] = register_capability
    features[types.WORKSPACE_DIAGNOSTIC_REFRESH] = refresh(types.WORKSPACE_DIAGNOSTIC_REFRESH)
    features[types.WORKSPACE_CODE_LENS_REFRESH] = refresh(types.WORKSPACE_CODE_LENS_REFRESH)

    async def message_request(client: LanguageClient, params: types.ShowMessageRequestParams):
        current = session_box[0]
        current.message_requests.append(params)
        if current.hold is not None:
            await current.hold.wait()
        if current.answer is None:
            return None
        return next(action for action in params.actions or [] if action.title == current.answer)

    features[types.WINDOW_SHOW_MESSAGE_REQUEST] = message_request
    register_lsp_features(client, features)
    _code_action_hook(client)
    return client


def capabilities(profile: str, mode: str = "auto", refresh: bool = False) -> types.ClientCapabilities:
    caps = client_capabilities(profile)
    if refresh:
        caps.workspace = caps.workspace or types.WorkspaceClientCapabilities()
        caps.workspace.diagnostics = types.DiagnosticWorkspaceClientCapabilities(refresh_support=True)
    return caps


@asynccontextmanager
async def session(root: Path, profile: str = "visual-studio-code", mode: str = "push", *,
                  init_options: dict[str, Any] | None = None, configuration: dict[str, Any] | None = None,
                  folders: list[Path] | None = None, refresh: bool = False,
                  caps: types.ClientCapabilities | None = None,
                  env: dict[str, str] | None = None) -> AsyncIterator[Session]:
    """A server process for ``root``. ``mode`` "pull" asks the server to serve pull
    diagnostics (the client must support them); "push" leaves the server's choice."""
    box: list = [None]
    client = _recording_client(box)
    box[0] = current = Session(client, mode)
    for scope, value in (configuration or {}).items():  # {scope URI ("" = global): {"mldiff": {...}}}
        client.set_configuration(value, scope_uri=scope)
    options = dict(init_options or {})
    if mode == "pull":
        options.setdefault("diagnosticMode", "pull")
    options.setdefault("debounceMs", 0)
    await client.start_io(*SERVER_COMMAND, **({"env": env} if env is not None else {}))
    try:
        workspace = [types.WorkspaceFolder(uri=uri_of(f), name=f.name) for f in (folders or [root])]
        current.initialize_result = await asyncio.wait_for(client.initialize_session(types.InitializeParams(
            capabilities=caps or capabilities(profile, refresh=refresh), root_uri=uri_of(root),
            workspace_folders=workspace, initialization_options=options)), WAIT_S)
        yield current
        await asyncio.wait_for(client.shutdown_session(), WAIT_S)
    finally:
        await _stop(client)


async def _stop(client: LanguageClient) -> None:
    """Stop the client; a server that did not exit on its own is terminated, then killed."""
    server = client._server
    if server is not None and server.returncode is None:
        server.terminate()
        try:
            await asyncio.wait_for(server.wait(), 5)
        except asyncio.TimeoutError:
            server.kill()
            await server.wait()
    await asyncio.wait_for(client.stop(), WAIT_S)
