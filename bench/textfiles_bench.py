#!/usr/bin/env python3
"""Time the engine on configs, environment files and notebooks the way the language
server calls it: the same base, a new head text on every call (one edit per keystroke).

Prints the median time per call for each file; no pass/fail (targets live in DESIGN.md).
Usage: bench/textfiles_bench.py [--calls N]
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from mldiff.engine import analyze  # noqa: E402


def median_ms(path: str, base: str, head: str, calls: int, edit) -> tuple[float, int]:
    times = []
    findings = 0
    for number in range(calls):
        text = edit(head, number)
        start = time.perf_counter()
        result = analyze(path, base, text)
        times.append(time.perf_counter() - start)
        findings = len(result.findings)
    return statistics.median(times) * 1000, findings


def comment(text: str, number: int) -> str:
    return text + f"# edit {number}\n"


def spaces(text: str, number: int) -> str:
    return text + " " * number


def cases() -> list[tuple[str, str, str, str, object]]:
    yaml_lines = []
    for i in range(400):
        yaml_lines += [f"block{i}:", f"  lr: {0.001 * (i + 1)}", f"  batch_size: {i}", f"  name: n{i}",
                       "  dropout: 0.1"]
    yaml_big = "\n".join(yaml_lines) + "\n"
    yaml_small = "\n".join(yaml_lines[:200]) + "\n"
    data = {f"block{i}": {"lr": 0.001 * (i + 1), "batch_size": i, "name": f"n{i}"} for i in range(500)}
    json_big = json.dumps(data, indent=2)
    toml_big = "\n".join(f"[block{i}]\nlr = {0.001 * (i + 1)}\nbatch_size = {i}\n" for i in range(500))
    requirements = "\n".join(f"package{i}=={i}.0" for i in range(300)) + "\ntorch==2.1.0\n"
    dockerfile = "FROM pytorch/pytorch:2.1.0-cuda11.8-cudnn8-runtime\n" + "\n".join(
        f"RUN pip install pkg{i}==1.{i} && \\\n    echo {i}" for i in range(150)) + "\n"
    cells = []
    for i in range(100):
        cells.append({"cell_type": "code", "execution_count": i, "metadata": {},
                      "source": [f"x{i} = torch.randn({i}, 4)\n", f"opt{i} = torch.optim.Adam(p, lr=1e-{i % 5 + 1})\n"],
                      "outputs": [{"output_type": "stream", "name": "stdout", "text": [f"line {j}\n" for j in range(40)]},
                                  {"output_type": "display_data", "metadata": {},
                                   "data": {"image/png": "iVBORw0KGgo" * 2000}}]})
    cells[0]["source"].insert(0, "import torch\n")
    notebook = json.dumps({"cells": cells, "metadata": {"language_info": {"name": "python"}},
                           "nbformat": 4, "nbformat_minor": 5}, indent=1)
    return [
        ("config/big.yaml (2,000 lines)", "cfg/big.yaml", yaml_big,
         yaml_big.replace("block200:\n  lr: 0.201", "block200:\n  lr: 0.3"), comment),
        ("config/small.yaml (200 lines)", "cfg/small.yaml", yaml_small,
         yaml_small.replace("lr: 0.001\n", "lr: 0.002\n"), comment),
        (f"config/big.json ({json_big.count(chr(10))} lines)", "cfg/big.json", json_big,
         json_big.replace('"lr": 0.251', '"lr": 0.3'), spaces),
        (f"config/big.toml ({toml_big.count(chr(10))} lines)", "cfg/big.toml", toml_big,
         toml_big.replace("lr = 0.251", "lr = 0.3"), comment),
        ("requirements.txt (301 lines)", "requirements.txt", requirements,
         requirements.replace("torch==2.1.0", "torch==2.2.0"), comment),
        ("Dockerfile (301 lines)", "Dockerfile", dockerfile,
         dockerfile.replace("2.1.0-cuda11.8", "2.2.0-cuda12.1"), comment),
        (f"notebook.ipynb (100 cells, {len(notebook) // 1_000_000} MB)", "nb.ipynb", notebook,
         notebook.replace("lr=1e-3", "lr=3e-3", 1), spaces),
    ]


def main() -> int:
    calls = int(sys.argv[sys.argv.index("--calls") + 1]) if "--calls" in sys.argv else 20
    analyze("warm_up.py", "x = 1\n", "x = 2\n")
    print(f"{'file':44} {'median ms':>10} {'findings':>9}")
    for label, path, base, head, edit in cases():
        milliseconds, findings = median_ms(path, base, head, calls, edit)
        print(f"{label:44} {milliseconds:10.1f} {findings:9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
