"""normalization: Normalize transforms, normalization layers, input scaling."""
from __future__ import annotations

import ast
import re
from typing import Iterator

import libcst as cst

from mldiff.analysis.filekinds import is_test_file
from mldiff.analysis.module import ModuleView
from mldiff.analysis.statements import CallFact
from mldiff.analysis.values import dotted_name, shorten
from mldiff.facts.anchors import anchor, base_line, binding_base_line, binding_span, restore_fix, site_span
from mldiff.facts.context import Context, PythonContext, view_fact
from mldiff.facts.delta import ValueChange
from mldiff.facts.equivalence import differing_lines
from mldiff.facts.flows import find_defs, in_class_only_on_one_side, matching_def, scope_range
from mldiff.facts.pairing import pair, pair_bindings, pair_calls, paired_calls, scope_key
from mldiff.facts.render import API, TORCH, render_call, value_text
from mldiff.facts.sites import CallSite, argument_changes, call_sites
from mldiff.facts.syntax import ast_span, ast_statement
from mldiff.facts.value_changes import is_placeholder
from mldiff.findings import Finding
from mldiff.knowledge import apis
from mldiff.knowledge.names import classify_name
from mldiff.rules.base import Example, Expect, Rule
from mldiff.rules.reporting import describe_difference, report_added_or_removed
from mldiff.rules.values import ValueRule


def _is_normalize(qualname, call, view) -> bool:
    return qualname in apis.NORMALIZE_TRANSFORMS


class NormalizeTransformChanged(Rule[PythonContext]):
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
            expect=(Expect(2, "transforms.Normalize((0.5,), (0.5,)) removed", column=1,
                           fix="from torchvision import transforms\n"
                               "transform = transforms.Compose([transforms.ToTensor(), "
                               "transforms.Normalize((0.5,), (0.5,))])\n"),),
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

    def check(self, ctx: PythonContext) -> Iterator[Finding]:
        for base, head in pair_calls(ctx, _is_normalize):
            if base is not None and head is None:
                code = render_call(base, API, None)
                yield self.report(
                    ctx, site_span(ctx, base), f"{code} removed",
                    base_line=base_line(ctx, base), before=code, after=None,
                    fixes=[f for f in [restore_fix(ctx, base.index, "Restore the removed lines from the base")]
                           if f],
                )
            elif head is not None and base is None:
                code = render_call(head, API, None)
                yield self.report(ctx, site_span(ctx, head), f"{code} added", before=None, after=code)
            elif base is not None and head is not None:
                changes = argument_changes(ctx, base, head, only=("mean", "std", "tensor_mean"))
                if changes:
                    parts = [f"{name} {value_text(old)} -> {value_text(new)}" for name, old, new in changes]
                    yield self.report(
                        ctx, site_span(ctx, head), f"{head.short} " + ", ".join(parts),
                        base_line=base_line(ctx, base), before=render_call(base, API, None),
                        after=render_call(head, API, None),
                    )


# -- normalization layers ------------------------------------------------------------------------------------
# A class of the file that is a norm layer by name (``RMSNorm``, ``LayerNormNoBias``, ``Gemma4RMSNorm``),
# not one that merely contains one (``ConvNormAct``, ``EvaBlockPostNorm``).
_LOCAL_NORM = re.compile(r"(?:^|Layer|Batch|Group|Instance|RMS|Rms|Response|Frozen|Sync|Spectral|Adaptive|Ada|"
                         r"Scale|Power|Channel|Global|Simple|Fused|Conditional|Cond|Qk|QK|Pixel|Weight)Norm(?!al)"
                         r"(?!\w*(?:Mlp|Block|Head|Classifier|Conv|Attn|Attention|Net|Model|Encoder|Decoder|Stage|Stem))")
_NORM_REFERENCE_KWARGS = re.compile(r"^(?:norm_?layer|norm|norm_?cls|norm_?fn|normalization|norm_?type|"
                                    r"\w*_norm_layer|\w*_norm)$")


def _local_norm_classes(view: ModuleView) -> set[str]:
    """Classes of this file whose name says they normalize (``LayerNorm``, ``RMSNorm``, ``LayerNormNoBias``)."""
    def compute() -> set[str]:
        names = (_CLASS_NAME.match(view.source(index)) for index in view.lines_matching(_CLASS_NAME, ("class",)))
        return {match.group(1) for match in names if match is not None and _LOCAL_NORM.search(match.group(1))}
    return view_fact(view, "norm_classes", compute)


_CLASS_NAME = re.compile(r"^[ \t]*class[ \t]+(\w+)")


