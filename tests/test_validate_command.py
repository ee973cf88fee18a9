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
