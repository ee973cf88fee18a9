"""learning_rate: LR values and constants, schedulers, warmup and decay, when the scheduler steps."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

import libcst as cst

from mldiff.analysis.filekinds import is_test_file
from mldiff.analysis.module import ModuleView
from mldiff.analysis.statements import CallFact
from mldiff.analysis.values import dotted_name, make_value, shorten
from mldiff.facts.anchors import anchor, base_line, site_span
from mldiff.facts.context import Context, PythonContext, view_fact
from mldiff.facts.delta import ValueChange
from mldiff.facts.equivalence import differing_lines, is_noise, statement_key
from mldiff.facts.flows import find_defs, matching_def
from mldiff.facts.pairing import pair, paired_calls
from mldiff.facts.render import READER, render_call
from mldiff.facts.value_changes import is_placeholder, value_changes
from mldiff.findings import Finding, Span
from mldiff.knowledge import apis
from mldiff.knowledge.names import classify_name
from mldiff.rules.base import Example, Expect, Rule
from mldiff.rules.reporting import describe_difference, report_added_or_removed
from mldiff.rules.values import ValueRule


class LearningRateChanged(ValueRule, Rule):
    """A learning rate changed: an optimizer's ``lr``, or a setting that feeds it
    (module constant, argparse default, config entry, dataclass field).

    The learning rate is the hyperparameter results are most sensitive to: ten times
    larger can diverge, ten times smaller can look like a broken model. When the value
    is defined away from where it is used, the finding sits on the definition and names
    the optimizer it flows into. Check that the change is intended, and that schedulers,
    warmup and batch size still fit the new value.
    """

    code = "ML301"
    family = "learning_rate"
    name = "learning-rate-value"
    summary = "Learning rate value changed (optimizer lr or a setting that feeds it)"
    topics = ("lr",)
    examples = (
        Example(
            before="import torch\nmodel = torch.nn.Linear(2, 2)\n"
                   "opt = torch.optim.Adam(model.parameters(), lr=1e-3)\n",
            after="import torch\nmodel = torch.nn.Linear(2, 2)\n"
                  "opt = torch.optim.Adam(model.parameters(), lr=1e-2)\n",
            expect=(Expect(3, "learning rate 1e-3 -> 1e-2 (Adam lr)"),),
        ),
        Example(
            before="import torch.optim as optim\nLEARNING_RATE = 1e-3\n\ndef make(model):\n"
                   "    return optim.Adam(model.parameters(), lr=LEARNING_RATE)\n",
            after="import torch.optim as optim\nLEARNING_RATE = 1e-2\n\ndef make(model):\n"
                  "    return optim.Adam(model.parameters(), lr=LEARNING_RATE)\n",
            expect=(Expect(2, "LEARNING_RATE 1e-3 -> 1e-2, used as Adam lr at line 5"),),
        ),
        Example(
            before="import argparse\np = argparse.ArgumentParser()\n"
                   "p.add_argument('--lr', type=float, default=0.1, help='learning rate')\n",
            after="import argparse\np = argparse.ArgumentParser()\n"
                  "p.add_argument('--lr', type=float, default=0.01, help='learning rate')\n",
            expect=(Expect(3, "--lr default 0.1 -> 0.01"),),
        ),
        Example(
            before="import torch\nopt = torch.optim.SGD(params, 0.1, momentum=0.9)\n",
            after="import torch\nopt = torch.optim.SGD(params, lr=0.05, momentum=0.9)\n",
            expect=(Expect(2, "0.1 -> 0.05 (SGD lr)"),),
        ),
        Example(  # help text only
            before="import argparse\np = argparse.ArgumentParser()\n"
                   "p.add_argument('--lr', type=float, default=0.1, help='learning rate')\n",
            after="import argparse\np = argparse.ArgumentParser()\n"
                  "p.add_argument('--lr', type=float, default=0.1, help='initial learning rate (default: 0.1)')\n",
        ),
        Example(  # same value, other spelling
            before="learning_rate = 0.001\n",
            after="learning_rate = 1e-3  # as in the paper\n",
        ),
        Example(  # logging the learning rate
            before="lr = 3e-4\nprint('lr', lr)\n",
            after="lr = 3e-4\nprint(f'learning rate: {lr:.2e}')\n",
        ),
        Example(  # a YAML config (analysis/configfiles.py): nested keys, classified by the last one
            path="config/train.yaml",
            before="optimizer:\n  name: adamw\n  lr: 3e-4\n",
            after="optimizer:\n  name: adamw\n  lr: 1e-3\n",
            expect=(Expect(3, "optimizer.lr 3e-4 -> 1e-3"),),
        ),
        Example(  # a JSON config: keys reordered, the same value spelled differently
            path="configs/train.json",
            before='{"lr": 0.001, "batch_size": 32}\n',
            after='{\n  "batch_size": 32,\n  "lr": 1e-3\n}\n',
        ),
    )

    def message(self, value_change: ValueChange) -> str:
        if value_change.kind == "argument" and value_change.old is not None and value_change.new is not None:
            return (f"learning rate {value_change.old.code} -> {value_change.new.code} "
                    f"({value_change.subject})")
        return value_change.describe()


# -- what a scheduler is ------------------------------------------------------------------------
_SCHEDULER_NAME = re.compile(r"^(?:[A-Z]\w*(?:LR|Scheduler|Schedule)|get_\w*schedule\w*|\w+_schedule_with_warmup|"
                             r"create_scheduler\w*|create_lr_scheduler\w*)$")
_NOT_SCHEDULERS = frozenset({"LRScheduler", "_LRScheduler", "Scheduler"})


def is_scheduler_call(qualname: str, call: CallFact, view: ModuleView) -> bool:
    """A scheduler being built: torch's, timm's, transformers' factories, or a class named like one."""
    return not call.in_lambda_or_def and _is_scheduler_name(qualname, call.receiver, view,
                                                            (*call.args, *(v for _, v in call.kwargs)))


