"""The generic rule: one finding per hunk and family for a change no specific rule reported.

The specific rules of each family know their idioms and say the most (``learning rate 1e-3 ->
1e-2 (Adam lr)``). Code they were not written for still changes training: a clipping call
that moved under ``if need_update:``, ``fused=True`` arriving through ``**extra_args``, a loss
moved into ``autocast``. The facts layer finds every such statement-level delta
(``facts.deltas``) and what it is about (``facts.classify``); this rule reports the first
delta of each family in a hunk where no other rule of that family reported, at information
severity, with the old and new code.

What it reports, in the order a statement is classified:

- a statement added, removed or changed whose own code does something known: a call of an API
  in the knowledge table (``knowledge/``) or of a method on a receiver of a known kind
  (``scaler.step``, ``x.pin_memory()``), a function of the file summarised by what it does
  (``Lambda(to_unit)``), a known API named rather than called, which the code will build
  (``{"cross_entropy": nn.CrossEntropyLoss}``, ``opt_cls = torch.optim.AdamW``,
  ``partial(torch.optim.SGD, ...)``; not where it is only inspected, as in ``isinstance``),
  an argument that now names an object built differently (a test set given the training
  transform), an optimizer, scheduler, scaler or loader now kept where it was built and
  dropped (or the other way round), arithmetic that scales inputs or masks labels with the
  ignore index;
- else where its value goes: into a known API's parameter, or into the loss that is
  backpropagated (``loss.backward()``, ``scaler.scale(loss)``, timm's ``loss_scaler(loss,
  optimizer)``, a method of the file that backpropagates its argument), through the
  arithmetic after the forward pass (loss weights, SNR terms) or, before any forward pass the
  file names, as a term added or scaled into it (``loss = pg_loss + c * entropy_loss``);
- else what the function around it is for, when every line there serves one operation (a
  function or method whose result is backpropagated, a ``forward`` whose result the training
  loop backpropagates, a function that masks labels: then only the lines that feed the
  masking; a function whose result becomes the learning rate, bound to it whole or held as a
  table the rate is read from, ``group["lr"] = values[it]``, not one factor of it; for a
  module-level function its own file does not call, what the project's other files that
  import it do with its result, on each side: ``utils.cosine_scheduler`` changed, and
  ``main.py`` sets the learning rate from it), or the
  class around it: a loss (by its base, torch's ``_Loss``, or by the loss naming the loss
  rule recognises, ``class DINOLoss(nn.Module)``), an optimizer (a subclass of
  ``Optimizer``: its update rule) or a learning-rate scheduler (a subclass of one);
- an unchanged statement of a known kind whose context changed: now under another
  condition (a reworded condition counts only when it reads other names or values), inside
  or outside a ``with`` block, loop or ``try``, or moved past a statement of its family or
  one it reads from or feeds (the batch now fetched before the forward pass); likewise a
  call of a known kind whose conditional expression changed (``g.manual_seed(args.seed) if
  args.seed else None`` -> ``... if args.seed is not None else None``: seed 0 now seeds);
- a changed value of a setting no specific rule owns (``checkpointing``, ``dataset``), or of a
  parameter default that names a known class (``def build(opt_cls=torch.optim.AdamW)``), and
  a keyword named like a setting passed to a call the table does not know.

What it does not report: statements that only log, print, assert or document (and a
reduction across ranks, or an in-place update, of a local that only such lines read next);
an API's documented default written out or dropped (``BatchNorm1d(c, affine=True)`` ->
``BatchNorm1d(c)``, for every rule: ``knowledge/apis.DEFAULTS``); renames (of variables,
settings, dict keys, moved assignments), formatting, comments and code moved
unchanged; a value read through another object or its definition and found equal; a family
whose specific rules already spoke on the hunk; and anything it could classify only from a
string, a comment or a fragment of a name (a comment that mentions ``lr`` is not a
learning-rate change). Configs, requirements and Dockerfiles have their own rules; the generic
rule reads Python and notebooks.
"""
from __future__ import annotations

from functools import lru_cache
from typing import ClassVar, Iterable, Sequence

from mldiff.analysis.filekinds import is_test_file
from mldiff.analysis.values import contrast, shorten
from mldiff.facts.anchors import anchor
from mldiff.facts.classify import Role, delta_roles
from mldiff.facts.context import Context, PythonContext
from mldiff.facts.delta import ValueChange
from mldiff.facts.deltas import Delta, statement_deltas
from mldiff.facts.value_changes import named_argument_changes, value_changes
from mldiff.families import FAMILIES, FAMILY_NUMBERS
from mldiff.findings import Finding, Span
from mldiff.hunks import Hunk
from mldiff.rules.base import Example, Expect, Rule
from mldiff.rules.reporting import report_value_change


