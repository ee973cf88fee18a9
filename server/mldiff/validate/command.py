"""``[tool.mldiff.validate]``: the project's training command, and how the probe wraps it.

```toml
[tool.mldiff.validate]
command = "python train.py --epochs 1"   # or a list: ["python", "train.py", "--epochs", "1"]
steps = 20                               # optimizer steps per side
timeout = 600                            # seconds per side
runner = "auto"                          # auto | local | devcontainer | docker:NAME | slurm
env = { CUBLAS_WORKSPACE_CONFIG = ":4096:8" }
seed = 0
expect_gpu = false                       # say loudly when the run lands on CPU
link = ["data"]                          # ignored paths the base checkout borrows from the working tree

[tool.mldiff.validate.slurm]             # runner = "slurm": each side is one srun job
partition = "gpu"
gres = "gpu:1"
time = "00:20:00"
account = "ml"
extra_args = ["--constraint=a100"]
queue_timeout = 1800                     # seconds a job may wait to start
same_gpu_type = true                     # the change job asks for the GPU type the base job got
shared_dir = "/scratch/me/mldiff"        # where the jobs find the probe and the base checkout

[tool.mldiff.validate.torchrun]          # launch the command with torchrun (DDP)
nproc_per_node = 2
extra_args = ["--master-port=29531"]
```

The command must start with a Python interpreter or ``torchrun``: the probe takes the
interpreter's place and runs the script (or ``-m`` module) with the same arguments.
"""
from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mldiff.config import load
from mldiff.errors import ConfigError

_PYTHON = re.compile(r"python(\d+(\.\d+)*)?(\.exe)?$")
_PYTHON_FLAGS = set("bBdEhiIOPqsSuvx") | {"OO", "bb"}
_PYTHON_VALUE_FLAGS = {"-X", "-W"}
_LAUNCHER_FLAGS = {"--standalone", "--run-path", "--run_path", "-m", "--module"}
_LAUNCHER_MODULES = {"torch.distributed.run", "torch.distributed.launch"}
_DOCKER_RUNNER = re.compile(r"docker:[A-Za-z0-9][A-Za-z0-9_.-]*$")
_KNOWN = {"command", "steps", "timeout", "runner", "env", "seed", "expect_gpu", "link"}
SLURM_KEYS = {"partition", "gres", "time", "account", "extra_args", "queue_timeout", "same_gpu_type", "shared_dir"}
TORCHRUN_KEYS = {"nproc_per_node", "extra_args"}
TABLES = {"slurm": SLURM_KEYS, "torchrun": TORCHRUN_KEYS}
RUNNERS = "auto, local, devcontainer, docker:NAME or slurm"
_NPROC_WORDS = ("auto", "cpu", "gpu")
_NPROC_OPTIONS = ("--nproc-per-node", "--nproc_per_node")


@dataclass(frozen=True)
class SlurmConfig:
    """``[tool.mldiff.validate.slurm]``: how each side is submitted with ``srun``."""

    partition: str | None = None
    gres: str | None = None
    time: str | None = None
    account: str | None = None
    extra_args: tuple[str, ...] = ()
    queue_timeout: float = 1800.0
    same_gpu_type: bool = True
    shared_dir: str | None = None

    def options(self, gres: str | None = None) -> list[str]:
        """The srun options of this table (``gres`` replaces the configured one)."""
        out = []
        for flag, value in (("--partition", self.partition), ("--gres", gres or self.gres),
                            ("--time", self.time), ("--account", self.account)):
            if value:
                out.append(f"{flag}={value}")
        return [*out, *self.extra_args]


@dataclass(frozen=True)
class TorchrunConfig:
    """``[tool.mldiff.validate.torchrun]``: the command runs under torchrun, on one node."""

    nproc_per_node: str = "1"
    extra_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidateConfig:
    command: tuple[str, ...]
    steps: int = 20
    timeout: float = 600.0
    runner: str = "auto"
    env: tuple[tuple[str, str], ...] = ()
    seed: int = 0
    expect_gpu: bool = False
    link: tuple[str, ...] = ()
    slurm: SlurmConfig | None = None
    torchrun: TorchrunConfig | None = None

    def describe(self) -> str:
        """The exact text a user confirms before the command first runs (what runs, how and where)."""
        env = " ".join(f"{name}={shlex.quote(value)}" for name, value in self.env)
        command = shlex.join(self.command)
        text = f"{env} {command}".strip()
        if self.torchrun is not None:
            text += f"  (under torchrun --nproc-per-node={self.torchrun.nproc_per_node}" + \
                    "".join(f" {shlex.quote(a)}" for a in self.torchrun.extra_args) + ")"
        runner = self.runner
        if runner == "slurm":
            slurm = self.slurm or SlurmConfig()
            runner += ": srun " + " ".join(shlex.quote(option) for option in slurm.options()) if slurm.options() \
                else ": srun"
        return text + f"  (runner: {runner})"


def _positive(table: dict[str, Any], name: str, default: float, kind: type) -> Any:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or \
            (kind is int and not isinstance(value, int)):
        raise ConfigError(f"[tool.mldiff.validate] {name} must be a positive {kind.__name__}, not {value!r}")
    return kind(value)


