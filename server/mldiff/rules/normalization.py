"""normalization: Normalize transforms, normalization layers, input scaling."""
from __future__ import annotations

import re

import libcst as cst

from mldiff.analysis import apis
from mldiff.analysis.change import PythonChange
from mldiff.analysis.module import ModuleView
from mldiff.analysis.statements import CallFact
from mldiff.analysis.values import dotted_name, node_code, shorten
from mldiff.rules.base import Example, Expect, Rule
from mldiff.rules.common import (CallSite, argument_changes, base_line, binding_base_line, binding_span, call_sites,
                                 pair, pair_bindings, pair_calls, restore_fix, site_span, value_text)
from mldiff.rules.dataflow import (differing_lines, find_defs, is_test_file, matching_def, per_change, removed_span,
                                   span_contains)
from mldiff.rules.roles import ValueChange, ValueRule


def _is_normalize(qualname, call, view) -> bool:
    return qualname in apis.NORMALIZE_TRANSFORMS


class NormalizeTransformChanged(Rule):
    """A ``Normalize`` transform was removed, added, or its mean/std changed.

    Inputs normalized differently from what the model was trained (or pre-trained)
    with shift every activation: accuracy drops without any error. Removing
    ``Normalize`` from only one of the train / eval pipelines is the classic silent
    mismatch. Check that training and evaluation transforms agree, and that mean/std
    match the data (ImageNet statistics for pre-trained backbones).
    """

    code = "ML201"
    family = "normalization"
    name = "normalize-transform"
    summary = "Normalize transform removed, added, or its mean/std changed"
    examples = (
        Example(
            before="from torchvision import transforms\n"
                   "transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])\n",
            after="from torchvision import transforms\n"
                  "transform = transforms.ToTensor()\n",
            expect=(Expect(2, "transforms.Normalize((0.5,), (0.5,)) removed"),),
        ),
        Example(
            before="import torchvision.transforms as T\n"
                   "tf = T.Compose([\n    T.ToTensor(),\n    T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),\n])\n",
            after="import torchvision.transforms as T\n"
                  "tf = T.Compose([\n    T.ToTensor(),\n    T.Normalize(mean=[0.5, 0.5, 0.5], std=[0.229, 0.224, 0.225]),\n])\n",
            expect=(Expect(4, "mean [0.485, 0.456, 0.406] -> [0.5, 0.5, 0.5]"),),
        ),
        Example(
            before="from torchvision import transforms\n"
                   "tf = transforms.Compose([transforms.ToTensor()])\n",
            after="from torchvision import transforms\n"
                  "tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])\n",
            expect=(Expect(2, "Normalize((0.1307,), (0.3081,)) added"),),
        ),
        Example(  # formatting only: same values, different layout and number spelling
            before="from torchvision import transforms\n"
                   "tf = transforms.Normalize((0.5,), (0.5,))\n",
            after="from torchvision import transforms\n"
                  "tf = transforms.Normalize(\n    (0.50,),\n    (5e-1,),  # per channel\n)\n",
        ),
        Example(  # moved to another line with the same arguments
            before="from torchvision import transforms\nx = 1\n"
                   "norm = transforms.Normalize((0.5,), (0.5,))\n",
            after="from torchvision import transforms\n"
                  "norm = transforms.Normalize((0.5,), (0.5,))\nx = 1\n",
        ),
        Example(  # a comment mentioning Normalize
            before="from torchvision import transforms\n# we use Normalize here\ntf = transforms.ToTensor()\n",
            after="from torchvision import transforms\n# Normalize is applied later\ntf = transforms.ToTensor()\n",
        ),
    )

    def check(self, change):
        for base, head in pair_calls(change, _is_normalize):
            if base is not None and head is None:
                code = f"{base.short}{_args(base)}"
                yield self.report(
                    change, site_span(change, base), f"{code} removed",
                    base_line=base_line(change, base), before=code, after=None,
                    fixes=[f for f in [restore_fix(change, base.index, "Restore the removed lines from the base")]
                           if f],
                )
            elif head is not None and base is None:
                code = f"{head.short}{_args(head)}"
                yield self.report(change, site_span(change, head), f"{code} added", before=None, after=code)
            elif base is not None and head is not None:
                changes = argument_changes(change, base, head, only=("mean", "std", "tensor_mean"))
                if changes:
                    parts = [f"{name} {value_text(old)} -> {value_text(new)}" for name, old, new in changes]
                    yield self.report(
                        change, site_span(change, head), f"{head.short} " + ", ".join(parts),
                        base_line=base_line(change, base), before=f"{base.short}{_args(base)}",
                        after=f"{head.short}{_args(head)}",
                    )