def is_norm_call(qualname: str, call: CallFact, view: ModuleView) -> bool:
    if call.in_lambda_or_def:
        return False
    local = _local_norm_classes(view)
    if "." not in qualname and qualname in local:
        return True
    if call.receiver is not None and call.receiver.split(".", 1)[0] not in view.aliases:
        return False
    return apis.is_norm_layer(qualname, local)


def _norm_key(ctx: PythonContext, site: CallSite) -> tuple:
    return scope_key(ctx, site, "functional" if site.qualname.startswith("torch.nn.functional.") else "layer")


def norm_pairs(ctx: PythonContext) -> list[tuple]:
    return paired_calls(ctx, is_norm_call,
                        lambda site: "functional" if site.qualname.startswith("torch.nn.functional.") else "layer")


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


def _norm_reference_changes(ctx: PythonContext):
    """(span, base line, old text, new text) where the norm class passed by reference changed."""
    out = []
    for base_site, head_site in pair_bindings(ctx, lambda b: _NORM_REFERENCE_KWARGS.match(b.name) is not None):
        if base_site is None or head_site is None:
            continue
        old, new = base_site.binding.value, head_site.binding.value
        if old is None or new is None or old.same_as(new, ctx.renames):
            continue
        if _is_norm_reference(ctx.base, old) or _is_norm_reference(ctx.head, new):
            out.append((binding_span(ctx, head_site), binding_base_line(ctx, base_site),
                        f"{head_site.binding.target} {shorten(old.code, 40)} -> {shorten(new.code, 40)}"))
    def passes_norm_class(qualname, call, view) -> bool:  # dict(norm_layer=...) is a binding, seen above
        return call.callee != "dict" and any(_NORM_REFERENCE_KWARGS.match(k) for k, _ in call.kwargs)

    base_calls = call_sites(ctx, "base", passes_norm_class)
    head_calls = call_sites(ctx, "head", passes_norm_class)
    for base_site, head_site in pair(base_calls, head_calls, lambda s: (s.call.callee.rsplit(".", 1)[-1],),
                                     lambda b, h: True):
        if base_site is None or head_site is None:
            continue
        old_kwargs, new_kwargs = dict(base_site.call.kwargs), dict(head_site.call.kwargs)
        for name, old in old_kwargs.items():
            new = new_kwargs.get(name)
            if not _NORM_REFERENCE_KWARGS.match(name) or new is None or old.same_as(new, ctx.renames):
                continue
            if _is_norm_reference(ctx.base, old) or _is_norm_reference(ctx.head, new):
                span = ctx.head.span(head_site.index, new.node) if new.node is not None else \
                    site_span(ctx, head_site)
                out.append((span, base_line(ctx, base_site),
                            f"{head_site.call.method} {name}={shorten(old.code, 40)} -> {shorten(new.code, 40)}"))
    return out


def _inside_norm_class(ctx: PythonContext, site: CallSite) -> bool:
    view = ctx.view(site.side)
    return any(view.logical[a].keyword == "class" and _LOCAL_NORM.search(view.facts(a).def_name or "")
               for a in view.ancestors(site.index))


def _grouped(changes):
    """One finding per distinct swap: ``norm_layer=nn.LayerNorm -> LayerNorm`` in twenty block
    signatures is one decision."""
    seen: dict[str, list] = {}
    for span, line, text in changes:
        key = text.split(" ", 1)[-1].split("=", 1)[-1]
        if key in seen:
            seen[key][3] += 1
        else:
            seen[key] = [span, line, text, 1]
    return [tuple(entry) for entry in seen.values()]


