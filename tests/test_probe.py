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


def test_rank_other_than_zero_writes_its_own_result_beside(tmp_path):
    out = tmp_path / "result.json"
    completed = subprocess.run(
        [sys.executable, "-m", "mldiff.probe", "--steps", "2", "--out", str(out), "--", "train.py"],
        cwd=TINY_TRAIN, capture_output=True, text=True, timeout=120,
        env={**os.environ, "RANK": "1", "WORLD_SIZE": "2", "PYTHONDONTWRITEBYTECODE": "1"})
    assert completed.returncode == 0, completed.stderr
    assert not out.exists()   # rank 0's file is rank 0's
    rank = json.loads((tmp_path / "result.json.rank1").read_text())
    assert rank["steps"] == 2 and rank["environment"]["rank"] == 1 and rank["environment"]["world_size"] == 2
    assert "[mldiff-probe]" not in completed.stderr


FACTS_SCRIPT = """
import random, torch
from torch import nn
import torch.nn.functional as F
random.seed(7)
torch.manual_seed(3)
model = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.25), nn.Linear(8, 2))
frozen = nn.Linear(2, 2)   # optimized but never used: no gradient
model[0].eval()            # a module left in eval mode while the model trains
opt = torch.optim.AdamW([{"params": model.parameters()}, {"params": frozen.parameters(), "lr": 0.5}],
                        lr=0.01, weight_decay=0.05, betas=(0.8, 0.9))
scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
x, y = torch.randn(16, 4) * 2 + 1, torch.randint(0, 2, (16,))
for step in range(10):
    opt.zero_grad()
    for micro in range(2):
        out = F.dropout(model(x[micro * 8:(micro + 1) * 8]), p=0.5, training=True)
        (criterion(out, y[micro * 8:(micro + 1) * 8]) / 2).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
    opt.step()
    scheduler.step()
"""


def test_run_time_facts(tmp_path):
    script = tmp_path / "facts.py"
    script.write_text(FACTS_SCRIPT)
    completed, result = probe(tmp_path, str(script), steps=5, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    facts = result["facts"]
    assert facts["errors"] == []
    optimizer = facts["optimizer"]
    assert optimizer["class"] == "torch.optim.adamw.AdamW"
    assert [g["params"] for g in optimizer["param_groups"]] == [6, 2]
    # The schedule, per step: StepLR(step_size=2, gamma=0.1) after each step.
    lrs = [(first, last, round(groups[0]["lr"], 6), round(groups[1]["lr"], 6))
           for first, last, groups in optimizer["values"]]
    assert lrs == [(1, 2, 0.01, 0.5), (3, 4, 0.001, 0.05), (5, 5, 0.0001, 0.005)]
    first = optimizer["values"][0][2][0]
    assert first["weight_decay"] == 0.05 and first["betas"] == [0.8, 0.9]
    assert facts["schedulers"]["torch.optim.lr_scheduler.StepLR"]["calls"] == 5   # the constructor's, then 4
    assert facts["autocast"] == [[1, 5, None]] and facts["grad_scaler"] is None
    loss = facts["loss"]
    assert loss["calls"] == [[1, 5, 2]] and loss["batch"] == [[1, 5, 8]]
    assert loss["function"][0][2]["name"] == "cross_entropy"
    assert loss["function"][0][2]["settings"]["label_smoothing"] == 0.1
    assert result["backwards_per_step"] == [2] * 5
    assert facts["zero_grad_calls"] == [[1, 5, 1]]
    assert facts["clipping"] == [[1, 5, {"function": "clip_grad_norm_", "limit": 0.5, "norm_type": 2.0}]]
    assert len(facts["clip_total_norm"]) == 5 and all(norm > 0 for _, norm in facts["clip_total_norm"])
    assert facts["grad_norm"]["values"][0][0] == 1 and facts["grad_norm"]["values"][0][1] <= 0.5 + 1e-6
    model = facts["model"]
    assert model["root"] == "torch.nn.modules.container.Sequential" and model["wrappers"] == []
    assert model["parameters"] == 4 * 2 + 4 * 8 + 8 + 8 * 2 + 2 and model["modules"] == 6
    assert model["in_eval_mode"] == ["0"]
    assert model["dropout"] == [{"name": "3", "type": "Dropout", "p": 0.25, "training": True, "ran": True}]
    assert [n["type"] for n in model["norm_layers"]] == ["BatchNorm1d"] and model["norm_layers"][0]["eps"] == 1e-05
    assert {(c["function"], c["p"]) for c in facts["dropout_calls"]} == {("dropout", 0.25), ("dropout", 0.5)}
    assert facts["params_without_grad"]["1"] == ["tensor[2, 2]", "tensor[2]"]
    assert facts["seeds"]["calls"] == [["random.seed", 7, 0], ["torch.manual_seed", 3, 0]]
    assert facts["seeds"]["initial_seed"] == 3
    model_input = facts["inputs"]["model"]
    assert len(model_input) == 3 and model_input[0]["shape"] == [8, 4] and 0 < model_input[0]["std"]
    # The first layer with parameters is the BatchNorm (affine): its input is the model's.
    assert facts["inputs"]["first_layer_module"] == {"name": "0", "type": "BatchNorm1d"}
    assert facts["inputs"]["first_layer"][0]["mean"] == model_input[0]["mean"]
    assert facts["distributed"] == {"backend": None, "world_size": 1, "rank": 0}


LINES_SCRIPT = """import torch
def helper(x):
    if x > 1:
        return x + 1
    else:
        return x - 1
def never():
    return 0
model = torch.nn.Linear(2, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(100):
    try:
        helper(step)
    except ValueError:
        pass
    if step == 2:
        marker = step
    model(torch.ones(4, 2)).sum().backward()
    opt.step()
    if step == 3:
        raise RuntimeError("stop here")
"""


def test_changed_lines_ran_or_not_and_tracebacks_keep_their_lines(tmp_path):
    script = tmp_path / "lines.py"
    script.write_text(LINES_SCRIPT)
    spec = f"{script}:1,4,5,6,8,13,14,17,21"
    completed, result = probe(tmp_path, str(script), steps=10, cwd=tmp_path, options=("--lines", spec))
    assert result["status"] == "error" and "stop here" in result["error"]
    assert 'lines.py", line 21, in <module>' in completed.stderr   # the line numbers are the file's
    lines = result["lines"]["files"][str(script)]
    assert lines["loaded"] is True and lines["unmarked"] == []
    # Steps done when each first ran; None: marked but never ran.
    assert lines["lines"] == {"1": 0, "4": 2, "5": 0, "6": 0, "8": None, "13": 0, "14": None, "17": 2,
                              "21": 4}
    missing = tmp_path / "other.py"
    _, result = probe(tmp_path, str(script), steps=2, cwd=tmp_path, options=("--lines", f"{missing}:3"))
    assert result["lines"]["files"][str(missing)] == {"loaded": False, "lines": {}, "unmarked": []}


def test_no_mldiff_module_but_the_probe_imports_torch():
    code = ("import sys, mldiff.cli, mldiff.commit, mldiff.validate.validation, mldiff.validate.api, "
            "mldiff.commands.validate; mldiff.cli.build_parser(); print('torch' in sys.modules)")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.stdout.strip() == "False", completed.stderr