def _args(site) -> str:
    from mldiff.analysis.values import node_code
    code = node_code(site.call.node)
    return code[code.index("("):] if "(" in code else "(...)"


# -- normalization layers ------------------------------------------------------------------------------------
_LOCAL_NORM = re.compile(r"Norm(?!al)")
_NORM_REFERENCE_KWARGS = re.compile(r"^(?:norm_?layer|norm|norm_?cls|norm_?fn|normalization|norm_?type|"
                                    r"\w*_norm_layer|\w*_norm)$")


def _local_norm_classes(view: ModuleView) -> set[str]:
    """Classes of this file whose name says they normalize (``LayerNorm``, ``RMSNorm``, ``LayerNormNoBias``)."""
    cache = view.__dict__.get("_mldiff_norm_classes")
    if cache is None:
        names = re.findall(r"^[ \t]*class[ \t]+(\w+)", view.text, re.M)
        cache = {name for name in names if _LOCAL_NORM.search(name)}
        view.__dict__["_mldiff_norm_classes"] = cache
    return cache


def is_norm_call(qualname: str, call: CallFact, view: ModuleView) -> bool:
    if call.in_lambda_or_def:
        return False
    local = _local_norm_classes(view)
    if "." not in qualname and qualname in local:
        return True
    if call.receiver is not None and call.receiver.split(".", 1)[0] not in view.aliases:
        return False
    return apis.is_norm_layer(qualname, local)


def _norm_key(change: PythonChange, site: CallSite) -> tuple:
    scope = change.view(site.side).scope_names(site.index)
    if site.side == "base":
        scope = tuple(change.renames.get(name, name) for name in scope)
    return ("functional" if site.qualname.startswith("torch.nn.functional.") else "layer", scope)


def norm_pairs(change: PythonChange) -> list[tuple]:
    return per_change(change, "normalization.norm_pairs",
                      lambda c: pair_calls(c, is_norm_call, key=lambda site: _norm_key(c, site)))


def _call_text(site: CallSite, width: int = 55) -> str:
    code = node_code(site.call.node)
    arguments = code[code.index("("):] if "(" in code else "(...)"
    name = site.qualname
    short = "F." + name.rsplit(".", 1)[-1] if name.startswith("torch.nn.functional.") else name.rsplit(".", 1)[-1]
    return shorten(f"{short}{arguments}", width)


def _defined_here(view: ModuleView, qualname: str) -> str:
    if "." in qualname:
        return ""
    headers = find_defs(view, qualname, "class")
    return f" (class defined at line {view.logical[headers[0]].start + 1})" if headers else ""


def _is_norm_reference(view: ModuleView, value) -> str | None:
    """``nn.BatchNorm2d`` or ``partial(nn.LayerNorm, eps=1e-6)`` passed as a class: its text."""
    node = value.node if value is not None else None
    if node is None:
        return None
    if isinstance(node, cst.Call) and (dotted_name(node.func) or "").rsplit(".", 1)[-1] == "partial" and node.args:
        node = node.args[0].value
    name = dotted_name(node)
    if not name or "(" in name or "[" in name:
        return None
    qualname = apis.canonical(view.resolve(name))
    local = _local_norm_classes(view)
    if apis.is_norm_layer(qualname, local) and ("." in qualname or qualname in local):
        return value.code
    return None