def _is_scheduler_name(qualname: str, receiver: str | None, view: ModuleView, arguments: tuple = ()) -> bool:
    last = qualname.rsplit(".", 1)[-1]
    if last in _NOT_SCHEDULERS:
        return False
    if apis.is_scheduler(qualname):
        return True
    if not _SCHEDULER_NAME.match(last):
        return False
    # a plain or imported name, not a method of some object (``self.scheduler.get_schedule()``)
    if receiver is not None and receiver.split(".", 1)[0] not in view.aliases:
        return False
    return _schedules_the_learning_rate(view, arguments)


def _schedules_the_learning_rate(view: ModuleView, arguments: tuple) -> bool:
    """A schedule known only by its name schedules the learning rate when it is given the
    optimizer or a learning rate (``get_schedule_fn(self.learning_rate)``), not another
    quantity (``get_schedule_fn(self.clip_range)``); without arguments we cannot tell."""
    if not arguments:
        return True
    for value in arguments:
        for name in value.names:
            role = classify_name(name.rsplit(".", 1)[-1])
            if role is not None and role[0] in ("learning_rate", "optimizer"):
                return True
            if apis.is_optimizer(apis.canonical(view.constructor_of(name) or "")):
                return True
    return False


def scheduler_pairs(ctx: PythonContext) -> list[tuple]:
    """Scheduler constructions of the touched code, base paired with head (shared by ML302 and ML304)."""
    return paired_calls(ctx, is_scheduler_call, "scheduler")


# -- hand-written schedules ------------------------------------------------------------------------
_LR_FUNCTION = re.compile(r"(?:^|_)(?:lr|learning_?rate)(?:_|$)|lr_?lambda|lr_?fn|lr_?func", re.I)
_NOT_LR_FUNCTION = re.compile(r"^_*(?:print|log|show|plot|display|find|test|save|load|parse|add_argument)|"
                              r"param_groups?", re.I)
_SCHEDULE_WORD = re.compile(r"schedul|warm_?up|anneal|cosine", re.I)
_LR_TEXT = re.compile(r"\blr\b|learning_rate|param_groups")
_LR_WRITE = re.compile(r"""\[\s*['"](?:lr|initial_lr)['"]\s*\]\s*=(?!=)""")


def is_schedule_function(view: ModuleView, header: int) -> bool:
    """A function that computes or sets the learning rate: ``get_lr(it)``, ``adjust_learning_rate``,
    a warmup/cosine helper, or a small function that writes ``param_group['lr']``."""
    cache: dict[int, bool] = view_fact(view, "schedule_functions", dict)
    if header in cache:
        return cache[header]
    name = view.facts(header).def_name or ""
    result = False
    if not _NOT_LR_FUNCTION.search(name):
        block = view.block(header)
        if _LR_FUNCTION.search(name):
            result = True
        elif len(block) <= 40:
            ll = view.logical
            text = "".join(view.lines[ll[block.start].start:ll[block.stop - 1].end]) if len(block) else ""
            result = bool(_SCHEDULE_WORD.search(name) and _LR_TEXT.search(text)) or (
                len(block) <= 15 and bool(_LR_WRITE.search(text)))
    cache[header] = result
    return result


def _schedule_function_around(view: ModuleView, index: int) -> int:
    for ancestor in view.ancestors(index):
        if view.logical[ancestor].keyword == "def" and is_schedule_function(view, ancestor):
            return ancestor
    return -1


