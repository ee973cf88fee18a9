"""loss: the loss class or function, and its arguments."""
from __future__ import annotations

import re
from typing import Iterator

from mldiff.analysis.filekinds import is_test_file
from mldiff.analysis.module import ModuleView
from mldiff.analysis.statements import CallFact
from mldiff.facts.anchors import base_line, site_span, span_contains
from mldiff.facts.context import Context, PythonContext
from mldiff.facts.delta import ValueChange
from mldiff.facts.equivalence import differing_lines
from mldiff.facts.flows import backward_slice, calls_in_touched_scopes
from mldiff.facts.pairing import pair, paired_calls, scope_key
from mldiff.facts.render import READER, render_call
from mldiff.facts.sites import CallSite, argument_of, arguments_of
from mldiff.facts.value_changes import is_placeholder, value_changes
from mldiff.findings import Finding, Related, Span
from mldiff.knowledge import apis
from mldiff.knowledge.apis import FUNCTIONAL_FORMS
from mldiff.knowledge.classes import LOSS_CLASS_NAMES
from mldiff.rules.base import Example, Expect, Rule
from mldiff.rules.reporting import describe_difference, report_added_or_removed, report_value_change
from mldiff.rules.values import VALUE_FILE_KINDS, ValueRule

_LEGACY_REDUCTION = ("size_average", "reduce", "reduction")


def is_loss_call(qualname: str, call: CallFact, view: ModuleView) -> bool:
    """A loss: ``nn.CrossEntropyLoss()``, ``F.cross_entropy(...)``, timm's losses, a class named *Loss."""
    if call.in_lambda_or_def:
        return False
    if apis.is_loss(qualname) or qualname.startswith("timm.loss."):
        return True
    last = qualname.rsplit(".", 1)[-1]
    if call.receiver is not None and call.receiver.split(".", 1)[0] not in view.aliases:
        return False
    return bool(LOSS_CLASS_NAMES.match(last))




def loss_kind(qualname: str) -> str:
    """``CrossEntropyLoss`` for ``nn.CrossEntropyLoss`` and ``F.cross_entropy`` alike."""
    last = qualname.rsplit(".", 1)[-1]
    if qualname.startswith("torch.nn.functional."):
        return FUNCTIONAL_FORMS.get(last, last)
    return last


def _key(ctx: PythonContext, site: CallSite) -> tuple:
    return scope_key(ctx, site, "loss")


def loss_pairs(ctx: PythonContext) -> list[tuple]:
    return paired_calls(ctx, is_loss_call, "loss")


def loss_site_kind(site: CallSite) -> str:
    return loss_kind(site.qualname)


