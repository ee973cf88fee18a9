"""How `mldiff check` scales with the number of changed files: wall time and peak memory.

Builds a throwaway repository with N changed Python files (every tenth drops a
`Normalize`, the rest change a constant), runs `run_check` on the working tree and
prints time, files/s, findings and the peak resident memory of the main process and
of the worker processes. Run it for two sizes: memory should stay flat.

    PYTHONPATH=server python bench/check_many_files.py 1000 10000
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from mldiff.checking import run_check  # noqa: E402

BEFORE = ("from torchvision import transforms\n"
          "transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])\n"
          "WIDTH = {i}\n")
AFTER_NORMALIZE = "from torchvision import transforms\ntransform = transforms.ToTensor()\nWIDTH = {i}\n"
AFTER_CONSTANT = BEFORE.replace("WIDTH = {i}", "WIDTH = {i} + 1")
ENV = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
       "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def build(root: Path, count: int) -> None:
    subprocess.run(["git", "init", "-q", str(root)], check=True, env=ENV)
    for i in range(count):
        path = root / f"pkg{i // 500:03d}" / f"module_{i:05d}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(BEFORE.format(i=i))
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=ENV)
    subprocess.run(["git", "commit", "-q", "-m", "base"], cwd=root, check=True, env=ENV)
    for i in range(count):
        path = root / f"pkg{i // 500:03d}" / f"module_{i:05d}.py"
        path.write_text((AFTER_NORMALIZE if i % 10 == 0 else AFTER_CONSTANT).format(i=i))


def main(sizes: list[int]) -> None:
    print(f"{'files':>7} {'seconds':>8} {'files/s':>8} {'findings':>8} {'main MiB':>9} {'worker MiB':>10}")
    for count in sizes:
        with tempfile.TemporaryDirectory(prefix="mldiff-bench-") as tmp:
            root = Path(tmp) / "repo"
            build(root, count)
            last = [0.0]

            def progress(done: int, total: int, path: str) -> None:
                if time.monotonic() - last[0] > 5:
                    last[0] = time.monotonic()
                    print(f"  ... {done}/{total}", file=sys.stderr)

            start = time.perf_counter()
            result = run_check(root, progress=progress)
            seconds = time.perf_counter() - start
        main_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        child_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"{count:>7} {seconds:>8.1f} {count / seconds:>8.0f} {len(result.findings):>8} "
              f"{main_mib:>9.0f} {child_mib:>10.0f}")


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [1000, 10000])
