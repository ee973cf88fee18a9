"""Where training calls sit: the enclosing loop and function, and the order of
backward / step / zero_grad / scaler calls in a region. Shared by the training-loop
and precision rules."""
from __future__ import annotations

import re
from dataclasses import dataclass

from mldiff.analysis.module import ModuleView
from mldiff.analysis.statements import CallFact
from mldiff.knowledge import apis

_EVENT_LINE = re.compile(r"\.(?:backward|step|zero_grad|update|unscale_)\s*\(|\bbackward\s*\(")
_EVAL_NAME = re.compile(r"(?:^|_)(?:eval\w*|evaluate|valid\w*|val|test\w*|infer\w*|predict\w*|estimate_loss|"
                        r"sample|generate|accuracy|score)(?:_|$)", re.I)


def receiver_kind(view: ModuleView, receiver: str | None) -> str | None:
    """``optimizer``, ``scheduler``, ``scaler`` or None for the object a method is called on."""
    if not receiver or "(" in receiver:
        return None
    constructor = view.constructor_of(receiver)
    if constructor:
        qualname = apis.canonical(constructor)
        if apis.is_grad_scaler(qualname):
            return "scaler"
        if apis.is_scheduler(qualname):
            return "scheduler"
        if apis.is_optimizer(qualname):
            return "optimizer"
    last = receiver.rsplit(".", 1)[-1].lower()
    if "scaler" in last:
        return "scaler"
    if "sched" in last:
        return "scheduler"
    if "optim" in last or last in ("opt", "optimiser") or last.endswith("_opt") or last.startswith("opt_"):
        return "optimizer"
    return None


@dataclass(frozen=True)
class Event:
    index: int
    kind: str        # backward | scaled_backward | optimizer_step | scaler_step | scaler_update | zero_grad |
                     # scheduler_step | unscale
    call: CallFact


def classify_call(view: ModuleView, call: CallFact) -> str | None:
    method = call.method
    if method == "backward":
        if call.receiver and call.receiver.endswith(".scale(...)"):
            inner = call.receiver[: -len(".scale(...)")]
            if receiver_kind(view, inner) == "scaler" or "scale" in inner.lower():
                return "scaled_backward"
        return "backward"
    if method == "zero_grad":
        return "zero_grad"
    if method not in ("step", "update", "unscale_"):
        return None
    kind = receiver_kind(view, call.receiver)
    if method == "step":
        if kind == "scaler":
            return "scaler_step"
        if kind == "scheduler":
            return "scheduler_step"
        if kind == "optimizer":
            return "optimizer_step"
    if method == "update" and kind == "scaler":
        return "scaler_update"
    if method == "unscale_" and kind == "scaler":
        return "unscale"
    return None


def region(view: ModuleView, index: int) -> range:
    """The enclosing function's block, or the whole module for top-level scripts."""
    if not 0 <= index < len(view.logical):
        return range(0, 0)   # an emptied or deleted side has no region
    enclosing = view.enclosing_def(index)
    if enclosing < 0:
        return range(0, len(view.logical))
    return view.block(enclosing)


def events(view: ModuleView, where: range) -> list[Event]:
    """Training calls in ``where``, in source order (only lines that can hold one are parsed)."""
    out = []
    for index in view.lines_matching(_EVENT_LINE, ("backward", ".step", "zero_grad", ".update", "unscale_")):
        if index not in where:
            continue
        for call in view.facts(index).calls:
            kind = classify_call(view, call)
            if kind is not None:
                out.append(Event(index, kind, call))
    return out


def loops(view: ModuleView, index: int) -> tuple[str, ...]:
    """The loop headers around ``index`` (innermost last), as normalized text."""
    out = []
    for ancestor in view.ancestors(index):
        ll = view.logical[ancestor]
        if ll.keyword in ("for", "while"):
            out.append(" ".join(view.source(ancestor).split()).rstrip(":").strip())
        if ll.keyword in ("def", "class"):
            break
    return tuple(reversed(out))


def is_evaluation(view: ModuleView, index: int) -> bool:
    """Inside a function that evaluates (by name, or decorated with no_grad / inference_mode)."""
    for ancestor in view.ancestors(index):
        ll = view.logical[ancestor]
        if ll.keyword != "def":
            continue
        name = view.facts(ancestor).def_name or ""
        if _EVAL_NAME.search(name):
            return True
        decorator = ancestor - 1
        while decorator >= 0 and view.logical[decorator].keyword == "@":
            text = view.source(decorator)
            if "no_grad" in text or "inference_mode" in text:
                return True
            decorator -= 1
        return False
    return False
