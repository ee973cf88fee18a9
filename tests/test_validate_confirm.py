"""Each static finding held against the real runs (the probe, torch CPU) on tiny-train variants
built in temp git repositories: confirmed with the observed values, contradicted when the
value the code changes is overridden, not observed when the changed line does not run, and
what fp16 autocast on CPU can and cannot show. The learning-rate and Normalize-layer cases
of test_validate_scenarios.py assert their confirmations too."""
from __future__ import annotations

import pytest

from conftest import Repo, mldiff
from validation_support import RUN_ENV, edit, tiny_train_repo, validate_json

pytest.importorskip("torch")
pytestmark = pytest.mark.slow

STEPS = "4"
OPTIMIZER = "    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)\n"
AUTOCAST = ("            with torch.autocast(args.device, dtype=dtype or torch.float32, enabled=dtype is not None):\n"
            "                loss = criterion(model(inputs), targets)\n")


def variant(tmp_path, *edits: tuple[str, str]) -> Repo:
    """tiny-train with ``edits`` committed: the base of a scenario."""
    repo = tiny_train_repo(tmp_path)
    for old, new in edits:
        edit(repo, "train.py", old, new)
    repo.commit("scenario base")
    return repo


def confirmations(repo: Repo) -> dict[str, dict]:
    result = validate_json(repo, "--steps", STEPS)
    return {entry["code"]: entry for entry in result["confirmations"]}


def line_of(repo: Repo, text: str) -> int:
    lines = (repo.path / "train.py").read_text().splitlines()
    (number,) = [i + 1 for i, line in enumerate(lines) if text in line]
    return number


def test_input_normalization_removed_is_confirmed_by_the_input_statistics(tmp_path):
    repo = variant(tmp_path, ("        Standardize(x.mean(dim=0), x.std(dim=0)),\n",
                              "        nn.BatchNorm1d(x.shape[1], affine=False),\n"))
    edit(repo, "train.py", "        nn.BatchNorm1d(x.shape[1], affine=False),\n", "")
    found = confirmations(repo)
    norm = found["ML202"]
    assert norm["status"] == "confirmed" and norm["observed"] == "input.first_layer"
    # What the first Linear saw: standardised batches in the base, the raw data (mean ~3, std ~4) after.
    before, after = norm["before"], norm["after"]
    assert before.startswith("mean ") and after.startswith("mean ")
    mean_before, std_before = (float(part.split()[1]) for part in before.split(", "))
    mean_after, std_after = (float(part.split()[1]) for part in after.split(", "))
    assert abs(mean_before) < 0.2 and 0.8 < std_before < 1.2
    assert 2 < mean_after < 4 and 3 < std_after < 5
    assert "first 3 batches" in norm["where"] and "also the norm layers" in norm["detail"]


def test_dropout_change_is_confirmed_with_both_probabilities(tmp_path):
    repo = variant(tmp_path, ("        nn.ReLU(),\n", "        nn.ReLU(),\n        nn.Dropout(0.1),\n"))
    edit(repo, "train.py", "nn.Dropout(0.1)", "nn.Dropout(0.3)")
    dropout = confirmations(repo)["ML901"]
    assert dropout["status"] == "confirmed"
    assert (dropout["before"], dropout["after"]) == ("Dropout '3' p=0.1", "Dropout '3' p=0.3")


def test_batch_size_change_is_confirmed_at_the_loss(tmp_path):
    repo = tiny_train_repo(tmp_path)
    edit(repo, "train.py", '"--batch-size", type=int, default=32', '"--batch-size", type=int, default=64')
    found = confirmations(repo)
    batch = found["ML601"]
    assert batch["status"] == "confirmed" and batch["observed"] == "batch.loss"
    assert (batch["before"], batch["after"]) == ("32", "64")
    assert batch["detail"].startswith("the batch at the loss: 32 -> 64 (leading dimension of the loss input, "
                                      "steps 1-4), as the code says")
    assert found["ML603"]["status"] == "confirmed"