def _norm_reference_changes(change: PythonChange):
    """(span, base line, old text, new text) where the norm class passed by reference changed."""
    out = []
    for base_site, head_site in pair_bindings(change, lambda b: _NORM_REFERENCE_KWARGS.match(b.name) is not None):
        if base_site is None or head_site is None:
            continue
        old, new = base_site.binding.value, head_site.binding.value
        if old is None or new is None or old.same_as(new, change.renames):
            continue
        if _is_norm_reference(change.base, old) or _is_norm_reference(change.head, new):
            out.append((binding_span(change, head_site), binding_base_line(change, base_site),
                        f"{head_site.binding.target} {shorten(old.code, 40)} -> {shorten(new.code, 40)}"))
    base_calls = [s for s in call_sites(change, "base", lambda q, c, v: any(_NORM_REFERENCE_KWARGS.match(k)
                                                                            for k, _ in c.kwargs))]
    head_calls = [s for s in call_sites(change, "head", lambda q, c, v: any(_NORM_REFERENCE_KWARGS.match(k)
                                                                            for k, _ in c.kwargs))]
    for base_site, head_site in pair(base_calls, head_calls, lambda s: (s.call.callee.rsplit(".", 1)[-1],),
                                     lambda b, h: True):
        if base_site is None or head_site is None:
            continue
        old_kwargs, new_kwargs = dict(base_site.call.kwargs), dict(head_site.call.kwargs)
        for name, old in old_kwargs.items():
            new = new_kwargs.get(name)
            if not _NORM_REFERENCE_KWARGS.match(name) or new is None or old.same_as(new, change.renames):
                continue
            if _is_norm_reference(change.base, old) or _is_norm_reference(change.head, new):
                span = change.head.span(head_site.index, new.node) if new.node is not None else site_span(change, head_site)
                out.append((span, base_line(change, base_site),
                            f"{head_site.call.method} {name}={shorten(old.code, 40)} -> {shorten(new.code, 40)}"))
    return out


def _norm_class_changes(change: PythonChange):
    """(head class header, base class header, base-only lines, head-only lines) of local norm classes."""
    out = []
    seen: set[int] = set()
    for index in change.touched_head:
        for ancestor in change.head.ancestors(index):
            ll = change.head.logical[ancestor]
            if ll.keyword != "class" or ancestor in seen:
                continue
            name = change.head.facts(ancestor).def_name or ""
            if not _LOCAL_NORM.search(name):
                continue
            seen.add(ancestor)
            base_header = matching_def(change, "head", ancestor)
            if base_header is None:
                continue
            base_only, head_only = differing_lines(change, change.base.block(base_header), change.head.block(ancestor))
            if base_only or head_only:
                out.append((ancestor, base_header, base_only, head_only))
    return out