def _explained_lines(ctx: PythonContext) -> tuple[set[int], set[int]]:
    """Head and base lines (1-based) that a value rule or the scheduler pairing already reports."""
    head_lines: set[int] = set()
    base_lines: set[int] = set()
    for value_change in value_changes(ctx):
        if value_change.family in ("learning_rate", "optimizer"):
            if value_change.new is not None:
                head_lines.add(value_change.span.line)
            if value_change.base_line is not None:
                base_lines.add(value_change.base_line)
    for base, head in scheduler_pairs(ctx):
        if head is not None:
            head_lines.add(ctx.head.logical[head.index].start + 1)
        if base is not None:
            base_lines.add(ctx.base.logical[base.index].start + 1)
    return head_lines, base_lines


def _statement_text(view: ModuleView, index: int, width: int = 60) -> str:
    return shorten(" ".join(view.source(index).split()), width)


class SchedulerChanged(Rule[PythonContext]):
    """An LR scheduler was added, removed or swapped for another class, or a hand-written
    schedule function (``get_lr(it)``, ``adjust_learning_rate``) computes the rate differently.

    The schedule decides the learning rate at every step after the first: a cosine schedule
    where there was a step decay, a warmup formula with an off-by-one, or a scheduler that is
    no longer created changes every later update, and training still runs. Check the new
    schedule's horizon (``T_max``, ``total_steps``, ``lr_decay_iters``) against the real number
    of steps, and that a resumed run restores the scheduler's state. Argument values of an
    unchanged scheduler class are reported by ML304, where it is stepped by ML303.
    """

    code = "ML302"
    family = "learning_rate"
    name = "lr-scheduler"
    summary = "LR scheduler added, removed or replaced; hand-written schedule formula changed"
    examples = (
        Example(
            before="import torch\nopt = torch.optim.SGD(params, lr=0.1)\n\n",
            after="import torch\nopt = torch.optim.SGD(params, lr=0.1)\n"
                  "scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)\n",
            expect=(Expect(3, "LR scheduler CosineAnnealingLR(opt, T_max=100) added"),),
        ),
        Example(
            before="from torch.optim.lr_scheduler import StepLR, OneCycleLR\n"
                   "sched = StepLR(opt, step_size=30, gamma=0.1)\n",
            after="from torch.optim.lr_scheduler import StepLR, OneCycleLR\n"
                  "sched = OneCycleLR(opt, max_lr=0.1, total_steps=1000)\n",
            expect=(Expect(2, "LR scheduler StepLR(opt, step_size=30, gamma=0.1) -> OneCycleLR("),),
        ),
        Example(
            before="import math\ndef get_lr(it):\n    if it < warmup_iters:\n"
                   "        return learning_rate * it / warmup_iters\n    return min_lr\n",
            after="import math\ndef get_lr(it):\n    if it < warmup_iters:\n"
                  "        return learning_rate * (it + 1) / (warmup_iters + 1)\n    return min_lr\n",
            expect=(Expect(4, "hand-written LR schedule get_lr() changed: return learning_rate * (it + 1)"),),
        ),
        Example(
            before="from transformers import get_linear_schedule_with_warmup\n"
                   "s = get_linear_schedule_with_warmup(opt, 100, 1000)\nx = 1\n",
            after="from transformers import get_linear_schedule_with_warmup\nx = 1\n",
            expect=(Expect(2, "LR scheduler get_linear_schedule_with_warmup(opt, 100, 1000) removed"),),
        ),
        Example(  # a loop variable renamed inside the schedule function: same formula
            before="def get_lr(iter):\n    if iter < warmup_iters:\n        return learning_rate * iter / warmup_iters\n"
                   "    return min_lr\n",
            after="def get_lr(it):\n    # 1) linear warmup\n    if it < warmup_iters:\n"
                  "        return learning_rate * it / warmup_iters\n    return min_lr\n",
        ),
        Example(  # the scheduler moved below the resume code, same arguments
            before="import torch\nsched = torch.optim.lr_scheduler.StepLR(opt, 30)\nif resume:\n    load(opt)\n",
            after="import torch\nif resume:\n    load(opt)\nsched = torch.optim.lr_scheduler.StepLR(opt, 30)\n",
        ),
        Example(  # logging inside a schedule function, and a docstring
            before="def adjust_learning_rate(optimizer, epoch, args):\n    lr = args.lr * (0.1 ** (epoch // 30))\n"
                   "    for g in optimizer.param_groups:\n        g['lr'] = lr\n",
            after="def adjust_learning_rate(optimizer, epoch, args):\n"
                  "    \"\"\"Decay the LR by 10 every 30 epochs.\"\"\"\n    lr = args.lr * (0.1 ** (epoch // 30))\n"
                  "    print(f'lr {lr}')\n    for g in optimizer.param_groups:\n        g['lr'] = lr\n",
        ),
    )

    def check(self, ctx: PythonContext) -> Iterator[Finding]:
        if not isinstance(ctx, PythonContext) or is_test_file(ctx.path):
            return
        for base, head in scheduler_pairs(ctx):
            one_sided = report_added_or_removed(self, ctx, base, head, "LR scheduler", width=70)
            if one_sided is not None:
                yield one_sided
            elif base.qualname != head.qualname:
                yield self.report(ctx, site_span(ctx, head),
                                  f"LR scheduler {render_call(base, READER, 55)} -> {render_call(head, READER, 55)}",
                                  base_line=base_line(ctx, base), before=render_call(base, READER, 200),
                                  after=render_call(head, READER, 200))
        yield from self._schedule_functions(ctx)

    def _schedule_functions(self, ctx: PythonContext):
        headers: dict[int, int | None] = {}  # head header -> base header
        orphans_base: set[int] = set()
        for index in ctx.touched_head:
            header = _schedule_function_around(ctx.head, index)
            if header >= 0 and header not in headers:
                headers[header] = matching_def(ctx, "head", header)
        for index in ctx.touched_base:
            header = _schedule_function_around(ctx.base, index)
            if header >= 0 and header not in headers.values():
                orphans_base.add(header)
        for head_header, base_header in headers.items():
            if base_header is None:
                continue  # a new function: its calls are what changes training (ML303)
            orphans_base.discard(base_header)
            base_only, head_only = differing_lines(ctx, ctx.base.block(base_header),
                                                   ctx.head.block(head_header))
            explained_head, explained_base = _explained_lines(ctx)
            base_only = [i for i in base_only if ctx.base.logical[i].start + 1 not in explained_base]
            head_only = [i for i in head_only if ctx.head.logical[i].start + 1 not in explained_head]
            if not base_only and not head_only:
                continue
            name = ctx.head.facts(head_header).def_name
            span, detail, line, before, after = describe_difference(ctx, base_only, head_only, width=60)
            yield self.report(ctx, span, f"hand-written LR schedule {name}() changed: {detail}",
                              base_line=line, before=before, after=after)


