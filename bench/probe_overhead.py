"""The probe's own cost: steps/s of one training loop with and without the probe's hooks.

    PYTHONPATH=server python bench/probe_overhead.py [--steps 200] [--rounds 7] [--threads 1] [--device cpu|cuda]

Same process, same loop, same data; rounds alternate plain / probed so that machine noise
hits both alike. Prints the median steps/s of each (wall clock), the overhead in percent,
and the extra CPU time per step (the main thread's CPU time with torch on one thread:
much less sensitive to other processes on a busy machine than wall time). On a GPU (``--device cuda``) the probe also records CUDA events;
the loop synchronises once per round, as a training loop's logging would.
"""
from __future__ import annotations

import argparse
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


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> tuple[float, float]:
    """(steps per second, CPU seconds per step) of a plain loop: zero_grad, forward, loss, backward, step."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    x, y = x.to(next(model.parameters()).device), y.to(next(model.parameters()).device)
    if x.is_cuda:
        torch.cuda.synchronize()
    started, cpu_started = time.perf_counter(), time.thread_time()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    if x.is_cuda:
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - started), (time.thread_time() - cpu_started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--only", help="run only the models whose name contains this")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {args.threads} thread(s)"
    load = ", load average %.1f" % os.getloadavg()[0] if hasattr(os, "getloadavg") else ""
    print(f"torch {torch.__version__} on {device_name} ({os.cpu_count()} cores{load}); "
          f"{args.rounds} rounds x {args.steps} steps, medians")
    print(f"{'model':<40} {'plain steps/s':>14} {'probed steps/s':>15} {'overhead':>9} "
          f"{'CPU us/step plain':>18} {'probed':>8} {'extra':>7}")
    for name, (model, x, y) in models(args.device).items():
        if args.only and args.only.lower() not in name.lower():
            continue
        train(model, x, y, 20)  # warm up allocator and kernels
        plain, probed = [], []
        for round_index in range(args.rounds):
            # ABBA order: neither variant always runs first (warm caches, a busy neighbour).
            for probed_now in ((False, True) if round_index % 2 == 0 else (True, False)):
                if not probed_now:
                    plain.append(train(model, x, y, args.steps))
                    continue
                probe = Probe(steps=10**12, progress=False)
                probe.install()
                try:
                    probed.append(train(model, x, y, args.steps))
                finally:
                    probe.remove()
        plain_rate = statistics.median(rate for rate, _ in plain)
        probed_rate = statistics.median(rate for rate, _ in probed)
        plain_cpu = statistics.median(cpu for _, cpu in plain) * 1e6
        probed_cpu = statistics.median(cpu for _, cpu in probed) * 1e6
        print(f"{name:<40} {plain_rate:>14.1f} {probed_rate:>15.1f} {plain_rate / probed_rate - 1:>+9.1%} "
              f"{plain_cpu:>18.1f} {probed_cpu:>8.1f} {probed_cpu - plain_cpu:>+7.1f}", flush=True)

if __name__ == "__main__":
    main()
