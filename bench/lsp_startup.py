"""Start-up of ``mldiff serve``: to its initialize response (against a bare pygls server),
and to the first diagnostics of a 5,000-line file.

    python bench/lsp_startup.py [--runs 15] [--large-file PATH]

Both servers are started alternately in the same run, as fresh processes, and timed
from spawn to the arrival of the initialize response. Target (issue 7): mldiff's median
at most 1.3 times the bare server's.

Then, as many times, a fresh ``mldiff serve`` opens a file with a small change against
HEAD right after initialized (as an editor does): the time from didOpen, and from spawn,
to its first publishDiagnostics. Target: didOpen -> diagnostics at most 300 ms on
~5,000 lines (the default is torch's ``testing/_internal/common_modules.py``).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lsp_client import PYTHON, Client, initialize_params, median  # noqa: E402
from lsp_latency import default_file, git, small_change  # noqa: E402

BARE = ("from pygls.lsp.server import LanguageServer\n"
        "LanguageServer('bare', '0').start_io()\n")
SERVERS = {
    "bare pygls": [PYTHON, "-c", BARE],
    "mldiff serve": [PYTHON, "-m", "mldiff", "serve"],
}


def start_once(command: list[str]) -> float:
    client = Client(command)
    try:
        client.request("initialize", initialize_params(Path.cwd()))
        arrived, _ = client.wait(lambda m: m.get("id") == 1)
        return arrived - client.started
    finally:
        client.close()


def first_diagnostics(repo: Path, target: Path, text: str) -> tuple[float, float]:
    """(didOpen -> first publishDiagnostics, spawn -> the same) for a fresh server."""
    client = Client([PYTHON, "-m", "mldiff", "serve"], cwd=str(repo))
    try:
        client.request("initialize", initialize_params(repo))
        client.wait(lambda m: m.get("id") == 1)
        client.notify("initialized", {})
        uri = target.as_uri()
        sent = client.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "python", "version": 1, "text": text}})
        arrived, _ = client.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                                 and m["params"]["uri"] == uri)
        return arrived - sent, arrived - client.started
    finally:
        client.close()


def run_first_diagnostics(source: Path, runs: int) -> None:
    base_lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    head_lines, _ = small_change(base_lines)
    with tempfile.TemporaryDirectory(prefix="mldiff-bench-") as tmp:
        repo = Path(tmp)
        git(repo, "init", "-q", "-b", "main")
        target = repo / source.name
        target.write_text("".join(base_lines), encoding="utf-8")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "base")
        target.write_text("".join(head_lines), encoding="utf-8")
        first_diagnostics(repo, target, "".join(head_lines))  # warm the OS file cache
        times = [first_diagnostics(repo, target, "".join(head_lines)) for _ in range(runs)]
    print(f"\nfirst diagnostics of {source.name} ({len(base_lines):,} lines), a fresh server each run, {runs} runs")
    print(f"{'from':<14} {'median':>9} {'min':>9} {'max':>9}")
    for name, values in (("didOpen", [t[0] for t in times]), ("spawn", [t[1] for t in times])):
        print(f"{name:<14} {median(values) * 1e3:>7.0f}ms {min(values) * 1e3:>7.0f}ms {max(values) * 1e3:>7.0f}ms")
    print("target: didOpen -> first diagnostics at most 300 ms (~5,000 lines)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--large-file", type=Path,
                        default=default_file("torch", "testing", "_internal", "common_modules.py"))
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in SERVERS}
    for name, command in SERVERS.items():
        start_once(command)  # warm the OS file cache
    for _ in range(args.runs):
        for name, command in SERVERS.items():
            times[name].append(start_once(command))
    bare = median(times["bare pygls"])
    print(f"start-up to the initialize response, {args.runs} runs each, alternating")
    print(f"{'server':<14} {'median':>9} {'min':>9} {'max':>9} {'ratio':>7}")
    for name, values in times.items():
        print(f"{name:<14} {median(values) * 1e3:>7.0f}ms {min(values) * 1e3:>7.0f}ms {max(values) * 1e3:>7.0f}ms "
              f"{median(values) / bare:>6.2f}x")
    print("target: mldiff serve at most 1.30x the bare pygls server")
    if args.large_file is not None:
        run_first_diagnostics(args.large_file, args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
