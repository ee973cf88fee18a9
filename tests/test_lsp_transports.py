"""``mldiff serve`` over each transport: stdio (with the --stdio flag VS Code adds), TCP, WebSocket."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from conftest import mldiff

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"processId": None, "rootUri": None, "capabilities": {}}}


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_framed(stream) -> dict:
    length = 0
    while True:
        line = stream.readline()
        assert line, "the server closed the stream"
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return json.loads(stream.read(length))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mldiff", "serve", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def assert_initialized(answer: dict) -> None:
    assert answer["id"] == 1
    capabilities = answer["result"]["capabilities"]
    assert capabilities["textDocumentSync"]["change"] == 2  # incremental
    assert "mldiff.setBase" in capabilities["executeCommandProvider"]["commands"]
    assert answer["result"]["serverInfo"]["name"] == "mldiff"


def test_stdio_with_the_flag_vs_code_appends() -> None:
    process = serve("--stdio")
    try:
        process.stdin.write(frame(INITIALIZE))
        process.stdin.flush()
        assert_initialized(read_framed(process.stdout))
        process.stdin.write(frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
        process.stdin.write(frame({"jsonrpc": "2.0", "method": "exit"}))
        process.stdin.flush()
        assert read_framed(process.stdout)["id"] == 2
        assert process.wait(timeout=20) == 0
    finally:
        stop(process)


def connect(port: int, deadline_s: float = 30) -> socket.socket:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=20)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_tcp() -> None:
    port = free_port()
    process = serve("--tcp", f"127.0.0.1:{port}")
    try:
        with connect(port) as connection:
            connection.sendall(frame(INITIALIZE))
            assert_initialized(read_framed(connection.makefile("rb")))
    finally:
        stop(process)


def test_websocket() -> None:
    connect_ws = pytest.importorskip("websockets.sync.client").connect
    port = free_port()
    process = serve("--ws", f"127.0.0.1:{port}")
    try:
        connect(port).close()  # listening
        with connect_ws(f"ws://127.0.0.1:{port}", open_timeout=20) as websocket:
            websocket.send(json.dumps(INITIALIZE))
            assert_initialized(json.loads(websocket.recv(timeout=20)))
    finally:
        stop(process)


@pytest.mark.parametrize("argument", ["nonsense", "host:port", "127.0.0.1:99999"])
def test_bad_addresses_are_one_line_errors(argument: str) -> None:
    result = mldiff("serve", "--tcp", argument)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "HOST:PORT" in result.stderr


def test_heavy_imports_wait_for_the_worker_and_torch_never_comes() -> None:
    probe = ("import sys, runpy\n"
             "sys.argv = ['mldiff', 'serve', '--help']\n"
             "try:\n    runpy.run_module('mldiff', run_name='__main__')\nexcept SystemExit:\n    pass\n"
             "from mldiff.lsp.server import create_server\n"
             "server = create_server()\n"
             "print(*(name in sys.modules for name in ('libcst', 'git', 'torch')))\n"
             "server.analyzer.warm_up()\n"
             "print(*(name in sys.modules for name in ('libcst', 'git', 'torch')))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().splitlines()[-2:] == ["False False False", "True True False"]
