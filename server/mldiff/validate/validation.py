"""One validation: static findings, base checkout, two probe runs (base, then the working tree),
compare, confirm each finding against what the runs observed, store."""
from __future__ import annotations

import functools
import hashlib
import os
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mldiff.errors import MldiffError
from mldiff.findings import Finding
from mldiff.validate import compare, content, gitcmd, process, store, worktree
from mldiff.validate.command import ValidateConfig, check_runner, load_config, probe_argv
from mldiff.validate.confirm import LinesRan, confirm_all
from mldiff.validate.observed import rank_differences
from mldiff.validate.runner import Runner, choose_runner

RESULT_VERSION = 1
Progress = Callable[[str, int, int], None]   # (stage, step, total); stage: prepare|base|change|compare|done
PROBE_FILES = ("probe.py", "probe_facts.py", "probe_lines.py")
MAX_LINE_FILES = 200   # changed Python files whose lines the probe marks (the first ones, by path)
MAX_RANK_FILES = 64


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
    confirmations: list[dict[str, Any]] = field(default_factory=list)
    launcher: str | None = None           # "torchrun --nproc-per-node=2" when the command ran under torchrun
    jobs: dict[str, Any] | None = None    # the Slurm jobs of both sides (ids, nodes, options)

    def to_json(self) -> dict[str, Any]:
        return {"version": RESULT_VERSION, **{name: getattr(self, name) for name in self.__dataclass_fields__}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ValidationResult:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


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


def _shared_dir(config: ValidateConfig, runner: Runner, common: Path) -> Path | None:
    """Where a Slurm job finds the probe and the base checkout: ``shared_dir``, one folder per
    repository; None: under the git dir."""
    if runner.kind != "slurm" or config.slurm is None or not config.slurm.shared_dir:
        return None
    name = hashlib.sha256(str(common.resolve()).encode()).hexdigest()[:12]
    folder = Path(config.slurm.shared_dir) / f"mldiff-{name}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MldiffError(f"[tool.mldiff.validate.slurm] shared_dir: cannot create {folder}: "
                          f"{exc.strerror or exc}") from None
    return folder


def _findings(root: Path, base_commit: str) -> tuple[list[Finding], str | None]:
    """The static findings of the change being validated (working tree against the base)."""
    from mldiff.checking import run_check
    try:
        return run_check(repo=root, base=base_commit, head="worktree").findings, None
    except MldiffError as exc:
        return [], f"the static findings could not be computed, so nothing is confirmed: {exc}"
    except Exception as exc:  # noqa: BLE001 - validation still compares the runs
        return [], f"the static analysis failed, so nothing is confirmed: {type(exc).__name__}: {exc}"


def _slurm_started(slurm: Any, side: str, started: Any) -> None:
    slurm.started(side, started.job_id, started.node)


def _ranges(lines: set[int]) -> str:
    ordered = sorted(lines)
    parts: list[str] = []
    start = previous = ordered[0]
    for line in [*ordered[1:], None]:
        if line is not None and line == previous + 1:
            previous = line
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if line is not None:
            start = previous = line
    return ",".join(parts)


def line_targets(findings: list[Finding], side: str, tree: Path) -> dict[str, set[int]]:
    """Repository-relative Python paths -> the lines of the findings on that side of the change."""
    targets: dict[str, set[int]] = {}
    for finding in findings:
        if not finding.path.endswith(".py"):
            continue
        span = finding.span.end_line - finding.span.line
        if side == "change":
            lines = range(finding.span.line, finding.span.end_line + 1)
        elif finding.base_line is not None:
            lines = range(finding.base_line, finding.base_line + span + 1)
        else:
            continue
        if (tree / finding.path).is_file():
            targets.setdefault(finding.path, set()).update(lines)
    return dict(sorted(targets.items())[:MAX_LINE_FILES])