class FamilyDelta(Rule[Context]):
    """Base of the per-family generic rules (``ML199`` precision ... ``ML1299`` compile_distributed; environment files have their own rules)."""

    severity = "information"
    file_kinds = ("python", "notebook")
    runs_after_others: ClassVar[bool] = True

    def check(self, ctx: Context) -> Iterable[Finding]:
        return ()

    def check_after(self, ctx: Context, earlier: Sequence[Finding]) -> Iterable[Finding]:
        if not isinstance(ctx, PythonContext) or is_test_file(ctx.path):
            return
        covered = {(number, f.family) for f in earlier for number in _hunks_of_finding(ctx.hunks, f)}
        reported: set[int] = set()
        for value_change in unowned_value_changes(ctx, self.family):
            number = _hunk_of_line(ctx, value_change.span.line, value_change.base_line)
            if number < 0 or number in reported or (number, self.family) in covered:
                continue
            reported.add(number)
            yield report_value_change(self, ctx, value_change)
        for delta, role in _family_deltas(ctx, self.family):
            number = _hunk_of_delta(ctx, delta)
            if number < 0 or number in reported or (number, self.family) in covered:
                continue
            reported.add(number)
            yield self._finding(ctx, delta, role)

    def _finding(self, ctx: PythonContext, delta: Delta, role: Role) -> Finding:
        before = " ".join(ctx.base.source(delta.base).split()) if delta.base is not None else None
        after = " ".join(ctx.head.source(delta.head).split()) if delta.head is not None else None
        if delta.kind == "added":
            message = f"{role.noun} added: {shorten(after or '', 70)}"
        elif delta.kind == "removed":
            message = f"{role.noun} removed: {shorten(before or '', 70)}"
        elif delta.kind == "changed":
            old, new = contrast(before or "", after or "", 56)
            message = f"{role.noun} changed: {old} -> {new}"
        else:
            message = f"{shorten(after or '', 60)} {delta.detail}"
        span: Span = ctx.head.span(delta.head) if delta.head is not None else anchor(ctx, "base", delta.base or 0)
        base_line = ctx.base.logical[delta.base].start + 1 if delta.base is not None else None
        return self.report(ctx, span, message, base_line=base_line, before=before, after=after)


def unowned_value_changes(ctx: PythonContext, family: str) -> list[ValueChange]:
    """Changed values of ``family`` that no value rule owns: a topic no rule reports (``dataset``,
    ``checkpointing``), or a keyword named like a setting of a call the table does not know
    (``torch.zeros(n, dtype=np.float)`` -> ``np.float32``) where the family's rules do not look."""
    owned = _owned_topics()
    out = [change for change in value_changes(ctx) if change.family == family and change.topic not in owned]
    if family not in ("regularization", "batch_size"):  # those rules report these themselves
        out += named_argument_changes(ctx, family)
    return out


@lru_cache(maxsize=1)
def _owned_topics() -> frozenset[str]:
    """The setting topics a specific rule reports (the rule classes are fixed once imported)."""
    from mldiff.rules.base import all_rules
    return frozenset(topic for rule in all_rules() for topic in getattr(rule, "topics", ()))


def _hunk_of_line(ctx: PythonContext, line: int, base_line: int | None) -> int:
    for number, hunk in enumerate(ctx.hunks):
        if hunk.head_start <= line - 1 < max(hunk.head_end, hunk.head_start + 1) or (
                base_line is not None and hunk.base_start <= base_line - 1 < max(hunk.base_end, hunk.base_start + 1)):
            return number
    return -1


def _family_deltas(ctx: PythonContext, family: str) -> list[tuple[Delta, Role]]:
    def compute() -> dict[str, list[tuple[Delta, Role]]]:
        out: dict[str, list[tuple[Delta, Role]]] = {}
        for delta in statement_deltas(ctx):
            seen: set[str] = set()
            for role in delta_roles(ctx, delta):
                if role.family not in seen:
                    seen.add(role.family)
                    out.setdefault(role.family, []).append((delta, role))
        return out
    return ctx.fact("family_deltas", compute).get(family, [])


