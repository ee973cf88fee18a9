"""batch_size: batch size (train or eval), gradient accumulation, and how they are derived."""
from __future__ import annotations

import ast
import re
from typing import Iterator, cast

from mldiff.analysis.filekinds import is_test_file
from mldiff.analysis.module import ModuleView
from mldiff.analysis.values import Value, shorten
from mldiff.facts.anchors import anchor
from mldiff.facts.context import Context, PythonContext
from mldiff.facts.equivalence import is_noise
from mldiff.facts.pairing import pair
from mldiff.facts.syntax import ast_span, ast_statement
from mldiff.facts.value_changes import ValueChange, is_measured, is_placeholder, named_argument_changes, value_changes
from mldiff.findings import Finding
from mldiff.knowledge.names import classify_name, is_data_parallel_degree
from mldiff.rules.base import Example, Expect, Rule
from mldiff.rules.reporting import report_value_change
from mldiff.rules.values import VALUE_FILE_KINDS, ValueRule

_EVAL = re.compile(r"test|val|eval|infer|predict|valid", re.I)


def _batch_topic(name: str) -> str | None:
    role = classify_name(name)
    return role[1] if role is not None and role[0] == "batch_size" else None


def _is_eval_setting(ctx: Context, value_change: ValueChange) -> bool:
    if _EVAL.search(value_change.subject):
        return True
    if isinstance(ctx, PythonContext) and value_change.kind == "argument":
        index = ctx.head.index_at(value_change.span.line - 1)
        if index >= 0:
            return any(_EVAL.search(b.target) for b in ctx.head.facts(index).bindings)
    return False


