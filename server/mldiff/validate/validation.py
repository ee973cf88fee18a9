"""One validation: base checkout, two probe runs (base, then the working tree), compare, store."""
from __future__ import annotations

import os
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mldiff.errors import MldiffError
from mldiff.validate import compare, content, gitcmd, process, store, worktree
from mldiff.validate.command import ValidateConfig, check_runner, load_config, probe_argv
from mldiff.validate.runner import Runner, choose_runner

RESULT_VERSION = 1
Progress = Callable[[str, int, int], None]   # (stage, step, total); stage: prepare|base|change|compare|done


class ValidationError(MldiffError):
    """A side's run failed, timed out or never stepped; the message carries its last output."""

    def __init__(self, message: str, side: str | None = None, tail: list[str] | None = None) -> None:
        self.side = side
        self.tail = tail or []
        details = "".join(f"\n    {line}" for line in self.tail[-12:])
        super().__init__(message + (f"\n  last output of the {side} run:{details}" if self.tail else ""))


class ValidationCancelled(MldiffError):
    """The caller cancelled; the run's process group is killed and the checkout removed."""


@dataclass
class ValidationResult:
    base_rev: str
    base_commit: str
    content_key: str
    runner: str
    command: list[str]
    steps: int
    seed: int
    base: dict[str, Any]
    change: dict[str, Any]
    comparison: dict[str, Any]
    verdict: str
    warnings: list[str] = field(default_factory=list)
    finished: float = 0.0
    stored: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"version": RESULT_VERSION, **{name: getattr(self, name) for name in self.__dataclass_fields__}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ValidationResult:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


PROBE_FILES = ("probe.py", "probe_facts.py", "probe_lines.py")


def _probe_sources() -> list[Path]:
    from mldiff.validate import probe  # a plain file; importing it does not import torch

    folder = Path(probe.__file__).parent
    return [folder / name for name in PROBE_FILES]


def _environment(config: ValidateConfig, runner: Runner, host_env: bool) -> dict[str, str]:
    env = {
        "PYTHONHASHSEED": str(config.seed),
        "PYTHONDONTWRITEBYTECODE": "1",   # no __pycache__ in the user's working tree
        "PYTHONUNBUFFERED": "1",
        **dict(config.env),
    }
    if runner.image:
        env["MLDIFF_CONTAINER_IMAGE"] = runner.image
    if host_env:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        return {**inherited, **env}
    return env


def _link_shared(config: ValidateConfig, root: Path, checkout: Path) -> None:
    """Ignored inputs (a data folder) the base checkout borrows from the working tree."""
    for relative in config.link:
        source, target = root / relative, checkout / relative
        if source.exists() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source.resolve(), target_is_directory=source.is_dir())


def _failure(side: str, label: str, outcome: process.Outcome, run: dict[str, Any] | None,
             steps: int, timeout: float) -> ValidationError | None:
    """None when the run produced a usable result; else the error to raise."""
    where = f"the {side} run ({label})"
    if outcome.timed_out:
        return ValidationError(f"{where} timed out after {timeout:g} s at step {outcome.last_step}/{steps}; "
                               "raise [tool.mldiff.validate] timeout or lower steps", side, outcome.tail)
    if run is None:
        return ValidationError(f"{where} failed with exit status {outcome.returncode} before writing a result",
                               side, outcome.tail)
    status = run.get("status")
    if status == "no_step":
        return ValidationError(f"{where} finished without reaching an optimizer step: does the command "
                               "train (optimizer.step())?", side, outcome.tail)
    if status == "error":
        return ValidationError(f"{where} failed after {run.get('steps', 0)} steps: {run.get('error')}",
                               side, outcome.tail)
    if status == "interrupted":
        return ValidationError(f"{where} was interrupted", side, outcome.tail)
    if status not in ("ok", "ended_early"):
        return ValidationError(f"{where} ended with status {status!r}", side, outcome.tail)
    return None


