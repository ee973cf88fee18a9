"""What one run observed, as named observations: a value to compare and a text to show.

The probe writes raw facts (``probe_facts``: per-step series, the first step's modules, the
first batches' statistics); this module turns one run's JSON into observations such as
``optimizer.lr`` = 0.05 (param group 0, steps 1-12) or ``input.first_layer`` = mean 0.00,
std 1.00. Two runs are compared observation by observation: equal values mean the run saw
no difference there. A name missing from the result was not observed in that run (no
optimizer stepped, no model ran a forward, the probe was too old to record it).

Which observations speak for which family of findings is ``observables``' table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

SIGNIFICANT = 4          # statistics and norms: equal when equal to this many digits


@dataclass(frozen=True)
class Observation:
    value: Any           # compared for equality (plain, hashable-ish JSON values)
    text: str            # how it reads: "0.05", "float16 (cpu)", "Dropout p=0.1"
    where: str = ""      # what it is and when: "param group 0, steps 1-12"


def rounded(value: Any, digits: int = SIGNIFICANT) -> Any:
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))
    return value


def number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def steps_text(first: int, last: int) -> str:
    return f"step {first}" if first == last else f"steps {first}-{last}"


def runs_text(runs: list[list[Any]], show: Callable[[Any], str] = number, limit: int = 3) -> str:
    """``[[1, 12, 0.05]]`` -> ``0.05``; a changing value: ``0.1 (steps 1-5), 0.01 (steps 6-12)``."""
    if not runs:
        return "?"
    if len(runs) == 1:
        return show(runs[0][2])
    if len(runs) <= limit:
        return ", ".join(f"{show(value)} ({steps_text(first, last)})" for first, last, value in runs)
    return f"{show(runs[0][2])} at step {runs[0][0]} .. {show(runs[-1][2])} at step {runs[-1][1]} ({len(runs)} values)"


def span_of(runs: list[list[Any]]) -> str:
    return steps_text(runs[0][0], runs[-1][1]) if runs else ""


def frozen(value: Any) -> Any:
    """A JSON value made comparable and hashable (lists -> tuples, dicts -> sorted item tuples)."""
    if isinstance(value, dict):
        return tuple(sorted((key, frozen(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(frozen(item) for item in value)
    return rounded(value, 10) if isinstance(value, float) else value


def _group_value(index: int, key: str) -> Callable[[Any], Any]:
    """Picks ``key`` of param group ``index`` from one step's groups (None where it has fewer)."""
    return lambda groups: frozen(groups[index].get(key)) if index < len(groups) else None


def _runs(series: list[list[Any]] | None, pick: Callable[[Any], Any]) -> list[list[Any]]:
    """A series of one part of each value, merged again where that part does not change."""
    merged: list[list[Any]] = []
    for first, last, value in series or []:
        part = pick(value)
        if merged and merged[-1][1] == first - 1 and merged[-1][2] == part:
            merged[-1][1] = last
        else:
            merged.append([first, last, part])
    return merged


def _short_class(name: str | None) -> str:
    return (name or "?").rsplit(".", 1)[-1]


def _stats(batches: list[Any]) -> tuple[Any, str] | None:
    values = [(rounded(b["mean"]), rounded(b["std"])) for b in batches or []
              if isinstance(b, dict) and b.get("mean") is not None]
    if not values:
        return None
    mean = sum(v[0] for v in values) / len(values)
    std = sum(v[1] for v in values) / len(values)
    return tuple(values), f"mean {mean:.3g}, std {std:.3g}"


def _flags_text(flags: dict[str, Any], names: Iterable[str]) -> str:
    return ", ".join(f"{name} {flags.get(name)}" for name in names if name in flags)