def _norm_class_changes(ctx: PythonContext):
    """(head class header, base class header, base-only lines, head-only lines) of local norm classes."""
    out = []
    seen: set[int] = set()
    for index in ctx.touched_head:
        for ancestor in ctx.head.ancestors(index):
            ll = ctx.head.logical[ancestor]
            if ll.keyword != "class" or ancestor in seen:
                continue
            name = ctx.head.facts(ancestor).def_name or ""
            if not _LOCAL_NORM.search(name):
                continue
            seen.add(ancestor)
            base_header = matching_def(ctx, "head", ancestor)
            if base_header is None:
                continue
            base_only, head_only = differing_lines(ctx, ctx.base.block(base_header), ctx.head.block(ancestor))
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
            expect=(Expect(7, "norm layer nn.LayerNorm(c) -> LayerNormNoBias(c) (class defined at line 2)"),),
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
        Example(  # a whole model class moved out to its own file: its layers did not change here
            before="import torch.nn as nn\n\nclass PreActBlock(nn.Module):\n    def __init__(self, c):\n"
                   "        self.bn1 = nn.BatchNorm2d(c)\n\nclass Block(nn.Module):\n    pass\n",
            after="import torch.nn as nn\n\nclass Block(nn.Module):\n    pass\n",
        ),
        Example(  # Normalize is a transform (ML201), not a layer
            before="from torchvision import transforms\nnormalize = transforms.Normalize(mean, std)\n",
            after="from torchvision import transforms\nnormalize = transforms.Normalize(mean, std)  # ImageNet\n",
        ),
    )

    def message(self, value_change: ValueChange) -> str:
        return value_change.describe().replace("functional.", "F.", 1)

    def accepts(self, ctx: Context, value_change: ValueChange) -> bool:
        return not (is_test_file(ctx.path) or is_placeholder(value_change))

    def swaps(self, ctx: PythonContext) -> list[tuple]:
        return norm_pairs(ctx)

    def check(self, ctx: Context) -> Iterator[Finding]:
        explained = list(super().check(ctx))
        yield from explained
        if not isinstance(ctx, PythonContext) or is_test_file(ctx.path):
            return
        explained_head = {f.span.line for f in explained}
        explained_base = {f.base_line for f in explained if f.base_line is not None}
        for base, head in norm_pairs(ctx):
            if _inside_norm_class(ctx, base or head):
                continue  # the class's own body: its uses are reported, its body changes below
            if (base is None or head is None) and in_class_only_on_one_side(ctx, base or head):
                continue  # a whole model class added or removed (or moved to another file)
            one_sided = report_added_or_removed(self, ctx, base, head, "norm layer", width=55)
            if one_sided is not None:
                yield one_sided
            elif base.qualname != head.qualname:
                yield self.report(ctx, site_span(ctx, head),
                                  f"norm layer {render_call(base, TORCH, 45)} -> {render_call(head, TORCH, 45)}"
                                  f"{_defined_here(ctx.head, head.qualname)}",
                                  base_line=base_line(ctx, base), before=render_call(base, TORCH, 200),
                                  after=render_call(head, TORCH, 200))
        # a parameter default or setting named like a norm class is compared as a setting above
        references = [change for change in _norm_reference_changes(ctx) if change[0].line not in explained_head]
        for span, line, text, count in _grouped(references):
            more = f" (and {count - 1} more places)" if count > 1 else ""
            yield self.report(ctx, span, f"norm layer class {text}{more}", base_line=line)
        for head_header, base_header, base_only, head_only in _norm_class_changes(ctx):
            name = ctx.head.facts(head_header).def_name
            head_only = [i for i in head_only if not _covers(ctx.head, i, explained_head)]
            base_only = [i for i in base_only if not _covers(ctx.base, i, explained_base)]
            if not head_only and not base_only:
                continue
            span, detail, line, before, after = describe_difference(ctx, base_only, head_only, width=60)
            yield self.report(ctx, span, f"custom norm layer {name} changed: {detail}",
                              base_line=line, before=before, after=after)


def _covers(view: ModuleView, index: int, lines: set[int]) -> bool:
    logical = view.logical[index]
    return any(logical.start < line <= logical.end for line in lines)


# -- input scaling ----------------------------------------------------------------------------------------------
_PIXEL_DIVISORS = (255, 256, 127.5, 128)
_STAT_NAME = re.compile(r"(?:^|_)(?:mean|std|mu|sigma|stddev)s?$|^(?:mean|std)_", re.I)
_TO_TENSOR = re.compile(r"^(?:ToTensor|PILToTensor|ToImage|ToImageTensor|ConvertImageDtype|ToDtype|ToTensorV2|"
                        r"ToFloat)$")


_ARITHMETIC = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
               ast.Div: lambda a, b: a / b}


