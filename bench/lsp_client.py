"""A minimal LSP client over a subprocess's stdio, for the benchmarks (no pygls in the
measuring process, so its own imports do not get in the way of the timings)."""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def server_env() -> dict[str, str]:
    """This checkout's ``server/`` first on the path, as the tests do, and its bytecode cached
    (under the temp dir) even where PYTHONDONTWRITEBYTECODE is set: an installed server has
    its .pyc files, and compiling every module at each start would be measured instead."""
    import tempfile
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "server"), env.get("PYTHONPATH", "")]))
    env.setdefault("PYTHONPYCACHEPREFIX", os.path.join(tempfile.gettempdir(), "mldiff-bench-pycache"))
    return env


class Client:
    def __init__(self, command: list[str], cwd: str | None = None, stderr: Any = subprocess.DEVNULL,
                 env: dict[str, str] | None = None) -> None:
        self.started = time.perf_counter()
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=stderr, cwd=cwd, env={**server_env(), **(env or {})})
        self.messages: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self._next_id = 0
        self._send_lock = threading.Lock()      # several threads may write (answers to the server's requests)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            length = 0
            while True:
                header = stream.readline()
                if not header:
                    return
                if header in (b"\r\n", b"\n"):
                    break
                name, _, value = header.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            body = json.loads(stream.read(length))
            self.messages.put((time.perf_counter(), body))

    def send(self, message: dict[str, Any]) -> float:
        return self.send_bytes(json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8"))

    def send_bytes(self, data: bytes) -> float:
        """One message body as is (malformed ones included), with its header."""
        assert self.process.stdin is not None
        with self._send_lock:
            sent = time.perf_counter()
            self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
            self.process.stdin.flush()
        return sent

    def request(self, method: str, params: Any) -> int:
        with self._send_lock:
            self._next_id += 1
            msg_id = self._next_id
        self.send({"id": msg_id, "method": method, "params": params})
        return msg_id

    def notify(self, method: str, params: Any) -> float:
        return self.send({"method": method, "params": params})

    def wait(self, predicate, timeout: float = 60.0) -> tuple[float, dict[str, Any]]:
        """The first message (with its arrival time) matching ``predicate``; answers the
        server's own requests (configuration, registrations) with null on the way."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching message from the server")
            arrived, message = self.messages.get(timeout=left)
            if "method" in message and "id" in message:
                result = [None] * len(message["params"].get("items", [])) \
                    if message["method"] == "workspace/configuration" else None
                self.send({"id": message["id"], "result": result})
            if predicate(message):
                return arrived, message

    def close(self) -> None:
        try:
            self.request("shutdown", None)
            self.notify("exit", None)
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()
            self.process.wait()


def initialize_params(root: Path | None, options: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "processId": os.getpid(),
        "rootUri": root.as_uri() if root else None,
        "capabilities": {"textDocument": {"publishDiagnostics": {"versionSupport": True}},
                         "general": {"positionEncodings": ["utf-16"]}},
        "initializationOptions": options or {},
    }


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * len(ordered) + 0.5)) - 1))]


PYTHON = sys.executable
