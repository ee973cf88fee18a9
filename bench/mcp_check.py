"""What an agent waits for after an edit: the MCP `check` tool on a running `mldiff mcp`,
next to a `mldiff check --format json` process per check (a post-edit hook), in the same run.

The repository is fixtures/tiny-train committed, with its learning rate raised in the working
tree (or --repo, checked as it is). Prints the server's start (process to `initialize`
answered) and the medians of wall time per check for both ways, and their ratio.

    python bench/mcp_check.py [--repo PATH] [--calls 20]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import load_line, mldiff_env, timed

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-train"
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]


def tiny_train(folder: Path) -> Path:
    repo = folder / "tiny-train"
    shutil.copytree(FIXTURE, repo)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "base"]):
        subprocess.run([*GIT, *args], cwd=repo, check=True)
    train = repo / "train.py"
    train.write_text(train.read_text(encoding="utf-8").replace("default=0.05", "default=0.2"), encoding="utf-8")
    return repo


async def mcp_times(repo: Path, env: dict[str, str], calls: int) -> tuple[float, list[float], int]:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client
    params = StdioServerParameters(command=sys.executable, args=["-m", "mldiff", "mcp"], cwd=str(repo), env=env)
    started = time.perf_counter()
    times = []
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            startup = time.perf_counter() - started
            findings = 0
            for _ in range(calls):
                begin = time.perf_counter()
                result = await session.call_tool("check", {})
                times.append(time.perf_counter() - begin)
                if result.is_error:
                    sys.exit(f"check failed: {result.content[0].text}")
                findings = len(result.structured_content["findings"])
    return startup, times, findings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", help="a repository to check as it is (default: tiny-train with an edit)")
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mldiff-bench-mcp-") as tmp:
        repo = Path(args.repo).resolve() if args.repo else tiny_train(Path(tmp))
        env = mldiff_env(Path(tmp) / "pycache")
        cli = [sys.executable, "-m", "mldiff", "check", "--repo", str(repo), "--format", "json", "--fail-on", "never"]
        timed(cli, env)   # compile the bytecode once, as an installed mldiff has it
        process_times = []
        for _ in range(args.calls):
            wall, _, result = timed(cli, env)
            if result.returncode != 0:
                sys.exit(f"mldiff check failed: {result.stderr.decode(errors='replace')}")
            process_times.append(wall)
        startup, tool_times, findings = asyncio.run(mcp_times(repo, {**os.environ, **env}, args.calls))
    tool, process = statistics.median(tool_times), statistics.median(process_times)
    print(f"{repo.name}: {findings} findings per check, {args.calls} checks each way; {load_line()}")
    print(f"{'mldiff mcp: start to initialize answered':<46} {startup * 1000:8.0f} ms")
    print(f"{'mldiff mcp: check tool call, median':<46} {tool * 1000:8.0f} ms")
    print(f"{'mldiff check --format json process, median':<46} {process * 1000:8.0f} ms")
    print(f"{'process / tool call':<46} {process / tool:8.1f} x")


if __name__ == "__main__":
    main()