def _number(node: ast.AST):
    """The number an ``ast`` expression stands for (``255``, ``255.``, ``1/255``), else None."""
    if isinstance(node, ast.Constant):
        value = node.value
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _number(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        left, right = _number(node.left), _number(node.right)
        if left is None or right is None or (isinstance(node.op, ast.Div) and right == 0):
            return None
        return _ARITHMETIC[type(node.op)](left, right)
    return None


def _show_number(value) -> str:
    return repr(float(value)) if isinstance(value, float) or value != int(value) else f"{int(value)}"


_NOT_INPUT_STAT = re.compile(r"running_|target|return|reward|loss|grad|label|value|adv|weight|gamma|beta|kernel|"
                             r"mask|bn|noise|init", re.I)


def _reads_stat(node: ast.AST) -> bool:
    """Reads a stored input statistic (``mean``, ``IMAGENET_STD``), not one computed on the spot
    (``x.mean()``) or one of a BatchNorm being folded, a reward or a target."""
    names = _uncalled_names(node)
    if any(_NOT_INPUT_STAT.search(name) for name in names):
        return False
    return any(_STAT_NAME.search(name.rsplit(".", 1)[-1]) for name in names)


def _computed_here(view: ModuleView, index: int, node: ast.AST) -> bool:
    """``mean = x.mean(-1)`` in the same function: a statistic of the activations (a norm layer
    written by hand), not a stored input statistic."""
    within = scope_range(view, index)
    for name in _uncalled_names(node):
        if "." in name or not _STAT_NAME.search(name):
            continue
        for line, binding in view.definitions(name):
            if line in within and binding.value is not None and binding.value.node is not None \
                    and not binding.value.is_literal:
                return True
    return False


def _uncalled_names(node: ast.AST) -> set[str]:
    """Dotted names an expression reads as values (the functions it calls left out)."""
    out: set[str] = set()
    called = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    for child in ast.walk(node):
        if isinstance(child, (ast.Name, ast.Attribute)) and id(child) not in called:
            parts = []
            current: ast.expr = child
            while isinstance(current, ast.Attribute):
                parts.append(current.attr)
                current = current.value
            if isinstance(current, ast.Name):
                parts.append(current.id)
                out.add(".".join(reversed(parts)))
    return out


_SCALING_TEXT = re.compile(r"255|256|127\.5|128|\bmean|\bstd|_mean|_std|MEAN|STD|\bmu\b|sigma")


def _scalings(view: ModuleView, index: int) -> list[tuple[str, ast.expr]]:
    """(description, ast node) of hand-written input scaling on a line: ``x / 255``, ``x * 2 - 1``,
    ``(x - mean) / std``, ``.div(255)``, ``.sub(mean).div(std)``."""
    if not _SCALING_TEXT.search(view.source(index)):
        return []
    tree = ast_statement(view, index)
    if tree is None:
        return []
    found: list[tuple[str, ast.expr]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp):
            right = _number(node.right)
            if isinstance(node.op, ast.Div) and right in _PIXEL_DIVISORS:
                if not _scales_a_setting(node.left):
                    found.append((f"/ {_show_number(right)}", node))
            elif isinstance(node.op, ast.Mult) and right is not None and 0 < right < 0.01 \
                    and abs(right * 255 - 1) < 0.02:
                found.append((f"* {ast.unparse(node.right)}", node))
            elif isinstance(node.op, ast.Sub) and right in (1, 0.5) and isinstance(node.left, ast.BinOp) \
                    and isinstance(node.left.op, ast.Mult) and _number(node.left.right) == 2:
                found.append((f"* 2 - {_show_number(right)}", node))
            elif isinstance(node.op, (ast.Sub, ast.Div)) and not isinstance(node.right, ast.Call) \
                    and _reads_stat(node.right) and not _computed_here(view, index, node.right):
                found.append((f"{'-' if isinstance(node.op, ast.Sub) else '/'} {ast.unparse(node.right)}", node))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            method = node.func.attr
            if method in ("div", "div_", "true_divide") and _number(node.args[0]) in _PIXEL_DIVISORS:
                found.append((f".{method}({_show_number(_number(node.args[0]))})", node))
            elif method in ("sub", "sub_", "div", "div_") and _reads_stat(node.args[0]) \
                    and not _computed_here(view, index, node.args[0]):
                found.append((f".{method}({ast.unparse(node.args[0])})", node))
    if found and any(_NOT_INPUT_STAT.search(name) for name in view.facts(index).reads
                     if name.startswith("running_") or name in ("gamma", "beta", "bn", "kernel")):
        return []  # folding a BatchNorm into a conv, not scaling inputs
    found.sort(key=lambda item: (item[1].lineno, item[1].col_offset))
    return found


def _scales_a_setting(node: ast.AST) -> bool:
    """``args.lr * batch_size / 256``: the linear scaling rule divides a learning rate or a batch
    size by 256, not pixel values."""
    return any((classify_name(name.rsplit(".", 1)[-1]) or ("",))[0] in ("learning_rate", "batch_size")
               for name in _uncalled_names(node))


def _stat_bindings(view: ModuleView, index: int) -> list:
    """``MEAN = (0.485, 0.456, 0.406)``: per-channel statistics written by hand."""
    out = []
    for binding in view.facts(index).bindings:
        value = binding.value
        if value is None or not _STAT_NAME.search(binding.name) or binding.name.startswith("running_"):
            continue
        literal = value.literal
        if isinstance(literal, (tuple, list)) and 1 <= len(literal) <= 4 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in literal):
            out.append(binding)
    return out


def _is_to_tensor(qualname: str, call: CallFact, view: ModuleView) -> bool:
    last = qualname.rsplit(".", 1)[-1]
    return not call.in_lambda_or_def and bool(_TO_TENSOR.match(last)) and (
        qualname.startswith(("torchvision.transforms", "albumentations")) or "." not in qualname)


