"""Run-time facts the static findings speak of, recorded by the probe on each side.

What a finding says changed (a learning rate, a dropout probability, autocast, the batch
size) is read here from the running program, cheaply: values read at step boundaries and
at the first forward of each step, wrappers on functions a training loop calls a few times
per step (the loss, ``zero_grad``, gradient clipping, the scheduler, ``GradScaler.step``),
and module hooks on every module during the first step only (which modules ran, the
model's structure). Device values (input statistics, norms, the loss scale) stay tensors
until the run ends: no device synchronisation per step. The gradient norm costs a pass
over every gradient, so it is taken every step only while that costs less than 0.1% of a
step, else every n-th step (the result says which).

Self-contained (standard library + torch) like probe.py, and copied beside it.
"""
from __future__ import annotations

import hashlib
import math
import time
from typing import Any, Callable

STATS_STEPS = 3                    # input statistics of the first batches
STATS_MAX_ELEMENTS = 1 << 20       # a strided sample of larger batches
NORM_BUDGET = 0.001                # the gradient norm may cost this share of a step (on average)
GROUP_KEYS = ("lr", "weight_decay", "momentum", "betas", "eps", "nesterov", "dampening", "alpha",
              "amsgrad", "maximize", "foreach", "fused", "capturable", "differentiable")
LOSS_FUNCTIONS = ("cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
                  "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div", "poisson_nll_loss",
                  "gaussian_nll_loss", "ctc_loss", "cosine_embedding_loss", "margin_ranking_loss",
                  "hinge_embedding_loss", "multilabel_margin_loss", "soft_margin_loss",
                  "multilabel_soft_margin_loss", "multi_margin_loss", "triplet_margin_loss")
DROPOUT_FUNCTIONS = ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout")
NORM_LAYER_WORDS = ("BatchNorm", "LayerNorm", "GroupNorm", "RMSNorm", "InstanceNorm", "LocalResponseNorm")
NORM_LAYER_ATTRIBUTES = ("eps", "affine", "momentum", "elementwise_affine", "track_running_stats", "num_groups")
# Wrapper classes and the attribute that holds the wrapped model.
WRAPPERS = {"DistributedDataParallel": "module", "DataParallel": "module",
            "FullyShardedDataParallel": "_fsdp_wrapped_module", "OptimizedModule": "_orig_mod"}
MAX_LISTED = 32


class Series:
    """One value per step, run-length encoded: ``[[first_step, last_step, value], ...]``."""

    __slots__ = ("runs",)

    def __init__(self) -> None:
        self.runs: list[list[Any]] = []

    def add(self, step: int, value: Any) -> None:
        runs = self.runs
        if runs:
            last = runs[-1]
            if last[1] == step - 1 and last[2] == value:
                last[1] = step
                return
        runs.append([step, step, value])

    def to_json(self, convert: Callable[[Any], Any] = lambda value: value) -> list[list[Any]]:
        return [[first, last, convert(value)] for first, last, value in self.runs]


