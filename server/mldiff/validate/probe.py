"""The probe: runs a training command unchanged for N optimizer steps and writes one JSON result.

``python -m mldiff.probe [--steps N] [--out FILE] [--seed S] [--cwd DIR] [--lines PATH:LINES]
-- SCRIPT ARGS...`` (or ``-- -m MODULE ARGS...``). It installs global hooks (torch's optimizer
step hooks, a wrapper around backward, a one-shot module forward hook) to count steps,
record the loss, time steps and count samples, records the run-time facts of
``probe_facts`` and which changed lines ran (``probe_lines``), then stops the run after N
steps of the first optimizer that steps.

These three files are self-contained (standard library + torch) on purpose: mldiff copies
them next to the results and runs them with the project's own interpreter, inside a
container or a Slurm job when the project uses one, where mldiff itself is not installed.
They are the only modules of mldiff that import torch.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import runpy
import sys
import threading
import time
import traceback
import warnings
import weakref
from typing import Any

RESULT_VERSION = 1
PROGRESS_PREFIX = "[mldiff-probe]"


def _sibling(name: str) -> Any:
    """``probe_facts`` / ``probe_lines``: from the package, or from beside this file when it
    runs as a copied script (under a private name: the project may have a module of that name)."""
    if __package__:
        import importlib
        return importlib.import_module(f"{__package__}.{name}")
    module_name = f"_mldiff_{name}"
    if module_name not in sys.modules:
        import importlib.util
        spec = importlib.util.spec_from_file_location(
            module_name, os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


class _StopRun(BaseException):
    """Raised from the optimizer hook after the last step; a BaseException so that the
    script's own ``except Exception`` blocks do not swallow it."""


def _rank() -> int:
    for name in ("RANK", "SLURM_PROCID"):
        value = os.environ.get(name)
        if value and value.isdigit():
            return int(value)
    return 0


def _world_size() -> int:
    value = os.environ.get("WORLD_SIZE", "1")
    return int(value) if value.isdigit() else 1


def _first_dim(value: Any, depth: int = 0) -> int | None:
    """Leading dimension of the first tensor in a forward's arguments or a batch."""
    torch = sys.modules["torch"]  # imported by then; no import statement on the hot path
    if isinstance(value, torch.Tensor):
        return int(value.shape[0]) if value.dim() > 0 else None
    if depth > 2:
        return None
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for item in value:
            found = _first_dim(item, depth + 1)
            if found is not None:
                return found
    return None


