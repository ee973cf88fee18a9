"""A real ``mldiff serve`` process driven over raw JSON-RPC, from plain synchronous code.

For tests that need what pytest-lsp's typed client cannot do: send any JSON (malformed
params, hostile arguments), keep one server across many Hypothesis examples, read the
server's stderr, and see every message in the order it came. A dispatcher thread
answers the server's own requests (configuration, registrations, message requests)
and records publishes, log messages and shown messages.

    server = WireServer(repo_path, log_file)
    server.start()
    server.notify("textDocument/didOpen", {...})
    server.settle(uri, version)                 # that version's diagnostics arrived
    answer = server.request("textDocument/hover", {...})   # {"result": ...} or {"error": ...}
    server.stop()
"""
from __future__ import annotations

import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from lsp_client import Client  # noqa: E402

REQUEST_TIMEOUT_S = 15.0
SETTLE_TIMEOUT_S = 20.0
SERVER_COMMAND = [sys.executable, "-m", "mldiff", "serve", "--log-level", "warning"]


class WireServer:
    def __init__(self, root: Path, log: Path, *, command: list[str] | None = None,
                 env: dict[str, str] | None = None,
                 answer: Callable[[str, Any], Any] | None = None) -> None:
        """``answer(method, params)`` replies to the server's requests (default: null, and
        an empty table for each workspace/configuration item when it returns None there)."""
        self.root, self.log = Path(root), Path(log)
        self._stderr = open(self.log, "wb")
        self.client = Client(command or SERVER_COMMAND, cwd=str(self.root), stderr=self._stderr, env=env)
        self.answer = answer or (lambda method, params: None)
        self.lock = threading.Condition()
        self.responses: dict[int, dict] = {}
        self.published: dict[str, list[dict]] = {}
        self.log_messages: list[dict] = []
        self.shown: list[dict] = []
        self.server_requests: list[dict] = []
        self.requests = 0
        self._stderr_seen = 0
        self._log_seen = 0
        self._stop = False
        self._dispatcher = threading.Thread(target=self._dispatch, daemon=True)
        self._dispatcher.start()

    # -- the wire ---------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        while not self._stop:
            try:
                _, message = self.client.messages.get(timeout=0.2)
            except queue.Empty:
                continue
            method = message.get("method")
            if method is not None and "id" in message:        # the server asks the client
                with self.lock:
                    self.server_requests.append(message)
                result = self.answer(method, message.get("params"))
                if method == "workspace/configuration" and result is None:
                    result = [{} for _ in message["params"]["items"]]
                self.client.send({"id": message["id"], "result": result})
                continue
            with self.lock:
                if method is None:
                    self.responses[message["id"]] = message
                elif method == "textDocument/publishDiagnostics":
                    self.published.setdefault(message["params"]["uri"], []).append(message["params"])
                elif method == "window/logMessage":
                    self.log_messages.append(message["params"])
                elif method == "window/showMessage":
                    self.shown.append(message["params"])
                self.lock.notify_all()

    def request(self, method: str, params: Any, timeout: float = REQUEST_TIMEOUT_S) -> dict:
        """The answer to a request: a result or an error, within ``timeout`` (else AssertionError)."""
        msg_id = self.client.request(method, params)
        self.requests += 1
        deadline = time.monotonic() + timeout
        with self.lock:
            while msg_id not in self.responses:
                left = deadline - time.monotonic()
                assert left > 0, f"no answer to {method} {str(params)[:300]} within {timeout} s"
                assert self.alive, f"the server exited during {method}:\n{self.new_stderr()}"
                self.lock.wait(min(left, 0.5))
            response = self.responses.pop(msg_id)
        assert ("result" in response) != ("error" in response), response
        return response

    def notify(self, method: str, params: Any) -> None:
        self.client.notify(method, params)

    def send_bytes(self, data: bytes) -> None:
        self.client.send_bytes(data)

    @property
    def alive(self) -> bool:
        return self.client.process.poll() is None

    # -- a session ----------------------------------------------------------------------------------
    def start(self, encoding: str = "utf-16", options: dict[str, Any] | None = None,
              folders: list[Path] | None = None, profile: str = "visual-studio-code") -> dict:
        """initialize (with a recorded client's capabilities) and initialized; the initialize result."""
        from pygls.protocol import default_converter
        from pytest_lsp import client_capabilities
        capabilities = default_converter().unstructure(client_capabilities(profile))
        capabilities.setdefault("general", {})["positionEncodings"] = [encoding]
        roots = folders if folders is not None else [self.root]
        answer = self.request("initialize", {
            "processId": os.getpid(), "rootUri": roots[0].as_uri() if roots else None,
            "capabilities": capabilities,
            "workspaceFolders": [{"uri": folder.as_uri(), "name": folder.name} for folder in roots] or None,
            "initializationOptions": {"debounceMs": 0, **(options or {})}})
        self.notify("initialized", {})
        return answer["result"]

    def stop(self) -> int:
        """shutdown and exit; the exit status."""
        try:
            self.request("shutdown", None)
            self.notify("exit", None)
            return self.client.process.wait(timeout=20)
        finally:
            if self.alive:
                self.client.process.kill()
            self._stop = True
            self._stderr.close()

    def open(self, path: Path | str, text: str, version: int = 1, language: str = "python") -> str:
        uri = path if isinstance(path, str) else path.as_uri()
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": language,
                                                              "version": version, "text": text}})
        return uri

    def settle(self, uri: str, version: int | None, timeout: float = SETTLE_TIMEOUT_S) -> list[dict]:
        """Wait until the last publish for ``uri`` is for ``version`` (None: the empty publish of
        closing); its diagnostics."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                items = self.published.get(uri, [])
                if items and items[-1].get("version") == version:
                    return items[-1]["diagnostics"]
                left = deadline - time.monotonic()
                assert left > 0, f"{uri}: version {version} never published (last: {items[-1:]})"
                assert self.alive, f"the server exited:\n{self.new_stderr()}"
                self.lock.wait(min(left, 0.5))

    def barrier(self) -> None:
        """Return once everything the server sent before handling this point has arrived (the
        server answers in order; a hover on a document that is not open is answered at once)."""
        self.request("textDocument/hover", {"textDocument": {"uri": "untitled:mldiff-barrier"},
                                             "position": {"line": 0, "character": 0}})

    # -- what went wrong ---------------------------------------------------------------------------
    def new_stderr(self) -> str:
        """What the server wrote to stderr since the last call."""
        self._stderr.flush()
        data = self.log.read_bytes()
        new, self._stderr_seen = data[self._stderr_seen:], len(data)
        return new.decode("utf-8", "replace")

    def check_health(self) -> None:
        """Alive, and since the last check no error-level log message of its own, no traceback
        or ERROR on stderr."""
        assert self.alive, f"the server exited with {self.client.process.returncode}:\n{self.new_stderr()}"
        with self.lock:
            new, self._log_seen = self.log_messages[self._log_seen:], len(self.log_messages)
        errors = [m for m in new if m.get("type") == 1]
        assert not errors, f"the server reported errors: {errors}"
        stderr = self.new_stderr()
        assert "Traceback" not in stderr and " ERROR " not in stderr, stderr
