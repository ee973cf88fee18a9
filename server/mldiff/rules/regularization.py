"""regularization: dropout probability, type and placement; data augmentation."""
from __future__ import annotations

import re
from typing import Iterator

import libcst as cst

from mldiff.analysis.filekinds import is_test_file
from mldiff.analysis.module import ModuleView
from mldiff.analysis.statements import CallFact
from mldiff.analysis.values import shorten
from mldiff.facts.anchors import anchor, base_line, site_span
from mldiff.facts.context import Context, PythonContext, view_fact
from mldiff.facts.equivalence import is_noise
from mldiff.facts.flows import in_class_only_on_one_side
from mldiff.facts.pairing import paired_calls, scope_key
from mldiff.facts.render import READER, render_call
from mldiff.facts.sites import CallSite, argument_changes
from mldiff.facts.value_changes import ValueChange, is_placeholder, named_argument_changes
from mldiff.findings import Finding
from mldiff.knowledge import apis
from mldiff.rules.base import Example, Expect, Rule
from mldiff.rules.reporting import report_added_or_removed, report_value_change
from mldiff.rules.values import ValueRule

_DROPOUT_ATTRIBUTE = re.compile(r"^(?:\w*drop(?:out)?\d*|\w*_drop|drop_?path\w*|\w*dropout\w*)$", re.I)


def _short(qualname: str) -> str:
    parts = qualname.split(".")
    if len(parts) >= 2 and parts[-2] == "functional":
        return "F." + parts[-1]
    return parts[-1]


# -- dropout -------------------------------------------------------------------------------------------
def is_dropout_call(qualname: str, call: CallFact, view: ModuleView) -> bool:
    return not call.in_lambda_or_def and apis.is_dropout(qualname)


def _is_functional(qualname: str) -> bool:
    return qualname.startswith("torch.nn.functional.")


def dropout_pairs(ctx: PythonContext) -> list[tuple]:
    return paired_calls(ctx, is_dropout_call,
                        lambda site: "functional" if _is_functional(site.qualname) else "module")


def _dropout_module_call(view: ModuleView, call: CallFact) -> bool:
    """``self.dropout(x)``: a dropout module applied in ``forward``."""
    if call.in_lambda_or_def or not call.receiver or not call.args:
        return False
    if not _DROPOUT_ATTRIBUTE.match(call.method) or call.receiver.split(".", 1)[0] in view.aliases:
        return False  # ``nn.Dropout(0.1)`` builds one
    constructor = view.constructor_of(call.callee)
    return constructor is None or apis.is_dropout(apis.canonical(constructor))


def _applications(ctx: PythonContext, side: str) -> list[CallSite]:
    view = ctx.view(side)
    out = []
    for index in ctx.touched(side):
        if is_noise(view, index):
            continue
        for call in view.facts(index).calls:
            if _dropout_module_call(view, call):
                out.append(CallSite(side, index, call, call.callee))
    return out


_TRAINING_GATE = re.compile(r"\bif\s+(?:self\.)?training\b|\btraining\s+else\b|self\.training")


