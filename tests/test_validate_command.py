"""[tool.mldiff.validate]: parsing, and the probe taking the interpreter's place."""
from __future__ import annotations

import pytest

from mldiff.errors import ConfigError
from mldiff.validate.command import from_table, probe_argv

P = ["--steps", "5"]


@pytest.mark.parametrize("command, expected", [
    ("python train.py --lr 0.1", ["python", "probe.py", *P, "--", "train.py", "--lr", "0.1"]),
    ("python3 -u -X dev -W ignore train.py", ["python3", "-u", "-X", "dev", "-W", "ignore", "probe.py", *P, "--",
                                              "train.py"]),
    ("/opt/venv/bin/python3.11 -m pkg.train a", ["/opt/venv/bin/python3.11", "probe.py", *P, "--", "-m",
                                                 "pkg.train", "a"]),
    ("torchrun --nproc-per-node 2 --standalone train.py --x 1",
     ["torchrun", "--nproc-per-node", "2", "--standalone", "probe.py", *P, "--", "train.py", "--x", "1"]),
    ("torchrun --nnodes=1 -m pkg.train", ["torchrun", "--nnodes=1", "probe.py", *P, "--", "-m", "pkg.train"]),
    ("python -m torch.distributed.run --nproc_per_node=2 train.py",
     ["python", "-m", "torch.distributed.run", "--nproc_per_node=2", "probe.py", *P, "--", "train.py"]),
])
def test_probe_argv(command, expected):
    config = from_table({"command": command})
    assert probe_argv(config.command, "probe.py", P) == expected


@pytest.mark.parametrize("table, message", [
    ({}, "no training command"),
    ({"command": "bash run.sh"}, "must start with python or torchrun"),
    ({"command": "python -c 'print(1)'"}, "-c and stdin cannot be probed"),
    ({"command": "torchrun --no-python ./a.out"}, "--no-python cannot be probed"),
    ({"command": "python"}, "names no script"),
    ({"command": "python train.py", "steps": 0}, "steps must be a positive int"),
    ({"command": "python train.py", "runner": "docker:--privileged"}, "runner must be"),
    ({"command": "python train.py", "link": ["../outside"]}, "link must be"),
    ({"command": "python train.py", "colour": "red"}, "unknown setting 'colour'"),
    ({"command": "python 'unclosed"}, "No closing quotation"),
])
def test_config_errors(table, message):
    with pytest.raises(ConfigError, match=message):
        from_table(table)


def test_list_command_env_and_describe():
    config = from_table({"command": ["python", "train.py", "--name", "a b"], "env": {"A": 1}, "steps": 3,
                         "runner": "docker:trainbox", "expect_gpu": True})
    assert config.command == ("python", "train.py", "--name", "a b")
    assert config.describe() == "A=1 python train.py --name 'a b'  (runner: docker:trainbox)"
    assert config.steps == 3 and config.expect_gpu


