"""The probe on real training runs (CPU torch): steps, losses, samples, stop, failures."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from validation_support import TINY_TRAIN

pytest.importorskip("torch")


def probe(tmp_path: Path, *target: str, steps: int = 4, cwd: Path = TINY_TRAIN,
          options: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess, dict | None]:
    out = tmp_path / "result.json"
    completed = subprocess.run(
        [sys.executable, "-m", "mldiff.probe", "--steps", str(steps), "--out", str(out), *options, "--", *target],
        cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    return completed, (json.loads(out.read_text()) if out.exists() else None)


def test_counts_steps_records_loss_samples_and_stops(tmp_path):
    completed, result = probe(tmp_path, "train.py", "--epochs", "5", steps=5)
    assert completed.returncode == 0, completed.stderr
    assert result["status"] == "ok" and result["steps"] == 5
    assert len(result["loss"]) == 5 and all(0.1 < loss < 5 for loss in result["loss"])
    assert result["samples_per_step"] == [32] * 5
    assert result["samples_per_second"] > 0 and result["steps_per_second"] > 0
    assert result["memory"]["peak_rss_bytes"] > 10 * 2**20
    env = result["environment"]
    assert env["device_type"] == "cpu" and env["torch"].startswith("2.") and env["cuda_available"] is False
    assert "cudnn_deterministic" in result["determinism"]
    assert "[mldiff-probe] step 5/5" in completed.stderr
    # The script's own logging (every 10 steps) never ran: it was stopped after 5.
    assert "loss" not in completed.stdout


def test_same_seed_same_losses_and_different_seed_is_recorded(tmp_path):
    _, first = probe(tmp_path, "train.py", steps=3)
    _, second = probe(tmp_path, "train.py", steps=3)
    assert first["loss"] == second["loss"]
    assert first["seed"] == 0


def test_gradscaler_loss_is_unscaled(tmp_path):
    _, fp32 = probe(tmp_path, "train.py", steps=3)
    completed, fp16 = probe(tmp_path, "train.py", "--precision", "fp16", steps=3)
    assert fp16 is not None, completed.stderr
    # The scaled loss would be about 65536 times larger.
    assert fp16["loss"][0] == pytest.approx(fp32["loss"][0], rel=1e-2)


def test_module_form_and_gradient_accumulation(tmp_path):
    package = tmp_path / "proj"
    package.mkdir()
    (package / "trainer.py").write_text(
        "import sys, torch\n"
        "assert sys.argv[1:] == ['--flag'], sys.argv\n"
        "model = torch.nn.Linear(4, 1)\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for step in range(10):\n"
        "    for micro in range(2):\n"
        "        loss = model(torch.ones(8, 4)).pow(2).mean() / 2\n"
        "        loss.backward()\n"
        "    opt.step(); opt.zero_grad()\n")
    completed, result = probe(tmp_path, "-m", "trainer", "--flag", steps=3, cwd=package)
    assert completed.returncode == 0, completed.stderr
    assert result["backwards_per_step"] == [2, 2, 2]
    assert result["samples_per_step"] == [16, 16, 16]


def test_script_ending_before_any_step(tmp_path):
    script = tmp_path / "nothing.py"
    script.write_text("import torch\nprint('no training here')\n")
    completed, result = probe(tmp_path, str(script), cwd=tmp_path)
    assert result["status"] == "no_step" and completed.returncode == 0
    assert "without an optimizer step" in result["error"]


def test_script_ending_early_and_script_failing(tmp_path):
    short = tmp_path / "short.py"
    short.write_text("import torch\nm = torch.nn.Linear(2, 1)\no = torch.optim.SGD(m.parameters(), lr=0.1)\n"
                     "for _ in range(2):\n    m(torch.ones(3, 2)).sum().backward(); o.step()\n")
    _, result = probe(tmp_path, str(short), steps=5, cwd=tmp_path)
    assert result["status"] == "ended_early" and result["steps"] == 2

    failing = tmp_path / "failing.py"
    failing.write_text("import torch\nraise RuntimeError('CUDA out of memory (pretend)')\n")
    completed, result = probe(tmp_path, str(failing), cwd=tmp_path)
    assert completed.returncode == 1
    assert result["status"] == "error" and "CUDA out of memory (pretend)" in result["error"]
    assert "Traceback" in completed.stderr


def test_probe_usage_errors(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "mldiff.probe", "--steps", "0", "--", "x.py"],
                               capture_output=True, text=True)
    assert completed.returncode == 2 and "--steps must be at least 1" in completed.stderr
    completed = subprocess.run([sys.executable, "-m", "mldiff.probe"], capture_output=True, text=True)
    assert completed.returncode == 2 and "give the training command" in completed.stderr


def test_rank_other_than_zero_writes_nothing(tmp_path):
    out = tmp_path / "rank1.json"
    completed = subprocess.run(
        [sys.executable, "-m", "mldiff.probe", "--steps", "2", "--out", str(out), "--", "train.py"],
        cwd=TINY_TRAIN, capture_output=True, text=True, timeout=120,
        env={**os.environ, "RANK": "1", "WORLD_SIZE": "2", "PYTHONDONTWRITEBYTECODE": "1"})
    assert completed.returncode == 0, completed.stderr
    assert not out.exists()
    assert "[mldiff-probe]" not in completed.stderr


def test_no_mldiff_module_but_the_probe_imports_torch():
    code = ("import sys, mldiff.cli, mldiff.commit, mldiff.validate.validation, mldiff.validate.api, "
            "mldiff.commands.validate; mldiff.cli.build_parser(); print('torch' in sys.modules)")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.stdout.strip() == "False", completed.stderr
