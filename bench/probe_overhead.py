"""The probe's own cost: steps/s of one training loop with and without the probe's hooks.

    PYTHONPATH=server python bench/probe_overhead.py [--steps 200] [--rounds 7] [--threads 1] [--device cpu|cuda]

Same process, same loop, same data; rounds alternate plain / probed so that machine noise
hits both alike. Prints the median steps/s of each, the overhead in percent and in
microseconds per step. On a GPU (``--device cuda``) the probe also records CUDA events;
the loop synchronises once per round, as a training loop's logging would.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from mldiff.validate.probe import Probe


def models(device: str) -> dict[str, tuple[nn.Module, torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    tiny = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 3))
    mlp = nn.Sequential(nn.Linear(512, 2048), nn.ReLU(), nn.Linear(2048, 2048), nn.ReLU(), nn.Linear(2048, 10))
    cnn = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(64, 10))
    return {
        "tiny MLP (8-64-3, batch 32)": (tiny.to(device), torch.randn(32, 8, generator=generator),
                                        torch.randint(0, 3, (32,), generator=generator)),
        "MLP (512-2048-2048-10, batch 128)": (mlp.to(device), torch.randn(128, 512, generator=generator),
                                              torch.randint(0, 10, (128,), generator=generator)),
        "CNN (2 conv + BN, 3x32x32, batch 64)": (cnn.to(device), torch.randn(64, 3, 32, 32, generator=generator),
                                                 torch.randint(0, 10, (64,), generator=generator)),
    }


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """Steps per second of a plain loop: zero_grad, forward, loss, backward, step."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    x, y = x.to(next(model.parameters()).device), y.to(next(model.parameters()).device)
    if x.is_cuda:
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    if x.is_cuda:
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {args.threads} thread(s)"
    print(f"torch {torch.__version__} on {device_name}; {args.rounds} rounds x {args.steps} steps, medians")
    print(f"{'model':<40} {'plain steps/s':>14} {'probed steps/s':>15} {'overhead':>9} {'us/step':>8}")
    for name, (model, x, y) in models(args.device).items():
        train(model, x, y, 20)  # warm up allocator and kernels
        plain, probed = [], []
        for _ in range(args.rounds):
            plain.append(train(model, x, y, args.steps))
            probe = Probe(steps=10**12, progress=False)
            probe.install()
            try:
                probed.append(train(model, x, y, args.steps))
            finally:
                probe.remove()
        plain_rate, probed_rate = statistics.median(plain), statistics.median(probed)
        overhead = plain_rate / probed_rate - 1
        per_step_us = (1 / probed_rate - 1 / plain_rate) * 1e6
        print(f"{name:<40} {plain_rate:>14.1f} {probed_rate:>15.1f} {overhead:>+9.1%} {per_step_us:>8.1f}")


if __name__ == "__main__":
    main()