def test_verdicts_from_comparisons():
    from mldiff.validate.compare import compare, verdict

    def run(losses, times, samples=32):
        return {"loss": losses, "step_seconds": times, "warmup_steps": 1, "steady_seconds": sum(times[1:]),
                "steps_per_second": 1 / sorted(times[1:])[len(times[1:]) // 2],
                "samples_per_second": samples / sorted(times[1:])[len(times[1:]) // 2],
                "memory": {"peak_rss_bytes": 100}}

    slow = [0.5, 0.2, 0.21, 0.2, 0.22, 0.2, 0.21]
    fast = [0.5, 0.1, 0.11, 0.1, 0.1, 0.12, 0.1]
    noisy = [0.5, 0.1, 0.3, 0.12, 0.25, 0.2, 0.15]
    same = verdict(compare(run([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4], slow), run([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4], fast)))
    assert same.startswith("The loss curves are identical over 7 steps") and "It runs faster (x2.10 samples/s)" in same
    lr = verdict(compare(run([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4], slow), run([1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2], noisy)))
    assert "diverge from step 2" in lr and "50.0% lower" in lr and "No clear throughput difference" in lr
    data = verdict(compare(run([1.0, 0.9], [0.1, 0.1]), run([2.0, 1.9], [0.1, 0.1])))
    assert data.startswith("The losses differ from step 1") and "Throughput is not compared" in data


TORCHRUN = {"torchrun": {"nproc_per_node": 2, "extra_args": ["--master-port=29531"]}}


@pytest.mark.parametrize("command, expected", [
    # A python command runs under the same interpreter's torch.distributed.run (that is torchrun).
    ("python train.py --x 1", ["python", "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                               "--master-port=29531", "probe.py", *P, "--", "train.py", "--x", "1"]),
    ("python3 -u -m pkg.train", ["python3", "-u", "-m", "torch.distributed.run", "--standalone",
                                 "--nproc-per-node=2", "--master-port=29531", "probe.py", *P, "--", "-m",
                                 "pkg.train"]),
    # A torchrun command gets the configured process count in place of its own.
    ("torchrun --nproc_per_node 4 --standalone train.py", ["torchrun", "--nproc-per-node=2", "--standalone",
                                                           "--master-port=29531", "probe.py", *P, "--",
                                                           "train.py"]),
    ("python -m torch.distributed.run --nproc-per-node=8 train.py",
     ["python", "-m", "torch.distributed.run", "--nproc-per-node=2", "--master-port=29531", "probe.py", *P, "--",
      "train.py"]),
])
def test_probe_argv_under_torchrun(command, expected):
    config = from_table({"command": command, **TORCHRUN})
    assert probe_argv(config.command, "probe.py", P, config.torchrun) == expected


@pytest.mark.parametrize("table, message", [
    ({"torchrun": {"nproc_per_node": 0}}, "nproc_per_node must be a positive integer or one of auto, cpu, gpu"),
    ({"torchrun": {"nproc_per_node": "many"}}, "nproc_per_node must be"),
    ({"torchrun": {"extra_args": ["--nproc-per-node=3"]}}, "give the process count as nproc_per_node"),
    ({"torchrun": {"nnodes": 2}}, r"\[tool.mldiff.validate.torchrun\]: unknown setting 'nnodes'"),
    ({"torchrun": "2"}, r"\[tool.mldiff.validate.torchrun\] must be a table"),
    ({"slurm": {"partition": "--exclusive"}}, "partition must be a non-empty string"),
    ({"slurm": {"shared_dir": "scratch"}}, "shared_dir must be an absolute path"),
    ({"slurm": {"queue_timeout": 0}}, "queue_timeout must be a positive number of seconds"),
    ({"slurm": {"extra_args": "--exclusive"}}, "extra_args must be a list of strings"),
    ({"slurm": {"same_gpu_type": "yes"}}, "same_gpu_type must be true or false"),
    ({"slurm": {"qos": "high"}}, r"unknown setting 'qos' \(known: account, extra_args, gres, partition"),
    ({"runner": "ssh"}, "runner must be auto, local, devcontainer, docker:NAME or slurm, not 'ssh'"),
])
def test_table_errors(table, message):
    with pytest.raises(ConfigError, match=message):
        from_table({"command": "python train.py", **table})


def test_slurm_and_torchrun_are_part_of_what_is_confirmed():
    config = from_table({"command": "python train.py", "runner": "slurm", **TORCHRUN,
                         "slurm": {"partition": "gpu", "gres": "gpu:1", "time": "00:20:00", "account": "ml",
                                   "extra_args": ["--constraint=a100 or h100"], "shared_dir": "~/scratch"}})
    assert config.describe() == (
        "python train.py  (under torchrun --nproc-per-node=2 --master-port=29531)  (runner: slurm: srun "
        "--partition=gpu --gres=gpu:1 --time=00:20:00 --account=ml '--constraint=a100 or h100')")
    assert config.slurm.shared_dir.endswith("/scratch") and not config.slurm.shared_dir.startswith("~")
    assert config.slurm.options("gpu:a100:1")[1] == "--gres=gpu:a100:1"
    assert from_table({"command": "python train.py", "runner": "slurm"}).describe() == \
        "python train.py  (runner: slurm: srun)"