# -- where the schedule is applied ------------------------------------------------------------------------
_SCHEDULER_RECEIVER = re.compile(r"sched", re.I)
_OPTIMIZER_RECEIVER = re.compile(r"optim|(?:^|_)opt(?:_|$)|scaler", re.I)
_EPOCH_LOOP = re.compile(r"epoch|(?:^|\W)ep(?:$|\W)", re.I)


@dataclass(frozen=True)
class _Application:
    """One place the LR schedule is applied: ``scheduler.step()``, ``adjust_learning_rate(...)``,
    ``param_group['lr'] = lr``."""

    side: str
    index: int
    kind: str                 # step | call | write
    label: str                # "scheduler.step()", "adjust_learning_rate()"
    key: tuple
    call: CallFact | None


@dataclass(frozen=True)
class _Context:
    scope: tuple[str, ...]
    loops: tuple[tuple[str, str], ...]       # (kind, header text), innermost first
    conditions: tuple[tuple[str, str], ...]  # (key, text) of the if/else between the call and its loop
    order: str                               # before | after | "" relative to optimizer.step()
    arguments: str

    def frequency(self) -> str:
        if self.loops:
            kind, text = self.loops[0]
            return f"{kind} in `{shorten(text, 50)}`"
        if self.scope:
            return f"once per call of {self.scope[-1]}()"
        return "once"


def _is_scheduler_receiver(view: ModuleView, receiver: str) -> bool:
    last = receiver.rsplit(".", 1)[-1]
    if "(" in receiver or _OPTIMIZER_RECEIVER.search(last):
        return False
    if _SCHEDULER_RECEIVER.search(last):
        return True
    constructor = view.constructor_of(receiver)
    return constructor is not None and apis.is_scheduler(apis.canonical(constructor))


def _lines_to_read(ctx: PythonContext) -> dict[str, list[int]]:
    """The touched lines, plus the scheduler steps of any loop whose optimizer step the change
    moved: moving ``optimizer.step()`` below ``scheduler.step()`` reorders them just the same."""
    out: dict[str, list[int]] = {}
    for side in ("base", "head"):
        view = ctx.view(side)
        lines = set(ctx.touched(side))
        for index in list(lines):
            if not any(call.method == "step" and call.receiver and
                       _OPTIMIZER_RECEIVER.search(call.receiver.rsplit(".", 1)[-1])
                       for call in view.facts(index).calls):
                continue
            loop = next((a for a in view.ancestors(index) if view.logical[a].keyword in ("for", "while")), -1)
            within = view.block(loop) if loop >= 0 else range(len(view.logical))
            for line in view.lines_matching(_STEP_CALL, (".step(",)):
                if line in within:
                    lines.add(line)
        out[side] = sorted(lines)
    return out