def _statement_scaling(view: ModuleView, index: int) -> str:
    """A pipeline scales if any of its to-tensor steps does (``ToImage()`` + ``ToDtype(scale=True)``)."""
    for call in view.facts(index).calls:
        qualname = apis.canonical(view.qualname(call))
        if _is_to_tensor(qualname, call, view) and \
                _scaling_of(CallSite("head", index, call, qualname)) == "scaled to [0, 1]":
            return "scaled to [0, 1]"
    return "not scaled"


def _scaling_of(site: CallSite) -> str:
    """What a to-tensor transform does to pixel values."""
    last = site.qualname.rsplit(".", 1)[-1]
    if last in ("ToTensor", "ConvertImageDtype", "ToFloat"):
        return "scaled to [0, 1]"
    if last == "ToDtype":
        scale = site.call.kwarg("scale")
        return "scaled to [0, 1]" if scale is not None and scale.literal is True else "not scaled"
    return "not scaled"


class InputScalingChanged(Rule[PythonContext]):
    """How raw inputs are scaled changed: ``x / 255``, ``x * 2 - 1``, ``(x - mean) / std`` and
    ``.div(255)`` written by hand, the per-channel statistics they use, or a to-tensor transform
    that scales (``ToTensor`` -> ``PILToTensor``, ``ToDtype(scale=True)``).

    A model sees inputs in the range it was trained on: dropping a ``/ 255`` feeds values 255
    times larger, changing ``[0, 1]`` to ``[-1, 1]`` shifts every first-layer activation, and a
    pre-trained backbone expects its own statistics. Check every pipeline that feeds the model
    (training, evaluation, inference/export) scales the same way.
    """

    code = "ML203"
    family = "normalization"
    name = "input-scaling"
    summary = "Hand-written input scaling (/255, *2-1, mean/std) or to-tensor scaling changed"
    examples = (
        Example(
            before="import torch\ndef preprocess(img):\n    x = torch.from_numpy(img).float() / 255.0\n    return x\n",
            after="import torch\ndef preprocess(img):\n    x = torch.from_numpy(img).float()\n    return x\n",
            expect=(Expect(3, "input scaling `/ 255.0` removed"),),
        ),
        Example(
            before="def prep(x):\n    return x / 255.0\n",
            after="def prep(x):\n    return x / 127.5 - 1.0\n",
            expect=(Expect(2, "input scaling `/ 255.0` -> `/ 127.5`"),),
        ),
        Example(
            before="MEAN = (0.485, 0.456, 0.406)\nSTD = (0.229, 0.224, 0.225)\n",
            after="MEAN = (0.5, 0.5, 0.5)\nSTD = (0.229, 0.224, 0.225)\n",
            expect=(Expect(1, "normalization statistics MEAN (0.485, 0.456, 0.406) -> (0.5, 0.5, 0.5)"),),
        ),
        Example(
            before="from torchvision import transforms\ntf = transforms.Compose([transforms.ToTensor()])\n",
            after="from torchvision import transforms\ntf = transforms.Compose([transforms.PILToTensor()])\n",
            expect=(Expect(2, "transforms.ToTensor() -> transforms.PILToTensor(): pixels scaled to [0, 1] -> not scaled"),),
        ),
        Example(  # torchvision v2 spelling of ToTensor: same scaling
            before="from torchvision import transforms\ntf = transforms.Compose([transforms.ToTensor()])\n",
            after="import torch\nfrom torchvision.transforms import v2\n"
                  "tf = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])\n",
        ),
        Example(  # the same scaling with another spelling and a renamed variable
            before="def prep(img):\n    x = img / 255.0\n    return x\n",
            after="def prep(image):\n    x = image / 255.  # to [0, 1]\n    return x\n",
        ),
        Example(  # the normalization moved into a helper line, same arithmetic
            before="x = (img - mean) / std\n",
            after="centered = img - mean\nx = centered / std\n",
        ),
        Example(  # weight init std is not an input statistic
            before="import torch.nn as nn\nnn.init.normal_(w, mean=0.0, std=0.02)\n",
            after="import torch.nn as nn\nnn.init.normal_(w, mean=0.0, std=0.02 / (2 * n_layer) ** 0.5)\n",
        ),
    )

    def check(self, ctx: PythonContext) -> Iterator[Finding]:
        if not isinstance(ctx, PythonContext) or is_test_file(ctx.path):
            return
        yield from self._hand_written(ctx)
        yield from self._statistics(ctx)
        yield from self._to_tensor(ctx)

    def _hand_written(self, ctx: PythonContext):
        sites = {side: [(text, index, node) for index in ctx.touched(side)
                        for text, node in _scalings(ctx.view(side), index)] for side in ("base", "head")}
        renames = ctx.renames

        def key(item):
            return " ".join(item[0].split())

        base_items = [(_renamed_text(text, renames), index, node) for text, index, node in sites["base"]]
        left_head = list(sites["head"])
        unmatched_base = []
        for item in base_items:
            match = next((h for h in left_head if key(h) == key(item)), None)
            if match is not None:
                left_head.remove(match)
            else:
                unmatched_base.append(item)
        for base_item, head_item in zip(unmatched_base, left_head):
            yield self.report(ctx, ast_span(ctx.head, head_item[1], head_item[2]),
                              f"input scaling `{base_item[0]}` -> `{head_item[0]}`",
                              base_line=ctx.base.logical[base_item[1]].start + 1,
                              before=base_item[0], after=head_item[0])
        for text, index, node in unmatched_base[len(left_head):]:
            line = ast_span(ctx.base, index, node).line - 1
            yield self.report(ctx, ctx.head_anchor(line), f"input scaling `{text}` removed",
                              base_line=line + 1, before=text)
        for text, index, node in left_head[len(unmatched_base):]:
            yield self.report(ctx, ast_span(ctx.head, index, node), f"input scaling `{text}` added", after=text)

    def _statistics(self, ctx: PythonContext):
        for base_site, head_site in pair_bindings(ctx, lambda b: _STAT_NAME.search(b.name) is not None):
            if base_site is None or head_site is None:
                continue
            if not _stat_bindings(ctx.base, base_site.index) or not _stat_bindings(ctx.head, head_site.index):
                continue
            old, new = base_site.binding.value, head_site.binding.value
            if old is None or new is None or old.same_as(new, ctx.renames):
                continue
            yield self.report(ctx, binding_span(ctx, head_site),
                              f"normalization statistics {head_site.binding.target} {shorten(old.code, 40)} -> "
                              f"{shorten(new.code, 40)}",
                              base_line=binding_base_line(ctx, base_site), before=old.code, after=new.code)

    def _to_tensor(self, ctx: PythonContext):
        key = lambda site: _norm_key(ctx, site)  # noqa: E731
        for base, head in pair_calls(ctx, _is_to_tensor, key=key):
            if base is None or head is None:
                continue  # added or removed as a whole: the pipeline changed shape (ML201 / ML204 look at it)
            old, new = _scaling_of(base), _scaling_of(head)
            if old != new and \
                    _statement_scaling(ctx.base, base.index) != _statement_scaling(ctx.head, head.index):
                yield self.report(ctx, site_span(ctx, head),
                                  f"{render_call(base, TORCH, 30)} -> {render_call(head, TORCH, 30)}: pixels {old} -> {new}",
                                  base_line=base_line(ctx, base))