def check_runner(runner: str) -> str:
    if runner in ("auto", "local", "devcontainer", "slurm") or _DOCKER_RUNNER.match(runner):
        return runner
    raise ConfigError(f"runner must be {RUNNERS}, not {runner!r}")


def _strings(table: dict[str, Any], name: str, where: str) -> tuple[str, ...]:
    value = table.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{where} {name} must be a list of strings, not {value!r}")
    return tuple(value)


def _text(table: dict[str, Any], name: str, where: str) -> str | None:
    value = table.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or value.startswith("-"):
        raise ConfigError(f"{where} {name} must be a non-empty string, not {value!r}")
    return value.strip()


def _subtable(table: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = table.get(name)
    if value is None:
        return None
    where = f"[tool.mldiff.validate.{name}]"
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(value) - TABLES[name])
    if unknown:
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(TABLES[name]))})")
    return value


def slurm_from_table(value: dict[str, Any]) -> SlurmConfig:
    where = "[tool.mldiff.validate.slurm]"
    queue_timeout = value.get("queue_timeout", 1800)
    if isinstance(queue_timeout, bool) or not isinstance(queue_timeout, (int, float)) or queue_timeout <= 0:
        raise ConfigError(f"{where} queue_timeout must be a positive number of seconds, not {queue_timeout!r}")
    same = value.get("same_gpu_type", True)
    if not isinstance(same, bool):
        raise ConfigError(f"{where} same_gpu_type must be true or false")
    shared_dir = _text(value, "shared_dir", where)
    if shared_dir is not None and not os.path.isabs(os.path.expanduser(shared_dir)):
        raise ConfigError(f"{where} shared_dir must be an absolute path (a directory the compute nodes mount), "
                          f"not {shared_dir!r}")
    return SlurmConfig(partition=_text(value, "partition", where), gres=_text(value, "gres", where),
                       time=_text(value, "time", where), account=_text(value, "account", where),
                       extra_args=_strings(value, "extra_args", where), queue_timeout=float(queue_timeout),
                       same_gpu_type=same,
                       shared_dir=os.path.expanduser(shared_dir) if shared_dir is not None else None)


def torchrun_from_table(value: dict[str, Any]) -> TorchrunConfig:
    where = "[tool.mldiff.validate.torchrun]"
    nproc = value.get("nproc_per_node", 1)
    if isinstance(nproc, bool) or not (isinstance(nproc, int) and nproc >= 1 or nproc in _NPROC_WORDS):
        raise ConfigError(f"{where} nproc_per_node must be a positive integer or one of "
                          f"{', '.join(_NPROC_WORDS)}, not {nproc!r}")
    extra = _strings(value, "extra_args", where)
    if any(arg.split("=", 1)[0] in _NPROC_OPTIONS for arg in extra):
        raise ConfigError(f"{where} extra_args: give the process count as nproc_per_node")
    return TorchrunConfig(nproc_per_node=str(nproc), extra_args=extra)


def from_table(table: dict[str, Any]) -> ValidateConfig:
    unknown = sorted(set(table) - _KNOWN - set(TABLES))
    if unknown:
        raise ConfigError(f"[tool.mldiff.validate]: unknown setting {unknown[0]!r} "
                          f"(known: {', '.join(sorted(_KNOWN | set(TABLES)))})")
    command = table.get("command")
    if command is None:
        raise ConfigError("no training command: add `command = \"python train.py ...\"` under "
                          "[tool.mldiff.validate] in pyproject.toml (see docs/validation.md)")
    if isinstance(command, str):
        try:
            parts = shlex.split(command)
        except ValueError as exc:
            raise ConfigError(f"[tool.mldiff.validate] command: {exc}") from None
    elif isinstance(command, list) and all(isinstance(part, str) for part in command):
        parts = list(command)
    else:
        raise ConfigError(f"[tool.mldiff.validate] command must be a string or a list of strings, not {command!r}")
    if not parts:
        raise ConfigError("[tool.mldiff.validate] command is empty")
    env = table.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                             for v in env.values()):
        raise ConfigError("[tool.mldiff.validate] env must be a table of NAME = \"value\"")
    link = table.get("link", [])
    if not isinstance(link, list) or not all(isinstance(p, str) and _relative_inside(p) for p in link):
        raise ConfigError("[tool.mldiff.validate] link must be a list of relative paths inside the repository")
    seed = table.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"[tool.mldiff.validate] seed must be a non-negative integer, not {seed!r}")
    expect_gpu = table.get("expect_gpu", False)
    if not isinstance(expect_gpu, bool):
        raise ConfigError("[tool.mldiff.validate] expect_gpu must be true or false")
    runner = table.get("runner", "auto")
    if not isinstance(runner, str):
        raise ConfigError("[tool.mldiff.validate] runner must be a string")
    config = ValidateConfig(
        command=tuple(parts),
        steps=_positive(table, "steps", 20, int),
        timeout=_positive(table, "timeout", 600, float),
        runner=check_runner(runner),
        env=tuple((str(k), str(v)) for k, v in env.items()),
        seed=seed,
        expect_gpu=expect_gpu,
        link=tuple(link),
        slurm=slurm_from_table(slurm) if (slurm := _subtable(table, "slurm")) is not None else None,
        torchrun=torchrun_from_table(torchrun) if (torchrun := _subtable(table, "torchrun")) is not None else None,
    )
    probe_argv(config.command, "probe.py", [], config.torchrun)  # reject commands the probe cannot wrap, now
    return config


