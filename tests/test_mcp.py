"""``mldiff mcp`` driven by the real MCP SDK client over stdio (the server is a separate
process, as an agent starts it), against real git repositories in temp dirs: the tools'
list, ``check`` on an uncommitted edit, limits and severity order, ``explain``, ``rules``,
``log``, tool errors with the CLI's own lines, and ``validate``: refused without the
user's opt-in, a real CPU run of fixtures/tiny-train with progress with it, and a
cancelled run that leaves no process and no checkout behind."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from conftest import mldiff
from repo_snapshot import unchanged
from validation_support import (RUN_ENV, assert_unchanged, edit, hanging_repo, leftover_worktrees, mldiff_dir,
                                processes_mentioning, take, tiny_train_repo)

TOOLS = {"check", "explain", "rules", "log", "validate"}
NORMALIZED = ("from torchvision import transforms\n"
              "transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])\n")
PLAIN = "from torchvision import transforms\ntransform = transforms.Compose([transforms.ToTensor()])\n"
LR = "import torch\nLR = {lr}\nmodel = torch.nn.Linear(2, 2)\nopt = torch.optim.Adam(model.parameters(), lr=LR)\n"
CALL_S = 60
RUN_S = 300


@contextlib.asynccontextmanager
async def mcp_session(cwd, *args: str, env: dict | None = None, errlog=None):
    """A real client session with ``mldiff mcp ARGS`` started in ``cwd``."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "mldiff", "mcp", *args], cwd=str(cwd),
                                   env={**os.environ, **RUN_ENV, **(env or {})})
    async with stdio_client(params, errlog=errlog or sys.stderr) as (read, write):
        async with ClientSession(read, write) as session:
            await asyncio.wait_for(session.initialize(), CALL_S)
            yield session


async def call(session: ClientSession, name: str, arguments: dict | None = None, timeout: float = CALL_S,
               **kwargs):
    return await asyncio.wait_for(session.call_tool(name, arguments or {}, **kwargs), timeout)


def answer(result) -> dict:
    """A successful tool result: its JSON text (compact) and structured content agree."""
    assert not result.is_error, result.content
    (content,) = result.content
    data = json.loads(content.text)
    assert data == result.structured_content
    assert content.text == json.dumps(data, separators=(",", ":"), ensure_ascii=False)   # compact
    return data


def error_text(result) -> str:
    assert result.is_error, result.structured_content
    (content,) = result.content
    assert "\n" not in content.text
    return content.text


@pytest.fixture
def edited(repo):
    """A committed training script, then uncommitted edits: Normalize removed, the learning
    rate raised (an error by the project's severity settings), a new untracked file."""
    repo.write("train.py", NORMALIZED)
    repo.write("opt.py", LR.format(lr="0.001"))
    repo.write("pyproject.toml", '[tool.mldiff.severity]\nML301 = "error"\n')
    repo.commit("base")
    repo.write("train.py", PLAIN)
    repo.write("opt.py", LR.format(lr="0.01"))
    repo.write("eval.py", NORMALIZED.replace("transform", "eval_transform"))
    return repo


