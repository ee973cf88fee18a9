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
