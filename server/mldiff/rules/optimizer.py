"""optimizer: optimizer class, weight decay, betas, momentum, eps, fused/foreach, parameter groups,
which parameters train."""
from __future__ import annotations

import re
from typing import Iterator, cast

from mldiff.analysis.filekinds import is_test_file
from mldiff.analysis.module import ModuleView
from mldiff.analysis.statements import CallFact
from mldiff.analysis.values import Value, shorten
from mldiff.facts.anchors import anchor, base_line, site_span
from mldiff.facts.context import Context, PythonContext
from mldiff.facts.deltas import statement_deltas
from mldiff.facts.delta import ValueChange
from mldiff.facts.equivalence import differing_lines
from mldiff.facts.flows import backward_slice, calls_in_touched_scopes, find_defs
from mldiff.facts.pairing import inside_swapped_call, paired_calls, scope_key
from mldiff.facts.render import READER, render_call
from mldiff.facts.sites import CallSite, argument_changes, argument_of
from mldiff.facts.value_changes import is_placeholder, value_changes
from mldiff.findings import Finding, Related
from mldiff.knowledge import apis
from mldiff.rules.base import Example, Expect, Rule
from mldiff.rules.reporting import describe_difference, report_added_or_removed, report_value_change
from mldiff.rules.values import VALUE_FILE_KINDS, ValueRule

_OTHER_OPTIMIZERS = re.compile(
    r"^(?:Lion\w*|LAMB|Lamb|FusedAdam|FusedLAMB|FusedSGD|Adafactor|AdaBelief|AdamP|SGDP|Muon\w*|Shampoo|"
    r"Sophia\w*|Prodigy|DAdapt\w+|\w*Adam\w*8bit|PagedAdam\w*|Ranger\w*|Lookahead|NovoGrad|MADGRAD|Adan|SOAP|"
    r"\w*ScheduleFree\w*|ZeroRedundancyOptimizer|create_optimizer(?:_v2)?)$")
_FACTORIES = frozenset({"create_optimizer_v2", "create_optimizer"})


def is_optimizer_call(qualname: str, call: CallFact, view: ModuleView) -> bool:
    """An optimizer being built: torch's, a library's, or a class of the file that subclasses Optimizer."""
    if call.in_lambda_or_def:
        return False
    last = qualname.rsplit(".", 1)[-1]
    if ".swa_utils." in qualname or last.startswith("Averaged") or last.endswith(("LR", "Scheduler")):
        return False  # AveragedModel, SWALR: weight averaging and its schedule
    if apis.is_optimizer(qualname):
        return True
    if call.receiver is not None and call.receiver.split(".", 1)[0] not in view.aliases:
        return False
    if _OTHER_OPTIMIZERS.match(last):
        return True
    if "." not in qualname and last[:1].isupper():
        return any(base.endswith("Optimizer") for header in find_defs(view, last, "class")
                   for base in view.facts(header).bases)
    return False


def optimizer_class(site: CallSite) -> str:
    """``AdamW`` for ``torch.optim.AdamW(...)``; the ``opt`` choice for timm's factory."""
    last = site.qualname.rsplit(".", 1)[-1]
    if last in _FACTORIES:
        choice = argument_of(site.call, site.qualname, "opt")
        if choice is not None:
            return f"{last}({choice.code})"
    return last


def _key(ctx: PythonContext, site: CallSite) -> tuple:
    return scope_key(ctx, site, "optimizer")


def optimizer_pairs(ctx: PythonContext) -> list[tuple]:
    return paired_calls(ctx, is_optimizer_call, "optimizer")