def _lines_ran(run: dict[str, Any], given: dict[str, str]) -> LinesRan:
    """The probe's record of the marked lines, keyed back by repository-relative path."""
    files = ((run.get("lines") or {}).get("files") or {})
    out: dict[str, dict[int, int | None] | None] = {}
    for runner_path, relative in given.items():
        entry = files.get(runner_path)
        if entry is None:
            continue
        out[relative] = {int(line): step for line, step in entry.get("lines", {}).items()} \
            if entry.get("loaded") else None
    return LinesRan(out)


def _rank_runs(out: Path) -> list[dict[str, Any]]:
    """The results the other ranks wrote beside rank 0's (``out.rank1``, ...), in rank order."""
    found = []
    for path in out.parent.glob(f"{out.name}.rank*"):
        suffix = path.name[len(out.name) + len(".rank"):]
        if suffix.isdigit():
            data = store.read_json(path)
            if isinstance(data, dict):
                found.append((int(suffix), data))
    keep = ("status", "steps", "requested_steps", "loss", "samples_per_step", "backwards_per_step", "determinism",
            "facts")
    return [{"rank": rank, **{key: data.get(key) for key in keep},
             "environment": {k: (data.get("environment") or {}).get(k) for k in ("rank", "world_size", "device")}}
            for rank, data in sorted(found)[:MAX_RANK_FILES]]


