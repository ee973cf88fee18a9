"""The MCP tools over stdio: ``check``, ``explain``, ``rules``, ``log`` and ``validate``.

Every tool answers compact JSON (also as ``structuredContent``); a problem the CLI would
report in one line (not a repository, an unknown revision or rule, a bad setting) is a
tool error with that same line. Git and parsing run on worker threads, never on the
event loop.

``validate`` runs the project's training command, so it refuses unless the user allowed
it: ``mldiff mcp --allow-validate``, or ``[tool.mldiff.mcp] allow_validate = true`` in the
repository's pyproject.toml. It reports progress (``notifications/progress``, one unit
per optimizer step of either run) and stops when the client cancels the request: the
runs' process groups are killed and the base checkout is removed before the answer.
One validation per repository at a time.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated, Any, Callable

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from mldiff import __version__
from mldiff.errors import MldiffError
from mldiff.mcp import answers

INSTRUCTIONS = (
    "mldiff reads a git diff of ML training code the way an ML reviewer would. After editing training "
    "code, call `check` (working tree against HEAD by default) to see what the edit changed for training: "
    "learning rates, normalization, precision, optimizer, loss, batch size and more, old -> new. `explain` "
    "gives a rule's documentation, `log` finds the commits that changed training. `validate` runs a few "
    "training steps of the base and of the change, only where the user allowed it.")
POLL_S = 0.1
REFUSED = ("validate runs this project's training command, and this server was not allowed to: start it "
           "with `mldiff mcp --allow-validate`, or set `allow_validate = true` under [tool.mldiff.mcp] in "
           "{pyproject}")

Limit = Annotated[int, Field(ge=0, le=answers.MAX_LIMIT,
                             description="at most this many findings (and errors) in the answer, the most "
                                         "severe first; the rest are counted")]
Repo = Annotated[str | None, Field(description="the repository: a path inside it (default: the directory the "
                                               "server was started for)")]
Paths = Annotated[list[str] | None, Field(description="only these files or directories, relative to the "
                                                       "repository root")]


def _reply(data: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(data, separators=(",", ":"),
                                                                            ensure_ascii=False))],
                          structured_content=data)


def _failure(message: str) -> CallToolResult:
    """A tool error: one line, as the CLI prints it on stderr."""
    return CallToolResult(content=[TextContent(type="text", text=f"mldiff: {message}")], is_error=True)


async def _off_loop(work: Callable[[], dict[str, Any]]) -> CallToolResult:
    try:
        return _reply(await anyio.to_thread.run_sync(work))
    except MldiffError as exc:
        return _failure(str(exc))


def create_server(root: Path | None = None, allow_validate: bool = False) -> MCPServer:
    """The server; ``root``: where relative ``repo`` arguments start (default: the current
    directory); ``allow_validate``: the user's opt-in from the command line."""
    base_dir = Path.cwd() if root is None else Path(root)
    validations = _Validations()
    server = MCPServer("mldiff", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING")
    read_only = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)

    def where(repo: str | None) -> Path:
        return base_dir / repo if repo else base_dir

    @server.tool(annotations=read_only)
    async def check(repo: Repo = None,
                    base: Annotated[str | None, Field(description="revision to compare with (default: "
                                                      "[tool.mldiff] base, else HEAD)")] = None,
                    merge_base: Annotated[bool, Field(description="compare with the merge base of base and "
                                                      "head, like git diff BASE...HEAD")] = False,
                    staged: Annotated[bool, Field(description="check the index (what would be committed)")] = False,
                    head: Annotated[str | None, Field(description="check this revision instead of the working "
                                                      "tree")] = None,
                    paths: Paths = None, limit: Limit = answers.DEFAULT_LIMIT) -> CallToolResult:
        """What a change does to training: the ML-semantic findings of the working tree (saved
        files, untracked ones included) against HEAD, or of the index or a revision against
        any base. Each finding has path, line, rule code, family, severity, message and the old
        and new values; the most severe come first."""
        def work() -> dict[str, Any]:
            from mldiff.checking import run_check
            from mldiff.gitview import INDEX
            if staged and head:
                raise MldiffError("staged and head cannot be combined: staged checks the index, head a revision")
            result = run_check(where(repo), base=base, head=INDEX if staged else head, merge_base=merge_base,
                               paths=paths or ())
            return answers.check_answer(result, limit)
        return await _off_loop(work)

    @server.tool(annotations=read_only)
    async def explain(code: Annotated[str, Field(description="rule code (ML201) or name")]) -> CallToolResult:
        """A rule's documentation: why the change it reports matters, what to check, an example."""
        def work() -> dict[str, Any]:
            from mldiff.commands.explain import find_rule
            return answers.explain_answer(find_rule(code))
        return await _off_loop(work)

    @server.tool(annotations=read_only)
    async def rules(family: Annotated[str | None, Field(description="only this family's rules")] = None
                    ) -> CallToolResult:
        """Every rule: code, name, family, default severity and a one-line summary."""
        def work() -> dict[str, Any]:
            from mldiff.history import check_families
            from mldiff.rules.base import all_rules
            families = check_families([family] if family else [])
            return {"rules": [answers.rule_summary(rule) for rule in all_rules()
                              if not families or rule.family in families]}
        return await _off_loop(work)

    @server.tool(annotations=read_only)
    async def log(repo: Repo = None,
                  range: Annotated[str | None, Field(description="REV (its ancestry), A..B or A...B "
                                                     "(default: HEAD)")] = None,
                  family: Annotated[list[str] | None, Field(description="only findings of these families")] = None,
                  paths: Paths = None,
                  max_count: Annotated[int, Field(ge=1, le=100_000, description="walk at most this many "
                                                  "commits (first parent)")] = 200,
                  limit: Limit = answers.DEFAULT_LIMIT) -> CallToolResult:
        """Which commits changed how the model trains, newest first, each with its findings
        against its first parent (cached per commit: a second walk is fast)."""
        revisions = range

        def work() -> dict[str, Any]:
            return _log(where(repo), revisions, family or [], paths or [], max_count, limit)
        return await _off_loop(work)

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False))
    async def validate(ctx: Context, repo: Repo = None,
                       steps: Annotated[int | None, Field(ge=1, le=100_000, description="optimizer steps per run "
                                                          "(default: [tool.mldiff.validate] steps, else 20)")] = None,
                       base: Annotated[str | None, Field(description="base revision (default HEAD)")] = None
                       ) -> CallToolResult:
        """Run a few training steps of the base and of the working tree with the project's own
        command ([tool.mldiff.validate]) and compare loss, throughput and peak memory. Runs the
        project's code: only where the user allowed it. Reports progress; cancel to stop it."""
        try:
            top = await anyio.to_thread.run_sync(lambda: _allowed_root(where(repo), allow_validate))
        except MldiffError as exc:
            return _failure(str(exc))
        return await validations.run(ctx, top, steps, base)

    return server