def _hunk_of_delta(ctx: PythonContext, delta: Delta) -> int:
    if delta.head is not None:
        logical = ctx.head.logical[delta.head]
        lines = range(logical.start, logical.end)
        for number, hunk in enumerate(ctx.hunks):
            if any(hunk.head_start <= line < max(hunk.head_end, hunk.head_start + 1) for line in lines):
                return number
    if delta.base is not None:
        logical = ctx.base.logical[delta.base]
        for number, hunk in enumerate(ctx.hunks):
            if hunk.base_start < logical.end and logical.start < max(hunk.base_end, hunk.base_start + 1):
                return number
    if delta.head is not None:  # an untouched statement whose context changed: its header's hunk
        for ancestor in ctx.head.ancestors(delta.head):
            found = _hunk_of_delta(ctx, Delta("context", None, ancestor))
            if found >= 0:
                return found
    return -1


def _hunks_of_finding(hunks: list[Hunk], finding: Finding) -> list[int]:
    out = []
    for number, hunk in enumerate(hunks):
        head = range(hunk.head_start, max(hunk.head_end, hunk.head_start + 1))
        if any(line - 1 in head for line in range(finding.span.line, finding.span.end_line + 1)) or (
                finding.base_line is not None and hunk.base_start <= finding.base_line - 1
                < max(hunk.base_end, hunk.base_start + 1)):
            out.append(number)
    return out


def _make(family: str) -> type[FamilyDelta]:
    number = FAMILY_NUMBERS[family]
    title = family.replace("_", " ")
    doc = f"""A {title} change that no specific {title} rule reported.

    {FAMILIES[family][0].upper() + FAMILIES[family][1:]}: the generic rule reports the first
    such statement-level change of each hunk (added, removed or changed, now running under
    another condition or ``with`` block, or moved past another statement), classified from
    the code itself. Check whether the change was meant to alter training.
    """
    return type(f"{''.join(part.title() for part in family.split('_'))}Delta", (FamilyDelta,), {
        "__doc__": doc, "__module__": __name__, "code": f"ML{number}99", "family": family,
        "name": f"{family.replace('_', '-')}-delta", "summary": f"{title} change no specific rule reported",
        "examples": EXAMPLES.get(family, ()),
    })


_LOOP = ("import torch\nmodel = torch.nn.Linear(4, 1)\noptimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
         "criterion = torch.nn.MSELoss()\n")

