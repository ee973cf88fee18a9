"""Start-up of the CLI: ``mldiff check`` on a one-file change against ``python -c "import libcst"``.

    python bench/cli_startup.py [--runs 15]

A temp repository holds one committed training script with one line changed in the working
tree; both commands run alternately as fresh processes (bytecode cached, as an installed
mldiff has it). Target: ``mldiff check`` at most 2x ``import libcst`` (wall time, medians).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lsp_latency import git  # noqa: E402
from timing import load_line, medians, mldiff_env, timed  # noqa: E402

TRAIN = ("import torch\n"
         "model = torch.nn.Linear(4, 2)\n"
         "optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)\n"
         "for x, y in loader:\n"
         "    optimizer.zero_grad()\n"
         "    torch.nn.functional.mse_loss(model(x), y).backward()\n"
         "    optimizer.step()\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mldiff-bench-") as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        (repo / "train.py").write_text(TRAIN, encoding="utf-8")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "base")
        (repo / "train.py").write_text(TRAIN.replace("lr=1e-3", "lr=1e-2"), encoding="utf-8")
        env = mldiff_env(Path(tmp) / "pycache")
        commands = {
            'python -c "import libcst"': [sys.executable, "-c", "import libcst"],
            "mldiff check (one file)": [sys.executable, "-m", "mldiff", "check", "--repo", str(repo),
                                        "--fail-on", "never"],
        }
        for command in commands.values():  # compile and cache the bytecode, warm the file cache
            timed(command, env)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                wall, cpu, result = timed(command, env)
                if result.returncode != 0:
                    raise SystemExit(f"{name} failed: {result.stderr.decode(errors='replace')}")
                times[name].append((wall, cpu))
    reference = medians(times['python -c "import libcst"'])[0]
    print(f"CLI start-up, {args.runs} runs each, alternating ({load_line()})")
    print(f"{'command':<28} {'wall median':>12} {'CPU median':>11} {'wall x libcst':>14}")
    for name, values in times.items():
        wall, cpu = medians(values)
        print(f"{name:<28} {wall * 1e3:>10.0f}ms {cpu * 1e3:>9.0f}ms {wall / reference:>13.2f}x")
    print('target: mldiff check at most 2x python -c "import libcst"')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