def _applications(ctx: PythonContext, side: str) -> list[_Application]:
    view = ctx.view(side)
    renames = ctx.renames if side == "base" else {}
    out: list[_Application] = []
    for index in ctx.fact("lr.lines_to_read", lambda: _lines_to_read(ctx))[side]:
        if is_noise(view, index):
            continue
        facts = view.facts(index)
        inside_schedule = _schedule_function_around(view, index) >= 0
        for call in facts.calls:
            if call.in_lambda_or_def:
                continue
            if call.method in ("step", "step_update") and call.receiver and \
                    _is_scheduler_receiver(view, call.receiver):
                receiver = ".".join(renames.get(p, p) for p in call.receiver.split("."))
                out.append(_Application(side, index, "step", f"{call.receiver}.{call.method}()",
                                        ("step", receiver, call.method), call))
            elif not inside_schedule and _is_schedule_call(view, call) and _applies_rate(facts, call):
                name = renames.get(call.method, call.method)
                out.append(_Application(side, index, "call", f"{call.method}()", ("call", name), call))
        if not inside_schedule:
            for binding in facts.bindings:
                if binding.name in ("lr", "initial_lr") and _LR_WRITE.search(view.source(index)) \
                        and _writes_param_group(view, index, binding.target):
                    out.append(_Application(side, index, "write", "param_group['lr'] = ...", ("write",), None))
    return out


def _applies_rate(facts, call: CallFact) -> bool:
    """``adjust_learning_rate(opt, epoch)`` as a statement, or ``lr = get_lr(it) if decay_lr else lr0``:
    the schedule is applied here (a call buried in another computation only reads it)."""
    for binding in facts.bindings:
        value = binding.value
        if value is not None and value.node is not None and (value.node is call.node or call.callee in value.names):
            return binding.name in ("lr", "learning_rate") or bool(_LR_FUNCTION.search("_" + binding.name + "_"))
    return bool(facts.calls) and facts.calls[0] is call and not facts.bindings


def _is_schedule_call(view: ModuleView, call: CallFact) -> bool:
    receiver = call.receiver
    if receiver not in (None, "self") and receiver.split(".", 1)[0] not in view.aliases:
        return False
    if not _LR_FUNCTION.search(call.method) or _NOT_LR_FUNCTION.search(call.method):
        return False
    if call.method in ("get_last_lr", "get_lr") and receiver not in (None, "self"):
        return False
    defs = find_defs(view, call.method)
    if defs:
        return any(is_schedule_function(view, header) for header in defs)
    return receiver is None and call.callee in view.aliases  # an imported helper named like one


def _writes_param_group(view: ModuleView, index: int, target: str) -> bool:
    if "param_groups" in target:
        return True
    root = target.split(".", 1)[0]
    for ancestor in view.ancestors(index):
        facts = view.facts(ancestor)
        if facts.loop_target and root in facts.loop_target and facts.loop_iter is not None \
                and "param_groups" in facts.loop_iter.code:
            return True
    return False


def _loop_kind(view: ModuleView, header: int) -> tuple[str, str] | None:
    facts = view.facts(header)
    text = " ".join(view.source(header).split()).rstrip(":")
    if facts.loop_iter is not None and "param_groups" in facts.loop_iter.code:
        return None
    if _EPOCH_LOOP.search(text):
        return "per epoch", text
    if "micro" in text or "accum" in text:
        return "per micro-step", text
    return "per iteration", text


def _context(ctx: PythonContext, application: _Application) -> _Context:
    view = ctx.view(application.side)
    renames = ctx.renames if application.side == "base" else {}
    loops: list[tuple[str, str]] = []
    conditions: list[tuple[str, str]] = []
    loop_header = -1
    for ancestor in view.ancestors(application.index):
        keyword = view.logical[ancestor].keyword
        if keyword in ("def", "class"):
            break
        if keyword in ("for", "while"):
            kind = _loop_kind(view, ancestor)
            if kind is not None:
                loops.append(kind)
                if loop_header < 0:
                    loop_header = ancestor
        elif keyword in ("if", "elif", "else") and not loops:
            conditions.append((statement_key(view, ancestor, renames),
                               " ".join(view.source(ancestor).split()).rstrip(":")))
    scope = tuple(renames.get(name, name) for name in view.scope_names(application.index))
    order = _order(view, application.index, loop_header)
    arguments = ""
    if application.call is not None:
        arguments = _inlined_arguments(view, application.index, application.call, renames)
    return _Context(scope, tuple(loops), tuple(conditions), order, arguments)