class LossChanged(Rule[Context]):
    """The loss changed: another class or function (``CrossEntropyLoss`` -> ``NLLLoss``), a loss
    added or removed, or a string choice of loss changed.

    Losses encode assumptions about the model's output: ``CrossEntropyLoss`` applies
    log-softmax itself, ``NLLLoss`` expects log-probabilities, ``BCELoss`` expects
    probabilities while ``BCEWithLogitsLoss`` takes logits. A swap that does not match the
    last layer trains on the wrong objective without any error. Check the model's final
    activation and the targets' format against the new loss.
    """

    code = "ML501"
    family = "loss"
    name = "loss-function"
    summary = "Loss class or function changed, added or removed"
    file_kinds = VALUE_FILE_KINDS  # `loss: focal` in a YAML config is a choice too
    examples = (
        Example(
            before="import torch.nn as nn\ncriterion = nn.CrossEntropyLoss()\n",
            after="import torch.nn as nn\ncriterion = nn.NLLLoss()\n",
            expect=(Expect(2, "loss CrossEntropyLoss() -> NLLLoss()"),),
        ),
        Example(
            before="import torch.nn.functional as F\n\ndef step(logits, y):\n    return F.mse_loss(logits, y)\n",
            after="import torch.nn.functional as F\n\ndef step(logits, y):\n    return F.smooth_l1_loss(logits, y)\n",
            expect=(Expect(4, "loss F.mse_loss(logits, y) -> F.smooth_l1_loss(logits, y)"),),
        ),
        Example(
            before="import torch.nn.functional as F\n\ndef step(out, y):\n    loss = F.cross_entropy(out, y)\n"
                   "    return loss\n",
            after="import torch.nn.functional as F\n\ndef step(out, y):\n    loss = F.cross_entropy(out, y)\n"
                  "    loss = loss + 0.1 * F.kl_div(out, y)\n    return loss\n",
            expect=(Expect(5, "loss F.kl_div(out, y) added"),),
        ),
        Example(
            before="loss_type = 'ce'\n",
            after="loss_type = 'focal'\n",
            expect=(Expect(1, "loss_type 'ce' -> 'focal'"),),
        ),
        Example(  # the criterion moved to the GPU in another statement: same loss
            before="import torch.nn as nn\ncriterion = nn.CrossEntropyLoss().cuda(args.gpu)\n",
            after="import torch.nn as nn\ncriterion = nn.CrossEntropyLoss().to(device)\n",
        ),
        Example(  # the loss value scaled for logging, and renamed
            before="import torch.nn.functional as F\nloss = F.cross_entropy(out, y)\nprint(loss.item())\n",
            after="import torch.nn.functional as F\nloss = F.cross_entropy(out, y)\nprint(f'loss {loss.item():.4f}')\n",
        ),
        Example(  # the module form replaced by the functional form of the same loss
            before="import torch.nn as nn\nimport torch.nn.functional as F\n\ndef step(out, y):\n"
                   "    return nn.CrossEntropyLoss()(out, y)\n",
            after="import torch.nn as nn\nimport torch.nn.functional as F\n\ndef step(out, y):\n"
                  "    return F.cross_entropy(out, y)\n",
        ),
        Example(  # the loss object renamed
            before="import torch.nn as nn\ncriterion = nn.CrossEntropyLoss()\nloss = criterion(out, y)\n",
            after="import torch.nn as nn\nloss_fn = nn.CrossEntropyLoss()\nloss = loss_fn(out, y)\n",
        ),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        if is_test_file(ctx.path):
            return
        if isinstance(ctx, PythonContext):
            for base, head in loss_pairs(ctx):
                one_sided = report_added_or_removed(self, ctx, base, head, "loss")
                if one_sided is not None:
                    yield one_sided
                elif loss_kind(base.qualname) != loss_kind(head.qualname):
                    yield self.report(ctx, site_span(ctx, head),
                                      f"loss {render_call(base, READER, 50)} -> {render_call(head, READER, 50)}",
                                      base_line=base_line(ctx, base), before=render_call(base, READER, 200),
                                      after=render_call(head, READER, 200))
        for value_change in value_changes(ctx):
            if value_change.family == "loss" and value_change.topic == "loss_choice":
                yield report_value_change(self, ctx, value_change)


# -- arguments ---------------------------------------------------------------------------------------------
def _effective_reduction(site: CallSite) -> str | None:
    """``reduction`` as the legacy ``size_average`` / ``reduce`` flags spell it (None: not literal)."""
    arguments = arguments_of(site.call, site.qualname)
    reduction = arguments.get("reduction")
    if reduction is not None:
        return reduction.literal if isinstance(reduction.literal, str) else None
    size_average, reduce = arguments.get("size_average"), arguments.get("reduce")
    for flag in (size_average, reduce):
        if flag is not None and not isinstance(flag.literal, bool) and flag.literal is not None:
            return None
    if reduce is not None and reduce.literal is False:
        return "none"
    if size_average is not None and size_average.literal is False:
        return "sum"
    return "mean"


def _equivalent_reduction_spans(ctx: PythonContext) -> list[Span]:
    """Head spans of loss calls whose reduction is only respelled (``size_average=False`` -> ``reduction='sum'``)."""
    out = []
    for base, head in loss_pairs(ctx):
        if base is None or head is None or loss_kind(base.qualname) != loss_kind(head.qualname):
            continue
        old, new = _effective_reduction(base), _effective_reduction(head)
        if old is not None and old == new:
            out.append(site_span(ctx, head))
    return out


_WEIGHT_PARAMETERS = ("weight", "pos_weight")


_LOSS_TEXT = re.compile(r"Loss\w*\s*\(|_loss\s*\(|cross_entropy\s*\(|kl_div\s*\(")


def weight_changes(ctx: PythonContext) -> list[tuple[CallSite, CallSite, str, list[int], list[int]]]:
    """Class-weight tensors built differently before they reach an unchanged loss call."""
    return ctx.fact("loss.weights", lambda: _weight_changes(ctx))


def _weight_changes(ctx: PythonContext):
    base_sites = calls_in_touched_scopes(ctx, "base", _LOSS_TEXT, is_loss_call)
    head_sites = calls_in_touched_scopes(ctx, "head", _LOSS_TEXT, is_loss_call)
    touched_base, touched_head = set(ctx.touched_base), set(ctx.touched_head)
    out = []
    for base, head in pair(base_sites, head_sites, lambda s: (_key(ctx, s), s.qualname), lambda b, h: True):
        if base is None or head is None:
            continue
        for parameter in _WEIGHT_PARAMETERS:
            old = argument_of(base.call, base.qualname, parameter)
            new = argument_of(head.call, head.qualname, parameter)
            if old is None or new is None or not old.same_as(new, ctx.renames):
                continue  # an argument change: value_changes reports it
            base_slice = backward_slice(ctx.base, base.index, old)
            head_slice = backward_slice(ctx.head, head.index, new)
            if not (touched_base & set(base_slice) or touched_head & set(head_slice)):
                continue
            base_only, head_only = differing_lines(ctx, base_slice, head_slice)
            base_only = [i for i in base_only if i in touched_base]
            head_only = [i for i in head_only if i in touched_head]
            if base_only or head_only:
                out.append((base, head, parameter, base_only, head_only))
    return out


class LossArgumentsChanged(ValueRule, Rule):
    """An argument of the loss changed: ``reduction``, ``weight`` / ``pos_weight``,
    ``label_smoothing``, ``ignore_index``, ``beta`` / ``delta``..., or the class-weight tensor
    that is passed to it is built differently.

    ``reduction='sum'`` instead of ``'mean'`` multiplies the gradient by the batch size (and the
    effective learning rate with it); a different ``ignore_index`` makes padding count; class
    weights and label smoothing change what the model is pushed towards. Respelling the
    deprecated ``size_average`` / ``reduce`` flags as the same ``reduction`` is not reported.
    """

    code = "ML502"
    family = "loss"
    name = "loss-arguments"
    summary = "Loss argument changed (reduction, weight, label_smoothing, ignore_index...)"
    topics = ("loss_arg",)
    examples = (
        Example(
            before="import torch.nn as nn\ncriterion = nn.CrossEntropyLoss()\n",
            after="import torch.nn as nn\ncriterion = nn.CrossEntropyLoss(label_smoothing=0.1)\n",
            expect=(Expect(2, "CrossEntropyLoss label_smoothing set to 0.1"),),
        ),
        Example(
            before="import torch.nn.functional as F\nloss = F.cross_entropy(logits, y, ignore_index=-1)\n",
            after="import torch.nn.functional as F\nloss = F.cross_entropy(logits, y, ignore_index=0)\n",
            expect=(Expect(2, "F.cross_entropy ignore_index -1 -> 0"),),
        ),
        Example(
            before="import torch\nimport torch.nn as nn\n\ndef criterion(n, pad):\n    weight = torch.ones(n)\n"
                   "    weight[pad] = 0\n    return nn.NLLLoss(weight, reduction='sum')\n",
            after="import torch\nimport torch.nn as nn\n\ndef criterion(n, pad):\n    weight = torch.ones(n)\n"
                  "    weight[pad] = 0.5\n    return nn.NLLLoss(weight, reduction='sum')\n",
            expect=(Expect(6, "class weights passed to NLLLoss (weight) built differently: weight[pad] = 0.5"),),
        ),
        Example(  # the deprecated flag respelled as the same reduction
            before="import torch.nn.functional as F\nbce = F.binary_cross_entropy(recon, x, size_average=False)\n",
            after="import torch.nn.functional as F\nbce = F.binary_cross_entropy(recon, x, reduction='sum')\n",
        ),
        Example(  # inputs reshaped differently, same loss arguments
            before="import torch.nn.functional as F\nloss = F.cross_entropy(logits.view(-1, V), y.view(-1))\n",
            after="import torch.nn.functional as F\nloss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))\n",
        ),
        Example(  # the loss value divided for gradient accumulation is not a loss argument
            before="loss = criterion(out, y)\n",
            after="loss = criterion(out, y) / accum_steps\n",
            expect=(Expect(1, "loss scaled by 1/accum_steps", code="ML602"),),
        ),
    )

    def message(self, value_change: ValueChange) -> str:
        return value_change.describe().replace("functional.", "F.", 1)

    def accepts(self, ctx: Context, value_change: ValueChange) -> bool:
        if is_test_file(ctx.path) or is_placeholder(value_change):
            return False
        if not isinstance(ctx, PythonContext) or value_change.kind != "argument":
            return True
        if value_change.subject.rsplit(" ", 1)[-1] in _LEGACY_REDUCTION:
            return not any(span_contains(span, value_change.span)
                           for span in ctx.fact("loss.same_reduction", lambda: _equivalent_reduction_spans(ctx)))
        return True

    def swaps(self, ctx: PythonContext) -> list[tuple]:
        return loss_pairs(ctx)

    def swap_kind(self, site: CallSite) -> object:
        return loss_site_kind(site)

    def check(self, ctx: Context) -> Iterator[Finding]:
        yield from super().check(ctx)
        if not isinstance(ctx, PythonContext) or is_test_file(ctx.path):
            return
        for base, head, parameter, base_only, head_only in weight_changes(ctx):
            related = (Related(site_span(ctx, head), f"passed to {head.short} here"),)
            span, detail, line, _, _ = describe_difference(ctx, base_only, head_only)
            changed_line = ctx.head.index_at(span.line - 1)
            if changed_line < 0 or ctx.head.unit(changed_line).error is not None:
                span = site_span(ctx, head)  # the edited line does not parse: point at the loss it feeds
            yield self.report(ctx, span,
                              f"class weights passed to {head.short} ({parameter}) built differently: {detail}",
                              base_line=line, related=related)