def _failure(side: str, label: str, outcome: process.Outcome, run: dict[str, Any] | None,
             steps: int, timeout: float, runner: Runner, paths: list[str]) -> ValidationError | None:
    """None when the run produced a usable result; else the error to raise."""
    where = f"the {side} run ({label})"
    if outcome.start_timed_out and runner.slurm is not None:
        config = runner.slurm.config
        return ValidationError(
            f"the {side} job waited {config.queue_timeout:g} s in the Slurm queue without starting "
            f"({' '.join(runner.slurm.options(side)) or 'no options'}) and was cancelled; raise "
            "[tool.mldiff.validate.slurm] queue_timeout or ask for another partition", side, outcome.tail)
    if outcome.timed_out:
        job = f" (Slurm job {outcome.job_id}, cancelled)" if runner.slurm is not None and outcome.job_id else ""
        return ValidationError(f"{where} timed out after {timeout:g} s at step {outcome.last_step}/{steps}{job}; "
                               "raise [tool.mldiff.validate] timeout or lower steps", side, outcome.tail)
    if run is None:
        if runner.slurm is not None:
            message = runner.slurm.failure(side, where, outcome.tail, steps, outcome.last_step, paths)
            if message:
                return ValidationError(message, side, outcome.tail)
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
        for rank in run.get("ranks") or []:
            if rank.get("steps") != run.get("steps"):
                warnings.append(f"the {side} run's rank {rank['rank']} stopped after {rank.get('steps')} steps, "
                                f"rank 0 after {run.get('steps')}")
    base_env, change_env = base.get("environment") or {}, change.get("environment") or {}
    for name in ("device_name", "torch", "cuda", "world_size"):
        if base_env.get(name) != change_env.get(name):
            warnings.append(f"the two runs differ in {name}: {base_env.get(name)} vs {change_env.get(name)}")
    if runner.slurm is not None:
        nodes = [((run.get("environment") or {}).get("scheduler") or {}).get("node") for run in (base, change)]
        if nodes[0] and nodes[1] and nodes[0] != nodes[1] and base_env.get("device_name") == change_env.get(
                "device_name"):
            warnings.append(f"the two jobs ran on different nodes ({nodes[0]}, {nodes[1]}) with the same device "
                            f"({change_env.get('device_name')}): throughput can still differ between nodes")
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
    token = secrets.token_hex(8)
    chosen = choose_runner(root, check_runner(runner or config.runner), config.slurm, token)
    report("prepare", 0, steps)
    shared = _shared_dir(config, chosen, common)
    worktree.prune_stale(root, common)
    if shared is not None:
        worktree.prune_stale(root, common, shared / "worktrees")
    key_before = content.worktree_key(root)
    findings, findings_problem = _findings(root, base_commit)
    run_dir = (shared if shared is not None else store.mldiff_dir(common)) / "runs" / token
    run_dir.mkdir(parents=True)
    runs: dict[str, dict[str, Any]] = {}
    lines_ran: dict[str, LinesRan] = {}
    try:
        for source in _probe_sources():
            shutil.copyfile(source, run_dir / source.name)
        probe_file = run_dir / "probe.py"
        with worktree.base_checkout(root, common, base_commit,
                                    folder=shared / "worktrees" if shared is not None else None) as checkout:
            _link_shared(config, root, checkout)
            for side, cwd in (("base", checkout), ("change", root)):
                if cancel is not None and cancel.is_set():
                    raise ValidationCancelled("validation cancelled")
                report(side, 0, steps)
                out = run_dir / f"{side}.json"
                targets = line_targets(findings, side, cwd)
                given = {chosen.path(cwd / relative): relative for relative in targets}
                line_args = [f"--lines={chosen.path(cwd / relative)}:{_ranges(lines)}"
                             for relative, lines in targets.items()]
                argv = probe_argv(config.command, chosen.path(probe_file), [
                    "--steps", str(steps), "--seed", str(config.seed), "--out", chosen.path(out),
                    "--cwd", chosen.path(cwd), "--watch-stdin", *line_args], config.torchrun)
                env = _environment(config, chosen, host_env=True)
                full_argv = chosen.argv(argv, chosen.path(cwd), _environment(config, chosen, host_env=False),
                                        side=side)
                slurm = chosen.slurm
                outcome = process.run(
                    full_argv, cwd=str(cwd if chosen.kind in ("local", "slurm") else root), env=env,
                    timeout=timeout, cancel=cancel,
                    on_step=functools.partial(report, side),
                    start_timeout=slurm.config.queue_timeout if slurm is not None else None,
                    on_stop=functools.partial(slurm.cancel, side) if slurm is not None else None,
                    on_start=functools.partial(_slurm_started, slurm, side) if slurm is not None else None)
                if slurm is not None and outcome.job_id:
                    slurm.started(side, outcome.job_id, outcome.node)
                if outcome.cancelled:
                    raise ValidationCancelled("validation cancelled")
                run = store.read_json(out)
                label = f"base {base_commit[:7]}" if side == "base" else "working tree"
                error = _failure(side, label, outcome, run, steps, timeout, chosen,
                                 [str(run_dir), str(cwd)])
                if error is not None:
                    raise error
                assert run is not None
                run["ranks"] = _rank_runs(out)
                run["rank_differences"] = rank_differences(run)
                lines_ran[side] = _lines_ran(run, given)
                runs[side] = run
                if side == "base" and slurm is not None:
                    scheduler = (run.get("environment") or {}).get("scheduler") or {}
                    slurm.pin_gpu_type(scheduler.get("node") or outcome.node, scheduler.get("job_id") or outcome.job_id)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    report("compare", steps, steps)
    comparison = compare.compare(runs["base"], runs["change"])
    confirmations = confirm_all(findings, runs["base"], runs["change"], steps, lines_ran["base"],
                                lines_ran["change"], head_text=lambda path: _read_text(root / path))
    result = ValidationResult(
        base_rev=base_rev, base_commit=base_commit, content_key=key_before, runner=chosen.label,
        command=list(config.command), steps=steps, seed=config.seed, base=runs["base"], change=runs["change"],
        comparison=comparison, verdict=compare.verdict(comparison),
        warnings=_warnings(config, chosen, runs["base"], runs["change"]), finished=time.time(),
        confirmations=[c.to_json() for c in confirmations],
        launcher=f"torchrun --nproc-per-node={config.torchrun.nproc_per_node}" if config.torchrun else None,
        jobs=chosen.slurm.summary() if chosen.slurm is not None else None)
    if findings_problem:
        result.warnings.append(findings_problem)
    if content.worktree_key(root) != key_before:
        result.warnings.append("the working tree changed while validation ran: the result is not stored "
                               "and will not be attached to a commit")
    elif store_result:
        store.save_result(common, base_commit, key_before, result.to_json())
        result.stored = True
    report("done", steps, steps)
    return result


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