def _inlined_arguments(view: ModuleView, index: int, call: CallFact, renames: dict[str, str]) -> str:
    """The call's arguments with local aliases inlined (``epoch_p_1 = epoch + 1``; ``step(epoch_p_1)``
    reads as ``step(epoch + 1)``) and base names renamed, so a refactor compares equal."""
    import ast

    from mldiff.facts.flows import scope_range
    within = scope_range(view, index)
    parts = []
    for value in [*call.args, *(v for _, v in call.kwargs)]:
        code = value.code
        if value.node is not None and isinstance(value.node, cst.Name):
            definitions = [b for i, b in view.definitions(value.node.value) if i in within]
            if len(definitions) == 1 and definitions[0].value is not None:
                code = definitions[0].value.code
        parts.append(code)
    names = [name for name, _ in call.kwargs]
    text = ", ".join(parts[:len(call.args)] + [f"{n}={c}" for n, c in zip(names, parts[len(call.args):])])
    try:
        tree = ast.parse(f"f({text})", mode="eval")
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                node.id = renames.get(node.id, node.id)
        return "(" + ast.unparse(tree)[2:]
    except SyntaxError:
        return f"({text})"


_STEP_CALL = re.compile(r"\.step\(")


def _order(view: ModuleView, index: int, loop_header: int) -> str:
    """Is ``index`` before or after the optimizer step of its loop (or function)?"""
    if loop_header >= 0:
        within = view.block(loop_header)
    else:
        header = view.enclosing_def(index)
        if header < 0:
            return ""
        within = view.block(header)
    positions = []
    for line in view._lines_matching(_STEP_CALL):
        if line not in within or line == index:
            continue
        for call in view.facts(line).calls:
            if call.method == "step" and call.receiver and _OPTIMIZER_RECEIVER.search(call.receiver.rsplit(".", 1)[-1]):
                positions.append(line)
    if not positions:
        return ""
    return "after" if min(positions) < index else "before"


class SchedulerStepChanged(Rule[PythonContext]):
    """Where or how often the LR schedule is applied changed: ``scheduler.step()`` added or
    removed, moved between the batch loop and the epoch loop, put before ``optimizer.step()``,
    made conditional; the same for a hand-written ``adjust_learning_rate(...)`` call or a
    ``param_group['lr'] = ...`` write.

    A scheduler built for epochs but stepped every batch decays a thousand times too fast;
    one stepped before ``optimizer.step()`` skips its first value (PyTorch warns once, easy to
    miss); a scheduler that is created but never stepped keeps the initial rate for the whole
    run. Check the unit of the scheduler's horizon (epochs or iterations) against where it
    is now stepped.
    """

    code = "ML303"
    family = "learning_rate"
    name = "scheduler-step"
    summary = "scheduler.step() (or a manual LR update) added, removed, or moved between loops"
    examples = (
        Example(
            before="for epoch in range(100):\n    train(epoch)\n    test(epoch)\n",
            after="for epoch in range(100):\n    train(epoch)\n    test(epoch)\n    scheduler.step()\n",
            expect=(Expect(4, "scheduler.step() added, per epoch in `for epoch in range(100)`"),),
        ),
        Example(
            before="for epoch in range(epochs):\n    for x, y in loader:\n        loss = model(x, y)\n"
                   "        loss.backward()\n        optimizer.step()\n    scheduler.step()\n",
            after="for epoch in range(epochs):\n    for x, y in loader:\n        loss = model(x, y)\n"
                  "        loss.backward()\n        optimizer.step()\n        scheduler.step()\n",
            expect=(Expect(6, "scheduler.step() moved from per epoch"),),
        ),
        Example(
            before="for x, y in loader:\n    loss = model(x, y)\n    loss.backward()\n    optimizer.step()\n"
                   "    lr_scheduler.step()\n",
            after="for x, y in loader:\n    loss = model(x, y)\n    loss.backward()\n    lr_scheduler.step()\n"
                  "    optimizer.step()\n",
            expect=(Expect(4, "lr_scheduler.step() now runs before optimizer.step()"),),
        ),
        Example(
            before="def adjust_learning_rate(optimizer, epoch, lr):\n    for g in optimizer.param_groups:\n"
                   "        g['lr'] = lr * (0.1 ** (epoch // 30))\n\n"
                   "for epoch in range(90):\n    adjust_learning_rate(optimizer, epoch, 0.1)\n    train(epoch)\n",
            after="def adjust_learning_rate(optimizer, epoch, lr):\n    for g in optimizer.param_groups:\n"
                  "        g['lr'] = lr * (0.1 ** (epoch // 30))\n\n"
                  "for epoch in range(90):\n    train(epoch)\n",
            expect=(Expect(6, "adjust_learning_rate() removed (was per epoch"),),
        ),
        Example(
            before="def get_lr(it):\n    return min_lr\n\nwhile True:\n    lr = learning_rate\n    step()\n",
            after="def get_lr(it):\n    return min_lr\n\nwhile True:\n"
                  "    lr = get_lr(iter_num) if decay_lr else learning_rate\n    step()\n",
            expect=(Expect(5, "get_lr() added, per iteration in `while True`"),),
        ),
        Example(  # the epoch loop moved into a function, the step stays per epoch after the optimizer
            before="for epoch in range(10):\n    train()\n    scheduler.step()\n",
            after="for epoch in range(10):\n    train()\n    # decay once per epoch\n    scheduler.step()\n",
        ),
        Example(  # optimizer.step() renamed receiver, scheduler untouched
            before="for x in loader:\n    opt.step()\n    sched.step()\n",
            after="for x in loader:\n    optimizer.step()\n    sched.step()\n",
        ),
        Example(  # logging the current learning rate
            before="for epoch in range(10):\n    scheduler.step()\n",
            after="for epoch in range(10):\n    scheduler.step()\n    print(scheduler.get_last_lr())\n",
        ),
    )

    def check(self, ctx: PythonContext) -> Iterator[Finding]:
        if not isinstance(ctx, PythonContext) or is_test_file(ctx.path):
            return
        base = _applications(ctx, "base")
        head = _applications(ctx, "head")
        if not base and not head:
            return
        contexts: dict[int, _Context] = {}

        def context(application: _Application) -> _Context:
            key = id(application)
            if key not in contexts:
                contexts[key] = _context(ctx, application)
            return contexts[key]

        for base_site, head_site in pair(base, head, lambda a: a.key, lambda b, h: context(b) == context(h)):
            if base_site is not None and head_site is None:
                span = anchor(ctx, "base", base_site.index)
                yield self.report(ctx, span, f"{base_site.label} removed (was {context(base_site).frequency()})",
                                  base_line=ctx.base.logical[base_site.index].start + 1,
                                  before=_statement_text(ctx.base, base_site.index, 200))
            elif head_site is not None and base_site is None:
                message = f"{head_site.label} added, {context(head_site).frequency()}"
                if context(head_site).order == "before" and head_site.kind == "step":
                    message += ", before optimizer.step()"
                yield self.report(ctx, _application_span(ctx, head_site), message,
                                  after=_statement_text(ctx.head, head_site.index, 200))
            elif base_site is not None and head_site is not None:
                old, new = context(base_site), context(head_site)
                parts = _context_changes(head_site, old, new)
                if parts:
                    yield self.report(ctx, _application_span(ctx, head_site), "; ".join(parts),
                                      base_line=ctx.base.logical[base_site.index].start + 1,
                                      before=_statement_text(ctx.base, base_site.index, 200),
                                      after=_statement_text(ctx.head, head_site.index, 200))