def observe(run: dict[str, Any]) -> dict[str, Observation]:
    """Every observation of one run (a probe result)."""
    facts = run.get("facts") or {}
    out: dict[str, Observation] = {}
    environment = run.get("environment") or {}
    world = (facts.get("distributed") or {}).get("world_size") or environment.get("world_size") or 1
    per_rank = f" per rank, world size {world}" if world > 1 else ""   # said where a count is per process

    optimizer = facts.get("optimizer")
    if optimizer:
        out["optimizer.class"] = Observation(optimizer["class"], _short_class(optimizer["class"]))
        groups = optimizer.get("param_groups") or []
        out["optimizer.param_groups"] = Observation(
            frozen(groups), f"{len(groups)} param group{'s' if len(groups) != 1 else ''} "
                            f"({', '.join(str(g.get('params')) + ' tensors' for g in groups)})")
        values = optimizer.get("values") or []
        for key in ("lr", "weight_decay", "momentum", "betas", "eps"):
            per_group = [_runs(values, _group_value(i, key)) for i in range(len(groups))]
            if not any(run_[2] is not None for runs in per_group for run_ in runs):
                continue
            shown = per_group[0]
            text = runs_text(shown, lambda v: number(list(v)) if isinstance(v, tuple) else number(v))
            where = f"param group 0, {span_of(shown)}"
            if len(per_group) > 1:
                text += "; " + "; ".join(f"group {i}: {runs_text(r)}" for i, r in enumerate(per_group[1:], 1))
                where = f"{len(per_group)} param groups, {span_of(shown)}"
            out[f"optimizer.{key}"] = Observation(frozen(per_group), text, where)
        options = _runs(values, lambda v: frozen({k: item for k, item in (v[0] if v else {}).items()
                                                  if k in ("nesterov", "amsgrad", "fused", "foreach", "maximize",
                                                           "dampening", "capturable")}))
        if options:
            out["optimizer.options"] = Observation(
                frozen(options), runs_text(options, lambda v: ", ".join(f"{k}={item}" for k, item in v) or "defaults"),
                f"param group 0, {span_of(options)}")
    schedulers = facts.get("schedulers")
    if optimizer and schedulers is not None:
        text = ", ".join(f"{_short_class(name)} ({entry['calls']} calls)" for name, entry in schedulers.items())
        out["scheduler"] = Observation(frozen({k: v["calls"] for k, v in schedulers.items()}), text or "none")

    autocast = facts.get("autocast")
    if autocast:
        out["autocast"] = Observation(frozen(autocast), runs_text(
            autocast, lambda v: "off" if v is None else f"{v[1]} ({v[0]})"), f"the forward pass, {span_of(autocast)}")
    if "grad_scaler" in facts and optimizer:
        scaler = facts.get("grad_scaler")
        if scaler is None:
            out["grad_scaler"] = Observation(None, "no GradScaler")
        elif not scaler.get("enabled"):
            out["grad_scaler"] = Observation(("disabled",), "GradScaler disabled")
        else:
            scale = scaler.get("scale") or []
            out["grad_scaler"] = Observation(("enabled", frozen(scale)),
                                             f"GradScaler scale {runs_text(scale)}", span_of(scale))
    loss = facts.get("loss") or {}
    if loss.get("function"):
        def describe(value: dict[str, Any]) -> str:
            options = ", ".join(f"{k}={item!r}" for k, item in sorted((value.get("settings") or {}).items())
                                if item is not None)
            return f"{value.get('name')}({options})"
        function = loss["function"]
        out["loss.function"] = Observation(frozen(function), runs_text(function, describe),
                                           f"the first loss call of each step, {span_of(function)}")
    if loss.get("input_dtype"):
        out["loss.input_dtype"] = Observation(frozen(loss["input_dtype"]), runs_text(loss["input_dtype"], str),
                                              f"input of the loss, {span_of(loss['input_dtype'])}")
    if loss.get("batch"):
        out["batch.loss"] = Observation(frozen(loss["batch"]), runs_text(loss["batch"]),
                                        f"leading dimension of the loss input{per_rank}, {span_of(loss['batch'])}")
    losses = run.get("loss") or []
    if losses and losses[0] is not None:
        out["loss.step1"] = Observation(rounded(losses[0], 5), f"{losses[0]:.4f}", "loss at step 1")

    samples = run.get("samples_per_step") or []
    if any(s is not None for s in samples):
        series = _runs([[i + 1, i + 1, s] for i, s in enumerate(samples)], lambda v: v)
        out["batch.samples"] = Observation(frozen(series), runs_text(series),
                                           f"samples per optimizer step{per_rank}, {span_of(series)}")
    backwards = run.get("backwards_per_step") or []
    if backwards:
        series = _runs([[i + 1, i + 1, s] for i, s in enumerate(backwards)], lambda v: v)
        out["batch.backwards"] = Observation(frozen(series), runs_text(series),
                                             f"backward passes per optimizer step, {span_of(series)}")
    if optimizer:
        out["world_size"] = Observation(world, str(world), "processes")

    model = facts.get("model")
    if model:
        out["model.parameters"] = Observation((model["parameters"], model["trainable"]),
                                              f"{model['parameters']:,} parameters ({model['trainable']:,} trainable)")
        out["model.structure"] = Observation(model["structure"], f"{_short_class(model['root'])}, {model['modules']} "
                                                                 f"modules (structure {model['structure'][:8]})")
        out["params.dtypes"] = Observation(tuple(model.get("parameter_dtypes") or ()),
                                           ", ".join(d.replace("torch.", "") for d in model.get("parameter_dtypes") or ())
                                           or "?", "parameter dtypes")
        norms = model.get("norm_layers") or []
        out["norm_layers"] = Observation(
            frozen([{k: v for k, v in n.items() if k != "name"} for n in norms]),
            ", ".join(f"{n['type']} '{n['name']}' (eps {number(n.get('eps'))}"
                      + (", did not run" if not n.get("ran") else "") + ")" for n in norms) or "none",
            "norm layers of the model")
        out["model.sync_batchnorm"] = Observation(model.get("sync_batchnorm", 0), str(model.get("sync_batchnorm", 0)),
                                                  "SyncBatchNorm layers")
        dropout = model.get("dropout") or []
        calls = facts.get("dropout_calls") or []
        out["dropout"] = Observation(
            frozen(([{k: v for k, v in d.items() if k != "name"} for d in dropout],
                    [c for c in calls if c.get("function") != "scaled_dot_product_attention" or c.get("p")])),
            "; ".join([f"{d['type']} '{d['name']}' p={number(d.get('p'))}"
                       + ("" if d.get("ran") else " (did not run)")
                       + ("" if d.get("training", True) else " (eval mode)") for d in dropout]
                      + [f"{c['function']} p={number(c.get('p'))} x{c['calls']}" for c in calls
                         if c.get("function") == "scaled_dot_product_attention" and c.get("p")]) or "none",
            "dropout in the first step")
        wrappers = list(model.get("wrappers") or [])
        compiled = facts.get("compile") or []
        text = " + ".join(wrappers) or "no wrapper"
        if compiled:
            text += "; " + ", ".join(f"torch.compile({c.get('target') or ''}, mode={c.get('mode')})" for c in compiled)
        out["distributed.wrapping"] = Observation(frozen((wrappers, [{k: v for k, v in c.items() if k != "at_step"}
                                                                      for c in compiled])), text)
        eval_modules = model.get("in_eval_mode") or []
        if eval_modules:
            out["loop.modules_in_eval"] = Observation(tuple(eval_modules), ", ".join(eval_modules))
    distributed = facts.get("distributed")
    if distributed:
        out["distributed.world"] = Observation(
            frozen({key: value for key, value in distributed.items() if key != "rank"}),
            f"{distributed['backend']}, world size {distributed['world_size']}" if distributed.get("backend")
            else "not initialised (one process)")
    inputs = facts.get("inputs") or {}
    stats = _stats(inputs.get("first_layer") or [])
    if stats:
        layer = inputs.get("first_layer_module") or {}
        out["input.first_layer"] = Observation(stats[0], stats[1], f"input of the first layer with parameters "
                                                                   f"({layer.get('type')} '{layer.get('name')}'), "
                                                                   f"first {len(stats[0])} batches")
    stats = _stats(inputs.get("model") or [])
    if stats:
        out["input.model"] = Observation(stats[0], stats[1], f"input of the model, first {len(stats[0])} batches")

    for key, name, what in (("train_mode", "loop.train_mode", "mode of the model in each step's forward"),
                            ("zero_grad_calls", "loop.zero_grad", "zero_grad calls per step"),
                            ("clipping", "loop.clipping", "gradient clipping")):
        recorded: list[list[Any]] | None = facts.get(key)
        if recorded:
            def show(value: Any, key: str = key) -> str:
                if key == "train_mode":
                    return "train" if value else "eval" if value is not None else "?"
                if key == "clipping":
                    return "none" if value is None else f"{value['function']}({number(value['limit'])})"
                return str(value)
            out[name] = Observation(frozen(recorded), runs_text(recorded, show), f"{what}, {span_of(recorded)}")
    norms = (facts.get("grad_norm") or {}).get("values") or []
    if norms and norms[0][0] == 1 and norms[0][1] is not None:
        every = (facts.get("grad_norm") or {}).get("every", 1)
        last = norms[-1]
        out["loop.grad_norm"] = Observation(
            rounded(norms[0][1]), f"{norms[0][1]:.4g}" + (f" .. {last[1]:.4g} at step {last[0]}" if len(norms) > 1
                                                           and last[1] is not None else ""),
            "gradient norm at step 1 (before any update)" + (f", then every {every} steps" if every > 1 else ""))
    missing = facts.get("params_without_grad")
    if missing is not None and optimizer:
        first = missing.get("1", [])
        out["loop.params_without_grad"] = Observation(tuple(first), ", ".join(first) if first else "none",
                                                      "optimized parameters without a gradient at step 1")
    seeds = facts.get("seeds")
    if seeds and optimizer:
        calls = [tuple(call[:2]) for call in seeds.get("calls") or []]
        out["seeds"] = Observation((tuple(calls), seeds.get("initial_seed")),
                                   ", ".join(f"{label}({number(value)})" for label, value in calls)
                                   or f"no seed call (torch initial seed {seeds.get('initial_seed')})")
    flags = run.get("determinism") or {}
    if flags:
        names = ("cudnn_deterministic", "cudnn_benchmark", "deterministic_algorithms")
        out["determinism.flags"] = Observation(tuple((n, flags.get(n)) for n in names),
                                               _flags_text(flags, names))
        names = ("float32_matmul_precision", "matmul_allow_tf32", "cudnn_allow_tf32")
        out["precision.matmul"] = Observation(tuple((n, flags.get(n)) for n in names), _flags_text(flags, names))
    loaders = facts.get("data_loaders")
    if loaders:
        first = loaders[0]
        out["data.loader"] = Observation(
            frozen({k: v for k, v in first.items() if k != "first_step"}),
            f"batch_size {first.get('batch_size')}, {first.get('sampler')}, drop_last {first.get('drop_last')}, "
            f"num_workers {first.get('num_workers')}, pin_memory {first.get('pin_memory')}, "
            f"{first.get('dataset_size')} samples", "the first DataLoader the loop iterated")
        out["data.batch_size"] = Observation(first.get("batch_size"), f"{first.get('batch_size')}",
                                             f"DataLoader batch_size{per_rank}")
    return out


def rank_differences(run: dict[str, Any]) -> dict[str, list[str]]:
    """Under torchrun: the observations in which the ranks differ, each rank's text (rank 0 first)."""
    ranks = run.get("ranks") or []
    if not ranks:
        return {}
    observed = [observe(run), *(observe(rank) for rank in ranks)]
    names = sorted(set().union(*observed))
    return {name: [o[name].text if name in o else "?" for o in observed] for name in names
            if len({repr(o[name].value) if name in o else None for o in observed}) > 1}
