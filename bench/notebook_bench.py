#!/usr/bin/env python3
"""Time notebooks through the engine: a one-cell edit of a large notebook read from its
JSON (``mldiff check``, ``mldiff log``), the same edit arriving as the editor's cells
(VS Code's notebook editor: every keystroke), cells moved without ids (pairing by code),
and a notebook whose outputs are 50 MB.

Prints the median per call; no pass/fail. Usage: bench/notebook_bench.py [--calls N] [--cells N]
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from mldiff.config import Settings  # noqa: E402
from mldiff.engine import analyze, analyze_change  # noqa: E402
from mldiff.analysis.notebook import Notebook, editor_notebook_change, read_notebook  # noqa: E402

CELL = '''\
import torch
from torchvision import transforms
LR_{n} = 1e-3
tf_{n} = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
model_{n} = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
opt_{n} = torch.optim.AdamW(model_{n}.parameters(), lr=LR_{n}, weight_decay=0.01)
for step in range(10):
    opt_{n}.zero_grad()
    loss = model_{n}(torch.randn(8, 64)).sum()
    loss.backward()
    opt_{n}.step()
print(step, loss.item())'''


def notebook(cells: list[str], ids: bool = True, outputs: list | None = None) -> str:
    """Code cells; ``outputs`` go to the last one (a plot)."""
    out = []
    for number, text in enumerate(cells):
        cell = {"cell_type": "code", "execution_count": None, "metadata": {},
                "outputs": outputs if outputs and number == len(cells) - 1 else [],
                "source": text.splitlines(keepends=True)}
        if ids:
            cell["id"] = f"cell-{number}"
        out.append(cell)
    return json.dumps({"cells": out, "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
                       "nbformat": 4, "nbformat_minor": 5 if ids else 4}, indent=1) + "\n"


def median_ms(calls: int, run) -> tuple[float, int]:
    """Median milliseconds of ``run(n)`` over ``calls`` calls, after one untimed call (imports)."""
    run(calls)
    times, findings = [], 0
    for number in range(calls):
        start = time.perf_counter()
        findings = len(run(number).findings)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, findings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=9)
    parser.add_argument("--cells", type=int, default=200)
    args = parser.parse_args()
    cells = [CELL.format(n=n) for n in range(args.cells)]
    base = notebook(cells)
    middle = args.cells // 2
    lines = sum(text.count("\n") + 1 for text in cells)

    def edited(number: int) -> list[str]:
        return [text.replace("lr=LR", f"lr={number + 2}e-3 * LR") if index == middle else text
                for index, text in enumerate(cells)]

    rows = []
    ms, found = median_ms(args.calls, lambda n: analyze("train.ipynb", base, notebook(edited(n))))
    rows.append((f"one cell edited, read from JSON ({args.cells} cells, {lines:,} lines of code)", ms, found))

    base_cells = read_notebook(base)   # the server reads the base once, not on every edit

    def as_cells(n: int):
        head, document = Notebook.of_cells(("code", text, f"cell-{i}") for i, text in enumerate(edited(n)))
        return analyze_change("notebook", editor_notebook_change("train.ipynb", base_cells, head, document), base,
                              document, Settings())
    ms, found = median_ms(args.calls, as_cells)
    rows.append(("the same edit as the editor's cells (VS Code, per keystroke)", ms, found))

    shuffled = list(cells)
    random.Random(0).shuffle(shuffled)
    plain_base = notebook(cells, ids=False)
    ms, found = median_ms(args.calls, lambda n: analyze("train.ipynb", plain_base, notebook(shuffled, ids=False)))
    rows.append(("every cell moved, no ids (paired by code)", ms, found))

    image = [{"output_type": "display_data", "metadata": {},
              "data": {"image/png": "iVBORw0KGgo" * 4_600_000, "text/plain": ["<Figure>"]}}]
    small = cells[:10]
    big_base = notebook(small, outputs=image)
    big_head = notebook([text.replace("lr=LR", "lr=2 * LR") if i == len(small) // 2 else text
                         for i, text in enumerate(small)], outputs=image)
    ms, found = median_ms(max(3, args.calls // 3), lambda n: analyze("plots.ipynb", big_base, big_head))
    rows.append((f"{len(small)} cells and a {len(big_head) / 1e6:.0f} MB notebook (a plot's output), one cell edited", ms,
                 found))

    width = max(len(name) for name, _, _ in rows)
    for name, ms, found in rows:
        print(f"{name:<{width}}  {ms:8.1f} ms median  ({found} findings)")


if __name__ == "__main__":
    main()