class NormLayerChanged(ValueRule, Rule):
    """A normalization layer was added, removed or swapped (``BatchNorm2d`` -> ``GroupNorm``,
    ``nn.LayerNorm`` -> a custom LayerNorm), its ``eps`` / ``momentum`` / ``affine`` / ``bias``
    changed, the norm class passed as ``norm_layer=`` changed, or the body of a custom norm
    class of this file computes something else.

    Normalization layers decide the scale of every activation: BatchNorm depends on the batch
    (size, train/eval mode, SyncBatchNorm under DDP) while LayerNorm/GroupNorm do not; a bias-free
    LayerNorm or another ``eps`` changes the function the network computes, and pre-trained
    weights no longer fit. Check checkpoint compatibility and the batch size BatchNorm sees.
    """

    code = "ML202"
    family = "normalization"
    name = "norm-layer"
    summary = "Normalization layer added, removed, swapped, or its eps/momentum/affine/bias changed"
    topics = ("norm_arg",)
    examples = (
        Example(
            before="import torch.nn as nn\nclass Block(nn.Module):\n    def __init__(self, c):\n"
                   "        self.ln_1 = nn.LayerNorm(c)\n",
            after="import torch.nn as nn\nclass LayerNormNoBias(nn.Module):\n    pass\n\nclass Block(nn.Module):\n"
                  "    def __init__(self, c):\n        self.ln_1 = LayerNormNoBias(c)\n",
            expect=(Expect(7, "norm layer LayerNorm(c) -> LayerNormNoBias(c) (class defined at line 2)"),),
        ),
        Example(
            before="import torch.nn as nn\nlayers = [nn.Conv2d(3, 64, 3), nn.BatchNorm2d(64), nn.ReLU()]\n",
            after="import torch.nn as nn\nlayers = [nn.Conv2d(3, 64, 3), nn.ReLU()]\n",
            expect=(Expect(2, "norm layer BatchNorm2d(64) removed"),),
        ),
        Example(
            before="import torch.nn as nn\nbn = nn.BatchNorm2d(64, momentum=0.1)\n",
            after="import torch.nn as nn\nbn = nn.BatchNorm2d(64, momentum=0.01, eps=1e-3)\n",
            expect=(Expect(2, "BatchNorm2d momentum 0.1 -> 0.01"), Expect(2, "BatchNorm2d eps set to 1e-3")),
        ),
        Example(
            before="import torch.nn as nn\nnet = ResNet(norm_layer=nn.BatchNorm2d)\n",
            after="import torch.nn as nn\nnet = ResNet(norm_layer=nn.GroupNorm)\n",
            expect=(Expect(2, "ResNet norm_layer=nn.BatchNorm2d -> nn.GroupNorm"),),
        ),
        Example(
            before="import torch\nimport torch.nn.functional as F\nclass LayerNorm(torch.nn.Module):\n"
                   "    def forward(self, x):\n        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)\n",
            after="import torch\nimport torch.nn.functional as F\nclass LayerNorm(torch.nn.Module):\n"
                  "    def forward(self, x):\n        return F.layer_norm(x, self.weight.shape, self.weight, None, 1e-5)\n",
            expect=(Expect(5, "F.layer_norm bias self.bias -> None"),),
        ),
        Example(  # a docstring and a comment in a custom norm class
            before="import torch\nclass RMSNorm(torch.nn.Module):\n    def forward(self, x):\n"
                   "        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)\n",
            after="import torch\nclass RMSNorm(torch.nn.Module):\n    \"\"\"Root-mean-square norm.\"\"\"\n"
                  "    def forward(self, x):\n        # no mean subtraction\n"
                  "        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)\n",
        ),
        Example(  # the layer moved into a Sequential with the same arguments
            before="import torch.nn as nn\nself.bn = nn.BatchNorm2d(64)\nself.conv = nn.Conv2d(3, 64, 3)\n",
            after="import torch.nn as nn\nself.conv = nn.Conv2d(3, 64, 3)\nself.bn = nn.BatchNorm2d(64)\n",
        ),
        Example(  # Normalize is a transform (ML201), not a layer
            before="from torchvision import transforms\nnormalize = transforms.Normalize(mean, std)\n",
            after="from torchvision import transforms\nnormalize = transforms.Normalize(mean, std)  # ImageNet\n",
        ),
    )

    def message(self, value_change: ValueChange) -> str:
        return value_change.describe().replace("functional.", "F.", 1)

    def accepts(self, change, value_change: ValueChange) -> bool:
        if is_test_file(change.path):
            return False
        if isinstance(change, PythonChange) and value_change.kind == "argument":
            swapped = [site_span(change, h) for b, h in norm_pairs(change)
                       if b is not None and h is not None and b.qualname != h.qualname]
            return not any(span_contains(span, value_change.span) for span in swapped)
        return True

    def check(self, change):
        yield from super().check(change)
        if not isinstance(change, PythonChange) or is_test_file(change.path):
            return
        for base, head in norm_pairs(change):
            if base is not None and head is None:
                yield self.report(change, removed_span(change, base), f"norm layer {_call_text(base)} removed",
                                  base_line=base_line(change, base), before=_call_text(base, 200))
            elif head is not None and base is None:
                yield self.report(change, site_span(change, head), f"norm layer {_call_text(head)} added",
                                  after=_call_text(head, 200))
            elif base is not None and head is not None and base.qualname != head.qualname:
                yield self.report(change, site_span(change, head),
                                  f"norm layer {_call_text(base, 45)} -> {_call_text(head, 45)}"
                                  f"{_defined_here(change.head, head.qualname)}",
                                  base_line=base_line(change, base), before=_call_text(base, 200),
                                  after=_call_text(head, 200))
        for span, line, text in _norm_reference_changes(change):
            yield self.report(change, span, f"norm layer class {text}", base_line=line)
        explained = [f for f in super().check(change)]
        explained_head = {f.span.line for f in explained}
        explained_base = {f.base_line for f in explained if f.base_line is not None}
        for head_header, base_header, base_only, head_only in _norm_class_changes(change):
            name = change.head.facts(head_header).def_name
            head_only = [i for i in head_only if not _covers(change.head, i, explained_head)]
            base_only = [i for i in base_only if not _covers(change.base, i, explained_base)]
            if not head_only and not base_only:
                continue
            if head_only:
                detail = _statement(change.head, head_only[0])
                if base_only:
                    detail += f" (was {_statement(change.base, base_only[0], 45)})"
                span = change.head.span(head_only[0])
            else:
                detail = f"{_statement(change.base, base_only[0])} removed"
                span = change.head_anchor(change.base.logical[base_only[0]].start)
            yield self.report(change, span, f"custom norm layer {name} changed: {detail}",
                              base_line=change.base.logical[base_only[0]].start + 1 if base_only else None)


def _covers(view: ModuleView, index: int, lines: set[int]) -> bool:
    logical = view.logical[index]
    return any(logical.start < line <= logical.end for line in lines)


def _statement(view: ModuleView, index: int, width: int = 60) -> str:
    return shorten(" ".join(view.source(index).split()), width)