class DropoutChanged(ValueRule, Rule):
    """Dropout changed: its probability (``nn.Dropout(p)``, ``F.dropout(x, p)``, ``dropout=`` of
    attention and transformer layers, ``dropout_p`` of ``scaled_dot_product_attention``, dropout
    settings), its type (``Dropout2d`` -> ``Dropout``), where it is applied, or whether it is
    active outside training (``F.dropout(..., training=self.training)``).

    Dropout is a regularizer: more of it slows fitting, less of it overfits. ``F.dropout``
    defaults to ``training=True`` and ``scaled_dot_product_attention`` knows nothing of
    ``model.eval()``, so dropping the ``training`` guard makes evaluation and sampling random.
    ``Dropout2d`` zeroes whole channels and is meant for conv feature maps. Check the value
    against the recipe and that evaluation runs without dropout.
    """

    code = "ML901"
    family = "regularization"
    name = "dropout"
    summary = "Dropout probability, type, placement or train-only gating changed"
    topics = ("dropout",)
    examples = (
        Example(
            before="dropout = 0.0\nn_layer = 6\n",
            after="dropout = 0.2\nn_layer = 6\n",
            expect=(Expect(1, "dropout 0.0 -> 0.2"),),
        ),
        Example(
            before="import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n"
                   "        self.dropout1 = nn.Dropout2d(0.25)\n",
            after="import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n"
                  "        self.dropout1 = nn.Dropout(0.25)\n",
            expect=(Expect(4, "dropout Dropout2d(0.25) -> Dropout(0.25)"),),
        ),
        Example(
            before="import torch.nn as nn\nclass Policy(nn.Module):\n    def __init__(self):\n"
                   "        self.affine1 = nn.Linear(4, 128)\n\n    def forward(self, x):\n"
                   "        return self.affine1(x)\n",
            after="import torch.nn as nn\nclass Policy(nn.Module):\n    def __init__(self):\n"
                  "        self.affine1 = nn.Linear(4, 128)\n        self.dropout = nn.Dropout(p=0.6)\n\n"
                  "    def forward(self, x):\n        x = self.affine1(x)\n        return self.dropout(x)\n",
            expect=(Expect(5, "dropout Dropout(p=0.6) added"),
                    Expect(9, "dropout applied: self.dropout(x) added")),
        ),
        Example(
            before="import torch.nn.functional as F\ndef forward(self, q, k, v):\n"
                   "    return F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout, is_causal=True)\n",
            after="import torch.nn.functional as F\ndef forward(self, q, k, v):\n"
                  "    return F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0,"
                  " is_causal=True)\n",
            expect=(Expect(3, "now only while training"),),
        ),
        Example(
            before="import torch.nn.functional as F\ndef forward(self, x):\n"
                   "    return F.dropout(x, p=0.5, training=self.training)\n",
            after="import torch.nn.functional as F\ndef forward(self, x):\n    return F.dropout(x, p=0.5)\n",
            expect=(Expect(3, "F.dropout training=self.training -> (default True): dropout now also active in eval"),),
        ),
        Example(  # the dropout module renamed consistently
            before="import torch.nn as nn\nclass B(nn.Module):\n    def __init__(self, p):\n        self.drop = nn.Dropout(p)\n"
                   "    def forward(self, x):\n        return self.drop(x)\n",
            after="import torch.nn as nn\nclass B(nn.Module):\n    def __init__(self, p):\n        self.resid_drop = nn.Dropout(p)\n"
                  "    def forward(self, x):\n        return self.resid_drop(x)\n",
        ),
        Example(  # one drop-path module split in two, still applied in the same places
            before="class Block:\n    def forward(self, x):\n        x = x + self.drop_path(self.attn(x))\n"
                   "        return x + self.drop_path(self.mlp(x))\n",
            after="class Block:\n    def forward(self, x):\n        x = x + self.drop_path1(self.attn(x))\n"
                  "        return x + self.drop_path2(self.mlp(x))\n",
        ),
        Example(  # settings moved from a config class into a config function, same values
            before="class GPTConfig:\n    embd_pdrop = 0.1\n    resid_pdrop = 0.1\n",
            after="def get_default_config():\n    C = CfgNode()\n    C.embd_pdrop = 0.1\n    C.resid_pdrop = 0.1\n"
                  "    return C\n",
        ),
        Example(  # positional and keyword probability
            before="import torch.nn as nn\nd = nn.Dropout(0.1)\n",
            after="import torch.nn as nn\nd = nn.Dropout(p=0.1)  # attention dropout\n",
        ),
        Example(  # the dropout setting read from a config object instead of a global
            before="import torch.nn as nn\nd = nn.Dropout(dropout)\n",
            after="import torch.nn as nn\nd = nn.Dropout(config.dropout)\n",
        ),
    )

    def message(self, value_change: ValueChange) -> str:
        new = value_change.new.code if value_change.new is not None else ""
        old = value_change.old.code if value_change.old is not None else ""
        subject = value_change.subject.replace("functional.", "F.", 1)
        if _TRAINING_GATE.search(new) and not _TRAINING_GATE.search(old):
            return f"{subject} now only while training: {shorten(old, 30)} -> {shorten(new, 50)}"
        if _TRAINING_GATE.search(old) and not _TRAINING_GATE.search(new):
            return f"{subject} now also in eval mode: {shorten(old, 50)} -> {shorten(new, 30)}"
        return value_change.describe().replace("functional.", "F.", 1)

    def accepts(self, ctx: Context, value_change: ValueChange) -> bool:
        return not (is_test_file(ctx.path) or is_placeholder(value_change))

    def swaps(self, ctx: PythonContext) -> list[tuple]:
        return dropout_pairs(ctx)

    def check(self, ctx: Context) -> Iterator[Finding]:
        yield from super().check(ctx)
        if not isinstance(ctx, PythonContext) or is_test_file(ctx.path):
            return
        for value_change in named_argument_changes(ctx, "regularization"):
            if value_change.topic == "dropout":
                yield report_value_change(self, ctx, value_change, self.message(value_change))
        for base, head in dropout_pairs(ctx):
            if (base is None or head is None) and in_class_only_on_one_side(ctx, base or head):
                continue  # a whole model class added or removed (or moved to another file)
            one_sided = report_added_or_removed(self, ctx, base, head, "dropout")
            if one_sided is not None:
                yield one_sided
            else:
                if base.qualname != head.qualname:
                    yield self.report(ctx, site_span(ctx, head),
                                      f"dropout {render_call(base, READER, 45)} -> {render_call(head, READER, 45)}",
                                      base_line=base_line(ctx, base), before=render_call(base, READER, 200),
                                      after=render_call(head, READER, 200))
                elif _is_functional(head.qualname):
                    for _, old, new in argument_changes(ctx, base, head, only=("training",)):
                        old_text = old.code if old is not None else "(default True)"
                        new_text = new.code if new is not None else "(default True)"
                        effect = "dropout now also active in eval" if new is None or new.literal is True else \
                            "dropout now follows train/eval mode" if "training" in new_text else "training gate changed"
                        yield self.report(ctx, site_span(ctx, head),
                                          f"{_short(head.qualname)} training={old_text} -> {new_text}: {effect}",
                                          base_line=base_line(ctx, base), before=old_text, after=new_text)
        key = lambda site: _apply_key(ctx, site)  # noqa: E731
        from mldiff.facts.pairing import pair
        pairs = pair(_applications(ctx, "base"), _applications(ctx, "head"), key, lambda b, h: True)
        # ``self.drop_path(x)`` -> ``self.drop_path1(x)`` in the same method: still applied there
        removed = [b for b, h in pairs if h is None and b is not None]
        added = [h for b, h in pairs if b is None and h is not None]
        pairs = pair(removed, added, lambda site: key(site)[:2], lambda b, h: True)
        for base, head in pairs:
            if (base is None or head is None) and in_class_only_on_one_side(ctx, base or head):
                continue
            if base is not None and head is None:
                text = render_call(base, width=50)
                yield self.report(ctx, anchor(ctx, "base", base.index),
                                  f"dropout no longer applied: {text} removed",
                                  base_line=ctx.base.logical[base.index].start + 1, before=text)
            elif head is not None and base is None:
                text = render_call(head, width=50)
                yield self.report(ctx, ctx.head.span(head.index, head.call.node),
                                  f"dropout applied: {text} added", after=text)