def _name(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def _scalar(value: Any) -> Any:
    """A JSON value for a setting: numbers, strings, booleans, None; tuples as lists; else its type."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (tuple, list)):
        return [_scalar(item) for item in value]
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"tensor{list(shape)}"
    return type(value).__name__


class _Patches:
    """Attributes of library objects replaced by the probe, put back in reverse order."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def patch(self, owner: Any, name: str, replacement: Any) -> None:
        self._saved.append((owner, name, vars(owner)[name]))
        setattr(owner, name, replacement)

    def restore(self) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()


class RunFacts:
    """Every fact of one run. ``Probe`` calls the ``on_*`` methods from its hooks; this class
    installs its own wrappers (losses, seeds, zero_grad, clipping, schedulers, compile)."""

    def __init__(self, torch: Any, steps: int) -> None:
        self.torch = torch
        self.requested_steps = steps
        self.errors: list[str] = []
        self._patches = _Patches()
        self._step_one_handles: list[Any] = []
        self._step_one_patches = _Patches()   # taken off when the first step is done
        self._is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", lambda: False)
        self._tensor = torch.Tensor
        # optimizer
        self.optimizer_class: str | None = None
        self.param_groups: list[dict[str, Any]] = []
        self.other_optimizers: list[str] = []
        self.schedulers: dict[str, dict[str, Any]] = {}
        # per step, collected during the step and closed by on_step_end: one tuple per step,
        # (param group values, autocast, train mode, loss calls, first loss, zero_grad calls, clipping)
        self.per_step = Series()
        self._step_loss: Any = None
        self._loss_names: Any = None
        self._loss_values: Any = None
        self._loss_settings: Any = None
        self._step_autocast: Any = None
        self._step_training: Any = None
        self._step_loss_calls = 0
        self._step_zero_grad = 0
        self._step_clip: Any = None
        self._forward_seen = False
        # device values, converted at the end
        self.clip_norms: list[tuple[int, Any]] = []
        self.grad_norms: list[tuple[int, Any]] = []
        self.grad_norm_every = 1
        self._next_norm_step = 1
        self.scaler_enabled: bool | None = None
        self.scales: list[tuple[int, Any]] = []
        self.model_inputs: list[Any] = []
        self.first_layer_inputs: list[Any] = []
        self.first_layer: dict[str, Any] | None = None
        self._first_layer_module: Any = None
        self._first_layer_handle: Any = None
        # the first step: every module that ran
        self._depth = 0
        self._tops: list[Any] = []
        self._ran: dict[int, Any] = {}
        self.dropout_calls: dict[tuple[Any, ...], int] = {}
        self.modules: dict[str, Any] | None = None
        self.model_top: Any = None       # the module the training loop calls (a wrapper included)
        self._names: dict[int, str] = {}
        self._param_names: dict[int, str] = {}
        self._no_grad: dict[int, list[Any]] = {}
        self._tensor_groups = False
        self._seeding = False             # inside a seed call (torch.manual_seed seeds CUDA too)
        # the rest
        self.seed_calls: list[list[Any]] = []
        self.initial_seed: int | None = None
        self.compile_calls: list[dict[str, Any]] = []
        self.distributed: dict[str, Any] | None = None
        self.loaders: list[dict[str, Any]] = []
        self._last_loader_iterator: Any = None
        self._steps_done = 0

    # -- installation -------------------------------------------------------------------------
    def install(self) -> None:
        torch = self.torch
        functional = torch.nn.functional
        for name in LOSS_FUNCTIONS:
            if hasattr(functional, name):
                self._patch(functional, name, self._wrap_loss(name, getattr(functional, name)))
        self._patch(torch.optim.Optimizer, "zero_grad", self._wrap_counter(torch.optim.Optimizer.zero_grad))
        self._patch(torch.nn.Module, "zero_grad", self._wrap_counter(torch.nn.Module.zero_grad))
        clip = getattr(torch.nn.utils, "clip_grad", None)
        for owner in (torch.nn.utils, clip):
            if owner is None:
                continue
            for name in ("clip_grad_norm_", "clip_grad_value_"):
                if name in vars(owner):
                    self._patch(owner, name, self._wrap_clip(name, getattr(owner, name)))
        schedulers = getattr(torch.optim, "lr_scheduler", None)
        for class_name in ("LRScheduler", "_LRScheduler", "ReduceLROnPlateau"):
            kind = getattr(schedulers, class_name, None)
            if kind is not None and "step" in vars(kind):
                self._patch(kind, "step", self._wrap_scheduler(vars(kind)["step"]))
        seeds: list[tuple[Any, str, str]] = [(torch, "manual_seed", "torch.manual_seed"),
                                             (torch.random, "manual_seed", "torch.manual_seed"),
                                             (torch.cuda, "manual_seed", "torch.cuda.manual_seed"),
                                             (torch.cuda, "manual_seed_all", "torch.cuda.manual_seed_all")]
        import random
        seeds.append((random, "seed", "random.seed"))
        import sys
        numpy_random = getattr(sys.modules.get("numpy"), "random", None)
        if numpy_random is not None:
            seeds.append((numpy_random, "seed", "numpy.random.seed"))
        for owner, name, label in seeds:
            if name in vars(owner):
                self._patch(owner, name, self._wrap_seed(label, getattr(owner, name)))
        if "compile" in vars(torch):
            self._patch(torch, "compile", self._wrap_compile(torch.compile))
        self._read_autocast = self._autocast_reader()
        if self._steps_done > 0:  # installed again (bench/): the first step is over
            return
        # The first step: every module call (which ran, in which mode), and functional dropout.
        from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
        self._step_one_handles.append(register_module_forward_pre_hook(self._step_one_before))
        try:
            self._step_one_handles.append(register_module_forward_hook(self._step_one_after, always_call=True))
        except TypeError:  # torch < 2.0: no always_call
            self._step_one_handles.append(register_module_forward_hook(self._step_one_after))
        for name in DROPOUT_FUNCTIONS:
            if hasattr(functional, name):
                self._patch(functional, name, self._wrap_dropout(name, getattr(functional, name)), step_one=True)
        if hasattr(functional, "scaled_dot_product_attention"):
            self._patch(functional, "scaled_dot_product_attention",
                        self._wrap_attention(functional.scaled_dot_product_attention), step_one=True)

    def remove(self) -> None:
        self._end_step_one()
        if self._first_layer_handle is not None:
            self._first_layer_handle.remove()
            self._first_layer_handle = None
        self._patches.restore()

    def _patch(self, owner: Any, name: str, replacement: Any, step_one: bool = False) -> None:
        (self._step_one_patches if step_one else self._patches).patch(owner, name, replacement)

    def _error(self, where: str, exc: BaseException) -> None:
        if len(self.errors) < 10:
            self.errors.append(f"{where}: {type(exc).__name__}: {exc}")

    def _autocast_reader(self) -> Callable[[], Any]:
        torch = self.torch
        try:
            torch.is_autocast_enabled("cpu")
            get_dtype = torch.get_autocast_dtype

            def read() -> Any:
                if torch.is_autocast_enabled("cuda"):
                    return ("cuda", get_dtype("cuda"))
                if torch.is_autocast_enabled("cpu"):
                    return ("cpu", get_dtype("cpu"))
                return None
        except (TypeError, AttributeError):  # torch < 2.4
            def read() -> Any:
                if torch.is_autocast_enabled():
                    return ("cuda", torch.get_autocast_gpu_dtype())
                if torch.is_autocast_cpu_enabled():
                    return ("cpu", torch.get_autocast_cpu_dtype())
                return None
        return read

    # -- wrappers ---------------------------------------------------------------------------------
    def _wrap_loss(self, name: str, original: Any) -> Any:
        facts = self

        def loss(*args: Any, **kwargs: Any) -> Any:
            if not facts._is_compiling():
                facts._step_loss_calls += 1
                if facts._step_loss_calls == 1:
                    try:
                        facts._first_loss(name, args, kwargs)
                    except Exception as exc:  # noqa: BLE001 - a fact must never stop the run
                        facts._error("loss", exc)
            return original(*args, **kwargs)

        return _wrapping(loss, original, doc=True)

    def _first_loss(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """The step's first loss call: its function, settings, batch (leading dimension) and dtype.
        Only references are kept (never the input tensor); settings are described when they change."""
        first = args[0] if args else kwargs.get("input")
        batch = dtype = None
        if isinstance(first, self._tensor):
            shape = first.shape
            batch, dtype = (int(shape[0]) if shape else None), first.dtype
        names, values = tuple(kwargs), tuple(kwargs.values())
        try:
            same = names == self._loss_names and values == self._loss_values
        except (RuntimeError, ValueError):  # another weight tensor: compared by value, which it refuses
            same = False
        if not same:
            self._loss_names, self._loss_values = names, values
            self._loss_settings = tuple(sorted((key, _scalar(value)) for key, value in kwargs.items()
                                               if key not in ("input", "target")))
        self._step_loss = (name, len(args), self._loss_settings, batch, dtype)

    def _wrap_counter(self, original: Any) -> Any:
        facts = self

        def zero_grad(*args: Any, **kwargs: Any) -> Any:
            facts._step_zero_grad += 1
            return original(*args, **kwargs)

        return _wrapping(zero_grad, original, doc=True)

    def _wrap_clip(self, name: str, original: Any) -> Any:
        facts = self

        def clip(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            if not facts._is_compiling():
                try:
                    if name == "clip_grad_norm_":
                        limit = args[1] if len(args) > 1 else kwargs.get("max_norm")
                        norm_type = args[2] if len(args) > 2 else kwargs.get("norm_type", 2.0)
                        facts._step_clip = (name, _scalar(limit), _scalar(norm_type))
                        if isinstance(result, facts._tensor) and len(facts.clip_norms) < 100_000:
                            facts.clip_norms.append((facts._steps_done + 1, result.detach()))
                    else:
                        limit = args[1] if len(args) > 1 else kwargs.get("clip_value")
                        facts._step_clip = (name, _scalar(limit), None)
                except Exception as exc:  # noqa: BLE001
                    facts._error("clipping", exc)
            return result

        return _wrapping(clip, original, doc=True)

    def _wrap_scheduler(self, original: Any) -> Any:
        facts = self

        def step(scheduler: Any, *args: Any, **kwargs: Any) -> Any:
            entry = facts.schedulers.setdefault(_name(type(scheduler)), {"calls": 0, "at_steps": []})
            entry["calls"] += 1
            if len(entry["at_steps"]) < MAX_LISTED:
                entry["at_steps"].append(facts._steps_done)
            return original(scheduler, *args, **kwargs)

        return _wrapping(step, original)

    def _wrap_seed(self, label: str, original: Any) -> Any:
        facts = self

        def seed(*args: Any, **kwargs: Any) -> Any:
            if not facts._seeding and len(facts.seed_calls) < MAX_LISTED:
                value = args[0] if args else next(iter(kwargs.values()), None)
                facts.seed_calls.append([label, _scalar(value), facts._steps_done])
            facts._seeding = True
            try:
                return original(*args, **kwargs)
            finally:
                facts._seeding = False

        return _wrapping(seed, original, doc=True)

    def _wrap_compile(self, original: Any) -> Any:
        facts = self

        def compile(*args: Any, **kwargs: Any) -> Any:
            target = args[0] if args else kwargs.get("model")
            backend = kwargs.get("backend", "inductor")
            if len(facts.compile_calls) < MAX_LISTED:
                facts.compile_calls.append({
                    "target": type(target).__name__ if target is not None else None,
                    "mode": _scalar(kwargs.get("mode")),
                    "backend": backend if isinstance(backend, str) else getattr(backend, "__name__", "callable"),
                    "fullgraph": _scalar(kwargs.get("fullgraph", False)),
                    "dynamic": _scalar(kwargs.get("dynamic")),
                    "at_step": facts._steps_done})
            return original(*args, **kwargs)

        return _wrapping(compile, original, doc=True)

    def _wrap_dropout(self, name: str, original: Any) -> Any:
        facts = self

        def dropout(*args: Any, **kwargs: Any) -> Any:
            p = args[1] if len(args) > 1 else kwargs.get("p", 0.5)
            training = args[2] if len(args) > 2 else kwargs.get("training", True)
            key = (name, _scalar(p), bool(training))
            facts.dropout_calls[key] = facts.dropout_calls.get(key, 0) + 1
            return original(*args, **kwargs)

        return _wrapping(dropout, original)

    def _wrap_attention(self, original: Any) -> Any:
        facts = self

        def attention(*args: Any, **kwargs: Any) -> Any:
            p = args[4] if len(args) > 4 else kwargs.get("dropout_p", 0.0)
            key = ("scaled_dot_product_attention", _scalar(p), None)
            facts.dropout_calls[key] = facts.dropout_calls.get(key, 0) + 1
            return original(*args, **kwargs)

        return _wrapping(attention, original)

    # -- hooks the probe calls ----------------------------------------------------------------
    def on_forward(self, module: Any, args: Any) -> None:
        """The first forward with gradients of a training iteration (the probe's one-shot hook)."""
        if self._forward_seen:
            return
        self._forward_seen = True
        self._step_training = module.training
        self._step_autocast = self._read_autocast()
        if self._steps_done < STATS_STEPS:
            self._record_input(self.model_inputs, args)

    def on_loader_batch(self, iterator: Any) -> None:
        if iterator is self._last_loader_iterator:
            return
        self._last_loader_iterator = iterator
        if len(self.loaders) >= 8:
            return
        try:
            batch_sampler = getattr(iterator, "_index_sampler", None)
            sampler = getattr(batch_sampler, "sampler", batch_sampler)
            dataset = getattr(iterator, "_dataset", None)
            try:
                size = len(dataset) if dataset is not None else None
            except TypeError:
                size = None
            description = {
                "batch_size": _scalar(getattr(batch_sampler, "batch_size", None)),
                "drop_last": _scalar(getattr(iterator, "_drop_last", None)),
                "sampler": type(sampler).__name__ if sampler is not None else None,
                "shuffle": type(sampler).__name__ == "RandomSampler" if sampler is not None else None,
                "num_workers": _scalar(getattr(iterator, "_num_workers", None)),
                "pin_memory": _scalar(getattr(iterator, "_pin_memory", None)),
                "dataset": type(dataset).__name__ if dataset is not None else None,
                "dataset_size": size,
            }
            if not self.loaders or {k: v for k, v in self.loaders[-1].items() if k != "first_step"} != description:
                self.loaders.append({"first_step": self._steps_done + 1, **description})
        except Exception as exc:  # noqa: BLE001
            self._error("data loader", exc)

    def on_scaler_step(self, scaler: Any) -> None:
        try:
            enabled = bool(scaler.is_enabled())
            self.scaler_enabled = enabled if self.scaler_enabled is None else (self.scaler_enabled or enabled)
            scale = getattr(scaler, "_scale", None)
            if enabled and isinstance(scale, self._tensor) and len(self.scales) < 100_000:
                self.scales.append((self._steps_done + 1, scale.detach().clone()))
        except Exception as exc:  # noqa: BLE001
            self._error("GradScaler", exc)

    def before_step(self, optimizer: Any, step: int, step_seconds: Callable[[], float | None]) -> None:
        """The primary optimizer is about to take step ``step``: gradients are final."""
        try:
            if step == 1 or step == self.requested_steps:
                self._record_no_grad(optimizer, step)
            if step >= self._next_norm_step:
                self._record_grad_norm(optimizer, step, step_seconds)
        except Exception as exc:  # noqa: BLE001
            self._error("gradients", exc)

    def on_step_end(self, optimizer: Any, step: int) -> None:
        """The primary optimizer took step ``step``: close what the step collected."""
        self._steps_done = step
        try:
            if step == 1:
                self._first_step_done(optimizer)
            values = tuple(tuple(map(group.get, GROUP_KEYS)) for group in optimizer.param_groups)
            if step == 1:
                self._tensor_groups = any(isinstance(v, self._tensor) for group in values for v in group)
            if self._tensor_groups:  # a tensor learning rate (capturable, fused): its value now, not later
                values = tuple(tuple(float(v) if isinstance(v, self._tensor) and v.numel() == 1 else v
                                     for v in group) for group in values)
            self.per_step.add(step, (values, self._step_autocast, self._step_training, self._step_loss_calls,
                                     self._step_loss, self._step_zero_grad, self._step_clip))
        except Exception as exc:  # noqa: BLE001
            self._error("step", exc)
        self._step_autocast = self._step_training = self._step_clip = self._step_loss = None
        self._step_loss_calls = self._step_zero_grad = 0
        self._forward_seen = False
        if step >= STATS_STEPS and self._first_layer_handle is not None:
            self._first_layer_handle.remove()
            self._first_layer_handle = None

    def on_other_optimizer(self, optimizer: Any) -> None:
        name = _name(type(optimizer))
        if name not in self.other_optimizers and len(self.other_optimizers) < 8:
            self.other_optimizers.append(name)

    # -- the first step ------------------------------------------------------------------------
    def _step_one_before(self, module: Any, args: Any) -> None:
        if not self.torch.is_grad_enabled() or self._is_compiling():
            return
        self._depth += 1
        if self._depth == 1 and all(top is not module for top in self._tops):
            self._tops.append(module)
        self._ran[id(module)] = module
        if self._first_layer_module is None and any(p is not None for p in module._parameters.values()):
            self._first_layer_module = module
            self._record_input(self.first_layer_inputs, args)

    def _step_one_after(self, module: Any, args: Any, output: Any) -> None:
        if self.torch.is_grad_enabled() and not self._is_compiling() and self._depth > 0:
            self._depth -= 1

    def _end_step_one(self) -> None:
        for handle in self._step_one_handles:
            handle.remove()
        self._step_one_handles.clear()
        self._step_one_patches.restore()

    def _first_step_done(self, optimizer: Any) -> None:
        self._end_step_one()
        torch = self.torch
        self.optimizer_class = _name(type(optimizer))
        optimized: set[int] = set()
        for group in optimizer.param_groups:
            params = list(group.get("params", []))
            optimized.update(id(p) for p in params)
            self.param_groups.append({"params": len(params), "numel": sum(int(p.numel()) for p in params)})
        self.initial_seed = int(torch.initial_seed())
        distributed = getattr(torch, "distributed", None)
        if distributed is not None and distributed.is_available() and distributed.is_initialized():
            self.distributed = {"backend": str(distributed.get_backend()), "world_size": distributed.get_world_size(),
                                "rank": distributed.get_rank()}
        else:
            self.distributed = {"backend": None, "world_size": 1, "rank": 0}
        # The model: the top-level module of the first step that holds most of the optimized parameters.
        best, best_count = None, 0
        for top in self._tops:
            count = sum(1 for p in top.parameters() if id(p) in optimized)
            if count > best_count:
                best, best_count = top, count
        if best is not None:
            self.model_top = best
            self.modules = self._describe_model(best)
        if self._first_layer_module is not None:
            module = self._first_layer_module
            self.first_layer = {"name": self._names.get(id(module)), "type": type(module).__name__}
            if self._steps_done < STATS_STEPS:
                self._first_layer_handle = module.register_forward_pre_hook(self._first_layer_before)
        self._ran = {}
        self._tops = []

    def _first_layer_before(self, module: Any, args: Any) -> None:
        if self.torch.is_grad_enabled() and not self._is_compiling() and \
                len(self.first_layer_inputs) < self._steps_done + 1 <= STATS_STEPS:
            self._record_input(self.first_layer_inputs, args)

    def _describe_model(self, root: Any) -> dict[str, Any]:
        """The model under its wrappers (DDP, torch.compile, FSDP): size, a hash of its structure
        (names, classes, parameter shapes), dtypes, the dropout and norm layers and which of
        them ran in the first step. Module names are the inner model's (no ``module.`` prefix)."""
        wrappers = []
        model = root
        while type(model).__name__ in WRAPPERS:
            inner = getattr(model, WRAPPERS[type(model).__name__], None)
            if not isinstance(inner, self.torch.nn.Module):
                break
            wrappers.append(type(model).__name__)
            model = inner
        if any(base.__name__ == "FSDPModule" for base in type(model).__mro__):
            wrappers.append("fully_shard")
        names: dict[int, str] = {}
        for name, module in root.named_modules():
            names.setdefault(id(module), name)
        inner_prefix = ""
        for name, module in root.named_modules():
            if module is model:
                inner_prefix = f"{name}." if name else ""
                break
        self._names = {key: value[len(inner_prefix):] if value.startswith(inner_prefix) else value
                       for key, value in names.items()}
        parameters = list(model.parameters())
        self._param_names = {id(parameter): name for name, parameter in model.named_parameters()}
        structure = hashlib.sha256()
        dropout: list[Any] = []
        norms: list[Any] = []
        in_eval: list[Any] = []
        count = 0
        for name, module in model.named_modules():
            count += 1
            kind = type(module)
            own = [list(p.shape) for p in module._parameters.values() if p is not None]
            structure.update(f"{name}:{kind.__name__}:{own}\n".encode())
            ran = id(module) in self._ran
            if ran and not module.training and root.training and len(in_eval) < MAX_LISTED:
                in_eval.append(name or kind.__name__)
            if "Dropout" in kind.__name__ and len(dropout) < MAX_LISTED:
                dropout.append({"name": name, "type": kind.__name__, "p": _scalar(getattr(module, "p", None)),
                                "training": module.training, "ran": ran})
            if any(word in kind.__name__ for word in NORM_LAYER_WORDS) and len(norms) < MAX_LISTED:
                entry = {"name": name, "type": kind.__name__, "ran": ran}
                for attribute in NORM_LAYER_ATTRIBUTES:
                    if hasattr(module, attribute):
                        entry[attribute] = _scalar(getattr(module, attribute))
                norms.append(entry)
        return {
            "root": _name(type(model)),
            "wrappers": wrappers,
            "parameters": sum(int(p.numel()) for p in parameters),
            "trainable": sum(int(p.numel()) for p in parameters if p.requires_grad),
            "parameter_dtypes": sorted({str(p.dtype) for p in parameters}),
            "structure": structure.hexdigest()[:16],
            "modules": count,
            "ran": sum(1 for module in model.modules() if id(module) in self._ran),
            "in_eval_mode": in_eval,
            "dropout": dropout,
            "norm_layers": norms,
            "sync_batchnorm": sum(1 for module in model.modules() if type(module).__name__ == "SyncBatchNorm"),
        }

    # -- gradients ----------------------------------------------------------------------------
    def _record_no_grad(self, optimizer: Any, step: int) -> None:
        """Parameters the optimizer holds that got no gradient (names are known after step 1)."""
        self._no_grad[step] = [p for group in optimizer.param_groups for p in group.get("params", [])
                               if p.requires_grad and p.grad is None][:MAX_LISTED]

    def _record_grad_norm(self, optimizer: Any, step: int, step_seconds: Callable[[], float | None]) -> None:
        torch = self.torch
        started = time.perf_counter()
        grads = [p.grad for group in optimizer.param_groups for p in group.get("params", [])
                 if p.grad is not None and not p.grad.is_sparse]
        if not grads:
            self._next_norm_step = step + 1
            return
        foreach_norm = getattr(torch, "_foreach_norm", None)
        norms = foreach_norm(grads) if foreach_norm is not None else [g.norm() for g in grads]
        total = torch.linalg.vector_norm(torch.stack([n.to(norms[0].device) for n in norms]))
        self.grad_norms.append((step, total.detach()))
        cost = time.perf_counter() - started
        typical = step_seconds()
        if typical:
            self.grad_norm_every = max(1, math.ceil(cost / (NORM_BUDGET * typical)))
        self._next_norm_step = step + self.grad_norm_every

    # -- inputs -------------------------------------------------------------------------------
    def _record_input(self, into: list[Any], args: Any) -> None:
        try:
            tensor = _first_tensor(args, self._tensor)
            if tensor is None:
                into.append(None)
                return
            entry: dict[str, Any] = {"shape": list(tensor.shape), "dtype": str(tensor.dtype)}
            if tensor.is_floating_point() and tensor.numel() > 0:
                flat = tensor.detach().reshape(-1)
                if flat.numel() > STATS_MAX_ELEMENTS:
                    flat = flat[::math.ceil(flat.numel() / STATS_MAX_ELEMENTS)]
                flat = flat.float()
                entry["std_mean"] = self.torch.std_mean(flat, correction=0) if flat.numel() > 1 else None
            into.append(entry)
        except Exception as exc:  # noqa: BLE001
            self._error("inputs", exc)

    # -- the result -----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Every fact as plain JSON; device values converted here, once."""
        def number(value: Any) -> float | None:
            try:
                result = float(value)
            except (TypeError, ValueError, RuntimeError):
                return None
            return result if math.isfinite(result) else None

        def inputs(entries: list[Any]) -> list[Any]:
            out = []
            for entry in entries:
                if entry is None or "std_mean" not in entry or entry["std_mean"] is None:
                    out.append(entry)
                    continue
                std, mean = entry["std_mean"]
                out.append({"shape": entry["shape"], "dtype": entry["dtype"], "mean": number(mean), "std": number(std)})
            return out

        def groups(value: tuple[tuple[Any, ...], ...]) -> list[dict[str, Any]]:
            return [{key: _scalar(item) if not hasattr(item, "shape") else number(item)
                     for key, item in zip(GROUP_KEYS, group) if item is not None} for group in value]

        def field(index: int, pick: Callable[[Any], Any] = lambda value: value,
                  convert: Callable[[Any], Any] = lambda value: value) -> list[list[Any]]:
            """One element of the per-step tuples (a part of it: ``pick``) as its own run-length series."""
            runs: list[list[Any]] = []
            for first, last, values in self.per_step.runs:
                value = pick(values[index])
                if runs and runs[-1][1] == first - 1 and runs[-1][2] == value:
                    runs[-1][1] = last
                else:
                    runs.append([first, last, value])
            return [[first, last, convert(value)] for first, last, value in runs]

        def loss_part(pick: Callable[[Any], Any], convert: Callable[[Any], Any] = lambda value: value) -> list[Any]:
            """A part of the first loss call of each step (steps without a loss call left out)."""
            return [run for run in field(4, lambda v: None if v is None else pick(v),
                                         lambda v: None if v is None else convert(v)) if run[2] is not None]

        def dtype_name(value: Any) -> str:
            return str(value).replace("torch.", "")

        scale = Series()
        for step, value in self.scales:
            scale.add(step, number(value))
        return {
            "optimizer": None if self.optimizer_class is None else {
                "class": self.optimizer_class, "param_groups": self.param_groups, "values": field(0, convert=groups)},
            "other_optimizers": self.other_optimizers,
            "schedulers": self.schedulers,
            "autocast": field(1, convert=lambda v: None if v is None else [v[0], dtype_name(v[1])]),
            "grad_scaler": None if self.scaler_enabled is None else {
                "enabled": self.scaler_enabled, "scale": scale.to_json()},
            "loss": {
                "calls": field(3),
                "function": loss_part(lambda v: (v[0], v[1], v[2]),
                                      lambda v: {"name": v[0], "positional": v[1], "settings": dict(v[2])}),
                "batch": loss_part(lambda v: v[3]),
                "input_dtype": loss_part(lambda v: v[4], lambda v: None if v is None else dtype_name(v)),
            },
            "inputs": {"model": inputs(self.model_inputs), "first_layer": inputs(self.first_layer_inputs),
                       "first_layer_module": self.first_layer},
            "model": self.modules,
            "dropout_calls": [{"function": key[0], "p": key[1], "training": key[2], "calls": calls}
                              for key, calls in sorted(self.dropout_calls.items(), key=str)],
            "train_mode": field(2),
            "zero_grad_calls": field(5),
            "clipping": field(6, convert=lambda v: None if v is None else
                              {"function": v[0], "limit": v[1], "norm_type": v[2]}),
            "clip_total_norm": [[step, number(value)] for step, value in self.clip_norms],
            "grad_norm": {"every": self.grad_norm_every,
                          "values": [[step, number(value)] for step, value in self.grad_norms]},
            "params_without_grad": {str(step): [self._param_names.get(id(p), f"tensor{list(p.shape)}")
                                                for p in missing] for step, missing in self._no_grad.items()},
            "seeds": {"initial_seed": self.initial_seed, "calls": self.seed_calls},
            "compile": self.compile_calls,
            "distributed": self.distributed,
            "data_loaders": self.loaders,
            "errors": self.errors,
        }


def _first_tensor(value: Any, tensor_type: type, depth: int = 0) -> Any:
    if isinstance(value, tensor_type):
        return value
    if depth > 2:
        return None
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for item in value:
            found = _first_tensor(item, tensor_type, depth + 1)
            if found is not None:
                return found
    return None


__all__ = ["RunFacts", "Series"]


def _wrapping(wrapper: Any, original: Any, doc: bool = False) -> Any:
    """``wrapper`` marked as standing for ``original`` (``inspect.unwrap`` and a second probe
    find the real function), with its docstring where users see it."""
    wrapper.__wrapped__ = original
    if doc:
        wrapper.__doc__ = original.__doc__
    return wrapper
