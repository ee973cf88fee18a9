"""The probe's own cost: steps/s of one training loop with and without the probe's hooks.

    PYTHONPATH=server python bench/probe_overhead.py [--steps 10] [--rounds 40] [--threads 1]
                                                     [--device cpu|cuda] [--only NAME] [--no-facts]

Same process, same model, same optimizer, same data. The probe is installed for one block
of ``--steps`` steps and removed for the next, ``--rounds`` blocks of each, in ABBA order:
on a shared machine the load changes within seconds, and short interleaved blocks see the
same load where long runs of each do not. Prints the medians over blocks of the wall time
per step (as steps/s) and of the main thread's CPU time per step (torch on one thread: much
less sensitive to other processes than wall time), the overhead of each, and the one-time
cost of the probe's first step (module hooks on every module, the model's description).

One probe stays installed across its blocks, as in a real run: what it does once (the first
step, the first batches' statistics) is measured apart from the per-step cost. On a GPU
(``--device cuda``) the probe also records CUDA events; each block synchronises once at its
end, as a training loop's logging would. ``--no-facts`` measures the probe without the
run-time facts (steps, loss, time and memory only).
"""
from __future__ import annotations

import argparse
import inspect
import os
import statistics
import time

import torch
from torch import nn

from mldiff.validate.probe import Probe


def models(device: str) -> dict[str, tuple[nn.Module, torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    tiny = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 3))
    mlp = nn.Sequential(nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))
    cnn = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(64, 10))
    return {
        "tiny MLP (8-64-3, batch 32)": (tiny.to(device), torch.randn(32, 8, generator=generator),
                                        torch.randint(0, 3, (32,), generator=generator)),
        "MLP (512-1024-1024-10, batch 64)": (mlp.to(device), torch.randn(64, 512, generator=generator),
                                             torch.randint(0, 10, (64,), generator=generator)),
        "CNN (2 conv + BN, 3x32x32, batch 64)": (cnn.to(device), torch.randn(64, 3, 32, 32, generator=generator),
                                                 torch.randint(0, 10, (64,), generator=generator)),
    }


class Loop:
    """A plain training loop: zero_grad, forward, loss, backward, step."""

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        self.model = model
        device = next(model.parameters()).device
        self.x, self.y = x.to(device), y.to(device)
        self.optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        self.criterion = nn.CrossEntropyLoss()

    def run(self, steps: int) -> tuple[float, float]:
        """(wall seconds, CPU seconds) per step over ``steps`` steps."""
        cuda = self.x.is_cuda
        if cuda:
            torch.cuda.synchronize()
        started, cpu_started = time.perf_counter(), time.thread_time()
        for _ in range(steps):
            self.optimizer.zero_grad()
            loss = self.criterion(self.model(self.x), self.y)
            loss.backward()
            self.optimizer.step()
        if cuda:
            torch.cuda.synchronize()
        return (time.perf_counter() - started) / steps, (time.thread_time() - cpu_started) / steps


def new_probe(facts: bool) -> Probe:
    """A probe that never stops the loop (older probes take no ``facts`` argument)."""
    if "facts" in inspect.signature(Probe).parameters:
        return Probe(steps=10**12, progress=False, facts=facts)
    return Probe(steps=10**12, progress=False)


def first_steps_cost(model: nn.Module, x: torch.Tensor, y: torch.Tensor, facts: bool, repeats: int = 5) -> float:
    """Extra CPU seconds of the first three steps of a fresh probe on a fresh optimizer."""
    extra = []
    for _ in range(repeats):
        plain = Loop(model, x, y)
        plain.run(1)
        plain_cpu = plain.run(3)[1] * 3
        probed = Loop(model, x, y)
        probed.run(1)
        probe = new_probe(facts)
        probe.install()
        try:
            probed_cpu = probed.run(3)[1] * 3
        finally:
            probe.remove()
        extra.append(probed_cpu - plain_cpu)
    return statistics.median(extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="steps per block (default 10)")
    parser.add_argument("--rounds", type=int, default=40, help="blocks of each kind (default 40)")
    parser.add_argument("--only", help="run only the models whose name contains this")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-facts", action="store_true", help="the probe without the run-time facts")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {args.threads} thread(s)"
    load = ", load average %.1f" % os.getloadavg()[0] if hasattr(os, "getloadavg") else ""
    print(f"torch {torch.__version__} on {device_name} ({os.cpu_count()} cores{load}); {args.rounds} blocks "
          f"x {args.steps} steps of each, medians over blocks; probe {'without' if args.no_facts else 'with'} facts")
    print(f"{'model':<38} {'plain steps/s':>13} {'probed':>8} {'overhead':>9} "
          f"{'CPU us/step plain':>18} {'probed':>8} {'overhead':>9} {'first 3 steps':>14}")
    for name, (model, x, y) in models(args.device).items():
        if args.only and args.only.lower() not in name.lower():
            continue
        loop = Loop(model, x, y)
        loop.run(20)  # warm up allocator and kernels
        probe = new_probe(not args.no_facts)
        probe.install()
        loop.run(5)   # the probe's first steps: measured below, apart
        probe.remove()
        plain, probed = [], []
        for round_index in range(args.rounds):
            # ABBA order: neither kind always runs first (warm caches, a busy neighbour).
            for probed_now in ((False, True) if round_index % 2 == 0 else (True, False)):
                if not probed_now:
                    plain.append(loop.run(args.steps))
                    continue
                probe.install()
                try:
                    probed.append(loop.run(args.steps))
                finally:
                    probe.remove()
        plain_wall = statistics.median(wall for wall, _ in plain)
        probed_wall = statistics.median(wall for wall, _ in probed)
        plain_cpu = statistics.median(cpu for _, cpu in plain) * 1e6
        probed_cpu = statistics.median(cpu for _, cpu in probed) * 1e6
        once = first_steps_cost(model, x, y, not args.no_facts) * 1e3
        print(f"{name:<38} {1 / plain_wall:>13.1f} {1 / probed_wall:>8.1f} {probed_wall / plain_wall - 1:>+9.1%} "
              f"{plain_cpu:>18.1f} {probed_cpu:>8.1f} {probed_cpu / plain_cpu - 1:>+9.1%} {once:>+11.1f} ms",
              flush=True)


if __name__ == "__main__":
    main()