def _renamed_text(text: str, renames: dict[str, str]) -> str:
    return "".join(renames.get(token, token) for token in re.split(r"(\W+)", text))


# -- train / eval consistency -------------------------------------------------------------------------------------
_TRAIN_ROLE = re.compile(r"train", re.I)
_EVAL_ROLE = re.compile(r"val|test|eval|infer|predict", re.I)
_PIPELINE_TEXT = re.compile(r"\bNormalize\s*\(|\bnormalize\s*\(|\bCompose\s*\(")
_COMPOSE = frozenset({"Compose", "Sequential"})


def _role_of_text(text: str) -> str | None:
    train, evaluation = bool(_TRAIN_ROLE.search(text)), bool(_EVAL_ROLE.search(text))
    if train and not evaluation:
        return "train"
    if evaluation and not train:
        return "eval"
    return None


def _role_of_node_context(view: ModuleView, index: int, node: cst.CSTNode) -> str | None:
    """train / eval from what surrounds the call inside its statement: a dict key
    (``{'train': Compose([...])}``), a dataset call's ``train=True`` / ``split='val'``."""
    from mldiff.analysis.values import evaluate
    from mldiff.facts.syntax import ancestors_of
    for ancestor in ancestors_of(view.unit(index).statement, node):
        if isinstance(ancestor, cst.DictElement):
            key = evaluate(ancestor.key)
            if isinstance(key, str) and _role_of_text(key):
                return _role_of_text(key)
        if isinstance(ancestor, cst.Call):
            for arg in ancestor.args:
                if arg.keyword is None:
                    continue
                name = arg.keyword.value
                value = evaluate(arg.value)
                if name in ("train", "is_train", "training") and isinstance(value, bool):
                    return "train" if value else "eval"
                if name in ("split", "subset", "mode", "phase") and isinstance(value, str) and _role_of_text(value):
                    return _role_of_text(value)
            callee = dotted_name(ancestor.func) or ""
            if _role_of_text(callee.rsplit(".", 1)[-1]) and not _TRANSFORM_CALL.match(callee.rsplit(".", 1)[-1]):
                return _role_of_text(callee.rsplit(".", 1)[-1])
    return None


