"""Start-up of ``mldiff serve`` to its initialize response, against a bare pygls server.

    python bench/lsp_startup.py [--runs 15]

Both servers are started alternately in the same run, as fresh processes, and timed
from spawn to the arrival of the initialize response. Target (issue 7): mldiff's median
at most 1.3 times the bare server's.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lsp_client import PYTHON, Client, initialize_params, median  # noqa: E402

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
