"""Persistent ``git cat-file`` readers: the objects of one repository over two pipes.

What GitPython's ``Git.get_object_header`` / ``get_object_data`` gave, without importing
GitPython (0.1-0.3 s of every CLI run and of the language server's first analysis).
Each reader starts on first use and stays for the next blob; not thread-safe (the
git layer holds its lock around every call).
"""
from __future__ import annotations

import subprocess
from collections.abc import Sequence
from typing import IO


class CatFile:
    def __init__(self, command: Sequence[str], cwd: str | None, env: dict[str, str]) -> None:
        self._command = list(command)          # git and its options, before "cat-file"
        self._cwd, self._env = cwd, env
        self._processes: dict[str, subprocess.Popen] = {}

    def header(self, name: str) -> tuple[str, str, int]:
        """(sha, type, size) of the object ``name``; ValueError when it is missing."""
        stdout = self._ask("--batch-check", name)
        return _parse_header(stdout.readline(), name)

    def data(self, name: str) -> tuple[str, str, int, bytes]:
        """(sha, type, size, content) of the object ``name``; ValueError when it is missing."""
        stdout = self._ask("--batch", name)
        sha, kind, size = _parse_header(stdout.readline(), name)
        data = stdout.read(size)
        if len(data) != size or stdout.read(1) != b"\n":  # git stopped half-way
            self.close()
            raise ValueError(f"object {name}: git cat-file stopped while reading it")
        return sha, kind, size, data

    def close(self) -> None:
        for process in self._processes.values():
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass
            process.wait()
        self._processes.clear()

    def _ask(self, mode: str, name: str) -> IO[bytes]:
        if "\n" in name:
            raise ValueError(f"{name!r} is not an object name")
        process = self._processes.get(mode)
        if process is None or process.poll() is not None:
            process = subprocess.Popen([*self._command, "cat-file", mode], cwd=self._cwd, env=self._env,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            self._processes[mode] = process
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(name.encode() + b"\n")
            process.stdin.flush()
        except BrokenPipeError:  # git exited (killed, or the repository went away)
            self._processes.pop(mode, None)
            raise ValueError(f"object {name}: git cat-file is not running") from None
        return process.stdout


def _parse_header(line: bytes, name: str) -> tuple[str, str, int]:
    parts = line.decode(errors="replace").split()
    if len(parts) != 3 or not parts[2].isdigit():
        raise ValueError(f"object {name} is missing: {line.decode(errors='replace').strip()!r}")
    return parts[0], parts[1], int(parts[2])
