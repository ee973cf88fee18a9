"""normalization: Normalize transforms, normalization layers, input scaling."""
from __future__ import annotations

from mldiff.analysis import apis
from mldiff.rules.base import Example, Expect, Rule
from mldiff.rules.common import (argument_changes, base_line, pair_calls, restore_fix, site_span,
                                 value_text)


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