EXAMPLES: dict[str, tuple[Example, ...]] = {
    "precision": (
        Example(  # context: the loss moved into the autocast region
            before="import torch\ndef validate(model, x, y, criterion):\n    with torch.autocast('cuda'):\n"
                   "        out = model(x)\n    loss = criterion(out, y)\n    return loss\n",
            after="import torch\ndef validate(model, x, y, criterion):\n    with torch.autocast('cuda'):\n"
                  "        out = model(x)\n        loss = criterion(out, y)\n    return loss\n",
            expect=(Expect(5, "now inside `with torch.autocast('cuda')`"),)),
        Example(  # context through a name: the backward pass moved out of `with ctx:` (ctx is autocast)
            before="import torch\nctx = torch.amp.autocast(device_type='cuda', dtype=torch.bfloat16)\n"
                   "with ctx:\n    loss = model(x)\n    loss.backward()\n",
            after="import torch\nctx = torch.amp.autocast(device_type='cuda', dtype=torch.bfloat16)\n"
                  "with ctx:\n    loss = model(x)\nloss.backward()\n",
            expect=(Expect(5, "no longer inside `with ctx`"),)),
        Example(  # a cast of the inputs added, in a statement no precision rule reads
            before="def step(model, images):\n    return model(images)\n",
            after="def step(model, images):\n    return model(images.to(dtype=torch.bfloat16))\n",
            expect=(Expect(2, "dtype changed"),)),
        Example(  # an unknown context manager: nothing known changed around the statement
            before="import torch\nloss = model(x)\nloss.backward()\n",
            after="import torch\nwith timer('step'):\n    loss = model(x)\n    loss.backward()\n"),
    ),
    "normalization": (
        Example(  # a function of the file that scales the input, now passed as a transform
            before="from torchvision import transforms\ndef to_signed(x):\n    return x * 2 - 1\n"
                   "tf = transforms.Compose([transforms.ToTensor()])\n",
            after="from torchvision import transforms\ndef to_signed(x):\n    return x * 2 - 1\n"
                  "tf = transforms.Compose([transforms.ToTensor(), transforms.Lambda(to_signed)])\n",
            expect=(Expect(4, "to_signed (input scaling to [-1, 1])"),)),
        Example(  # advantages standardised
            before="def update(adv):\n    loss = -(adv * ratio).mean()\n    loss.backward()\n",
            after="def update(adv):\n    adv = (adv - adv.mean()) / (adv.std() + 1e-8)\n"
                  "    loss = -(adv * ratio).mean()\n    loss.backward()\n",
            expect=(Expect(2, "standardisation"),)),
        Example(  # the same scaling, respelled
            before="def prep(x):\n    return x / 255.0\n",
            after="def prep(x):\n    return x / 255.\n"),
    ),
    "learning_rate": (
        Example(  # a helper of the file that steps the scheduler, now called after each step
            before="def after_step():\n    scheduler.step()\nfor batch in loader:\n    optimizer.step()\n",
            after="def after_step():\n    scheduler.step()\nfor batch in loader:\n    optimizer.step()\n"
                  "    after_step()\n",
            expect=(Expect(5, "after_step() (scheduler step) added"),)),
        Example(  # the loop reworded around the same scheduler step
            before="for step in range(n):\n    scheduler.step()\n",
            after="for step in tqdm(range(n)):\n    scheduler.step()\n"),
    ),
    "optimizer": (
        Example(  # the optimizer now built inside a ZeRO wrapper (also a distributed change)
            before="import torch\noptimizer = torch.optim.AdamW(groups, lr=lr)\n",
            after="import torch\nfrom torch.distributed.optim import ZeroRedundancyOptimizer\n"
                  "optimizer = ZeroRedundancyOptimizer(groups, optimizer_class=torch.optim.AdamW, lr=lr)\n",
            expect=(Expect(3, "ZeroRedundancyOptimizer", code="ML1299"),)),
        Example(  # the same optimizer under another receiver name
            before=_LOOP + "opt = optimizer\nopt.step()\n",
            after=_LOOP + "opt = optimizer\noptimizer.step()\n"),
    ),
    "loss": (
        Example(  # the value backpropagated is computed differently
            before="def step(model, x, y):\n    loss = (model(x) - y).pow(2).mean()\n    loss.backward()\n",
            after="def step(model, x, y):\n    loss = (model(x) - y).abs().mean()\n    loss.backward()\n",
            expect=(Expect(2, "loss changed"),)),
        Example(  # a class criterion and its functional form are one loss
            before="import torch.nn as nn\nimport torch.nn.functional as F\ndef step(out, y):\n"
                   "    return nn.MSELoss()(out, y)\n",
            after="import torch.nn as nn\nimport torch.nn.functional as F\ndef step(out, y):\n"
                  "    return F.mse_loss(out, y)\n"),
    ),
    "batch_size": (
        Example(  # the forward/backward now inside accelerate's gradient accumulation
            before="for batch in loader:\n    loss = model(batch)\n    accelerator.backward(loss)\n",
            after="for batch in loader:\n    with accelerator.accumulate(model):\n        loss = model(batch)\n"
                  "        accelerator.backward(loss)\n",
            expect=(Expect(2, "gradient accumulation added"),)),
        Example(  # logging the batch size
            before="print(len(batch))\n",
            after="print('batch', len(batch))\n"),
    ),
    "determinism": (
        Example(  # a helper of the file that seeds every generator, newly called
            before="import random\nimport torch\ndef init_rng(args):\n    random.seed(args.seed)\n"
                   "    torch.manual_seed(args.seed)\nmodel = build(args)\n",
            after="import random\nimport torch\ndef init_rng(args):\n    random.seed(args.seed)\n"
                  "    torch.manual_seed(args.seed)\ninit_rng(args)\nmodel = build(args)\n",
            expect=(Expect(6, "init_rng() (seed) added"),)),
        Example(  # a comment about seeds
            before="import torch\ntorch.manual_seed(0)\n",
            after="import torch\ntorch.manual_seed(0)  # fixed seed for reproducibility\n"),
    ),
    "training_loop": (
        Example(  # gradient clipping now only on update steps
            before=_LOOP + "for x, y in loader:\n    loss = criterion(model(x), y)\n    loss.backward()\n"
                   "    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n    if need_update:\n"
                   "        optimizer.step()\n",
            after=_LOOP + "for x, y in loader:\n    loss = criterion(model(x), y)\n    loss.backward()\n"
                  "    if need_update:\n        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
                  "        optimizer.step()\n",
            expect=(Expect(9, "clip_grad_norm_(model.parameters(), 1.0) now only when need_update"),)),
        Example(  # the scaler step no longer conditional on the scaler
            before="import torch\nscaler = torch.amp.GradScaler('cuda', enabled=use_amp)\nif scaler:\n"
                   "    scaler.step(optimizer)\n    scaler.update()\nelse:\n    optimizer.step()\n",
            after="import torch\nscaler = torch.amp.GradScaler('cuda', enabled=use_amp)\n"
                  "scaler.step(optimizer)\nscaler.update()\n",
            expect=(Expect(3, "no longer conditional on scaler"),)),
        Example(  # the same step under a guard that tests the same setting, reworded
            before="if cfg.grad_clip > 0 and x:\n    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)\n",
            after="if x and cfg.grad_clip > 0:\n    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)\n"),
        Example(  # code moved into a new function and called from where it stood
            before=_LOOP + "for x, y in loader:\n    loss = criterion(model(x), y)\n    loss.backward()\n"
                   "    optimizer.step()\n",
            after=_LOOP + "def train_step(x, y):\n    loss = criterion(model(x), y)\n    loss.backward()\n"
                  "    optimizer.step()\nfor x, y in loader:\n    train_step(x, y)\n"),
    ),
    "regularization": (
        Example(  # the evaluation set now gets its own transform, without the random augmentations
            before="from torchvision import datasets, transforms\n"
                   "transform = transforms.Compose([transforms.RandomCrop(32), transforms.ToTensor()])\n"
                   "testset = datasets.CIFAR10('data', train=False, transform=transform)\n",
            after="from torchvision import datasets, transforms\n"
                  "transform = transforms.Compose([transforms.RandomCrop(32), transforms.ToTensor()])\n"
                  "transform_test = transforms.Compose([transforms.ToTensor()])\n"
                  "testset = datasets.CIFAR10('data', train=False, transform=transform_test)\n",
            expect=(Expect(4, "transform_test"),)),
        Example(  # a deprecated alias replaced by the current name
            before="from torchvision import transforms\ntf = transforms.RandomSizedCrop(224)\n",
            after="from torchvision import transforms\ntf = transforms.RandomResizedCrop(224)\n"),
    ),
    "data_pipeline": (
        Example(  # batches pinned and copied asynchronously
            before="def get_batch(x, y, device):\n    x, y = x.to(device), y.to(device)\n    return x, y\n",
            after="def get_batch(x, y, device):\n"
                  "    x, y = x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)\n"
                  "    return x, y\n",
            expect=(Expect(2, "pinned memory"),)),
        Example(  # the sampler's epoch set on the sampler instead of the loader
            before="for epoch in range(n):\n    loader.set_epoch(epoch)\n",
            after="for epoch in range(n):\n    loader.sampler.set_epoch(epoch)\n",
            expect=(Expect(2, "set_epoch"),)),
        Example(  # a device move respelled
            before="def get_batch(x, device):\n    return x.cuda()\n",
            after="def get_batch(x, device):\n    return x.to(device)\n"),
    ),
    "model_capacity": (
        Example(  # a block the model builds is now applied in forward()
            before="import torch.nn as nn\nclass Attention(nn.Module):\n    pass\nclass Net(nn.Module):\n"
                   "    def __init__(self):\n        self.attn = Attention()\n    def forward(self, x):\n"
                   "        return self.head(x)\n",
            after="import torch.nn as nn\nclass Attention(nn.Module):\n    pass\nclass Net(nn.Module):\n"
                  "    def __init__(self):\n        self.attn = Attention()\n    def forward(self, x):\n"
                  "        x = self.attn(x)\n        return self.head(x)\n",
            expect=(Expect(8, "self.attn (Attention) added"),)),
        Example(  # a model class moved to another file: nothing changed here
            before="import torch.nn as nn\nclass Head(nn.Module):\n    def __init__(self):\n"
                   "        self.fc = nn.Linear(8, 8)\n",
            after="import torch.nn as nn\n"),
    ),
    "compile_distributed": (
        Example(  # gradient all-reduce only on the last micro-step
            before="for micro_step in range(accum):\n    loss = model(x)\n    loss.backward()\n",
            after="for micro_step in range(accum):\n    model.require_backward_grad_sync = micro_step == accum - 1\n"
                  "    loss = model(x)\n    loss.backward()\n",
            expect=(Expect(2, "require_backward_grad_sync"),)),
        Example(  # a collective added
            before="import torch.distributed as dist\nfeatures = model(x)\n",
            after="import torch.distributed as dist\nfeatures = model(x)\ndist.all_reduce(features)\n",
            expect=(Expect(3, "all_reduce added"),)),
        Example(  # logging the world size
            before="import torch.distributed as dist\nprint(dist.get_world_size())\n",
            after="import torch.distributed as dist\nprint('world', dist.get_world_size())\n"),
    ),
}

GENERIC_RULES = {family: _make(family) for family in FAMILIES if family != "environment"}