_TRANSFORM_CALL = re.compile(r"^(?:Compose|Normalize|normalize|Sequential|ToTensor)$")


def pipeline_role(view: ModuleView, index: int, node: cst.CSTNode) -> str | None:
    """Is this transform part of the training or the evaluation pipeline?"""
    role = _role_of_node_context(view, index, node)
    if role:
        return role
    for binding in view.facts(index).bindings:
        role = _role_of_text(binding.target)
        if role:
            return role
    previous = index
    for ancestor in view.ancestors(index):
        ll = view.logical[ancestor]
        facts = view.facts(ancestor)
        if ll.keyword in ("if", "elif") and facts.condition is not None:
            role = _role_of_text(facts.condition.code)
            if role:
                return role
        elif ll.keyword == "else":
            sibling = _previous_if(view, ancestor)
            if sibling is not None:
                condition = view.facts(sibling).condition
                assert condition is not None  # _previous_if returns an if with a test
                role = _role_of_text(condition.code)
                if role:
                    return "eval" if role == "train" else "train"
        elif ll.keyword == "def":
            role = _role_of_text(facts.def_name or "")
            if role:
                return role
        previous = ancestor
    del previous
    return None


def _previous_if(view: ModuleView, else_index: int) -> int | None:
    indent = view.logical[else_index].indent
    for index in range(else_index - 1, -1, -1):
        ll = view.logical[index]
        if ll.indent < indent:
            return None
        if ll.indent == indent and ll.keyword in ("if", "elif"):
            return index if view.facts(index).condition is not None else None
        if ll.indent == indent and ll.keyword not in ("elif", "else"):
            return None
    return None


def _pipelines(view: ModuleView) -> tuple[dict[str, list[int]], dict[str, bool]]:
    """Per role: the lines of Normalize calls, and whether a pipeline (Compose) of that role exists."""
    normalizes: dict[str, list[int]] = {"train": [], "eval": []}
    exists: dict[str, bool] = {"train": False, "eval": False}
    for index in view._lines_matching(_PIPELINE_TEXT):
        for call in view.facts(index).calls:
            qualname = apis.canonical(view.qualname(call))
            last = qualname.rsplit(".", 1)[-1]
            if qualname in apis.NORMALIZE_TRANSFORMS:
                role = pipeline_role(view, index, call.node)
                if role:
                    normalizes[role].append(index)
                    exists[role] = True
            elif last == "Compose":
                role = pipeline_role(view, index, call.node)
                if role:
                    exists[role] = True
    return normalizes, exists


_ROLE_NAMES = {"train": "training", "eval": "evaluation"}