def _apply_key(ctx: PythonContext, site: CallSite) -> tuple:
    callee = site.call.callee
    if site.side == "base":
        callee = ".".join(ctx.renames.get(part, part) for part in callee.split("."))
    return scope_key(ctx, site, "apply") + (callee,)


# -- data augmentation -------------------------------------------------------------------------------------
_AUGMENTATION_MODULES = ("torchvision.transforms.", "albumentations.", "kornia.augmentation.", "timm.data.",
                         "torchaudio.transforms.", "monai.transforms.", "audiomentations.")
_RANDOM_TRANSFORM = re.compile(r"^Random\w+$")
_AUGMENTATION = re.compile(r"^(?:\w*ColorJitter|RandAugment|AutoAugment|TrivialAugmentWide|AugMix|GaussianBlur|"
                           r"ElasticTransform|\w*Erasing|MixUp|Mixup|CutMix|Cutmix|Cutout|CutOut|FastCollateMixup|"
                           r"HorizontalFlip|VerticalFlip|ShiftScaleRotate|CoarseDropout|GridDropout|"
                           r"\w*Noise|\w*BrightnessContrast|HueSaturationValue|RGBShift|CLAHE|Posterize|Solarize|"
                           r"Sharpen|MotionBlur|MedianBlur|RandAugmentMC|FrequencyMasking|TimeMasking|SpecAugment|"
                           r"rand_augment_transform|auto_augment_transform|augment_and_mix_transform)$")
_NOT_AUGMENTATION = frozenset({"RandomSampler", "RandomState", "RandomApply", "RandomChoice", "RandomOrder"})


def is_augmentation_call(qualname: str, call: CallFact, view: ModuleView) -> bool:
    """A random transform that augments training data: torchvision's ``Random*``, ``ColorJitter``,
    ``RandAugment``..., albumentations, kornia, timm's Mixup and transform factories."""
    if call.in_lambda_or_def:
        return False
    last = qualname.rsplit(".", 1)[-1]
    if last in _NOT_AUGMENTATION:
        return False
    if apis.has_role(qualname, "augmentation"):
        return True  # the knowledge table's entries and patterns (knowledge/libraries.py)
    in_library = qualname.startswith(_AUGMENTATION_MODULES)
    if _RANDOM_TRANSFORM.match(last):
        return in_library or ("." not in qualname and last in _local_classes(view))
    if not _AUGMENTATION.match(last):
        return False
    if in_library:
        return True
    return call.receiver is None or call.receiver.split(".", 1)[0] in view.aliases


def _local_classes(view: ModuleView) -> set[str]:
    return view_fact(view, "classes", lambda: set(re.findall(r"^[ \t]*class[ \t]+(\w+)", view.text, re.M)))


def augmentation_pairs(ctx: PythonContext) -> list[tuple]:
    return paired_calls(ctx, is_augmentation_call, "augmentation")