def _log(start: Path, revisions: str | None, families: list[str], paths: list[str], max_count: int,
         limit: int) -> dict[str, Any]:
    from mldiff import history
    from mldiff.checking import settings_for
    from mldiff.commit_cache import CommitCache
    from mldiff.gitview import RepoView
    wanted_families = history.check_families(families)
    view = RepoView.discover(start)
    try:
        arguments = history.revision_arguments(view, revisions)
        settings = settings_for(view, None, arguments[0].split("...")[-1])
        wanted = history.Filter(settings, wanted_families, tuple(paths))
        cache = CommitCache.open(view.common_dir, settings)
        stats = history.Stats()
        commits = history.walk(view, arguments, max_count=max_count)
        items = list(history.commit_findings(view, commits, settings, wanted, cache, stats))
    finally:
        view.close()
    return answers.log_answer(items, stats.walked, limit)


def _allowed_root(start: Path, allow_validate: bool) -> Path:
    """The repository's top directory, if validation may run there; else the refusal."""
    from mldiff import config
    from mldiff.validate import gitcmd
    top = gitcmd.toplevel(start)
    if not allow_validate and not config.load(top).mcp_allow_validate:
        raise MldiffError(REFUSED.format(pyproject=top / "pyproject.toml"))
    return top


class _Validations:
    """The validations this server runs: one per repository, each on its own thread."""

    def __init__(self) -> None:
        self._running: set[Path] = set()
        self._lock = threading.Lock()

    async def run(self, ctx: Context, root: Path, steps: int | None, base: str | None) -> CallToolResult:
        with self._lock:
            if root in self._running:
                return _failure(f"a validation is already running in {root}; cancel it or wait for it")
            self._running.add(root)
        try:
            return await _validate(ctx, root, steps, base)
        finally:
            with self._lock:
                self._running.discard(root)


async def _validate(ctx: Context, root: Path, steps: int | None, base: str | None) -> CallToolResult:
    from mldiff.validate import api
    cancel = threading.Event()
    finished = threading.Event()
    outcome: dict[str, Any] = {}
    progress = _Progress()

    def work() -> None:
        try:
            outcome["result"] = api.run_validation(root, base=base, steps=steps, progress=progress.update,
                                                   cancel=cancel)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting tool
            outcome["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=work, name="mldiff-mcp-validation", daemon=True).start()
    try:
        while not finished.is_set():
            await anyio.sleep(POLL_S)
            await progress.send(ctx)
    except anyio.get_cancelled_exc_class():
        # The client cancelled (or the server is going away): stop the runs and wait until
        # their processes are gone and the base checkout is removed.
        cancel.set()
        with anyio.CancelScope(shield=True):
            while not finished.is_set():
                await anyio.sleep(POLL_S)
        raise
    await progress.send(ctx)
    error = outcome.get("error")
    if isinstance(error, api.ValidationCancelled):
        return _failure("validation cancelled: the runs were stopped, the base checkout removed and nothing "
                        "was stored")
    if isinstance(error, MldiffError):
        return _failure(f"validation failed: {error}")
    if error is not None:
        raise error
    return _reply(answers.validation_answer(outcome["result"].to_json()))


class _Progress:
    """The run's stages as MCP progress: one unit per optimizer step of the base run, then of
    the change, plus one for preparing and one for comparing; sent in order, always increasing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[float, float, str]] = []
        self._sent = -1.0

    def update(self, stage: str, step: int, total: int) -> None:
        """The validation's callback (on its thread)."""
        units = 2 * total + 2
        value = {"prepare": 0, "base": 1 + step, "change": 1 + total + step, "compare": units - 1}.get(stage, units)
        message = {"prepare": "preparing the base checkout", "base": f"base run: step {step}/{total}",
                   "change": f"change run: step {step}/{total}", "compare": "comparing the runs"}.get(stage, "done")
        with self._lock:
            self._pending.append((float(value), float(units), message))

    async def send(self, ctx: Context) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        for value, total, message in pending:
            if value > self._sent:
                self._sent = value
                await ctx.report_progress(value, total, message)