def _warnings(config: ValidateConfig, runner: Runner, base: dict[str, Any], change: dict[str, Any]) -> list[str]:
    warnings = []
    expected = config.expect_gpu or runner.gpu_expected_by_image
    for side, run in (("base", base), ("change", change)):
        env = run.get("environment") or {}
        if expected and env.get("device_type") != "cuda":
            reason = "expect_gpu = true" if config.expect_gpu else f"image {runner.image}"
            warnings.append(f"RAN ON CPU, NOT GPU: the {side} run used {env.get('device_name') or 'the CPU'} "
                            f"although a GPU was expected ({reason}); throughput and memory say nothing "
                            "about the GPU")
        if run.get("status") == "ended_early":
            warnings.append(f"the {side} run ended after {run.get('steps')} of {run.get('requested_steps')} steps")
    base_env, change_env = base.get("environment") or {}, change.get("environment") or {}
    for name in ("device_name", "torch", "cuda"):
        if base_env.get(name) != change_env.get(name):
            warnings.append(f"the two runs differ in {name}: {base_env.get(name)} vs {change_env.get(name)}")
    return warnings


def run_validation(root: Path | str, base: str | None = None, steps: int | None = None,
                   runner: str | None = None, timeout: float | None = None,
                   progress: Progress | None = None, cancel: threading.Event | None = None,
                   store_result: bool = True, command: str | list[str] | None = None) -> ValidationResult:
    """Validate the working tree of ``root`` against ``base`` (default HEAD); ``command``
    replaces the configured training command (the editor's ``mldiff.validate.command``).

    Raises ValidationError (a side failed), ValidationCancelled, or MldiffError (setup).
    """
    report = progress or (lambda stage, step, total: None)
    root = gitcmd.toplevel(root)
    common = gitcmd.common_dir(root)
    config = load_config(root, command)
    base_rev = base or "HEAD"
    base_commit = gitcmd.resolve_commit(root, base_rev)
    steps = steps or config.steps
    if steps < 1:
        raise MldiffError("--steps must be at least 1")
    timeout = timeout or config.timeout
    chosen = choose_runner(root, check_runner(runner or config.runner))
    report("prepare", 0, steps)
    worktree.prune_stale(root, common)
    key_before = content.worktree_key(root)
    run_dir = store.mldiff_dir(common) / "runs" / secrets.token_hex(8)
    run_dir.mkdir(parents=True)
    runs: dict[str, dict[str, Any]] = {}
    try:
        for source in _probe_sources():
            shutil.copyfile(source, run_dir / source.name)
        probe_file = run_dir / "probe.py"
        with worktree.base_checkout(root, common, base_commit) as checkout:
            _link_shared(config, root, checkout)
            for side, cwd in (("base", checkout), ("change", root)):
                if cancel is not None and cancel.is_set():
                    raise ValidationCancelled("validation cancelled")
                report(side, 0, steps)
                out = run_dir / f"{side}.json"
                argv = probe_argv(config.command, chosen.path(probe_file), [
                    "--steps", str(steps), "--seed", str(config.seed), "--out", chosen.path(out),
                    "--cwd", chosen.path(cwd), "--watch-stdin"])
                env = _environment(config, chosen, host_env=True)
                full_argv = chosen.argv(argv, chosen.path(cwd), _environment(config, chosen, host_env=False))
                outcome = process.run(full_argv, cwd=str(cwd if chosen.kind == "local" else root), env=env,
                                      timeout=timeout, cancel=cancel,
                                      on_step=lambda step, total, side=side: report(side, step, total))
                if outcome.cancelled:
                    raise ValidationCancelled("validation cancelled")
                run = store.read_json(out)
                label = f"base {base_commit[:7]}" if side == "base" else "working tree"
                error = _failure(side, label, outcome, run, steps, timeout)
                if error is not None:
                    raise error
                assert run is not None
                runs[side] = run
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    report("compare", steps, steps)
    comparison = compare.compare(runs["base"], runs["change"])
    result = ValidationResult(
        base_rev=base_rev, base_commit=base_commit, content_key=key_before, runner=chosen.label,
        command=list(config.command), steps=steps, seed=config.seed, base=runs["base"], change=runs["change"],
        comparison=comparison, verdict=compare.verdict(comparison),
        warnings=_warnings(config, chosen, runs["base"], runs["change"]), finished=time.time())
    if content.worktree_key(root) != key_before:
        result.warnings.append("the working tree changed while validation ran: the result is not stored "
                               "and will not be attached to a commit")
    elif store_result:
        store.save_result(common, base_commit, key_before, result.to_json())
        result.stored = True
    report("done", steps, steps)
    return result