def _application_span(ctx: PythonContext, application: _Application) -> Span:
    if application.call is not None:
        return ctx.head.span(application.index, application.call.node)
    return ctx.head.span(application.index)


def _context_changes(application: _Application, old: _Context, new: _Context) -> list[str]:
    label = application.label
    parts = []
    old_kinds = [kind for kind, _ in old.loops[:1]]  # how often: the innermost loop decides
    new_kinds = [kind for kind, _ in new.loops[:1]]
    moved_scope = old.scope != new.scope
    if old_kinds != new_kinds and (not moved_scope or "per iteration" in (old_kinds[:1] + new_kinds[:1])):
        parts.append(f"{label} moved from {old.frequency()} to {new.frequency()}")
    if old.order and new.order and old.order != new.order and application.kind == "step":
        parts.append(f"{label} now runs {new.order} optimizer.step()")
    old_conditions = {key for key, _ in old.conditions}
    new_conditions = {key for key, _ in new.conditions}
    if old_conditions != new_conditions and old_kinds == new_kinds:
        added = [text for key, text in new.conditions if key not in old_conditions]
        removed = [text for key, text in old.conditions if key not in new_conditions]
        if added:
            parts.append(f"{label} now only under `{shorten(added[0], 50)}`")
        elif removed:
            parts.append(f"{label} no longer under `{shorten(removed[0], 50)}`")
    if old.arguments != new.arguments and application.kind == "step":
        parts.append(f"{label.split('(')[0]} arguments {_argument_difference(old.arguments, new.arguments)}")
    return parts


_CHOICE_NAME = re.compile(r"sched|polic|type|mode|style|strateg|name|kind|anneal|shape", re.I)


def _argument_difference(old: str, new: str) -> str:
    """The first differing argument of two argument lists, e.g. ``c1: 0.1 -> 0.5``."""
    import ast
    try:
        old_call = ast.parse("f" + old, mode="eval").body
        new_call = ast.parse("f" + new, mode="eval").body
    except SyntaxError:
        return f"{shorten(old, 30)} -> {shorten(new, 30)}"
    assert isinstance(old_call, ast.Call) and isinstance(new_call, ast.Call)
    old_args = {str(i): ast.unparse(a) for i, a in enumerate(old_call.args)}
    old_args.update({k.arg or "**": ast.unparse(k.value) for k in old_call.keywords})
    new_args = {str(i): ast.unparse(a) for i, a in enumerate(new_call.args)}
    new_args.update({k.arg or "**": ast.unparse(k.value) for k in new_call.keywords})
    for name in dict.fromkeys([*old_args, *new_args]):
        if old_args.get(name) != new_args.get(name):
            label = f"#{int(name) + 1}" if name.isdigit() else name
            before, after = old_args.get(name, "(none)"), new_args.get(name, "(none)")
            return f"{label}: {shorten(before, 30)} -> {shorten(after, 30)}"
    return f"{shorten(old, 30)} -> {shorten(new, 30)}"