class AugmentationChanged(ValueRule, Rule):
    """Data augmentation changed: a random transform added, removed or replaced
    (``RandomCrop``, ``RandomHorizontalFlip``, ``ColorJitter``, ``RandAugment``, ``RandomErasing``,
    albumentations, kornia), its arguments, or an augmentation setting (mixup / cutmix alpha,
    ``auto_augment``, ``reprob``, ``color_jitter``...).

    Augmentation is the strongest regularizer in vision training: removing the random crop and
    flip from a CIFAR recipe costs several points of accuracy, adding strong augmentation to a
    short schedule can underfit. Augmentation belongs to the training pipeline only; check that
    it did not leak into evaluation transforms.
    """

    code = "ML902"
    family = "regularization"
    name = "augmentation"
    summary = "Data augmentation added, removed or changed (random transforms, mixup/cutmix settings)"
    topics = ("augmentation",)
    examples = (
        Example(
            before="import torchvision.transforms as transforms\ntf = transforms.Compose([\n"
                   "    transforms.RandomCrop(32, padding=4),\n    transforms.RandomHorizontalFlip(),\n"
                   "    transforms.ToTensor(),\n])\n",
            after="import torchvision.transforms as transforms\ntf = transforms.Compose([\n"
                  "    transforms.RandomHorizontalFlip(),\n    transforms.ToTensor(),\n])\n",
            expect=(Expect(3, "augmentation transforms.RandomCrop(32, padding=4) removed"),),
        ),
        Example(
            before="from torchvision import transforms\ntf = transforms.RandomResizedCrop(224)\n",
            after="from torchvision import transforms\ntf = transforms.RandomResizedCrop(224, scale=(0.35, 1.0))\n",
            expect=(Expect(2, "augmentation transforms.RandomResizedCrop(224) -> transforms.RandomResizedCrop(224, scale="),),
        ),
        Example(
            before="import argparse\np = argparse.ArgumentParser()\np.add_argument('--mixup', type=float, default=0.0)\n",
            after="import argparse\np = argparse.ArgumentParser()\np.add_argument('--mixup', type=float, default=0.8)\n",
            expect=(Expect(3, "--mixup default 0.0 -> 0.8"),),
        ),
        Example(
            before="import albumentations as A\naug = A.Compose([A.Resize(256, 256)])\n",
            after="import albumentations as A\naug = A.Compose([A.Resize(256, 256), A.HorizontalFlip(p=0.5)])\n",
            expect=(Expect(2, "augmentation HorizontalFlip(p=0.5) added"),),
        ),
        Example(  # a deterministic transform is not augmentation
            before="from torchvision import transforms\ntf = transforms.Compose([transforms.Resize(256), transforms.ToTensor()])\n",
            after="from torchvision import transforms\ntf = transforms.Compose([transforms.Resize(288), transforms.ToTensor()])\n",
        ),
        Example(  # the pipeline reformatted, one transform per line
            before="from torchvision import transforms\n"
                   "tf = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()])\n",
            after="from torchvision import transforms\ntf = transforms.Compose([\n"
                  "    transforms.RandomCrop(32, padding=4),\n    transforms.RandomHorizontalFlip(),\n])\n",
        ),
        Example(  # a random sampler is not augmentation
            before="import torch\nsampler = torch.utils.data.SequentialSampler(ds)\n",
            after="import torch\nsampler = torch.utils.data.SequentialSampler(ds)  # deterministic order\n",
        ),
    )

    def accepts(self, ctx: Context, value_change: ValueChange) -> bool:
        if is_test_file(ctx.path):
            return False
        values = [v for v in (value_change.old, value_change.new) if v is not None]
        if any(v.node is not None and isinstance(v.node, cst.Call) for v in values):
            return False  # ``self.aa = create_aa(...)``: a layer (anti-aliasing), not a setting
        return not is_placeholder(value_change)

    def check(self, ctx: Context) -> Iterator[Finding]:
        yield from super().check(ctx)
        if not isinstance(ctx, PythonContext) or is_test_file(ctx.path):
            return
        for value_change in named_argument_changes(ctx, "regularization"):
            if value_change.topic == "augmentation" and self.accepts(ctx, value_change):
                yield report_value_change(self, ctx, value_change)
        for base, head in augmentation_pairs(ctx):
            one_sided = report_added_or_removed(self, ctx, base, head, "augmentation")
            if one_sided is not None:
                yield one_sided
            elif base.qualname != head.qualname or argument_changes(ctx, base, head):
                yield self.report(ctx, site_span(ctx, head),
                                  f"augmentation {render_call(base, READER, 50)} -> {render_call(head, READER, 50)}",
                                  base_line=base_line(ctx, base), before=render_call(base, READER, 200),
                                  after=render_call(head, READER, 200))

