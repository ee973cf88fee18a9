"""Methods that mean something for training, by the kind of object they are called on.

``optimizer.step()`` updates the weights, ``x.pin_memory()`` changes how batches reach the
GPU, ``sampler.set_epoch(e)`` reshuffles a distributed sampler: what a method means depends
on its receiver. A receiver's kind comes from what built it (``GradScaler(...)``: a scaler;
see ``RECEIVER_ROLES``) or, for objects built elsewhere, from its name (``RECEIVER_NAMES``:
``optimizer``, ``scaler``, ``model``...). ``ANY`` methods are specific enough to mean the
same on any receiver.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

ANY = "any"


@dataclass(frozen=True)
class Method:
    """``name`` called on a receiver of one of ``receivers`` is a ``family`` operation (``noun``).
    ``params``: only when one of these keywords is passed (``to(non_blocking=True)``)."""

    name: str
    receivers: tuple[str, ...]
    family: str
    noun: str
    params: tuple[str, ...] = ()


# the nouns of the operations that backpropagate (``facts.summaries`` asks whether a helper does)
BACKWARD_PASS = "backward pass"
SCALED_STEP = "scaled backward and optimizer step"

METHODS: tuple[Method, ...] = (
    Method("step", ("optimizer",), "training_loop", "optimizer step"),
    Method("zero_grad", ("optimizer", "model"), "training_loop", "zero_grad"),
    Method("backward", (ANY,), "training_loop", BACKWARD_PASS),
    Method("step", ("scaler",), "training_loop", "scaler step"),
    Method("scale", ("scaler",), "training_loop", "loss scaling"),
    Method("unscale_", ("scaler",), "training_loop", "gradient unscaling"),
    Method("update", ("scaler",), "training_loop", "scaler update"),
    Method("step", ("scheduler",), "learning_rate", "scheduler step"),
    Method("step_update", ("scheduler",), "learning_rate", "scheduler step"),
    Method("train", ("model",), "training_loop", "train mode"),
    Method("eval", ("model",), "training_loop", "eval mode"),
    Method("clip_grad_norm_", (ANY,), "training_loop", "gradient clipping"),
    Method("clip_grad_value_", (ANY,), "training_loop", "gradient clipping"),
    Method("clip_gradients", (ANY,), "training_loop", "gradient clipping"),
    Method("pin_memory", (ANY,), "data_pipeline", "pinned memory"),
    Method("to", ("input",), "data_pipeline", "asynchronous copy", ("non_blocking",)),
    Method("cuda", ("input",), "data_pipeline", "asynchronous copy", ("non_blocking",)),
    Method("to", (ANY,), "precision", "dtype", ("dtype",)),
    Method("half", (ANY,), "precision", "dtype"),
    Method("float", (ANY,), "precision", "dtype"),
    Method("double", (ANY,), "precision", "dtype"),
    Method("synchronize", ("optimizer",), "compile_distributed", "gradient synchronisation"),
    Method("skip_synchronize", ("optimizer",), "compile_distributed", "gradient synchronisation"),
    Method("set_training_mode", ("model",), "training_loop", "train mode"),
    Method("requires_grad_", (ANY,), "optimizer", "trainable parameters"),
    Method("bfloat16", (ANY,), "precision", "dtype"),
    Method("set_epoch", (ANY,), "data_pipeline", "sampler epoch"),
    # the hand-written loaders of GPT training scripts (``DataLoaderLite``, llm.c's
    # ``DistributedDataLoader``): which batch a step trains on, and where the stream starts over
    Method("next_batch", ("sampler", "loader"), "data_pipeline", "batch fetch"),
    Method("reset", ("sampler", "loader"), "data_pipeline", "loader reset"),
    Method("prepare", ("accelerator",), "compile_distributed", "accelerator.prepare"),
    Method("autocast", ("accelerator",), "precision", "autocast"),
    Method("accumulate", ("accelerator",), "batch_size", "gradient accumulation"),
    Method("no_sync", (ANY,), "compile_distributed", "gradient synchronisation"),
    Method("no_backward_sync", (ANY,), "compile_distributed", "gradient synchronisation"),
    Method("require_backward_grad_sync", (ANY,), "compile_distributed", "gradient synchronisation"),
    Method("compile", ("model",), "compile_distributed", "compile"),
    Method("manual_seed", ("generator",), "determinism", "seed"),
    Method("set_seed", (ANY,), "determinism", "seed"),
)

# What a receiver's constructor says it is (API roles of knowledge/apis.py -> receiver kind).
RECEIVER_ROLES = {"optimizer": "optimizer", "grad_scaler": "scaler", "scheduler": "scheduler",
                  "dataloader": "loader", "sampler": "sampler"}
RECEIVER_CONSTRUCTORS = {"accelerate.Accelerator": "accelerator", "lightning.fabric.Fabric": "accelerator",
                         "torch.Generator": "generator"}

# What a receiver's name (its last component, lower case) says it is.
RECEIVER_NAMES: tuple[tuple[str, str], ...] = (
    (r"(?:\w+_)?(?:optimizer|optim|opt)(?:_\w+|\d)?|optimizers\[.*\]", "optimizer"),
    (r"(?:\w+_)?(?:grad_|loss_|amp_)?scaler", "scaler"),
    (r"(?:\w+_)?(?:lr_)?(?:scheduler|sched)(?:_\w+)?", "scheduler"),
    (r"accelerator|fabric|trainer", "accelerator"),
    (r"(?:\w+_)?(?:model|net|network|module|backbone|encoder|decoder|unet|transformer|classifier|gpt|"
     r"teacher|student|generator|discriminator|critic|actor|policy|net[gd]|model_\w+|raw_model|ema|ema_model)",
     "model"),
    (r"(?:\w+_)?(?:input|inputs|images?|imgs?|x|xs|y|ys|batch|samples?|pixel_values|latents|features|data|"
     r"targets?|labels?|tokens|input_ids|idx)", "input"),
    (r"(?:\w+_)?(?:sampler|loader|dataloader|dl|data_?loader)", "sampler"),
    (r"(?:\w+_)?(?:generator|rng|gen|g)", "generator"),
)
_NAMES = tuple((re.compile(pattern + "$"), kind) for pattern, kind in RECEIVER_NAMES)

# Objects that are called like functions, by the name they are held in: ``criterion(out, y)``
# computes the loss whatever class built the criterion.
CALLABLE_NAMES: tuple[tuple[str, str, str], ...] = (
    (r"(?:\w+_)?(?:loss_?fn|loss_?func|loss_?function|criterion|criterion_\w+|loss_?module)", "loss", "loss"),
    # timm's ``NativeScaler`` / ``ApexScaler`` (and the MAE, BEiT, ConvNeXt copies) are called with
    # the loss and the optimizer: scale, backward, optional clipping, step
    (r"(?:loss_|grad_|amp_)?scaler", "training_loop", SCALED_STEP),
)
_CALLABLES = tuple((re.compile(pattern + "$"), family, noun) for pattern, family, noun in CALLABLE_NAMES)


@lru_cache(maxsize=4096)
def callable_role(name: str) -> tuple[str, str] | None:
    """(family, noun) of calling the object held in ``name`` (``self.criterion``), or None."""
    last = name.rsplit(".", 1)[-1].lower().lstrip("_")
    for pattern, family, noun in _CALLABLES:
        if pattern.match(last):
            return family, noun
    return None
_BY_NAME: dict[str, list[Method]] = {}
for _method in METHODS:
    _BY_NAME.setdefault(_method.name, []).append(_method)


@lru_cache(maxsize=4096)
def kind_by_name(receiver: str) -> str | None:
    """The kind a receiver's name says (``self.optimizer`` -> optimizer), or None."""
    last = receiver.rsplit(".", 1)[-1].lower().lstrip("_")
    for pattern, kind in _NAMES:
        if pattern.match(last):
            return kind
    return None


def method_roles(name: str) -> list[Method]:
    """The table's entries for a method name (several receivers may give it several meanings)."""
    return _BY_NAME.get(name, [])


# Methods that switch a module between training and evaluation behaviour (dropout, batch-norm
# statistics): the mode each sets when called without an argument / with True, and with False.
# ``set_training_mode`` is stable-baselines3's policy method (``BasePolicy.set_training_mode``).
MODE_SWITCHES: dict[str, tuple[str, str | None]] = {
    "train": ("train", "eval"),
    "eval": ("eval", None),
    "set_training_mode": ("train", "eval"),
}