class ScheduleHyperparameterChanged(ValueRule, Rule):
    """A warmup or decay setting changed: a scheduler argument (``T_max``, ``step_size``,
    ``gamma``, ``milestones``, ``num_warmup_steps``...) or a setting that feeds the schedule
    (``warmup_iters``, ``lr_decay_iters``, ``min_lr``, ``decay_lr``).

    A horizon that no longer matches the run length leaves the rate stuck at its floor for the
    last part of training, or never lets it decay; a shorter warmup can make the first updates
    diverge at a high peak rate. Check the horizon against ``max_iters`` / ``epochs`` and the
    number of steps per epoch.
    """

    code = "ML304"
    family = "learning_rate"
    name = "schedule-hyperparameter"
    summary = "Warmup / decay setting or scheduler argument changed"
    topics = ("schedule",)
    examples = (
        Example(
            before="warmup_iters = 2000\nlr_decay_iters = 600000\nmin_lr = 6e-5\n",
            after="warmup_iters = 100\nlr_decay_iters = 600000\nmin_lr = 6e-5\n",
            expect=(Expect(1, "warmup_iters 2000 -> 100"),),
        ),
        Example(
            before="from torch.optim.lr_scheduler import StepLR\nsched = StepLR(opt, step_size=30, gamma=0.1)\n",
            after="from torch.optim.lr_scheduler import StepLR\nsched = StepLR(opt, step_size=10, gamma=0.1)\n",
            expect=(Expect(2, "StepLR step_size 30 -> 10"),),
        ),
        Example(
            before="import argparse\np = argparse.ArgumentParser()\np.add_argument('--warmup-epochs', type=int, default=5)\n",
            after="import argparse\np = argparse.ArgumentParser()\np.add_argument('--warmup-epochs', type=int, default=0)\n",
            expect=(Expect(3, "--warmup_epochs default 5 -> 0"),),
        ),
        Example(  # the scheduler class changed: ML302 reports it with its arguments, not argument by argument
            before="from torch.optim.lr_scheduler import StepLR, CosineAnnealingLR\nsched = StepLR(opt, 30)\n",
            after="from torch.optim.lr_scheduler import StepLR, CosineAnnealingLR\nsched = CosineAnnealingLR(opt, 200)\n",
            expect=(Expect(2, "LR scheduler StepLR(opt, 30) -> CosineAnnealingLR(opt, 200)", code="ML302"),),
        ),
        Example(  # help text of a schedule setting
            before="import argparse\np = argparse.ArgumentParser()\np.add_argument('--min-lr', default=1e-5, help='floor')\n",
            after="import argparse\np = argparse.ArgumentParser()\n"
                  "p.add_argument('--min-lr', default=1e-5, help='lower bound of the cosine schedule')\n",
        ),
        Example(  # same horizon, written differently
            before="lr_decay_iters = 600000\n",
            after="lr_decay_iters = 600_000  # ~= max_iters per Chinchilla\n",
        ),
    )

    def accepts(self, ctx: Context, value_change: ValueChange) -> bool:
        if is_placeholder(value_change):
            return False  # `scheduler = None`
        if is_test_file(ctx.path):
            return False
        literals = [v.literal for v in (value_change.old, value_change.new) if v is not None]
        if any(isinstance(v, str) for v in literals) and not _CHOICE_NAME.search(value_change.subject):
            return False  # a label such as {"cosine": "cosine"}, not a setting
        if not isinstance(ctx, PythonContext):
            return True
        if value_change.kind == "binding":
            # `scheduler = StepLR(...)` -> `CosineAnnealingLR(...)`: ML302 reports the construction
            return not (is_scheduler_value(ctx.base, value_change.old)
                        or is_scheduler_value(ctx.head, value_change.new))
        return True

    def swaps(self, ctx: PythonContext) -> list[tuple]:
        return scheduler_pairs(ctx)


def is_scheduler_value(view: ModuleView, value) -> bool:
    """Is ``value`` (an expression) the construction of a scheduler?"""
    node = value.node if value is not None else None
    if not isinstance(node, cst.Call):
        return False
    callee = dotted_name(node.func)
    if not callee:
        return False
    receiver = callee.rsplit(".", 1)[0] if "." in callee else None
    arguments = tuple(make_value(arg.value) for arg in node.args)
    return _is_scheduler_name(apis.canonical(view.resolve(callee)), receiver, view, arguments)