async def test_an_agent_lists_the_tools_checks_an_uncommitted_edit_and_reads_the_rule(edited):
    with unchanged(edited.path):
        async with mcp_session(edited.path) as session:
            listed = await asyncio.wait_for(session.list_tools(), CALL_S)
            checked = answer(await call(session, "check"))
            explained = answer(await call(session, "explain", {"code": "ML201"}))
            listing = answer(await call(session, "rules", {"family": "normalization"}))
    tools = {tool.name: tool for tool in listed.tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and tool.input_schema["type"] == "object"
    assert {"repo", "base", "staged", "head", "paths", "limit", "merge_base"} <= set(tools["check"].input_schema["properties"])
    assert {"repo", "range", "family", "limit"} <= set(tools["log"].input_schema["properties"])
    assert {"repo", "steps"} <= set(tools["validate"].input_schema["properties"])
    assert tools["check"].annotations.read_only_hint is True
    assert tools["validate"].annotations.read_only_hint is False

    assert checked["head"] == "worktree" and len(checked["base"]) == 40
    normalize = [f for f in checked["findings"] if f["code"] == "ML201"]
    assert [f["path"] for f in normalize] == ["train.py"]
    assert normalize[0]["before"].endswith("Normalize((0.5,), (0.5,))") and normalize[0]["after"] is None
    assert normalize[0]["line"] == 2 and normalize[0]["family"] == "normalization"
    # Paths, never contents: no finding carries the file's text.
    assert all("transforms.Compose" not in json.dumps(f) for f in checked["findings"])
    # The same findings as the CLI's JSON contract, most severe first.
    cli = json.loads(mldiff("check", "--format", "json", cwd=edited.path).stdout)
    assert sorted(map(json.dumps, checked["findings"])) == sorted(map(json.dumps, cli["findings"]))
    assert checked["findings"][0]["code"] == "ML301" and checked["findings"][0]["severity"] == "error"
    assert checked["counts"] == {"error": 1, "warning": 1} and "omitted" not in checked

    assert explained["code"] == "ML201" and explained["family"] == "normalization"
    assert "Normalize" in explained["documentation"] and explained["url"].endswith("#ml201")
    assert "Normalize" in explained["example"]["before"] and explained["example"]["reports"]
    assert [rule["code"] for rule in listing["rules"]] == ["ML201", "ML202", "ML203", "ML204", "ML299"]


async def test_limits_paths_revisions_and_errors_with_the_cli_line(edited):
    errors = {"unknown-revision": ({"base": "no-such-branch"}, ["check", "--base", "no-such-branch"]),
              "missing-directory": ({"repo": "missing"}, ["check", "--repo", "missing"]),
              "editor-only-base": ({"base": "index"}, ["check", "--base", "index"])}
    base = edited.git("rev-parse", "HEAD").strip()
    async with mcp_session(edited.path) as session:
        one = answer(await call(session, "check", {"limit": 1}))
        only_train = answer(await call(session, "check", {"paths": ["train.py"]}))
        none = answer(await call(session, "check", {"limit": 0}))
        # Commit the learning rate, stage the transform: each call sees git as it is now.
        edited.git("add", "opt.py")
        edited.git("commit", "-q", "-m", "raise the learning rate")
        edited.git("add", "train.py")
        staged = answer(await call(session, "check", {"staged": True}))
        revision = answer(await call(session, "check", {"base": base, "head": "HEAD"}))
        both = error_text(await call(session, "check", {"staged": True, "head": "HEAD"}))
        texts = {name: error_text(await call(session, "check", arguments)) for name, (arguments, _) in errors.items()}
    assert [f["code"] for f in one["findings"]] == ["ML301"]
    assert one["omitted"] == {"findings": 1, "counts": {"warning": 1}}
    assert [f["path"] for f in only_train["findings"]] == ["train.py"]
    assert none["findings"] == [] and none["counts"] == {"error": 1, "warning": 1}
    assert staged["head"] == "index" and [f["code"] for f in staged["findings"]] == ["ML201"]
    assert [f["code"] for f in revision["findings"]] == ["ML301"] and revision["base"] == base
    assert both == "mldiff: staged and head cannot be combined: staged checks the index, head a revision"
    for name, (_, cli) in errors.items():
        printed = mldiff(*cli, cwd=edited.path)
        assert printed.returncode == 2 and printed.stderr.strip() == texts[name], name


async def test_outside_a_repository_and_unknown_rules(tmp_path):
    async with mcp_session(tmp_path) as session:
        outside = error_text(await call(session, "check"))
        rule = error_text(await call(session, "explain", {"code": "ML9999"}))
        family = error_text(await call(session, "rules", {"family": "vibes"}))
        refused = error_text(await call(session, "validate"))
    assert outside == mldiff("check", cwd=tmp_path).stderr.strip()
    assert rule == mldiff("explain", "ML9999").stderr.strip()
    assert family.startswith("mldiff: --family: 'vibes' is not a family")
    assert refused == mldiff("validate", cwd=tmp_path).stderr.strip()


async def test_log_finds_the_commit_that_removed_normalize(repo):
    repo.write("train.py", NORMALIZED)
    repo.write("README.md", "# model\n")
    repo.commit("root")
    repo.write("train.py", PLAIN)
    removal = repo.commit("simplify the transform")
    repo.write("README.md", "# model\n\nmore words\n")
    repo.commit("docs")
    async with mcp_session(repo.path) as session:
        found = answer(await call(session, "log"))
        other = answer(await call(session, "log", {"family": ["learning_rate"]}))
        capped = answer(await call(session, "log", {"limit": 0}))
    assert found["commits_walked"] == 3 and found["findings"] == 1
    (commit,) = found["commits"]
    assert commit["commit"] == removal and commit["subject"] == "simplify the transform"
    assert [f["code"] for f in commit["findings"]] == ["ML201"]
    assert other["commits"] == [] and other["findings"] == 0
    assert capped["commits"] == [] and capped["omitted"] == {"findings": 1, "commits": 1}


# -- validate --------------------------------------------------------------------------------------

def lr_change(tmp_path):
    repo = tiny_train_repo(tmp_path)
    edit(repo, "train.py", "default=0.05", "default=0.2")
    return repo


async def test_validate_is_refused_without_the_opt_in_and_runs_nothing(tmp_path):
    repo = lr_change(tmp_path)
    before = take(repo.path)
    async with mcp_session(repo.path) as session:
        refused = error_text(await call(session, "validate", {"steps": 2}))
        still_checks = answer(await call(session, "check"))
    assert refused.startswith("mldiff: validate runs this project's training command")
    assert "mldiff mcp --allow-validate" in refused and "allow_validate = true" in refused
    assert "[tool.mldiff.mcp]" in refused and str(repo.path / "pyproject.toml") in refused
    assert not mldiff_dir(repo).exists() and leftover_worktrees(repo) == []
    assert_unchanged(before, take(repo.path))
    assert [f["code"] for f in still_checks["findings"]] == ["ML301"]


@pytest.mark.slow
async def test_validate_with_the_opt_in_runs_tiny_train_on_cpu_with_progress(tmp_path):
    pytest.importorskip("torch")
    repo = lr_change(tmp_path)
    reports: list[tuple[float, float | None, str | None]] = []

    async def progress(value, total, message):
        reports.append((value, total, message))

    async with mcp_session(repo.path, "--allow-validate") as session:
        result = answer(await call(session, "validate", {"steps": 3}, progress_callback=progress, timeout=RUN_S))
    assert result["steps"] == 3 and result["stored"] is True and result["runner"] == "local"
    assert result["command"] == ["python", "train.py", "--epochs", "2"]
    assert result["comparison"]["first_step_equal"] is True and result["comparison"]["identical"] is False
    assert "diverge" in result["verdict"]
    assert set(result["trailers"]) == {"ML-Validated", "ML-Loss", "ML-Throughput", "ML-Peak-Memory", "ML-Confirmed"}
    assert "3 steps on" in result["trailers"]["ML-Validated"]
    # the run saw the learning rate the static finding speaks of, on both sides
    assert result["trailers"]["ML-Confirmed"].startswith("learning_rate 0.05 -> 0.2"), result["trailers"]
    assert [(c["code"], c["status"]) for c in result["confirmations"]] == [("ML301", "confirmed")]
    values = [value for value, _, _ in reports]
    assert values == sorted(values) and len(set(values)) == len(values), reports   # strictly increasing
    assert {total for _, total, _ in reports} == {8.0}                               # 2 x 3 steps + 2
    messages = [message for _, _, message in reports]
    assert "base run: step 3/3" in messages and "change run: step 3/3" in messages, messages
    assert messages.index("base run: step 3/3") < messages.index("change run: step 3/3")
    assert leftover_worktrees(repo) == []


@pytest.mark.slow
async def test_the_projects_opt_in_and_a_cancelled_run_leave_nothing_behind(tmp_path):
    pytest.importorskip("torch")
    repo = hanging_repo(tmp_path)   # the change run hangs after step 3 while HANG_MARKER is set
    pyproject = repo.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[tool.mldiff.mcp]\nallow_validate = true\n")
    repo.commit("let agents validate", "pyproject.toml")
    marker = tmp_path / "hanging"
    before = take(repo.path)
    reports: list[str | None] = []

    async def progress(value, total, message):
        reports.append(message)

    async with mcp_session(repo.path, env={"HANG_MARKER": str(marker)}) as session:
        run = asyncio.ensure_future(session.call_tool("validate", {"steps": 6}, progress_callback=progress))
        for _ in range(int(RUN_S / 0.1)):   # until the change run hangs and its progress has arrived
            if run.done() or marker.exists() and "change run: step 3/6" in reports:
                break
            await asyncio.sleep(0.1)
        assert marker.exists(), run.result() if run.done() else "the change run never started hanging"
        assert processes_mentioning(str(repo.path))
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        for _ in range(300):
            if not processes_mentioning(str(repo.path)) and not leftover_worktrees(repo):
                break
            await asyncio.sleep(0.1)
        alive = answer(await call(session, "rules"))   # the server still answers
    assert processes_mentioning(str(repo.path)) == [] and leftover_worktrees(repo) == []
    assert not (mldiff_dir(repo) / "results").exists()
    assert reports.index("base run: step 6/6") < reports.index("change run: step 3/6")
    assert len(alive["rules"]) > 40
    assert_unchanged(before, take(repo.path))


def test_without_the_extra_the_command_says_how_to_install_it(tmp_path):
    """The base install has no MCP SDK: a stand-in package that fails to import, as a missing one does."""
    (tmp_path / "mcp").mkdir()
    (tmp_path / "mcp" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'mcp'\", name='mcp')\n")
    result = mldiff("mcp", env={"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ["PYTHONPATH"]])})
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "mldiff: mldiff mcp needs the MCP SDK: pip install 'mldiff[mcp]'\n"


# -- documentation ---------------------------------------------------------------------------------

def test_every_option_tool_and_argument_is_documented():
    from conftest import ROOT
    from mldiff.cli import build_parser
    from mldiff.mcp.server import create_server
    doc = (ROOT / "docs" / "agents.md").read_text(encoding="utf-8")
    parser = build_parser("mcp")
    command = parser._subparsers._group_actions[0].choices["mcp"]
    flags = [flag for action in command._actions for flag in action.option_strings if flag.startswith("--")]
    assert {"--allow-validate", "--repo"} <= set(flags)
    assert [flag for flag in flags if flag != "--help" and f"`{flag}" not in doc] == []
    tools = asyncio.run(create_server().list_tools())
    assert {tool.name for tool in tools} == TOOLS
    for tool in tools:
        row = next((line for line in doc.splitlines() if line.startswith(f"| `{tool.name}` |")), None)
        assert row is not None, tool.name
        missing = [name for name in tool.input_schema["properties"] if f"`{name}`" not in row]
        assert missing == [], (tool.name, missing)
    assert "[tool.mldiff.mcp]" in doc and "allow_validate = true" in doc
    assert "| `mcp` | table |" in (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