class OptimizerClassChanged(Rule[Context]):
    """The optimizer changed class (``SGD`` -> ``AdamW``), was added or removed, or a string
    choice of optimizer changed (``optimizer = 'adamw'``, ``--optim`` default).

    Optimizers differ in how they scale updates: Adam's per-parameter scaling makes a learning
    rate tuned for SGD far too large, ``Adam(weight_decay=...)`` is L2 regularization while
    ``AdamW`` decouples it, and momentum/betas do not carry over. Check the learning rate,
    weight decay and schedule together with the new class, and that checkpoints saved with
    the old optimizer's state are not loaded into the new one.
    """

    code = "ML401"
    family = "optimizer"
    name = "optimizer-class"
    summary = "Optimizer class (or optimizer choice) changed, optimizer added or removed"
    file_kinds = VALUE_FILE_KINDS  # `optimizer: adamw` in a YAML config is a choice too
    examples = (
        Example(
            before="import torch.optim as optim\nopt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)\n",
            after="import torch.optim as optim\nopt = optim.AdamW(model.parameters(), lr=0.1)\n",
            expect=(Expect(2, "optimizer SGD -> AdamW"),),
        ),
        Example(
            before="import argparse\np = argparse.ArgumentParser()\np.add_argument('--optimizer', default='sgd')\n",
            after="import argparse\np = argparse.ArgumentParser()\np.add_argument('--optimizer', default='adamw')\n",
            expect=(Expect(3, "--optimizer default 'sgd' -> 'adamw'"),),
        ),
        Example(
            before="from timm.optim import create_optimizer_v2\nopt = create_optimizer_v2(model, 'sgd', lr=0.1)\n",
            after="from timm.optim import create_optimizer_v2\nopt = create_optimizer_v2(model, 'lamb', lr=0.1)\n",
            expect=(Expect(2, "optimizer create_optimizer_v2('sgd') -> create_optimizer_v2('lamb')"),),
        ),
        Example(
            before="import torch\n\ndef configure(model):\n    return None\n",
            after="import torch\n\ndef configure(model):\n"
                  "    return torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95))\n",
            expect=(Expect(4, "optimizer AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95)) added"),),
        ),
        Example(  # the optimizer kept in an attribute instead of a local: same optimizer
            before="import torch\noptimizer = torch.optim.Adam(model.parameters(), lr=1e-3)\noptimizer.step()\n",
            after="import torch\nself.optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)\nself.optimizer.step()\n",
        ),
        Example(  # the script's code moved into main(): the same optimizer, nothing added or removed
            before="import torch.optim as optim\nseq = Sequence()\noptimizer = optim.LBFGS(seq.parameters(), lr=0.8)\n",
            after="import torch.optim as optim\n\ndef main():\n    seq = Sequence()\n"
                  "    optimizer = optim.LBFGS(seq.parameters(), lr=0.8)\n",
        ),
        Example(  # the import style changed, the class did not
            before="import torch\nopt = torch.optim.AdamW(params, lr=1e-3)\n",
            after="from torch.optim import AdamW\nopt = AdamW(params, lr=1e-3)\n",
        ),
        Example(  # help text of the optimizer option
            before="import argparse\np = argparse.ArgumentParser()\np.add_argument('--opt', default='sgd', help='optimizer')\n",
            after="import argparse\np = argparse.ArgumentParser()\n"
                  "p.add_argument('--opt', default='sgd', help='optimizer: sgd | adamw')\n",
        ),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        if is_test_file(ctx.path):
            return
        if isinstance(ctx, PythonContext):
            for base, head in optimizer_pairs(ctx):
                one_sided = report_added_or_removed(self, ctx, base, head, "optimizer")
                if one_sided is not None:
                    yield one_sided
                elif optimizer_class(base) != optimizer_class(head):
                    yield self.report(ctx, site_span(ctx, head),
                                      f"optimizer {optimizer_class(base)} -> {optimizer_class(head)}: "
                                      f"{render_call(head, READER, 70)}",
                                      base_line=base_line(ctx, base), before=render_call(base, READER, 200),
                                      after=render_call(head, READER, 200))
        for value_change in value_changes(ctx):
            if value_change.family == "optimizer" and value_change.topic == "optimizer_choice":
                if isinstance(ctx, PythonContext) and inside_swapped_call(ctx, value_change.span, optimizer_pairs,
                                                                          optimizer_class):
                    continue
                yield report_value_change(self, ctx, value_change)


class OptimizerHyperparameterChanged(ValueRule, Rule):
    """An optimizer setting other than the learning rate changed: ``weight_decay``, ``betas``,
    ``momentum``, ``eps``, ``nesterov``, ``amsgrad``, ``fused`` / ``foreach``, as an argument or
    as a setting that flows into one.

    Weight decay and momentum change what the optimizer converges to; ``beta2`` and ``eps``
    change Adam's stability (a larger beta2 reacts slowly to loss spikes, a tiny eps can blow
    up updates in fp16); ``fused``/``foreach`` change the kernels and their numerics. Check
    the value against the recipe the model follows, and that the learning rate still fits.
    """

    code = "ML402"
    family = "optimizer"
    name = "optimizer-hyperparameter"
    summary = "Optimizer hyperparameter changed (weight decay, betas, momentum, eps, fused...)"
    topics = ("optimizer_hparam",)
    examples = (
        Example(
            before="import torch\nopt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)\n",
            after="import torch\nopt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)\n",
            expect=(Expect(2, "SGD weight_decay 5e-4 -> 1e-4"),),
        ),
        Example(
            before="weight_decay = 1e-1\nbeta1 = 0.9\nbeta2 = 0.95\n",
            after="weight_decay = 1e-1\nbeta1 = 0.9\nbeta2 = 0.99\n",
            expect=(Expect(3, "beta2 0.95 -> 0.99"),),
        ),
        Example(
            before="import torch\nopt = torch.optim.AdamW(params, lr=1e-3)\n",
            after="import torch\nopt = torch.optim.AdamW(params, lr=1e-3, fused=True)\n",
            expect=(Expect(2, "AdamW fused set to True"),),
        ),
        Example(  # positional and keyword spellings of the same momentum
            before="import torch\nopt = torch.optim.SGD(params, 0.1, 0.9)\n",
            after="import torch\nopt = torch.optim.SGD(params, lr=0.1, momentum=0.9)\n",
        ),
        Example(  # a comment about weight decay
            before="weight_decay = 0.05\n",
            after="weight_decay = 0.05  # as in DeiT\n",
        ),
        Example(  # logging the optimizer's settings
            before="import torch\nopt = torch.optim.AdamW(params, weight_decay=0.1)\n",
            after="import torch\nopt = torch.optim.AdamW(params, weight_decay=0.1)\n"
                  "print(f\"weight decay {opt.defaults['weight_decay']}\")\n",
        ),
    )

    def swaps(self, ctx: PythonContext) -> list[tuple]:
        return optimizer_pairs(ctx)

    def swap_kind(self, site: CallSite) -> object:
        return optimizer_class(site)

    def accepts(self, ctx: Context, value_change: ValueChange) -> bool:
        if is_test_file(ctx.path) or is_placeholder(value_change):
            return False
        if not isinstance(ctx, PythonContext):
            return True
        if value_change.kind == "argument":
            return True
        head_lines, base_lines = ctx.fact("optimizer.group_lines", lambda: _group_structure_lines(ctx))
        if value_change.new is not None and value_change.span.line in head_lines:
            return False
        return not (value_change.base_line is not None and value_change.base_line in base_lines)


# -- parameter groups -----------------------------------------------------------------------------------
_OPTIMIZER_TEXT = re.compile(r"\b(?:optim\.\w+|SGD|Adam\w*|RMSprop|Adagrad|Adadelta|Adamax|NAdam|RAdam|LBFGS|ASGD|"
                             r"Rprop|Adafactor|Lion\w*|LAMB|Lamb|Fused\w+|Muon\w*|Sophia\w*|create_optimizer\w*|"
                             r"ZeroRedundancyOptimizer|[A-Z]\w*Optimizer)\s*\(")
# substrings of _OPTIMIZER_TEXT's matches: a cheap test of a scope before the regex scan
_OPTIMIZER_WORDS = ("optim.", "Optimizer(", "SGD", "Adam", "RMSprop", "Adagrad", "Adadelta", "LBFGS", "Rprop",
                    "Lion", "LAMB", "Lamb", "Muon", "Sophia", "Adafactor", "create_optimizer")


def _params_value(site: CallSite) -> Value | None:
    """What the optimizer is given to train: ``params`` (torch), ``model_or_params`` (timm), ``model``
    (timm's legacy ``create_optimizer(args, model)``, whose first argument is the settings), else
    the first positional argument of an optimizer the table does not know."""
    for name in ("params", "model_or_params", "model"):
        value = argument_of(site.call, site.qualname, name)
        if value is not None:
            return value
    if apis.parameters(site.qualname):
        return None
    return site.call.args[0] if site.call.args else None


def _group_slice(view: ModuleView, site: CallSite) -> list[int]:
    """Lines that build the optimizer's params argument, without the model itself and without
    plain hyperparameter settings (those are ML402's)."""
    value = _params_value(site)
    if value is None:
        return []
    lines = backward_slice(view, site.index, value, skip=_MODEL_NAME)
    return [i for i in lines if not _is_plain_setting(view, i) and not _reads_model_only(view, i)]


# the model itself (``create_optimizer_v2(model, ...)``): how it is built is not how its groups are
_MODEL_NAME = re.compile(r"^(?:\w*model\w*|net|\w*_net|network|module|\w*_module)$", re.I)


def _is_plain_setting(view: ModuleView, index: int) -> bool:
    """``weight_decay = 0.1``, ``prefix_type = 'soft'``: a setting with a scalar value (a value
    rule reports it when it is a hyperparameter), not the construction of the groups."""
    bindings = view.facts(index).bindings
    return bool(bindings) and all(
        b.value is not None and b.value.is_literal and not isinstance(b.value.literal, (tuple, list, dict, set))
        for b in bindings)


def _reads_model_only(view: ModuleView, index: int) -> bool:
    """``model = GPT(config)``: building the model is not building the groups."""
    facts = view.facts(index)
    return any(b.name in ("model", "net", "raw_model", "module") for b in facts.bindings)


def group_changes(ctx: PythonContext) -> list[tuple[CallSite | None, CallSite, list[int], list[int], str]]:
    """(base optimizer, head optimizer, base-only lines, head-only lines, params text change) for
    each optimizer whose parameter groups are built differently."""
    return ctx.fact("optimizer.groups", lambda: _group_changes(ctx))


def _group_changes(ctx: PythonContext):
    base_sites = calls_in_touched_scopes(ctx, "base", _OPTIMIZER_TEXT, is_optimizer_call, _OPTIMIZER_WORDS)
    head_sites = calls_in_touched_scopes(ctx, "head", _OPTIMIZER_TEXT, is_optimizer_call, _OPTIMIZER_WORDS)
    if not base_sites or not head_sites:
        return []
    from mldiff.facts.pairing import pair
    pairs = pair(base_sites, head_sites, lambda site: _key(ctx, site), lambda b, h: True)
    touched = {"base": set(ctx.touched_base), "head": set(ctx.touched_head)}
    out = []
    for base, head in pairs:
        if base is None or head is None or optimizer_class(base) != optimizer_class(head):
            continue
        params_change = ""
        direct = argument_changes(ctx, base, head, only=("params",)) if base.index in touched["base"] or \
            head.index in touched["head"] else []
        if not direct and _params_value(base) is not None and _params_value(head) is not None \
                and not cast(Value, _params_value(base)).same_as(_params_value(head), ctx.renames) \
                and (base.index in touched["base"] or head.index in touched["head"]):
            direct = [("params", _params_value(base), _params_value(head))]
        if direct:
            _, old, new = direct[0]
            before, after = old.code if old else "(none)", new.code if new else "(none)"
            params_change = f"{shorten(before, 40)} -> {shorten(after, 40)}"
        base_slice = _group_slice(ctx.base, base)
        head_slice = _group_slice(ctx.head, head)
        if not (touched["base"] & set(base_slice) or touched["head"] & set(head_slice)) and not params_change:
            continue
        base_only, head_only = differing_lines(ctx, base_slice, head_slice)
        base_only = [i for i in base_only if i in touched["base"]]
        head_only = [i for i in head_only if i in touched["head"]]
        if base_only or head_only or params_change:
            out.append((base, head, base_only, head_only, params_change))
    return out


def _group_structure_lines(ctx: PythonContext) -> tuple[set[int], set[int]]:
    head_lines: set[int] = set()
    base_lines: set[int] = set()
    for _, _, base_only, head_only, _ in group_changes(ctx):
        head_lines.update(ctx.head.logical[i].start + 1 for i in head_only)
        base_lines.update(ctx.base.logical[i].start + 1 for i in base_only)
    return head_lines, base_lines


class ParameterGroupsChanged(Rule[PythonContext]):
    """What the optimizer receives as parameters changed: the parameter groups (which tensors get
    weight decay, per-group learning rates), the filters that build them (no-decay name lists,
    module-type white/black lists, ``p.dim() >= 2``), or the params argument itself (a frozen
    backbone, ``model.head.parameters()``).

    Decaying LayerNorm gains and biases, or no longer decaying embeddings, changes the
    regularization silently; a parameter that falls out of every group is never trained. Check
    that each parameter lands in exactly one group with the intended weight decay and learning
    rate (``sum(p.numel() for g in optimizer.param_groups for p in g['params'])`` against the model).
    """

    code = "ML403"
    family = "optimizer"
    name = "parameter-groups"
    summary = "Parameter groups or the params passed to the optimizer changed"
    examples = (
        Example(
            before="import torch\n\ndef configure(model, wd):\n"
                   "    decay = [p for n, p in model.named_parameters() if not n.endswith('bias')]\n"
                   "    no_decay = [p for n, p in model.named_parameters() if n.endswith('bias')]\n"
                   "    groups = [{'params': decay, 'weight_decay': wd}, {'params': no_decay, 'weight_decay': 0.0}]\n"
                   "    return torch.optim.AdamW(groups, lr=1e-3)\n",
            after="import torch\n\ndef configure(model, wd):\n"
                  "    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]\n"
                  "    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]\n"
                  "    groups = [{'params': decay, 'weight_decay': wd}, {'params': no_decay, 'weight_decay': 0.0}]\n"
                  "    return torch.optim.AdamW(groups, lr=1e-3)\n",
            expect=(Expect(4, "parameter groups of AdamW built differently: decay = [p for n, p in"),),
        ),
        Example(
            before="import torch\nopt = torch.optim.SGD(model.parameters(), lr=0.01)\n",
            after="import torch\nopt = torch.optim.SGD(model.fc.parameters(), lr=0.01)\n",
            expect=(Expect(2, "params of SGD model.parameters() -> model.fc.parameters()"),),
        ),
        Example(
            before="import torch\nno_decay = ['bias', 'LayerNorm.weight']\n"
                   "groups = [{'params': [p for n, p in model.named_parameters() if not any(nd in n for nd in no_decay)]}]\n"
                   "opt = torch.optim.AdamW(groups, lr=5e-5)\n",
            after="import torch\nno_decay = ['bias']\n"
                  "groups = [{'params': [p for n, p in model.named_parameters() if not any(nd in n for nd in no_decay)]}]\n"
                  "opt = torch.optim.AdamW(groups, lr=5e-5)\n",
            expect=(Expect(2, "parameter groups of AdamW built differently: no_decay = ['bias']"),),
        ),
        Example(  # the model's construction changed, not the groups
            before="import torch\nmodel = Net(width=64)\nopt = torch.optim.SGD(model.parameters(), lr=0.1)\n",
            after="import torch\nmodel = Net(width=64, verbose=True)\nopt = torch.optim.SGD(model.parameters(), lr=0.1)\n",
        ),
        Example(  # printing group sizes, and a comment
            before="import torch\ngroups = [{'params': decay}, {'params': rest, 'weight_decay': 0.0}]\n"
                   "opt = torch.optim.AdamW(groups)\n",
            after="import torch\n# two groups: decayed and not\ngroups = [{'params': decay}, {'params': rest, 'weight_decay': 0.0}]\n"
                  "print(f'{len(decay)} decayed tensors')\nopt = torch.optim.AdamW(groups)\n",
        ),
        Example(  # a setting read from a config object instead of a global: same groups
            before="import torch\ngroups = [{'params': decay, 'weight_decay': weight_decay}]\n"
                   "opt = torch.optim.AdamW(groups)\n",
            after="import torch\ngroups = [{'params': decay, 'weight_decay': config.weight_decay}]\n"
                  "opt = torch.optim.AdamW(groups)\n",
        ),
    )

    def check(self, ctx: PythonContext) -> Iterator[Finding]:
        if not isinstance(ctx, PythonContext) or is_test_file(ctx.path):
            return
        for base, head, base_only, head_only, params_change in group_changes(ctx):
            name = optimizer_class(head)
            related = (Related(site_span(ctx, head), f"{name} built here"),)
            if params_change and not base_only and not head_only:
                yield self.report(ctx, site_span(ctx, head), f"params of {name} {params_change}",
                                  base_line=base_line(ctx, base), related=related)
                continue
            span, detail, line, before, after = describe_difference(ctx, base_only, head_only)
            yield self.report(ctx, span, f"parameter groups of {name} built differently: {detail}",
                              base_line=line, before=before, after=after, related=related)


class TrainableParametersChanged(Rule):
    """Which parameters train changed: ``requires_grad`` set to False (a frozen backbone, frozen
    embeddings) or back to True, added, removed, flipped, moved to other parameters, or now under
    another condition.

    A frozen tensor gets no gradient and no update: the optimizer skips it, weight decay no
    longer shrinks it, and a model that fine-tuned end to end now trains only its head (or the
    other way round: unfreezing a pretrained backbone at full learning rate can wreck it in a
    few steps). Check the count of trainable parameters, ``sum(p.numel() for p in
    model.parameters() if p.requires_grad)``, before and after.
    """

    code = "ML404"
    family = "optimizer"
    name = "trainable-parameters"
    summary = "Parameters frozen or unfrozen (requires_grad) added, removed, flipped or moved"
    examples = (
        Example(
            before="import torch\nmodel = build()\nopt = torch.optim.AdamW(model.parameters(), lr=1e-4)\n",
            after="import torch\nmodel = build()\nfor p in model.backbone.parameters():\n    p.requires_grad = False\n"
                  "opt = torch.optim.AdamW(model.parameters(), lr=1e-4)\n",
            expect=(Expect(4, "model.backbone frozen (requires_grad = False)"),),
        ),
        Example(
            before="import torch\nmodel = build()\nmodel.encoder.requires_grad_(False)\n",
            after="import torch\nmodel = build()\nif args.freeze_encoder:\n    model.encoder.requires_grad_(False)\n",
            expect=(Expect(4, "model.encoder frozen now only when args.freeze_encoder"),),
        ),
        Example(
            before="import torch\nmodel = build()\nmodel.embed.requires_grad_(False)\n",
            after="import torch\nmodel = build()\nmodel.embed.requires_grad_(True)\n",
            expect=(Expect(3, "model.embed now trained (requires_grad True, was False)"),),
        ),
        Example(  # the loop variable renamed: the same parameters frozen
            before="import torch\nfor p in model.backbone.parameters():\n    p.requires_grad = False\n",
            after="import torch\nfor param in model.backbone.parameters():\n    param.requires_grad = False\n",
        ),
        Example(  # a buffer has no gradient: the line was a no-op
            before="class Norm(nn.Module):\n    def __init__(self, w):\n        self.register_buffer('weight', w)\n"
                   "        self.weight.requires_grad = False\n",
            after="class Norm(nn.Module):\n    def __init__(self, w):\n        self.register_buffer('weight', w)\n",
        ),
        Example(  # reading the flag (counting trainable parameters) freezes nothing
            before="import torch\nmodel = build()\n",
            after="import torch\nmodel = build()\nn = sum(p.numel() for p in model.parameters() if p.requires_grad)\n",
        ),
    )

    def check(self, ctx):
        if not isinstance(ctx, PythonContext):
            return
        for delta in statement_deltas(ctx):
            old = _freezing(ctx.base, delta.base) if delta.base is not None else None
            new = _freezing(ctx.head, delta.head) if delta.head is not None else None
            if old is None and new is None:
                continue
            if delta.kind == "context" and new is not None:
                text = f"{_what(new)} {delta.detail}"
            elif old is not None and new is not None:
                if old == new or (old[1] == new[1] and ctx.renames.get(old[0], old[0]) == new[0]):
                    continue
                if old[1] != new[1]:
                    text = f"{new[0]} now {'trained' if new[1] else 'frozen'} (requires_grad {new[1]}, was {old[1]})"
                else:
                    text = f"{_what(new)}, was {old[0]}"
            elif new is not None:
                text = _what(new) + (" (requires_grad = False)" if not new[1] else " (requires_grad = True)")
            else:
                assert old is not None
                text = f"{old[0]} no longer {'frozen' if not old[1] else 'set trainable'}"
            span = ctx.head.span(delta.head) if delta.head is not None else anchor(ctx, "base", delta.base_index)
            base = ctx.base.logical[delta.base].start + 1 if delta.base is not None else None
            yield self.report(ctx, span, text, base_line=base,
                              severity="warning" if (new is not None and not new[1]) or (old is not None and not old[1])
                              else "information")


def _what(freezing: tuple[str, bool]) -> str:
    return f"{freezing[0]} {'unfrozen' if freezing[1] else 'frozen'}"


def _freezing(view: ModuleView, index: int) -> tuple[str, bool] | None:
    """(the parameters' owner, requires_grad) when logical line ``index`` sets it: ``model.encoder.
    requires_grad_(False)``, or ``p.requires_grad = False`` in ``for p in model.backbone.parameters()``
    (the loop's object is the owner)."""
    facts = view.facts(index)
    for call in facts.calls:
        if call.method == "requires_grad_" and call.receiver and "(" not in call.receiver:
            value = call.args[0] if call.args else call.kwarg("requires_grad")
            if value is None:
                return call.receiver, True
            if value.is_literal and isinstance(value.literal, bool):
                return call.receiver, value.literal
    for binding in facts.bindings:
        if binding.target.endswith(".requires_grad") and binding.value is not None and binding.value.is_literal \
                and isinstance(binding.value.literal, bool):
            owner = binding.target[:-len(".requires_grad")]
            if _is_buffer(view, index, owner):
                return None  # a buffer has no gradient to switch off
            return _loop_owner(view, index, owner), binding.value.literal
    return None


def _is_buffer(view: ModuleView, index: int, owner: str) -> bool:
    """``self.weight`` registered with ``self.register_buffer("weight", ...)`` in the same function."""
    if not owner.startswith("self.") or owner.count(".") != 1:
        return False
    function = view.enclosing_def(index)
    if function < 0:
        return False
    for line in view.block(function):
        for call in view.facts(line).calls:
            if call.method == "register_buffer" and call.args and call.args[0].is_literal \
                    and call.args[0].literal == owner[len("self."):]:
                return True
    return False


def _loop_owner(view: ModuleView, index: int, name: str) -> str:
    """``model.backbone`` for ``p`` of ``for p in model.backbone.parameters()`` (or ``named_parameters``)."""
    for ancestor in view.ancestors(index):
        facts = view.facts(ancestor)
        if view.logical[ancestor].keyword == "for" and facts.loop_iter is not None and facts.loop_target \
                and name in facts.loop_target.replace("(", " ").replace(")", " ").replace(",", " ").split():
            code = facts.loop_iter.code
            for suffix in (".parameters()", ".named_parameters()"):
                if code.endswith(suffix):
                    return code[:-len(suffix)]
            return code
    return name