class BatchSizeChanged(ValueRule, Rule):
    """A batch size changed: a ``DataLoader``'s ``batch_size``, a batch-size setting (module
    constant, argparse default, config entry, dataclass field), or how it is derived
    (``batch_size = args.batch_size // world_size``).

    The batch size sets the gradient noise and, with the learning rate, the step size per
    sample; BatchNorm statistics and memory use follow it too. Evaluation batch sizes do not
    change training (they are reported at information level). Check the learning rate and
    warmup against the new batch size (ML603 says when the rate stayed put).
    """

    code = "ML601"
    family = "batch_size"
    name = "batch-size"
    summary = "Batch size changed (DataLoader batch_size, batch-size settings, how it is derived)"
    topics = ("batch",)
    examples = (
        Example(
            before="batch_size = 32\nlearning_rate = 6e-4\nblock_size = 512\n",
            after="batch_size = 8\nlearning_rate = 6e-4\nblock_size = 512\n",
            expect=(Expect(1, "batch_size 32 -> 8"), Expect(1, "learning rate", code="ML603")),
        ),
        Example(
            before="from torch.utils.data import DataLoader\ntest_loader = DataLoader(test_set, batch_size=1000)\n",
            after="from torch.utils.data import DataLoader\ntest_loader = DataLoader(test_set, batch_size=256)\n",
            expect=(Expect(2, "DataLoader batch_size 1000 -> 256"),),
        ),
        Example(
            before="from transformers import TrainingArguments\n"
                   "args = TrainingArguments(output_dir='out', per_device_train_batch_size=16, learning_rate=lr)\n",
            after="from transformers import TrainingArguments\n"
                  "args = TrainingArguments(output_dir='out', per_device_train_batch_size=32, learning_rate=lr)\n",
            expect=(Expect(2, "TrainingArguments per_device_train_batch_size 16 -> 32"),
                    Expect(2, "learning rate", code="ML603")),
        ),
        Example(  # help text of the batch-size option only
            before="import argparse\np = argparse.ArgumentParser()\n"
                   "p.add_argument('--batch-size', type=int, default=4, help='input batch size (default: 64)')\n",
            after="import argparse\np = argparse.ArgumentParser()\n"
                  "p.add_argument('--batch-size', type=int, default=4, help='input batch size (default: 4)')\n",
        ),
        Example(  # a comment on the setting
            before="batch_size = 12\n",
            after="batch_size = 12 # if gradient_accumulation_steps > 1, this is the micro-batch size\n",
        ),
        Example(  # a size read off the batch for logging, not a setting
            before="def validate(model, loader):\n    for x, y in loader:\n        batch_size = y.size(0)\n",
            after="def validate(model, loader):\n    for x, y in loader:\n        batch_size = x.shape[0]\n",
        ),
        Example(  # the loader reads the setting through another name
            before="from torch.utils.data import DataLoader\nloader = DataLoader(ds, batch_size=args.batch_size)\n",
            after="from torch.utils.data import DataLoader\nloader = DataLoader(ds, batch_size=config.batch_size)\n",
        ),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        for value_change in _batch_changes(ctx, "batch"):
            severity = "information" if _is_eval_setting(ctx, value_change) else None
            yield report_value_change(self, ctx, value_change, severity=severity)


def _batch_changes(ctx: Context, topic: str) -> Iterator[ValueChange]:
    if is_test_file(ctx.path):
        return
    candidates = [v for v in value_changes(ctx) if v.family == "batch_size" and v.topic == topic]
    if isinstance(ctx, PythonContext):
        candidates += [v for v in named_argument_changes(ctx, "batch_size") if v.topic == topic]
    for value_change in candidates:
        if is_placeholder(value_change) or is_measured(value_change) or _computed_elsewhere(value_change) \
                or _NOT_TRAINING_BATCH.search(value_change.subject):
            continue
        yield value_change


# batches of data preparation, not of training: ``tokenizer_batch_size``, ``map(batch_size=1000)``
_NOT_TRAINING_BATCH = re.compile(r"tokeni[sz]|preprocess|encode|map\b|write|save|chunk|download|inference", re.I)


def _computed_elsewhere(value_change: ValueChange) -> bool:
    """Both sides computed from things that are not batch settings (``min(self.sizes)`` ->
    ``min(...)``): library internals, not a batch size someone chose."""
    old, new = value_change.old, value_change.new
    if old is None or new is None or old.is_literal or new.is_literal:
        return False
    return not any(_batch_topic(name.rsplit(".", 1)[-1]) for name in old.names | new.names)


# -- gradient accumulation --------------------------------------------------------------------------------
def _accumulation_names(names) -> list[str]:
    return [n for n in names if _batch_topic(n.rsplit(".", 1)[-1]) == "accumulation"]


def _loss_divisions(view: ModuleView, index: int) -> list[tuple[str, ast.expr | ast.stmt]]:
    """(divisor text, ast node) of ``loss / accum_steps`` and ``loss /= accum_steps`` on this line."""
    text = view.source(index)
    if "/" not in text or "loss" not in text.lower():
        return []
    tree = ast_statement(view, index)
    if tree is None:
        return []
    binds_loss = any("loss" in b.name.lower() for b in view.facts(index).bindings)
    found: list[tuple[str, ast.expr | ast.stmt]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and (binds_loss or _mentions_loss(node.left)) \
                and _accumulation_names(_names(node.right)):
            found.append((ast.unparse(node.right), node))
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Div) and _mentions_loss(node.target) \
                and _accumulation_names(_names(node.value)):
            found.append((ast.unparse(node.value), node))
    return found


def _names(node: ast.AST) -> set[str]:
    out = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            out.add(child.id)
        elif isinstance(child, ast.Attribute):
            out.add(child.attr)
    return out


def _mentions_loss(node: ast.AST) -> bool:
    return any("loss" in name.lower() for name in _names(node))


def _micro_loops(view: ModuleView, index: int) -> list[str]:
    """The iterable of a ``for micro_step in range(gradient_accumulation_steps):`` header."""
    facts = view.facts(index)
    if view.logical[index].keyword != "for" or facts.loop_iter is None:
        return []
    if _accumulation_names(facts.loop_iter.names):
        return [facts.loop_iter.code]
    return []


def _accumulation_sites(ctx: PythonContext, side: str) -> list[tuple[str, int, str, ast.expr | ast.stmt | None]]:
    """(kind, index, text, node) of accumulation code in the touched lines of ``side``."""
    view = ctx.view(side)
    out: list[tuple[str, int, str, ast.expr | ast.stmt | None]] = []
    for index in ctx.touched(side):
        if is_noise(view, index):
            continue
        for divisor, node in _loss_divisions(view, index):
            out.append(("scale", index, divisor, node))
        for iterable in _micro_loops(view, index):
            out.append(("loop", index, iterable, None))
    return out


class GradientAccumulationChanged(ValueRule, Rule):
    """Gradient accumulation changed: the number of accumulation steps (a setting or a
    framework argument such as ``accumulate_grad_batches``), the micro-step loop, or the
    ``loss / accum_steps`` scaling that goes with it.

    Accumulating N micro-batches multiplies the effective batch size by N: the learning rate,
    warmup and number of optimizer steps per epoch all depend on it. Without dividing the
    loss by N the gradient is N times larger than the mean (an N-fold learning rate for SGD).
    Check that the loss is scaled once, that the optimizer steps once per N micro-batches, and
    that DDP only syncs on the last micro-step.
    """

    code = "ML602"
    family = "batch_size"
    name = "gradient-accumulation"
    summary = "Gradient accumulation steps, micro-step loop or loss / accum_steps scaling changed"
    topics = ("accumulation",)
    examples = (
        Example(
            before="gradient_accumulation_steps = 5\n",
            after="gradient_accumulation_steps = 5 * 8\n",
            expect=(Expect(1, "gradient_accumulation_steps 5 -> 5 * 8"),),
        ),
        Example(
            before="batch_size = 12\nblock_size = 1024\n",
            after="gradient_accumulation_steps = 1 # used to simulate larger batch sizes\nbatch_size = 12\nblock_size = 1024\n",
            expect=(Expect(1, "gradient_accumulation_steps set to 1"),),
        ),
        Example(
            before="for x, y in loader:\n    loss = model(x, y)\n    loss.backward()\n",
            after="for x, y in loader:\n    loss = model(x, y)\n    loss = loss / args.accum_steps\n    loss.backward()\n",
            expect=(Expect(3, "loss scaled by 1/args.accum_steps"),),
        ),
        Example(
            before="X, Y = get_batch('train')\nloss = model(X, Y)\nloss.backward()\n",
            after="for micro_step in range(gradient_accumulation_steps):\n    X, Y = get_batch('train')\n"
                  "    loss = model(X, Y)\n    loss.backward()\n",
            expect=(Expect(1, "micro-step loop over range(gradient_accumulation_steps) added"),),
        ),
        Example(  # the micro-step loop re-indented under a context manager, unchanged
            before="for micro_step in range(grad_accum):\n    loss = model(x) / grad_accum\n    loss.backward()\n",
            after="with ctx:\n    for micro_step in range(grad_accum):\n        loss = model(x) / grad_accum\n"
                  "        loss.backward()\n",
        ),
        Example(  # logging the accumulation setting
            before="grad_accum = 4\n",
            after="grad_accum = 4\nprint(f'accumulating {grad_accum} micro-batches')\n",
        ),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        for value_change in _batch_changes(ctx, "accumulation"):
            yield report_value_change(self, ctx, value_change)
        if not isinstance(ctx, PythonContext) or is_test_file(ctx.path):
            return
        base = _accumulation_sites(ctx, "base")
        head = _accumulation_sites(ctx, "head")
        renamed = ctx.renames

        def key(site):
            # by the setting's own name: `range(grad_accum)` and `range(cfg.data.grad_accum)` are one loop
            names = re.findall(r"[A-Za-z_]\w*", site[2])
            leaves = sorted({renamed.get(n, n) if site in base else n for n in names
                             if _batch_topic(n) == "accumulation"})
            return site[0], tuple(leaves)

        for base_site, head_site in pair(base, head, key, lambda b, h: True):
            if base_site is not None and head_site is None:
                kind, index, text, _ = base_site
                what = f"loss no longer divided by {text}" if kind == "scale" else \
                    f"micro-step loop over {text} removed"
                yield self.report(ctx, anchor(ctx, "base", index), what,
                                  base_line=ctx.base.logical[index].start + 1, before=text)
            elif head_site is not None and base_site is None:
                kind, index, text, node = head_site
                what = f"loss scaled by 1/{text} (gradient accumulation)" if kind == "scale" else \
                    f"micro-step loop over {text} added"
                span = ast_span(ctx.head, index, node) if node is not None else ctx.head.span(index)
                yield self.report(ctx, span, what, after=text)


# -- batch size against learning rate ------------------------------------------------------------------
_LR_TEXT = re.compile(r"(?i)\b\w*(?:lr|learning_rate)\w*\b")


def _lr_reads_batch(ctx: Context, value_change: ValueChange) -> bool:
    """Is the learning rate computed from this batch setting (``lr = base_lr * batch_size / 256``)?"""
    if not isinstance(ctx, PythonContext):
        return False
    name = value_change.subject.split(" ")[-1] if value_change.kind == "argument" else \
        value_change.subject.rsplit(".", 1)[-1].lstrip("-").split(" ")[0]
    if not name.isidentifier():
        return False
    view = ctx.head
    for index in view.uses(name):
        facts = view.facts(index)
        if any(classify_name(b.target) == ("learning_rate", "lr") for b in facts.bindings):
            return True
        for call in facts.calls:
            if call.kwarg("lr") is not None and name in " ".join(cast(Value, call.kwarg("lr")).names):
                return True
    return False


def _learning_rate_setting(ctx: Context) -> str:
    """``learning_rate = 6e-4 (line 45)``: where the unchanged learning rate is set, if easy to say."""
    if not isinstance(ctx, PythonContext):
        return ""
    view = ctx.head
    for index in view._lines_matching(_LR_TEXT)[:200]:
        for binding in view.facts(index).bindings:
            value = binding.value
            if value is not None and isinstance(value.literal, float) and \
                    classify_name(binding.target, value.literal) == ("learning_rate", "lr"):
                name = f"--{binding.target[5:]}" if binding.kind == "argparse" else binding.target
                return f" ({name} = {value.code} at line {view.logical[index].start + 1})"
    return ""


def _factor(value_change: ValueChange) -> float | None:
    old = value_change.old.literal if value_change.old is not None else None
    new = value_change.new.literal if value_change.new is not None else None
    if isinstance(old, (int, float)) and isinstance(new, (int, float)) and not isinstance(old, bool) \
            and not isinstance(new, bool) and old > 0 and new > 0:
        return new / old
    return None


class BatchSizeWithoutLearningRate(Rule[Context]):
    """The (effective) batch size changed while the learning rate stayed put: a hint to check the
    linear scaling rule (Goyal et al.: scale the learning rate with the batch size, with warmup).

    A larger batch with the same learning rate takes fewer, less noisy steps per epoch and usually
    needs a larger rate (or trains slower); a smaller batch with the same rate can become
    unstable. Nothing is reported when the learning rate changes in the same file, when it is
    computed from the batch size, or for evaluation batch sizes.
    """

    code = "ML603"
    family = "batch_size"
    name = "batch-size-without-lr"
    severity = "information"
    summary = "Batch size changed but the learning rate did not (linear-scaling hint)"
    file_kinds = VALUE_FILE_KINDS
    examples = (
        Example(
            before="import argparse\np = argparse.ArgumentParser()\np.add_argument('--batch-size', default=64)\n"
                   "p.add_argument('--lr', default=0.1)\n",
            after="import argparse\np = argparse.ArgumentParser()\np.add_argument('--batch-size', default=256)\n"
                  "p.add_argument('--lr', default=0.1)\n",
            expect=(Expect(3, "--batch_size default 64 -> 256 (x4) but the learning rate is unchanged "
                              "(--lr = 0.1 at line 4)"),
                    Expect(3, "--batch_size default 64 -> 256", code="ML601")),
        ),
        Example(
            before="gradient_accumulation_steps = 5\nlearning_rate = 6e-4\n",
            after="gradient_accumulation_steps = 40\nlearning_rate = 6e-4\n",
            expect=(Expect(1, "effective batch size x8 (gradient_accumulation_steps 5 -> 40) but the learning rate"),
                    Expect(1, "gradient_accumulation_steps 5 -> 40", code="ML602")),
        ),
        Example(  # the learning rate changes with it
            before="batch_size = 64\nlr = 0.1\n",
            after="batch_size = 256\nlr = 0.4\n",
            expect=(Expect(1, "batch_size 64 -> 256", code="ML601"), Expect(2, "lr 0.1 -> 0.4", code="ML301")),
        ),
        Example(  # the learning rate is derived from the batch size
            before="batch_size = 64\nlr = 0.1 * batch_size / 256\n",
            after="batch_size = 128\nlr = 0.1 * batch_size / 256\n",
            expect=(Expect(1, "batch_size 64 -> 128", code="ML601"),),
        ),
        Example(  # an evaluation batch size
            before="from torch.utils.data import DataLoader\nval_loader = DataLoader(val_set, batch_size=100)\n",
            after="from torch.utils.data import DataLoader\nval_loader = DataLoader(val_set, batch_size=500)\n",
            expect=(Expect(2, "DataLoader batch_size 100 -> 500", code="ML601"),),
        ),
        Example(  # a comment next to the batch size
            before="batch_size = 64\nlr = 0.1\n",
            after="batch_size = 64  # per GPU\nlr = 0.1\n",
        ),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        if is_test_file(ctx.path):
            return
        if any(v.family == "learning_rate" and v.topic == "lr" for v in value_changes(ctx)):
            return
        for topic in ("batch", "accumulation"):
            for value_change in _batch_changes(ctx, topic):
                if value_change.old is None or value_change.new is None:
                    continue
                if _is_eval_setting(ctx, value_change) or _lr_reads_batch(ctx, value_change):
                    continue
                factor = _factor(value_change)
                if factor is None:
                    continue  # a derivation changed: nothing to scale the learning rate by
                change_text = f"{value_change.subject} {shorten(value_change.old.code, 30)} -> " \
                              f"{shorten(value_change.new.code, 30)}"
                scale = f" (x{factor:g})" if factor is not None else ""
                if topic == "accumulation":
                    what = f"effective batch size x{factor:g} ({change_text})"
                else:
                    what = change_text + scale
                message = f"{what} but the learning rate is unchanged{_learning_rate_setting(ctx)}"
                if factor is not None and factor != 1:
                    message += f"; the linear scaling rule would multiply it by {factor:g}"
                yield report_value_change(self, ctx, value_change, message)
                return  # one hint per file


class GlobalBatchThroughDataParallel(Rule[Context]):
    """The data-parallel size changed (nodes, GPUs, ``dp``), so the global batch changed with it:
    each replica takes its own batch, and one optimizer step sees per-device batch x data-parallel
    size x accumulation steps.

    Half the nodes is half the global batch: twice the steps per epoch, noisier gradients, and a
    learning rate (and warmup) tuned for the old batch. Nothing is reported when the per-device
    batch or the accumulation in the same file changes to keep the product.
    """

    code = "ML604"
    family = "batch_size"
    name = "data-parallel-batch"
    summary = "Data-parallel size (nodes, GPUs, dp) changed: the global batch changes with it"
    file_kinds = VALUE_FILE_KINDS
    examples = (
        Example(
            before="parallelism:\n  dp: 16\n  tp: 2\ntokens:\n  micro_batch_size: 4\n",
            after="parallelism:\n  dp: 4\n  tp: 2\ntokens:\n  micro_batch_size: 4\n",
            path="config.yaml",
            expect=(Expect(2, "parallelism.dp 16 -> 4: the global batch changes x0.25 with it"),
                    Expect(2, "parallelism.dp 16 -> 4", code="ML1202")),
        ),
        Example(  # the per-device batch keeps the global batch
            before="parallelism:\n  dp: 16\ntokens:\n  micro_batch_size: 4\n",
            after="parallelism:\n  dp: 4\ntokens:\n  micro_batch_size: 16\n",
            path="config.yaml",
            expect=(Expect(2, "parallelism.dp 16 -> 4", code="ML1202"),
                    Expect(4, "tokens.micro_batch_size 4 -> 16", code="ML601"),
                    Expect(4, "learning rate", code="ML603")),
        ),
        Example(  # a comment on the data-parallel size
            before="parallelism:\n  dp: 4\n",
            after="parallelism:\n  dp: 4  # one replica per node\n",
            path="config.yaml",
        ),
        Example(  # tensor parallelism splits the model, not the batch
            before="parallelism:\n  dp: 4\n  tp: 2\n",
            after="parallelism:\n  dp: 4\n  tp: 4\n",
            path="config.yaml",
            expect=(Expect(3, "parallelism.tp 2 -> 4", code="ML1202"),),
        ),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        if is_test_file(ctx.path):
            return
        changes = value_changes(ctx)
        compensation = 1.0
        for value_change in changes:
            if value_change.family == "batch_size" and value_change.topic in ("batch", "accumulation") \
                    and not _is_eval_setting(ctx, value_change):
                factor = _factor(value_change)
                if factor is not None:
                    compensation *= factor
        for value_change in changes:
            if value_change.family != "compile_distributed" or value_change.old is None or value_change.new is None:
                continue
            if not is_data_parallel_degree(value_change.name or value_change.subject):
                continue
            factor = _factor(value_change)
            if factor is None or factor == 1 or not all(isinstance(v.literal, int) for v in
                                                          (value_change.old, value_change.new)):
                continue
            if abs(factor * compensation - 1) < 1e-9:
                continue
            message = f"{value_change.subject} {value_change.old.code} -> {value_change.new.code}: the global " \
                      f"batch changes x{factor:g} with it (per-device batch x data-parallel size x accumulation)"
            yield report_value_change(self, ctx, value_change, message)