def _relative_inside(path: str) -> bool:
    pure = PurePosixPath(path)
    return bool(path) and not pure.is_absolute() and ".." not in pure.parts and not path.startswith("-")


def load_config(root: Path | str, command: str | list[str] | None = None) -> ValidateConfig:
    """``[tool.mldiff.validate]`` of ``root``; ``command`` (an editor setting) replaces its command."""
    table = load(root).validate
    return from_table(table if command is None else {**table, "command": command})


def _split_python(tokens: list[str]) -> tuple[list[str], list[str]]:
    """Interpreter options, then the target (``SCRIPT ARGS`` or ``-m MODULE ARGS``)."""
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token in _PYTHON_VALUE_FLAGS:
            index += 2
        elif token.startswith("-X") or token.startswith("-W"):
            index += 1
        elif token == "-m":
            return tokens[:index], tokens[index:]
        elif token == "-c" or token == "-":
            raise ConfigError("the training command must run a script or a module (-c and stdin cannot be probed)")
        elif token.startswith("-") and len(token) > 1 and (token[1:] in _PYTHON_FLAGS or set(token[1:]) <= _PYTHON_FLAGS):
            index += 1
        elif token.startswith("-"):
            raise ConfigError(f"unsupported python option {token!r} in the training command")
        else:
            return tokens[:index], tokens[index:]
    raise ConfigError("the training command names no script or module after the interpreter")


def _split_launcher(tokens: list[str]) -> tuple[list[str], list[str]]:
    """torchrun options, then the target; ``-m`` moves from the options to the target."""
    options: list[str] = []
    module = False
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token in ("--no-python", "--no_python"):
            raise ConfigError("torchrun --no-python cannot be probed: run a Python script or module")
        if token in ("-m", "--module"):
            module = True
            index += 1
        elif token in _LAUNCHER_FLAGS or (token.startswith("--") and "=" in token):
            options.append(token)
            index += 1
        elif token.startswith("-"):
            options.extend(tokens[index:index + 2])
            index += 2
        else:
            target = tokens[index:]
            return options, (["-m", *target] if module else target)
    raise ConfigError("the torchrun command names no training script")


def _with_nproc(options: list[str], nproc: str) -> list[str]:
    """torchrun options with ``--nproc-per-node`` set to ``nproc`` (replacing the command's)."""
    out: list[str] = []
    skip = False
    for option in options:
        if skip:
            skip = False
            continue
        if option in _NPROC_OPTIONS:
            skip = True
            continue
        if option.split("=", 1)[0] in _NPROC_OPTIONS:
            continue
        out.append(option)
    return [f"--nproc-per-node={nproc}", *out]


def probe_argv(command: tuple[str, ...] | list[str], probe: str, probe_args: list[str],
               torchrun: TorchrunConfig | None = None) -> list[str]:
    """``command`` with the probe in the interpreter's place: same interpreter, same arguments.
    With ``torchrun`` configured, a python command runs as ``python -m torch.distributed.run``
    (the same interpreter, so the same environment) and a torchrun command gets its process count."""
    tokens = list(command)
    program = os.path.basename(tokens[0])
    if _PYTHON.match(program):
        options, target = _split_python(tokens[1:])
        if target[0] == "-m" and len(target) > 1 and target[1] in _LAUNCHER_MODULES:
            launcher_options, launcher_target = _split_launcher(target[2:])
            if torchrun is not None:
                launcher_options = [*_with_nproc(launcher_options, torchrun.nproc_per_node), *torchrun.extra_args]
            return [tokens[0], *options, *target[:2], *launcher_options, probe, *probe_args, "--", *launcher_target]
        if target[0] == "-m" and len(target) < 2:
            raise ConfigError("the training command has -m without a module name")
        if torchrun is not None:
            launcher = ["--standalone", f"--nproc-per-node={torchrun.nproc_per_node}", *torchrun.extra_args]
            return [tokens[0], *options, "-m", "torch.distributed.run", *launcher, probe, *probe_args, "--", *target]
        return [tokens[0], *options, probe, *probe_args, "--", *target]
    if program == "torchrun":
        launcher_options, target = _split_launcher(tokens[1:])
        if torchrun is not None:
            launcher_options = [*_with_nproc(launcher_options, torchrun.nproc_per_node), *torchrun.extra_args]
        return [tokens[0], *launcher_options, probe, *probe_args, "--", *target]
    raise ConfigError(f"the training command must start with python or torchrun, not {tokens[0]!r}: "
                      "mldiff runs the script under its probe in the interpreter's place")