class Probe:
    """Global hooks around one training run; ``install`` then ``remove`` (also used by bench/)."""

    def __init__(self, steps: int, progress: bool = True, facts: bool = True,
                 lines: dict[str, set[int]] | None = None) -> None:
        self.steps = steps
        self.progress = progress and _rank() == 0
        self.step_count = 0
        self.skipped_steps = 0
        self.step_ends: list[float] = []          # perf_counter at the end of each step
        self.step_events: list[Any] = []          # CUDA events at the end of each step
        self.step_losses: list[list[Any]] = []    # per step: the detached scalars its backwards started from
        self.step_samples: list[int | None] = []
        self.backwards_per_step: list[int] = []
        self.first_activity: float | None = None
        self.device: Any = None
        self.flags: dict[str, Any] = {}
        self._pending_losses: list[Any] = []
        self._pending_samples: list[int] = []
        self._forward_samples: int | None = None
        self._batch_samples: int | None = None
        self._primary: Any = None
        self._in_backward = False
        self._handles: list[Any] = []
        self._forward_handle: Any = None
        self._root: Any = None            # the model (weakly), once the first step showed which it is
        self._root_handle: Any = None
        self._forward_wanted = False
        self._scaled: dict[int, tuple[Any, Any]] = {}
        self._restore: list[tuple[Any, str, Any]] = []
        self._torch: Any = None
        self._register_forward_pre_hook: Any = None
        self.facts: Any = None
        self._want_facts = facts
        self.lines: Any = None
        if lines:
            self.lines = _sibling("probe_lines").LineMarks(lines, lambda: self.step_count)

    # -- installation ---------------------------------------------------------------
    def install(self) -> None:
        import torch
        from torch.nn.modules.module import register_module_forward_pre_hook
        from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

        # Hot paths run every step: no import statements there.
        self._torch = torch
        self._register_forward_pre_hook = register_module_forward_pre_hook
        if self._want_facts and self.facts is None:
            self.facts = _sibling("probe_facts").RunFacts(torch, self.steps)
        if self.facts is not None:
            self.facts.install()
        if self.lines is not None:
            self.lines.install()

        self._handles.append(register_optimizer_step_pre_hook(self._before_step))
        self._handles.append(register_optimizer_step_post_hook(self._after_step))
        root = self._root() if self._root is not None else None
        if root is not None:  # installed again (bench/)
            self._root_handle = root.register_forward_pre_hook(self._before_forward)
            self._forward_wanted = True
        self._arm_forward_hook()
        # Tensor.backward calls torch.autograd.backward: one wrapper sees both (the guard keeps out
        # the backward calls made inside a backward, such as reentrant checkpointing's).
        self._patch(torch.autograd, "backward", self._wrap_backward(torch.autograd.backward))
        scaler_class = getattr(getattr(torch, "amp", None), "GradScaler", None)
        if scaler_class is not None:
            self._patch(scaler_class, "scale", self._wrap_scale(scaler_class.scale))
            self._patch(scaler_class, "step", self._wrap_scaler_step(scaler_class.step))
        try:
            from torch.utils.data.dataloader import _BaseDataLoaderIter
        except ImportError:  # pragma: no cover - very old torch
            _BaseDataLoaderIter = None  # type: ignore[misc, assignment]
        if _BaseDataLoaderIter is not None:
            self._patch(_BaseDataLoaderIter, "__next__", self._wrap_next(_BaseDataLoaderIter.__next__))

    def remove(self) -> None:
        if self.facts is not None:
            self.facts.remove()
        if self.lines is not None:
            self.lines.remove()
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        if self._forward_handle is not None:
            self._forward_handle.remove()
            self._forward_handle = None
        if self._root_handle is not None:
            self._root_handle.remove()
            self._root_handle = None
        for owner, name, original in reversed(self._restore):
            setattr(owner, name, original)
        self._restore.clear()

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        self._restore.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, replacement)

    # -- samples: the first forward (with grad) after each backward ----------------------
    def _arm_forward_hook(self) -> None:
        if self._root_handle is not None:
            self._forward_wanted = True    # the model's own hook: a flag, no registration per step
        elif self._forward_handle is None:
            self._forward_handle = self._register_forward_pre_hook(self._before_forward)

    def _before_forward(self, module: Any, args: Any) -> None:
        if self._root_handle is not None:
            if not self._forward_wanted:
                return
        if not self._torch.is_grad_enabled():
            return
        self._forward_wanted = False
        if self.first_activity is None:
            self.first_activity = time.perf_counter()
        self._forward_samples = _first_dim(args)
        if self.facts is not None:
            self.facts.on_forward(module, args)
        # One call per training iteration is enough; the hook costs every module call.
        if self._forward_handle is not None:
            self._forward_handle.remove()
            self._forward_handle = None

    def _hook_the_model(self) -> None:
        """After the first step the model is known: a hook on it alone replaces the global one
        (a global module hook, even one-shot, is registered and removed again every step)."""
        model = self.facts.model_top if self.facts is not None else None
        if model is None or self._root_handle is not None:
            return
        self._root = weakref.ref(model)
        self._root_handle = model.register_forward_pre_hook(self._before_forward)
        if self._forward_handle is not None:
            self._forward_handle.remove()
            self._forward_handle = None
            self._forward_wanted = True

    def _wrap_next(self, original: Any) -> Any:
        probe = self

        def __next__(iterator: Any) -> Any:
            batch = original(iterator)
            probe._batch_samples = _first_dim(batch)
            if probe.facts is not None:
                probe.facts.on_loader_batch(iterator)
            return batch

        return __next__

    # -- loss: the scalar each backward starts from ------------------------------------
    def _wrap_scale(self, original: Any) -> Any:
        probe = self

        def scale(scaler: Any, outputs: Any) -> Any:
            scaled = original(scaler, outputs)
            import torch

            if isinstance(outputs, torch.Tensor) and scaled is not outputs and outputs.numel() == 1:
                probe._scaled[id(scaled)] = (weakref.ref(scaled), outputs.detach())
            return scaled

        return scale

    def _wrap_scaler_step(self, original: Any) -> Any:
        probe = self

        def step(scaler: Any, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
            before = probe.step_count
            if probe.facts is not None and (probe._primary is None or probe._primary() is optimizer):
                probe.facts.on_scaler_step(scaler)
            result = original(scaler, optimizer, *args, **kwargs)
            if probe.step_count == before and (probe._primary is None or probe._primary() is optimizer):
                # GradScaler skipped the step (inf/nan gradients): its losses belong to no step.
                probe.skipped_steps += 1
                probe._pending_losses.clear()
                probe._pending_samples.clear()
            return result

        return step

    def _wrap_backward(self, original: Any) -> Any:
        probe = self

        def backward(tensors: Any, *args: Any, **kwargs: Any) -> Any:
            if probe._in_backward:
                return original(tensors, *args, **kwargs)
            probe._in_backward = True
            try:
                probe._record_backward(tensors)
                return original(tensors, *args, **kwargs)
            finally:
                probe._in_backward = False

        backward.__doc__ = original.__doc__
        return backward

    def _record_backward(self, tensors: Any) -> None:
        if self.first_activity is None:
            self.first_activity = time.perf_counter()
        if isinstance(tensors, (list, tuple)) and len(tensors) == 1:
            tensors = tensors[0]
        if isinstance(tensors, self._torch.Tensor) and tensors.numel() == 1:
            entry = self._scaled.pop(id(tensors), None)
            if entry is not None and entry[0]() is tensors:
                loss = entry[1]
            else:
                loss = tensors.detach()
            self._pending_losses.append(loss)  # converted once, at the end: no per-step device sync
        self._scaled.clear()
        samples = self._forward_samples if self._forward_samples is not None else self._batch_samples
        if samples is not None:
            self._pending_samples.append(samples)
        self._forward_samples = None
        self._batch_samples = None
        self._arm_forward_hook()

    # -- steps ------------------------------------------------------------------------
    def _before_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self._primary is None:
            self._primary = weakref.ref(optimizer)
            self.device = _optimizer_device(optimizer)
            self.flags = determinism_flags()
        elif self._primary() is not optimizer:
            return
        if self.facts is not None:
            self.facts.before_step(optimizer, self.step_count + 1, self._typical_step)

    def _typical_step(self) -> float | None:
        """The median of the last few step times (for what a gradient norm may cost)."""
        ends = self.step_ends[-9:]
        if len(ends) >= 2:
            durations = sorted(ends[i] - ends[i - 1] for i in range(1, len(ends)))
            return durations[len(durations) // 2]
        if ends and self.first_activity is not None:
            return ends[0] - self.first_activity
        return None

    def _after_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        torch = self._torch
        if self._primary is None:  # stepped without the pre-hook (an optimizer that skips hooks)
            self._before_step(optimizer, args, kwargs)
        if self._primary() is not optimizer:
            # A second optimizer (GAN, multi-task): steps count on the first one only.
            if self.facts is not None:
                self.facts.on_other_optimizer(optimizer)
            return
        self.step_count += 1
        if self.device is not None and self.device.type == "cuda":
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.step_events.append(event)
        self.step_ends.append(time.perf_counter())
        self.step_losses.append(self._pending_losses)
        self.step_samples.append(sum(self._pending_samples) if self._pending_samples else None)
        self.backwards_per_step.append(len(self._pending_losses))
        self._pending_losses = []
        self._pending_samples = []
        if self.facts is not None:
            self.facts.on_step_end(optimizer, self.step_count)
            if self.step_count == 1:
                self._hook_the_model()
        if self.progress:
            print(f"{PROGRESS_PREFIX} step {self.step_count}/{self.steps}", file=sys.__stderr__, flush=True)
        if self.step_count >= self.steps:
            raise _StopRun()

    # -- the result -------------------------------------------------------------------
    def measurements(self) -> dict[str, Any]:
        """Per-step losses, times and samples, throughput and peak memory (syncs the device once)."""
        import torch

        cuda_used = self.device is not None and self.device.type == "cuda"
        if cuda_used:
            torch.cuda.synchronize(self.device)
        # A step's loss: the mean of its backwards' scalars (gradient accumulation: several).
        losses = [sum(float(loss) for loss in step) / len(step) if step else None for step in self.step_losses]
        times = _step_times(self.step_ends, self.first_activity)
        if cuda_used and len(self.step_events) >= 2:
            gpu_times = [self.step_events[i - 1].elapsed_time(self.step_events[i]) / 1000.0
                         for i in range(1, len(self.step_events))]
            times = [times[0], *gpu_times] if times else gpu_times
        warmup = 1 if len(times) >= 3 else 0
        steady = sorted(times[warmup:])
        # The median step: robust to a stray slow step (a checkpoint, a log flush, the OS).
        median = steady[len(steady) // 2] if steady else 0.0
        samples = [s for s in self.step_samples[warmup:] if s is not None]
        steps_per_second = 1.0 / median if median > 0 else None
        samples_per_second = None
        if steps_per_second and samples and len(samples) == len(steady):
            samples_per_second = sorted(samples)[len(samples) // 2] * _world_size() * steps_per_second
        return {
            "steps": self.step_count,
            "skipped_steps": self.skipped_steps,
            "loss": losses,
            "step_seconds": times,
            "warmup_steps": warmup,
            "steady_seconds": sum(steady),
            "samples_per_step": self.step_samples,
            "backwards_per_step": self.backwards_per_step,
            "steps_per_second": steps_per_second,
            "samples_per_second": samples_per_second,
            "memory": peak_memory(self.device),
            "facts": _safely(self.facts.to_json) if self.facts is not None else None,
            "lines": _safely(self.lines.to_json) if self.lines is not None else None,
        }


def _safely(make: Any) -> dict[str, Any]:
    """A part of the result that must not cost the rest of it (the run's figures) when it fails."""
    try:
        return make()
    except Exception as exc:  # noqa: BLE001
        return {"errors": [f"{type(exc).__name__}: {exc}"]}


def _step_times(ends: list[float], start: float | None) -> list[float]:
    if not ends:
        return []
    first = ends[0] - start if start is not None else None
    rest = [ends[i] - ends[i - 1] for i in range(1, len(ends))]
    return [first if first is not None else (rest[0] if rest else 0.0), *rest]


def _optimizer_device(optimizer: Any) -> Any:
    for group in optimizer.param_groups:
        for parameter in group.get("params", []):
            return parameter.device
    return None


def determinism_flags() -> dict[str, Any]:
    """The switches that decide whether two runs can agree bit for bit."""
    import torch

    flags: dict[str, Any] = {}
    readers = {
        "cudnn_deterministic": lambda: torch.backends.cudnn.deterministic,
        "cudnn_benchmark": lambda: torch.backends.cudnn.benchmark,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled,
        "float32_matmul_precision": torch.get_float32_matmul_precision,
        "matmul_allow_tf32": lambda: torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": lambda: torch.backends.cudnn.allow_tf32,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, read in readers.items():
            try:
                value = read()
            except Exception:  # noqa: BLE001 - a flag this torch does not have
                continue
            flags[name] = value if isinstance(value, (bool, str, int)) else str(value)
    flags["CUBLAS_WORKSPACE_CONFIG"] = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    return flags


def peak_memory(device: Any) -> dict[str, Any]:
    """CUDA peak allocated/reserved on GPU; the process's peak RSS always."""
    import resource

    import torch

    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss = usage if sys.platform == "darwin" else usage * 1024
    memory: dict[str, Any] = {"peak_rss_bytes": rss}
    if device is not None and device.type == "cuda" and torch.cuda.is_available():
        memory["cuda_max_allocated_bytes"] = torch.cuda.max_memory_allocated(device)
        memory["cuda_max_reserved_bytes"] = torch.cuda.max_memory_reserved(device)
    return memory


def environment(device: Any) -> dict[str, Any]:
    """Device, versions and container facts that decide whether two results compare."""
    import torch

    cuda_available = torch.cuda.is_available()
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": None,
        "cuda_available": cuda_available,
        "gpu_count": torch.cuda.device_count() if cuda_available else 0,
        "device": str(device) if device is not None else None,
        "device_type": device.type if device is not None else None,
        "device_name": _device_name(device),
        "world_size": _world_size(),
        "rank": _rank(),
        "container": _container(),
        "scheduler": _scheduler(),
    }
    try:
        if torch.backends.cudnn.is_available():
            info["cudnn"] = torch.backends.cudnn.version()
    except Exception:  # noqa: BLE001 - cuDNN missing or broken: report None
        pass
    return info


def _device_name(device: Any) -> str | None:
    import torch

    if device is None:
        return None
    if device.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"CPU ({_cpu_model() or platform.machine()}, {os.cpu_count()} cores)"
    return device.type


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _container() -> dict[str, Any]:
    markers = ("REMOTE_CONTAINERS", "CODESPACES", "DEVCONTAINER")
    return {
        "image": os.environ.get("MLDIFF_CONTAINER_IMAGE") or None,
        "dockerenv": os.path.exists("/.dockerenv"),
        "markers": sorted(name for name in markers if os.environ.get(name)),
        "nvidia_pytorch_version": os.environ.get("NVIDIA_PYTORCH_VERSION"),
    }


def _scheduler() -> dict[str, Any] | None:
    """The Slurm job this run is part of (job id, node, partition, GPUs), or None."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return None
    return {
        "kind": "slurm",
        "job_id": job,
        "node": os.environ.get("SLURMD_NODENAME"),
        "partition": os.environ.get("SLURM_JOB_PARTITION"),
        "gpus": os.environ.get("SLURM_JOB_GPUS") or os.environ.get("SLURM_STEP_GPUS"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def seed_everything(seed: int) -> None:
    """Same seed for both sides: Python, NumPy when installed, torch (all devices)."""
    random.seed(seed)
    try:
        import numpy
    except ImportError:
        pass
    else:
        numpy.random.seed(seed)
    import torch

    torch.manual_seed(seed)


def _watch_stdin() -> None:
    """Die with the launcher: stdin is a pipe from mldiff that is closed only when mldiff
    exits, so EOF means nobody waits for this run any more (SIGKILL, closed editor)."""
    import signal

    leader = os.getpgrp() == os.getpid()

    def watch() -> None:
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        if leader:
            os.killpg(os.getpid(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="mldiff-probe-stdin", daemon=True).start()


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m mldiff.probe",
        description="Run a training command for N optimizer steps and record loss, time and memory.")
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps to run (default 20)")
    parser.add_argument("--out", help="write the JSON result here (default: stdout)")
    parser.add_argument("--seed", type=int, default=0, help="seed for random, NumPy and torch (default 0)")
    parser.add_argument("--cwd", help="run the command in this directory")
    parser.add_argument("--watch-stdin", action="store_true",
                        help="stop when stdin reaches end of file (the launcher died)")
    parser.add_argument("--lines", action="append", default=[], metavar="PATH:LINES",
                        help="record whether these changed lines ran (train.py:12,40-42); repeatable")
    parser.add_argument("--no-facts", action="store_true", help="record steps, loss, time and memory only")
    if "--" in argv:
        split = argv.index("--")
        options, target = argv[:split], argv[split + 1:]
        args = parser.parse_args(options)
    else:
        parser.add_argument("target", nargs=argparse.REMAINDER)
        args = parser.parse_args(argv)
        target = args.target
    if not target or target == ["-m"]:
        parser.error("give the training command after --: SCRIPT ARGS... or -m MODULE ARGS...")
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    lines_module = _sibling("probe_lines")
    args.targets = {}
    for spec in args.lines:
        try:
            path, lines = lines_module.parse_spec(spec)
        except ValueError as exc:
            parser.error(str(exc))
        args.targets.setdefault(path, set()).update(lines)
    return args, target


def _write(result: dict[str, Any], out: str | None) -> None:
    text = json.dumps(result, indent=1, sort_keys=True)
    if out is None:
        stdout = sys.__stdout__
        assert stdout is not None  # the probe runs with a stdout: mldiff's pipe, or a terminal
        stdout.write(text + "\n")
        stdout.flush()
        return
    temporary = f"{out}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, out)


def run_target(target: list[str], lines: Any = None) -> None:
    """Run ``SCRIPT ARGS`` or ``-m MODULE ARGS`` the way ``python`` would; a changed script
    (``lines`` wants it) is compiled with the line markers, modules through their import hook."""
    if target[0] == "-m":
        module, args = target[1], target[2:]
        sys.argv = [module, *args]
        sys.path[0] = os.getcwd()
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return
    script, args = target[0], target[1:]
    sys.argv = [script, *args]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    run_module_code = getattr(runpy, "_run_module_code", None)
    if lines is None or not lines.wants(script) or run_module_code is None or not os.path.isfile(script):
        runpy.run_path(script, run_name="__main__")
        return
    with open(script, "rb") as handle:
        source = handle.read()
    code = lines.compile(source, script)
    # What runpy.run_path does for a plain file, with this code object.
    run_module_code(code, None, "__main__", pkg_name="", script_name=script)


def main(argv: list[str] | None = None) -> int:
    args, target = _parse(sys.argv[1:] if argv is None else argv)
    if args.watch_stdin:
        if "TORCHELASTIC_RUN_ID" not in os.environ:
            try:
                os.setsid()  # a group of our own to kill; fails harmlessly when we lead one already
            except OSError:
                pass
        _watch_stdin()
    if args.cwd:
        os.chdir(args.cwd)
    started = time.time()
    import torch  # noqa: F401 - before seeding and hooks; its import time is not the run's

    seed_everything(args.seed)
    probe = Probe(args.steps, facts=not args.no_facts, lines=args.targets)
    probe.install()
    if probe.progress:
        job = os.environ.get("SLURM_JOB_ID")
        where = f" job {job} on {os.environ.get('SLURMD_NODENAME', '?')}" if job else ""
        print(f"{PROGRESS_PREFIX} started{where}, world size {_world_size()}", file=sys.__stderr__, flush=True)
    status, error, exit_code = "ok", None, 0
    try:
        run_target(target, probe.lines)
        status = "ended_early"
    except _StopRun:
        status = "ok"
    except SystemExit as exc:
        code = exc.code
        if code in (None, 0):
            status = "ended_early"
        else:
            status, exit_code = "error", code if isinstance(code, int) else 1
            error = f"the command exited with status {code}"
    except KeyboardInterrupt:
        status, error, exit_code = "interrupted", "interrupted", 130
    except BaseException as exc:  # noqa: BLE001 - the user's script failed: report it
        traceback.print_exc()
        status, error, exit_code = "error", f"{type(exc).__name__}: {exc}", 1
    finally:
        probe.remove()
    if status == "ended_early" and probe.step_count >= args.steps:
        status = "ok"
    if status == "ended_early" and probe.step_count == 0:
        status, error = "no_step", "the command finished without an optimizer step"
    result = {
        "version": RESULT_VERSION,
        "status": status,
        "error": error,
        "requested_steps": args.steps,
        "seed": args.seed,
        "command": target,
        "started": started,
        "wall_seconds": time.time() - started,
        "determinism": probe.flags or determinism_flags(),
        "environment": environment(probe.device),
        **probe.measurements(),
    }
    if _rank() == 0:
        _write(result, args.out)
    elif args.out:
        # Every rank records; mldiff reads the others' files to show where the ranks differ.
        _write(result, f"{args.out}.rank{_rank()}")
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip atexit handlers and non-daemon threads of the user's script (loggers, uploaders):
    # the result is written and nothing else of the run is wanted.
    os._exit(exit_code if status != "ok" else 0)


if __name__ == "__main__":
    main()
