"""`mldiff check` over a large real range, next to `git diff` and to peer tools, same run.

For BASE..HEAD of REPO (a git dir or checkout) it times, as medians of --runs:
  git diff -U0 BASE HEAD -- '*.py'                      (what the check builds on)
  mldiff check --base BASE --head HEAD --format json    (all cores, and --jobs 1)
and, when installed (e.g. `pip install semgrep torchfix` in a separate venv whose bin
directory is passed with --peers-bin), over the same changed .py files at HEAD:
  semgrep --config bench/semgrep_rules.yml               (four equivalent rules)
  torchfix                                               (its default rules)

    PYTHONPATH=server python bench/check_range.py --repo REPO v1.0.20 v1.0.28 [--runs 3] [--peers-bin DIR]
        [--also-server OTHER_CHECKOUT/server]

--also-server times another checkout's engine (an older commit's `server/`, say) in the same
run, so a before/after comparison shares the machine's load.

CPU is user + system of the command and its children: the figure to compare on a shared
machine. The targets: mldiff's CPU at most Semgrep's on the same files, its wall at most 40x
`git diff -U0`.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import SERVER, timed

RULES = Path(__file__).with_name("semgrep_rules.yml")


def changed_python_files(repo: str, base: str, head: str, into: Path) -> int:
    """Write HEAD's version of every .py file changed in BASE..HEAD under ``into``."""
    names = subprocess.run(["git", "-C", repo, "diff", "--name-only", "--diff-filter=AMR", base, head, "--", "*.py"],
                           capture_output=True, text=True, check=True).stdout.split()
    for name in names:
        blob = subprocess.run(["git", "-C", repo, "show", f"{head}:{name}"], capture_output=True, check=True).stdout
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
    return len(names)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True)
    parser.add_argument("base")
    parser.add_argument("head")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peers-bin", help="directory holding semgrep and torchfix executables")
    parser.add_argument("--also-server", metavar="DIR", help="another checkout's server/ directory, timed too")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SERVER), os.environ.get("PYTHONPATH")])),
           "SEMGREP_SEND_METRICS": "off"}
    envs: dict[str, dict[str, str]] = {}
    commands: dict[str, list[str]] = {
        "git diff -U0 -- '*.py'": ["git", "-C", args.repo, "diff", "-U0", args.base, args.head, "--", "*.py"],
        "mldiff check (all cores)": [sys.executable, "-m", "mldiff", "check", "--repo", args.repo, "--base", args.base,
                                     "--head", args.head, "--format", "json"],
        "mldiff check (1 process)": [sys.executable, "-c", "import sys; from mldiff.checking import run_check; "
                                     "run_check(sys.argv[1], base=sys.argv[2], head=sys.argv[3], jobs=1)",
                                     args.repo, args.base, args.head],
    }
    if args.also_server:
        other = str(Path(args.also_server).resolve())
        label = "mldiff check, --also-server (all cores)"
        commands[label] = commands["mldiff check (all cores)"]
        envs[label] = {**env, "PYTHONPATH": other}
    with tempfile.TemporaryDirectory(prefix="mldiff-peers-") as tmp:
        files = changed_python_files(args.repo, args.base, args.head, Path(tmp))
        peer_dir = args.peers_bin or ""
        semgrep = shutil.which("semgrep", path=peer_dir or None)
        torchfix = shutil.which("torchfix", path=peer_dir or None)
        if semgrep:
            commands["semgrep (4 rules, same files)"] = [
                semgrep, "scan", "--config", str(RULES), "--metrics=off", "--disable-version-check", "--quiet",
                "--jobs", "2", "--json", tmp]
        if torchfix:
            commands["torchfix (same files)"] = [torchfix, tmp]
        rows = []
        for label, command in commands.items():
            walls, cpus = [], []
            for _ in range(args.runs):
                wall, cpu, result = timed(command, envs.get(label, env))
                if result.returncode not in (0, 1):
                    print(f"{label}: exit {result.returncode}: {result.stderr.decode()[-300:]}", file=sys.stderr)
                walls.append(wall)
                cpus.append(cpu)
            rows.append((label, statistics.median(walls), statistics.median(cpus)))
    reference_wall, reference_cpu = rows[0][1], rows[0][2]
    print(f"{args.base}..{args.head}: {files} changed .py files; medians of {args.runs} runs; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'command':<40} {'wall s':>8} {'CPU s':>8} {'wall x git':>11} {'CPU x git':>10}")
    for label, wall, cpu in rows:
        print(f"{label:<40} {wall:>8.2f} {cpu:>8.2f} {wall / reference_wall:>11.1f} "
              f"{cpu / max(reference_cpu, 1e-3):>10.1f}")
    print("targets: mldiff check's CPU at most semgrep's; its wall at most 40x git diff -U0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