def test_a_value_an_argparse_default_overrides_is_contradicted(tmp_path):
    repo = variant(tmp_path, (OPTIMIZER, '    config = {"lr": 0.05, "momentum": 0.9}\n'
                                         '    config.update({k: v for k, v in vars(args).items() if k in config})\n'
                                         '    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], '
                                         'momentum=config["momentum"])\n'))
    edit(repo, "train.py", 'config = {"lr": 0.05', 'config = {"lr": 0.2')
    line = line_of(repo, 'config = {"lr": 0.2')
    result = validate_json(repo, "--steps", STEPS)
    (entry,) = result["confirmations"]
    assert entry["code"] == "ML301" and entry["status"] == "contradicted"
    assert (entry["before"], entry["after"]) == ("0.05", "0.05")   # what the optimizer ran at, both sides
    assert entry["detail"] == (
        "the code says 0.05 -> 0.2, but the optimizer's learning rate was 0.05 on both sides (param group 0, "
        f"steps 1-4); train.py line {line} ran (before step 1): something overrides its value, or it does not "
        "reach what it was meant to change")
    # Loud in the terminal and in the commit.
    printed = mldiff("validate", "--steps", STEPS, cwd=repo.path, env=RUN_ENV)
    assert printed.returncode == 0, printed.stderr
    assert f"  CONTRADICTED  ML301 [learning_rate] train.py:{line}: the code says 0.05 -> 0.2" in printed.stdout
    assert (f"CONTRADICTED: 1 finding of the change says something changed that the runs did not see: "
            f"ML301 at train.py:{line}") in printed.stdout
    repo.git("add", "-A")
    trailers = dict(line_.split(": ", 1) for line_ in mldiff("attach", cwd=repo.path).stdout.splitlines())
    assert trailers["ML-Contradicted"] == f"learning_rate (ML301, train.py:{line}): {entry['detail']}"
    assert "ML-Confirmed" not in trailers


def test_a_change_in_a_branch_that_does_not_run_is_not_observed(tmp_path):
    repo = variant(tmp_path,
                   ('    args = parser.parse_args()\n',
                    '    parser.add_argument("--finetune", action="store_true")\n    args = parser.parse_args()\n'),
                   (OPTIMIZER, OPTIMIZER + "    if args.finetune:\n"
                               "        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)\n"))
    edit(repo, "train.py", "lr=0.01, momentum", "lr=0.001, momentum")
    line = line_of(repo, "lr=0.001, momentum")
    (entry,) = validate_json(repo, "--steps", STEPS)["confirmations"]
    assert entry["code"] == "ML301" and entry["status"] == "not_observed"
    assert entry["detail"] == f"train.py line {line} did not run in 4 steps (inside `if args.finetune:`)"
    repo.git("add", "-A")
    trailers = dict(line_.split(": ", 1) for line_ in mldiff("attach", cwd=repo.path).stdout.splitlines())
    assert trailers["ML-Not-Observed"] == f"learning_rate (ML301, train.py:{line}): {entry['detail']}"


def test_fp16_autocast_added_on_cpu_says_what_cpu_can_show(tmp_path):
    repo = variant(tmp_path, (AUTOCAST, "            loss = criterion(model(inputs), targets)\n"))
    edit(repo, "train.py", "            loss = criterion(model(inputs), targets)\n",
         '            with torch.autocast("cpu", dtype=torch.float16):\n'
         "                loss = criterion(model(inputs), targets)\n")
    result = validate_json(repo, "--steps", STEPS)
    (entry,) = result["confirmations"]
    assert entry["code"] == "ML101" and entry["status"] == "confirmed"
    assert (entry["before"], entry["after"]) == ("off", "float16 (cpu)")
    assert "also the dtype of the loss input" in entry["detail"]   # the logits came out in float16
    assert entry["detail"].endswith("; on CPU: autocast and the dtypes it gives are observed, but not what they do "
                                    "on a GPU (tensor-core speed, memory, float16 underflow of CUDA kernels)")
    assert result["change"]["facts"]["loss"]["input_dtype"] == [[1, 4, "float16"]]