class NormalizeTrainEvalMismatch(Rule[PythonContext]):
    """``Normalize`` was removed from (or added to) only one of the training and evaluation
    pipelines of a file, so the model is evaluated on inputs scaled differently from the ones it
    was trained on.

    This is the classic silent bug: training curves look fine, validation accuracy collapses
    (or a deployed model sees other statistics than in training). The rule looks at every
    transform pipeline of the file, also the ones the change did not touch, and reports only
    when the change makes them disagree. Check both pipelines (and any inference code) apply the
    same normalization.
    """

    code = "ML204"
    family = "normalization"
    name = "normalize-train-eval-mismatch"
    summary = "Normalize removed from / added to only one of the train and eval pipelines"
    examples = (
        Example(
            before="from torchvision import transforms as T\n"
                   "transform_train = T.Compose([T.RandomCrop(32, padding=4), T.ToTensor(), T.Normalize(m, s)])\n"
                   "transform_test = T.Compose([T.ToTensor(), T.Normalize(m, s)])\n",
            after="from torchvision import transforms as T\n"
                  "transform_train = T.Compose([T.RandomCrop(32, padding=4), T.ToTensor()])\n"
                  "transform_test = T.Compose([T.ToTensor(), T.Normalize(m, s)])\n",
            expect=(Expect(2, "Normalize removed from the training pipeline but still in the evaluation pipeline "
                              "(line 3): train/eval mismatch"),
                    Expect(2, "transforms.Normalize(m, s) removed", code="ML201")),
        ),
        Example(
            before="from torchvision import datasets, transforms\n"
                   "train = datasets.MNIST('data', train=True, transform=transforms.Compose([transforms.ToTensor()]))\n"
                   "test = datasets.MNIST('data', train=False, transform=transforms.Compose([transforms.ToTensor()]))\n",
            after="from torchvision import datasets, transforms\n"
                  "train = datasets.MNIST('data', train=True, transform=transforms.Compose([transforms.ToTensor(),"
                  " transforms.Normalize((0.1307,), (0.3081,))]))\n"
                  "test = datasets.MNIST('data', train=False, transform=transforms.Compose([transforms.ToTensor()]))\n",
            expect=(Expect(2, "Normalize added to the training pipeline but not to the evaluation pipeline (line 3)"),
                    Expect(2, "Normalize((0.1307,), (0.3081,)) added", code="ML201")),
        ),
        Example(  # removed from both pipelines: consistent (ML201 reports each removal)
            before="from torchvision import transforms as T\n"
                   "data_transforms = {\n    'train': T.Compose([T.ToTensor(), T.Normalize(m, s)]),\n"
                   "    'val': T.Compose([T.ToTensor(), T.Normalize(m, s)]),\n}\n",
            after="from torchvision import transforms as T\n"
                  "data_transforms = {\n    'train': T.Compose([T.ToTensor()]),\n    'val': T.Compose([T.ToTensor()]),\n}\n",
            expect=(Expect(3, "removed", code="ML201"),),
        ),
        Example(  # one shared pipeline for both splits
            before="from torchvision import transforms as T\ntransform = T.Compose([T.ToTensor(), T.Normalize(m, s)])\n",
            after="from torchvision import transforms as T\ntransform = T.Compose([T.ToTensor(), T.Normalize(m, s)])  # both\n",
        ),
        Example(  # the eval pipeline reformatted, the train one untouched
            before="from torchvision import transforms as T\n"
                   "train_tf = T.Compose([T.ToTensor(), T.Normalize(m, s)])\n"
                   "val_tf = T.Compose([T.ToTensor(), T.Normalize(m, s)])\n",
            after="from torchvision import transforms as T\n"
                  "train_tf = T.Compose([T.ToTensor(), T.Normalize(m, s)])\n"
                  "val_tf = T.Compose([\n    T.ToTensor(),\n    T.Normalize(m, s),\n])\n",
        ),
    )

    def check(self, ctx: PythonContext) -> Iterator[Finding]:
        if not isinstance(ctx, PythonContext) or is_test_file(ctx.path):
            return
        touched = any(_PIPELINE_TEXT.search(ctx.base.source(i)) for i in ctx.touched_base) or \
            any(_PIPELINE_TEXT.search(ctx.head.source(i)) for i in ctx.touched_head)
        if not touched:
            return
        base_normalizes, base_exists = _pipelines(ctx.base)
        head_normalizes, head_exists = _pipelines(ctx.head)
        if not (head_exists["train"] and head_exists["eval"]):
            return
        head_has = {role: bool(lines) for role, lines in head_normalizes.items()}
        if head_has["train"] == head_has["eval"]:
            return
        base_has = {role: bool(lines) for role, lines in base_normalizes.items()}
        if base_exists["train"] and base_exists["eval"] and base_has["train"] != base_has["eval"]:
            return  # the mismatch was there before this change
        with_norm = "train" if head_has["train"] else "eval"
        without = "eval" if with_norm == "train" else "train"
        other_line = ctx.head.logical[head_normalizes[with_norm][0]].start + 1
        if base_has[without] and not head_has[without]:
            line = ctx.base.logical[base_normalizes[without][0]].start
            span = ctx.head_anchor(line)
            for index in base_normalizes[without]:
                for call in ctx.base.facts(index).calls:
                    if apis.canonical(ctx.base.qualname(call)) in apis.NORMALIZE_TRANSFORMS:
                        span = anchor(ctx, "base", index, call.node)
                        line = ctx.base.span(index, call.node).line - 1
                        break
            yield self.report(ctx, span,
                              f"Normalize removed from the {_ROLE_NAMES[without]} pipeline but still in the "
                              f"{_ROLE_NAMES[with_norm]} pipeline (line {other_line}): train/eval mismatch",
                              base_line=line + 1)
        else:
            index = next((i for i in head_normalizes[with_norm] if i in set(ctx.touched_head)),
                         head_normalizes[with_norm][0])
            yield self.report(ctx, ctx.head.span(index),
                              f"Normalize added to the {_ROLE_NAMES[with_norm]} pipeline but not to the "
                              f"{_ROLE_NAMES[without]} pipeline (line {_pipeline_line(ctx.head, without)}): "
                              f"train/eval mismatch")


def _pipeline_line(view: ModuleView, role: str) -> int:
    for index in view._lines_matching(_PIPELINE_TEXT):
        for call in view.facts(index).calls:
            if apis.canonical(view.qualname(call)).rsplit(".", 1)[-1] == "Compose" and \
                    pipeline_role(view, index, call.node) == role:
                return view.span(index, call.node).line
    return 0
