"""precision: autocast and GradScaler, dtypes, TF32 / matmul precision, framework precision settings."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

import libcst as cst

from mldiff.analysis.values import NOT_LITERAL, dotted_name
from mldiff.analysis.walk import walk
from mldiff.facts.anchors import anchor, base_line, site_span
from mldiff.facts.context import Context, PythonContext
from mldiff.facts.equivalence import resolve_literal
from mldiff.facts.pairing import pair, pair_calls
from mldiff.facts.render import value_text
from mldiff.facts.sites import CallSite, argument_changes, argument_of, arguments_of, call_sites
from mldiff.findings import Finding, Fix, Span, TextEdit
from mldiff.knowledge import apis
from mldiff.rules.base import Example, Expect, Rule
from mldiff.rules.values import ValueRule

_TRAIN_PRELUDE = "import torch\nmodel = torch.nn.Linear(4, 2)\nopt = torch.optim.SGD(model.parameters(), lr=0.1)\n"


def _is_autocast(qualname, call, view) -> bool:
    return apis.is_autocast(qualname) or (call.method == "autocast" and call.receiver is not None
                                          and call.receiver.rsplit(".", 1)[-1] in ("accelerator", "fabric"))


def autocast_dtype(view, site) -> str:
    """The dtype an autocast region computes in: its dtype argument, else the device's default
    (float16 on CUDA, bfloat16 on CPU)."""
    dtype = argument_of(site.call, site.qualname, "dtype")
    if dtype is not None:
        literal = resolve_literal(view, dtype)
        text = literal if isinstance(literal, str) else dtype.code
        return text.replace("torch.", "")
    device = argument_of(site.call, site.qualname, "device_type")
    device_literal = resolve_literal(view, device) if device is not None else NOT_LITERAL
    if site.qualname == "torch.cpu.amp.autocast" or device_literal == "cpu":
        return "bfloat16"
    if site.qualname == "torch.cuda.amp.autocast" or device_literal == "cuda":
        return "float16"
    return "float16 on CUDA" if device is None else f"float16 on CUDA (device_type={device.code})"


def _enabled_note(view, site) -> str:
    enabled = argument_of(site.call, site.qualname, "enabled")
    if enabled is None:
        return ""
    literal = resolve_literal(view, enabled)
    if enabled.is_literal:
        return f", enabled={enabled.code}"
    if literal is not NOT_LITERAL:
        return f", enabled={enabled.code} ({literal!r})"
    return f", enabled={enabled.code}"


class AutocastChanged(Rule[PythonContext]):
    """Mixed-precision autocast was added, removed, or moved to another device type.

    Inside ``autocast`` matmuls and convolutions run in float16 (CUDA's default) or
    bfloat16: faster and lighter, but with less precision and, for float16, a narrow
    range that needs a GradScaler. Adding it changes the numerics of every step;
    removing it slows training and raises memory. Check the dtype, that a GradScaler
    accompanies float16, and that evaluation uses the same precision.
    """

    code = "ML101"
    family = "precision"
    name = "autocast"
    summary = "autocast (mixed precision) added, removed or its device type changed"
    examples = (
        Example(
            before=_TRAIN_PRELUDE + "scaler = torch.cuda.amp.GradScaler()\nfor x, y in data:\n"
                   "    loss = model(x).sum()\n",
            after=_TRAIN_PRELUDE + "scaler = torch.cuda.amp.GradScaler()\nfor x, y in data:\n"
                  "    with torch.autocast('cuda', dtype=torch.bfloat16):\n        loss = model(x).sum()\n",
            expect=(Expect(6, "autocast added (bfloat16)"),),
        ),
        Example(
            before=_TRAIN_PRELUDE + "with torch.autocast(device_type='cuda'):\n    out = model(x)\n",
            after=_TRAIN_PRELUDE + "out = model(x)\n",
            expect=(Expect(4, "autocast removed"),),
        ),
        Example(  # the context object is built once and used by name: still autocast
            before="import torch\nctx = None\n",
            after="import torch\nctx = torch.amp.autocast(device_type='cuda', dtype=torch.bfloat16)\n",
            expect=(Expect(2, "autocast added (bfloat16)"),),
        ),
        Example(  # re-indented with the same arguments
            before="import torch\nwith torch.autocast('cuda', dtype=torch.bfloat16):\n    y = f(x)\n",
            after="import torch\nif True:\n    with torch.autocast('cuda', dtype=torch.bfloat16):\n        y = f(x)\n",
        ),
        Example(  # the autocast is now built once and entered by name: same precision
            before="import torch\nfor x in data:\n    with torch.autocast('cuda', dtype=torch.bfloat16):\n"
                   "        y = model(x)\n",
            after="import torch\nctx = torch.autocast('cuda', dtype=torch.bfloat16)\nfor x in data:\n"
                  "    with ctx:\n        y = model(x)\n",
        ),
        Example(  # a comment about autocast
            before="import torch\n# TODO: autocast\ny = f(x)\n",
            after="import torch\n# autocast would help here (fp16)\ny = f(x)\n",
        ),
    )

    def check(self, ctx: PythonContext) -> Iterator[Finding]:
        pairs = pair(autocast_regions(ctx, "base"), autocast_regions(ctx, "head"),
                     key=lambda region: "autocast",
                     same=lambda b, h: autocast_dtype(ctx.base, b.site) == autocast_dtype(ctx.head, h.site))
        for base, head in pairs:
            if head is not None and base is None:
                dtype = autocast_dtype(ctx.head, head.site)
                yield self.report(ctx, head.span(ctx),
                                  f"autocast added ({dtype}{_enabled_note(ctx.head, head.site)})",
                                  before=None, after=head.site.call.callee)
            elif base is not None and head is None:
                dtype = autocast_dtype(ctx.base, base.site)
                yield self.report(ctx, base.span(ctx),
                                  f"autocast removed: this code now runs in float32 (was {dtype})",
                                  base_line=ctx.base.logical[base.index].start + 1,
                                  before=base.site.call.callee, after=None)
            elif base is not None and head is not None and not base.indirect and not head.indirect:
                for param, old, new in argument_changes(ctx, base.site, head.site, only=("device_type",)):
                    yield self.report(ctx, head.span(ctx),
                                      f"autocast device_type {value_text(old)} -> {value_text(new)}",
                                      base_line=ctx.base.logical[base.index].start + 1,
                                      before=value_text(old), after=value_text(new), severity="information")


@dataclass(frozen=True)
class AutocastRegion:
    """Code that runs under autocast: ``with torch.autocast(...)``, ``with ctx:`` where
    ``ctx`` is bound to an autocast, or an autocast call that is not bound for later use."""

    side: str
    index: int
    site: CallSite          # the autocast call (for ``with ctx:``, the one ctx is bound to)
    indirect: bool
    node: cst.CSTNode | None = None  # where to anchor: the with-item for indirect regions

    def span(self, ctx: PythonContext) -> Span:
        if self.side == "head":
            return ctx.head.span(self.index, self.node if self.node is not None else self.site.call.node)
        return anchor(ctx, "base", self.index)


def autocast_regions(ctx: PythonContext, side: str) -> list[AutocastRegion]:
    view = ctx.view(side)
    out = []
    for index in ctx.touched(side):
        facts = view.facts(index)
        for item in facts.with_items:
            name = dotted_name(item.node) if item.node is not None else None
            if name and "(" not in name:
                definition = _autocast_bound_to(view, name)
                if definition is not None:
                    out.append(AutocastRegion(side, index, definition, True, item.node))
        for call in facts.calls:
            qualname = apis.canonical(view.qualname(call))
            if not _is_autocast(qualname, call, view):
                continue
            bound = [b.target for b in facts.bindings if b.value is not None and b.value.node is not None
                     and _contains(b.value.node, call.node)]
            if bound and _used_in_with(view, bound[0]):
                continue  # a definition: its `with` uses are the regions
            out.append(AutocastRegion(side, index, CallSite(side, index, call, qualname), False))
    return out


def _contains(outer, inner) -> bool:
    """Is node ``inner`` inside (or) ``outer``?"""
    found = False

    def enter(node) -> bool:
        nonlocal found
        found = found or node is inner
        return not found

    walk(outer, enter)
    return found


def _used_in_with(view, name: str) -> bool:
    return bool(view.lines_matching(re.compile(r"\bwith\s+(?:[^:\n]*,\s*)?" + re.escape(name) + r"\s*[:,]"),
                                    ("with",)))


def _autocast_bound_to(view, name: str) -> CallSite | None:
    """The autocast call that ``name`` is bound to (anywhere in its value), if any."""
    for index, binding in view.definitions(name):
        for call in view.facts(index).calls:
            qualname = apis.canonical(view.qualname(call))
            if _is_autocast(qualname, call, view) and binding.value is not None and binding.value.node is not None \
                    and _contains(binding.value.node, call.node):
                return CallSite("head" if view is not None else "", index, call, qualname)
    return None


def _is_scaler(qualname, call, view) -> bool:
    return apis.is_grad_scaler(qualname)


class GradScalerChanged(Rule[PythonContext]):
    """A GradScaler was created, removed, or its settings changed.

    float16 gradients underflow to zero without loss scaling; the scaler multiplies the
    loss, unscales gradients before the step and skips steps with inf/NaN. Removing it
    under float16 autocast silently loses small gradients; ``enabled=False`` turns it
    into a no-op; ``init_scale`` and ``growth_interval`` change how many early steps are
    skipped.
    """

    code = "ML102"
    family = "precision"
    name = "grad-scaler"
    summary = "GradScaler created, removed or its settings changed"
    examples = (
        Example(
            before="import torch\nuse_amp = True\n",
            after="import torch\nuse_amp = True\nscaler = torch.cuda.amp.GradScaler(enabled=use_amp)\n",
            expect=(Expect(3, "GradScaler created"),),
        ),
        Example(
            before="import torch\nscaler = torch.amp.GradScaler('cuda')\n",
            after="import torch\nscaler = torch.amp.GradScaler('cuda', init_scale=1024)\n",
            expect=(Expect(2, "GradScaler init_scale (default) -> 1024"),),
        ),
        Example(
            before="import torch\nscaler = torch.amp.GradScaler('cuda')\nx = 1\n",
            after="import torch\nx = 1\n",
            expect=(Expect(2, "GradScaler removed"),),
        ),
        Example(  # only the spelling of the import changed
            before="import torch\nscaler = torch.cuda.amp.GradScaler()\n",
            after="from torch.cuda.amp import GradScaler\nscaler = GradScaler()\n",
        ),
    )

    def check(self, ctx: PythonContext) -> Iterator[Finding]:
        for base, head in pair_calls(ctx, _is_scaler, key=lambda site: "scaler"):
            if head is not None and base is None:
                yield self.report(ctx, site_span(ctx, head), "GradScaler created: float16 losses are now "
                                  "scaled and steps with inf/NaN gradients skipped", after=head.call.callee)
            elif base is not None and head is None:
                yield self.report(ctx, site_span(ctx, base),
                                  "GradScaler removed: float16 gradients may underflow to zero",
                                  base_line=base_line(ctx, base), before=base.call.callee)
            elif base is not None and head is not None:
                parts = [f"{name} {'(default)' if old is None else value_text(old)} -> "
                         f"{'(default)' if new is None else value_text(new)}"
                         for name, old, new in argument_changes(ctx, base, head) if name != "device"]
                if parts:
                    yield self.report(ctx, site_span(ctx, head), "GradScaler " + ", ".join(parts),
                                      base_line=base_line(ctx, base))


_CAST_METHODS = {"half": "float16", "bfloat16": "bfloat16"}
_DTYPE_ATTR = re.compile(r"(?:torch\.)?(float16|half|bfloat16|float32|float|float64|double)$")


_MODEL_LIKE = re.compile(r"(?:^|[._])(?:model|net|network|module|backbone|teacher|student|encoder|decoder|"
                         r"policy|generator|discriminator|transformer|vae|unet|llm|critic|actor)s?$", re.I)


def _dtype_of_cast(view, call) -> str | None:
    """``model.half()`` -> float16; ``model.to(torch.bfloat16)`` / ``.to(dtype=...)`` -> bfloat16.
    Only for the model (by name): tensors are cast all the time for unrelated reasons."""
    receiver = (call.receiver or "").replace("(...)", "")
    if not _MODEL_LIKE.search(receiver.split(".cuda")[0].split(".to")[0]):
        return None
    if call.method in _CAST_METHODS and call.receiver and not call.args and not call.kwargs:
        return _CAST_METHODS[call.method]
    if call.method == "to" and call.receiver:
        for value in (*call.args, call.kwarg("dtype")):
            if value is None:
                continue
            resolved = view.resolve(value.code) if not value.is_literal else ""
            match = _DTYPE_ATTR.match(resolved) if resolved.startswith("torch.") else None
            if match:
                return {"half": "float16", "float": "float32", "double": "float64"}.get(match.group(1),
                                                                                        match.group(1))
    return None


class DtypeChanged(ValueRule, Rule):
    """A dtype changed: a dtype setting (``dtype = 'bfloat16'``), the dtype autocast or a
    framework is given, or a model / tensor cast (``model.half()``, ``.to(torch.bfloat16)``).

    float16 has a narrow range (overflow above 65504, underflow below ~6e-8) and needs
    loss scaling; bfloat16 keeps float32's range with fewer mantissa bits; float32 is
    slower and heavier. Casting the model's weights (not just autocasting the compute)
    also changes the precision of the optimizer's updates. Check that the hardware
    supports the dtype and that a GradScaler accompanies float16.
    """

    code = "ML103"
    family = "precision"
    name = "dtype"
    summary = "dtype setting, autocast dtype or model cast changed"
    topics = ("dtype",)
    examples = (
        Example(
            before="dtype = 'bfloat16' # 'float32' or 'bfloat16'\n",
            after="dtype = 'float16' # 'float32' or 'bfloat16'\n",
            expect=(Expect(1, "dtype 'bfloat16' -> 'float16'"),),
        ),
        Example(
            before="import torch\nctx = torch.autocast('cuda', dtype=torch.bfloat16)\n",
            after="import torch\nctx = torch.autocast('cuda', dtype=torch.float16)\n",
            expect=(Expect(2, "autocast dtype torch.bfloat16 -> torch.float16"),),
        ),
        Example(
            before="import torch\nmodel = Net().cuda()\n",
            after="import torch\nmodel = Net().cuda()\nmodel.half()\n",
            expect=(Expect(3, "model cast to float16"),),
        ),
        Example(  # only the comment changed
            before="dtype = 'bfloat16' # 'float32' or 'bfloat16'\n",
            after="dtype = 'bfloat16' # 'float32', 'bfloat16', or 'float16'\n",
        ),
        Example(  # a tensor converted for logging, not the model
            before="import torch\nprint(loss.item())\n",
            after="import torch\nprint(loss.float().item())\n",
        ),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        yield from super().check(ctx)
        if not isinstance(ctx, PythonContext):
            return
        # (receiver, dtype) of each cast, per side: a cast the other side also makes is no change
        casts = {side: [((site.call.receiver, _dtype_of_cast(ctx.view(side), site.call)), site)
                        for site in call_sites(ctx, side, lambda q, call, v: _dtype_of_cast(v, call) is not None)]
                 for side in ("base", "head")}
        for side, other in (("base", "head"), ("head", "base")):
            kept = {key for key, _ in casts[other]}
            for key, site in casts[side]:
                if key in kept:
                    continue
                dtype = key[1]
                what = (site.call.receiver or "tensor").replace("(...)", "()")
                if side == "head":
                    yield self.report(ctx, site_span(ctx, site), f"{what} cast to {dtype}",
                                      after=site.call.callee)
                else:
                    yield self.report(ctx, site_span(ctx, site), f"{what} no longer cast to {dtype}",
                                      base_line=base_line(ctx, site), before=site.call.callee)


class MatmulPrecisionChanged(ValueRule, Rule):
    """TF32 / float32 matmul precision flags changed.

    ``torch.backends.cuda.matmul.allow_tf32``, ``torch.backends.cudnn.allow_tf32`` and
    ``torch.set_float32_matmul_precision`` decide whether float32 matmuls and
    convolutions run on TF32 tensor cores (10-bit mantissa) on Ampere and newer GPUs:
    several times faster, slightly different results. Results that must match earlier
    runs, or numerically sensitive code, may need them off.
    """

    code = "ML104"
    family = "precision"
    name = "matmul-precision"
    summary = "TF32 / float32 matmul precision flags changed"
    topics = ("tf32",)
    examples = (
        Example(
            before="import torch\n",
            after="import torch\ntorch.backends.cuda.matmul.allow_tf32 = True # allow tf32 on matmul\n",
            expect=(Expect(2, "torch.backends.cuda.matmul.allow_tf32 set to True"),),
        ),
        Example(
            before="import torch\ntorch.set_float32_matmul_precision('highest')\n",
            after="import torch\ntorch.set_float32_matmul_precision('high')\n",
            expect=(Expect(2, "float32 matmul precision 'highest' -> 'high'"),),
        ),
        Example(  # a global switch set inside a function is set all the same
            before="import torch\ndef main(args):\n    model = build(args)\n",
            after="import torch\ndef main(args):\n    torch.backends.cuda.matmul.allow_tf32 = True\n    model = build(args)\n",
            expect=(Expect(3, "torch.backends.cuda.matmul.allow_tf32 set to True"),),
        ),
        Example(  # the comment changed only
            before="import torch\ntorch.backends.cudnn.allow_tf32 = True\n",
            after="import torch\ntorch.backends.cudnn.allow_tf32 = True # allow tf32 on cudnn\n",
        ),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        yield from ValueRule.check(self, ctx)
        if not isinstance(ctx, PythonContext):
            return
        for base, head in pair_calls(ctx, lambda q, c, v: q == "torch.set_float32_matmul_precision",
                                     key=lambda site: site.qualname):
            old = argument_of(base.call, base.qualname, "precision") if base else None
            new = argument_of(head.call, head.qualname, "precision") if head else None
            if base and head and old is not None and old.same_as(new):
                continue
            site = head or base
            message = (f"float32 matmul precision {value_text(old)} -> {value_text(new)}" if base and head else
                       f"float32 matmul precision set to {value_text(new)}" if head else
                       f"float32 matmul precision {value_text(old)} removed (back to 'highest')")
            yield self.report(ctx, site_span(ctx, site), message, base_line=base_line(ctx, base))


_FRAMEWORK_PRECISION = {"precision", "mixed_precision", "fp16", "bf16", "fp16_opt_level", "half_precision_backend",
                        "amp_backend", "amp_level", "tf32"}


class FrameworkPrecisionChanged(Rule[PythonContext]):
    """A training framework's precision setting changed: Lightning / Fabric ``precision=``,
    Accelerate ``mixed_precision=``, Hugging Face ``TrainingArguments(fp16=, bf16=)``.

    These switch the whole training loop between float32, float16 with loss scaling,
    and bfloat16; every step's numerics change, as do memory and speed.
    """

    code = "ML105"
    family = "precision"
    name = "framework-precision"
    summary = "Lightning / Fabric / Accelerate / Trainer precision setting changed"
    examples = (
        Example(
            before="import lightning as L\ntrainer = L.Trainer(max_epochs=10)\n",
            after="import lightning as L\ntrainer = L.Trainer(max_epochs=10, precision='16-mixed')\n",
            expect=(Expect(2, "Trainer precision set to '16-mixed'"),),
        ),
        Example(
            before="from accelerate import Accelerator\nacc = Accelerator(mixed_precision='no')\n",
            after="from accelerate import Accelerator\nacc = Accelerator(mixed_precision='bf16')\n",
            expect=(Expect(2, "Accelerator mixed_precision 'no' -> 'bf16'"),),
        ),
        Example(  # another argument of the trainer changed
            before="import lightning as L\ntrainer = L.Trainer(max_epochs=10, precision=32)\n",
            after="import lightning as L\ntrainer = L.Trainer(max_epochs=10, precision=32, logger=False)\n",
        ),
    )

    @staticmethod
    def _framework(qualname, call, view) -> bool:
        last = qualname.rsplit(".", 1)[-1]
        return (qualname.startswith(("lightning.", "accelerate.", "transformers.")) and
                last in ("Trainer", "Fabric", "Accelerator", "TrainingArguments", "Seq2SeqTrainingArguments"))

    def check(self, ctx: PythonContext) -> Iterator[Finding]:
        for base, head in pair_calls(ctx, self._framework):
            if base is None or head is None:
                site = head or base
                args = arguments_of(site.call, site.qualname)
                for name in _FRAMEWORK_PRECISION & set(args):
                    if head is not None:
                        yield self.report(ctx, site_span(ctx, head),
                                          f"{head.short} {name} set to {value_text(args[name])}")
                continue
            for name, old, new in argument_changes(ctx, base, head, only=_FRAMEWORK_PRECISION):
                message = (f"{head.short} {name} {value_text(old)} -> {value_text(new)}" if old and new else
                           f"{head.short} {name} set to {value_text(new)}" if new else
                           f"{head.short} {name} {value_text(old)} removed (back to the default)")
                yield self.report(ctx, site_span(ctx, head), message, base_line=base_line(ctx, base),
                                  before=value_text(old) if old else None, after=value_text(new) if new else None)


def _creates_scaler(view) -> bool:
    """Does the file create a GradScaler anywhere (or hand scaling to a framework)?"""
    pattern = re.compile(r"GradScaler|ShardedGradScaler|accelerator|Accelerator|Fabric|lightning")
    for index in view.lines_matching(pattern, ("Scaler", "ccelerat", "Fabric", "lightning")):
        for call in view.facts(index).calls:
            qualname = apis.canonical(view.qualname(call))
            if apis.is_grad_scaler(qualname) or qualname.startswith(("accelerate.", "lightning.")):
                return True
    return False


class Float16WithoutGradScaler(Rule[PythonContext]):
    """float16 autocast is used and nothing scales the loss.

    Gradients of float16 activations underflow to zero below about 6e-8: without a
    GradScaler (``torch.amp.GradScaler``) many small gradients vanish and training
    stalls or diverges without an error. bfloat16 has float32's range and needs no
    scaler. Create a GradScaler and use ``scaler.scale(loss).backward()``,
    ``scaler.step(optimizer)``, ``scaler.update()`` — or autocast to bfloat16.
    """

    code = "ML106"
    family = "precision"
    name = "float16-without-grad-scaler"
    reports_new_files = True
    summary = "float16 autocast added without a GradScaler"
    examples = (
        Example(
            before=_TRAIN_PRELUDE + "for x in data:\n    loss = model(x).sum()\n    loss.backward()\n",
            after=_TRAIN_PRELUDE + "for x in data:\n    with torch.autocast('cuda', dtype=torch.float16):\n"
                  "        loss = model(x).sum()\n    loss.backward()\n",
            expect=(Expect(5, "float16 autocast without a GradScaler"), Expect(5, "", code="ML101")),
        ),
        Example(  # bfloat16 needs no scaler
            before=_TRAIN_PRELUDE + "for x in data:\n    loss = model(x).sum()\n",
            after=_TRAIN_PRELUDE + "for x in data:\n    with torch.autocast('cuda', dtype=torch.bfloat16):\n"
                  "        loss = model(x).sum()\n",
            expect=(Expect(5, "autocast added (bfloat16)", code="ML101"),),
        ),
        Example(  # a scaler exists elsewhere in the file
            before=_TRAIN_PRELUDE + "scaler = torch.amp.GradScaler('cuda')\nfor x in data:\n    loss = model(x).sum()\n",
            after=_TRAIN_PRELUDE + "scaler = torch.amp.GradScaler('cuda')\nfor x in data:\n"
                  "    with torch.autocast('cuda', dtype=torch.float16):\n        loss = model(x).sum()\n",
            expect=(Expect(6, "autocast added (float16)", code="ML101"),),
        ),
        Example(  # a comment about float16
            before=_TRAIN_PRELUDE + "loss = model(x).sum()\n",
            after=_TRAIN_PRELUDE + "# float16 autocast would need a GradScaler\nloss = model(x).sum()\n",
        ),
    )

    def check(self, ctx: PythonContext) -> Iterator[Finding]:
        if ctx.head is None:
            return
        sites = [s for s in call_sites(ctx, "head", _is_autocast) if "float16" in autocast_dtype(ctx.head, s)
                 and "bfloat16" not in autocast_dtype(ctx.head, s)]
        if not sites:
            return
        base_float16 = [s for s in call_sites(ctx, "base", _is_autocast)
                        if "float16" in autocast_dtype(ctx.base, s) and "bfloat16" not in autocast_dtype(ctx.base, s)]
        if base_float16 and not _creates_scaler(ctx.base) and len(base_float16) >= len(sites):
            return  # the same problem was there before
        if _creates_scaler(ctx.head):
            return
        site = sites[0]
        yield self.report(ctx, site_span(ctx, site),
                          f"float16 autocast without a GradScaler: small gradients underflow to zero "
                          f"({autocast_dtype(ctx.head, site)}; bfloat16 needs none)")


class DeprecatedAmpApi(Rule[PythonContext]):
    """``torch.cuda.amp.autocast`` / ``torch.cuda.amp.GradScaler`` are deprecated.

    Since PyTorch 2.4 they warn at every call; ``torch.amp.autocast("cuda", ...)`` and
    ``torch.amp.GradScaler("cuda", ...)`` are the current API with the same behaviour.
    Only calls the change introduces get this hint.
    """

    code = "ML107"
    family = "precision"
    name = "deprecated-cuda-amp"
    severity = "hint"
    summary = "torch.cuda.amp.autocast / GradScaler used where torch.amp is the current API"
    examples = (
        Example(
            before="import torch\ny = model(x)\n",
            after="import torch\nwith torch.cuda.amp.autocast():\n    y = model(x)\n",
            expect=(Expect(2, "use torch.amp.autocast(\"cuda\", ...)", column=6,
                           fix='import torch\nwith torch.amp.autocast("cuda"):\n    y = model(x)\n'),
                    Expect(2, "", code="ML101"),
                    Expect(2, "", code="ML106")),
        ),
        Example(  # untouched old-API line stays quiet
            before="import torch\nscaler = torch.cuda.amp.GradScaler()\nlr = 1\n",
            after="import torch\nscaler = torch.cuda.amp.GradScaler()\nlr = 1  # fixed\n",
        ),
    )

    _REPLACEMENTS = {"torch.cuda.amp.autocast": ("torch.amp.autocast", "cuda"),
                     "torch.cpu.amp.autocast": ("torch.amp.autocast", "cpu"),
                     "torch.cuda.amp.GradScaler": ("torch.amp.GradScaler", "cuda")}

    def check(self, ctx: PythonContext) -> Iterator[Finding]:
        pairs = pair_calls(ctx, lambda q, c, v: q in self._REPLACEMENTS)
        for site in [head for base, head in pairs if head is not None and base is None]:
            new_name, device = self._REPLACEMENTS[site.qualname]
            fixes = []
            if ctx.head.aliases.get("torch") == "torch":
                fixes.append(self._fix(ctx, site, new_name, device))
            yield self.report(ctx, site_span(ctx, site),
                              f"{site.qualname} is deprecated: use {new_name}(\"{device}\", ...)",
                              fixes=[f for f in fixes if f])

    @staticmethod
    def _fix(ctx: PythonContext, site, new_name, device) -> Fix | None:
        call = site.call.node
        func_span = ctx.head.span(site.index, call.func)
        edits = [TextEdit(func_span, new_name)]
        if call.args:
            first = ctx.head.span(site.index, call.args[0])
            edits.append(TextEdit(type(first)(first.line, first.column, first.line, first.column), f'"{device}", '))
        else:
            end = ctx.head.span(site.index, call)
            edits.append(TextEdit(type(end)(end.end_line, end.end_column - 1, end.end_line, end.end_column - 1),
                                  f'"{device}"'))
        label = "autocast" if "autocast" in new_name else "GradScaler"
        return Fix(f"Use {new_name}('{device}')" if label == "autocast"
                   else f"Use torch.amp.GradScaler('{device}')", tuple(edits))
