"""One analysis result per open document: what push and pull diagnostics, hovers,
code lenses and code actions all read, so none of them re-runs the analysis."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Sequence

from lsprotocol import types

if TYPE_CHECKING:  # the engine's modules load on the worker, after initialize
    from mldiff.findings import Finding
    from mldiff.hunks import Hunk


@dataclass
class DocumentResult:
    uri: str
    revision: int                       # the document revision this describes
    version: int | None                 # the client's version of that revision
    diagnostics: list[types.Diagnostic] = field(default_factory=list)
    findings: tuple[Finding, ...] = ()
    head_lines: Sequence[str] = ()
    base_text: str | None = None
    base_label: str = ""
    repo_root: str | None = None
    git_dir: str | None = None
    common_dir: str | None = None               # differs from git_dir in a linked worktree
    git_token: tuple | None = None
    known_hunks: Sequence[Hunk] | None = None   # from the engine's change, when it had one
    result_id: str = ""

    @cached_property
    def hunks(self) -> Sequence[Hunk]:
        """The line hunks between base and head (computed on first use when not known)."""
        if self.known_hunks is not None:
            return self.known_hunks
        from mldiff.hunks import diff_lines, split_lines
        return diff_lines(split_lines(self.base_text or ""), list(self.head_lines))

    def hunk_at(self, line: int) -> Hunk | None:
        """The hunk a finding on 0-based head ``line`` belongs to: the one whose head side
        holds it, else the removal just before it (findings about removed lines are
        anchored on the next line, or on the last line at the end of the file)."""
        hunks = self.hunks
        for hunk in hunks:
            if hunk.head_start <= line < hunk.head_end:
                return hunk
        for hunk in hunks:
            if hunk.head_start == hunk.head_end and (hunk.head_start == line or
                                                     (hunk.head_start >= len(self.head_lines) - 1 and
                                                      line == len(self.head_lines) - 1)):
                return hunk
        return None

    @cached_property
    def base_lines(self) -> list[str]:
        from mldiff.hunks import split_lines
        return split_lines(self.base_text or "")


class ResultStore:
    """Latest result per URI, and futures for requests waiting on a newer one."""

    def __init__(self) -> None:
        self._results: dict[str, DocumentResult] = {}
        self._waiters: dict[str, list[tuple[int, asyncio.Future]]] = {}
        self._generation = 0

    def get(self, uri: str) -> DocumentResult | None:
        return self._results.get(uri)

    def put(self, result: DocumentResult) -> DocumentResult | None:
        previous = self._results.get(result.uri)
        if previous is not None and previous.diagnostics == result.diagnostics:
            result.result_id = previous.result_id
        else:
            self._generation += 1
            result.result_id = str(self._generation)
        self._results[result.uri] = result
        waiting = self._waiters.pop(result.uri, [])
        still = []
        for revision, future in waiting:
            if revision <= result.revision:
                if not future.done():
                    future.set_result(result)
            else:
                still.append((revision, future))
        if still:
            self._waiters[result.uri] = still
        return previous

    def drop(self, uri: str) -> None:
        self._results.pop(uri, None)
        for _, future in self._waiters.pop(uri, []):
            if not future.done():
                future.set_result(None)

    async def wait_for(self, uri: str, revision: int, timeout_s: float) -> DocumentResult | None:
        """The result for ``revision`` or newer; after ``timeout_s`` the latest one there is."""
        current = self._results.get(uri)
        if current is not None and current.revision >= revision:
            return current
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(uri, []).append((revision, future))
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout_s)
        except asyncio.TimeoutError:
            return self._results.get(uri)
