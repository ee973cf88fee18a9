"""What a class of the project is for, read from its definition: ``class FocalLoss(nn.Module)``
computes a loss, ``class Lion(Optimizer)`` is an update rule, ``class WarmupCosine(_LRScheduler)``
a learning-rate schedule. Every line of such a class serves that one operation, so a change
inside it that calls nothing known (``loss / G.sum()`` -> ``loss / BS`` in a loss's ``forward``)
is still a change of that family.
"""
from __future__ import annotations

import re

from mldiff.knowledge import apis

# Losses named by the convention the loss rule also recognises at call sites: a class whose name
# says Loss (``ComputeLoss``, ``DINOLoss``), and timm's cross-entropy variants
LOSS_CLASS_NAMES = re.compile(r"^(?:[A-Z]\w*Loss\w*|LabelSmoothingCrossEntropy|SoftTargetCrossEntropy|"
                              r"BinaryCrossEntropy|JsdCrossEntropy|AsymmetricLossMultiLabel)$")

# the family and the noun of what a class's bases make it (``apis.role_of`` of a base)
_BASE_ROLES = {"loss": ("loss", "the loss {name} computes"),
               "optimizer": ("optimizer", "the update rule of {name}"),
               "scheduler": ("learning_rate", "the schedule {name} computes")}


def class_purpose(name: str, bases: tuple[str, ...]) -> tuple[str, str] | None:
    """(family, noun) for a class called ``name`` whose bases, as canonical names, are ``bases``;
    None for a class that serves no single training operation (a model, a dataset, a helper)."""
    for base in bases:
        role = apis.role_of(base)
        if role in _BASE_ROLES:
            family, noun = _BASE_ROLES[role]
            return family, noun.format(name=name)
        if base.rsplit(".", 1)[-1] == "Optimizer":  # torch.optim.Optimizer itself, or a library's
            family, noun = _BASE_ROLES["optimizer"]
            return family, noun.format(name=name)
    if LOSS_CLASS_NAMES.match(name):
        family, noun = _BASE_ROLES["loss"]
        return family, noun.format(name=name)
    return None
