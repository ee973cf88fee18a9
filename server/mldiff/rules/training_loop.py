"""training_loop: zero_grad / backward / step order, GradScaler use, clipping,
train()/eval(), no_grad / inference_mode, loss scaling for accumulation."""
from __future__ import annotations

from typing import Iterator

import libcst as cst

from mldiff.analysis.values import dotted_name
from mldiff.facts.classify import same_object
from mldiff.facts.anchors import anchor, base_line, site_span
from mldiff.facts.context import Context, PythonContext, view_fact
from mldiff.facts.pairing import pair, pair_calls
from mldiff.facts.render import value_text
from mldiff.facts.sites import argument_changes, call_sites
from mldiff.findings import Finding, Fix, Span, TextEdit
from mldiff.knowledge.methods import MODE_SWITCHES
from mldiff.knowledge.names import classify_name
from mldiff.rules.base import Example, Expect, Rule
from mldiff.rules.loops import Event, classify_call, events, is_evaluation, loops, region
from mldiff.rules.values import ValueRule

_LOOP = ("import torch\nmodel = torch.nn.Linear(4, 1)\noptimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
         "for x, y in loader:\n")
_STEPS = ("optimizer_step", "scaler_step")
_BACKWARDS = ("backward", "scaled_backward")


def _events_for(ctx: PythonContext, side: str, index: int) -> list[Event]:
    view = ctx.view(side)
    where = region(view, index)
    cache: dict[tuple[int, int], list[Event]] = view_fact(view, "loop_events", dict)
    key = (where.start, where.stop)
    if key not in cache:
        cache[key] = events(view, where)
    return cache[key]


def _touched_events(ctx: PythonContext, side: str, kinds: tuple[str, ...]) -> list[Event]:
    view = ctx.view(side)
    out = []
    for index in ctx.touched(side):
        for call in view.facts(index).calls:
            kind = classify_call(view, call)
            if kind in kinds:
                out.append(Event(index, kind, call))
    return out


def _event_span(ctx: PythonContext, side: str, event: Event) -> Span:
    if side == "head":
        return ctx.head.span(event.index, event.call.node)
    return anchor(ctx, "base", event.index)


def _event_base_line(ctx: PythonContext, side, event) -> int | None:
    return ctx.base.logical[event.index].start + 1 if side == "base" else None


def _position(ctx: PythonContext, side: str, event: Event) -> str:
    """Where a zero_grad sits relative to backward and step in its region."""
    region_events = _events_for(ctx, side, event.index)
    before = [e for e in region_events if e.index < event.index and e.kind in _BACKWARDS + _STEPS]
    after = [e for e in region_events if e.index > event.index and e.kind in _BACKWARDS + _STEPS]
    previous = before[-1].kind if before else None
    following = after[0].kind if after else None
    if previous in _BACKWARDS and following in _STEPS:
        return "between backward and step"
    if previous in _STEPS:
        return "after the optimizer step"
    return "before backward"


class ZeroGradChanged(Rule[PythonContext]):
    """``zero_grad()`` was removed, added, moved, or its ``set_to_none`` changed.

    PyTorch accumulates gradients: without ``zero_grad`` every step adds this batch's
    gradients to all previous ones, and the effective learning rate grows without bound.
    Between ``backward()`` and ``step()`` it throws the gradients away. Moving it across
    an accumulation loop changes how many micro-batches a step sees. ``set_to_none``
    changes whether gradients become None or zero tensors (optimizers skip None
    gradients, so weight decay and momentum behave differently for unused parameters).
    """

    code = "ML801"
    family = "training_loop"
    name = "zero-grad"
    summary = "zero_grad removed, added, moved relative to backward/step, or set_to_none changed"
    examples = (
        Example(
            before=_LOOP + "    optimizer.zero_grad()\n    loss = model(x).sum()\n    loss.backward()\n"
                   "    optimizer.step()\n",
            after=_LOOP + "    loss = model(x).sum()\n    loss.backward()\n    optimizer.step()\n",
            expect=(Expect(5, "optimizer.zero_grad() removed"),),
        ),
        Example(
            before=_LOOP + "    optimizer.zero_grad()\n    loss = model(x).sum()\n    loss.backward()\n"
                   "    optimizer.step()\n",
            after=_LOOP + "    loss = model(x).sum()\n    loss.backward()\n    optimizer.zero_grad()\n"
                  "    optimizer.step()\n",
            expect=(Expect(7, "now between backward and step"),),
        ),
        Example(
            before=_LOOP + "    loss = model(x).sum()\n    loss.backward()\n    optimizer.step()\n"
                   "    optimizer.zero_grad()\n",
            after=_LOOP + "    loss = model(x).sum()\n    loss.backward()\n    optimizer.step()\n"
                  "    optimizer.zero_grad(set_to_none=False)\n",
            expect=(Expect(8, "set_to_none (default) -> False"),),
        ),
        Example(  # the optimizer is now kept on self: same call, same place
            before=_LOOP + "    optimizer.zero_grad()\n    loss = model(x).sum()\n",
            after=_LOOP + "    self.optimizer.zero_grad()\n    loss = model(x).sum()\n",
        ),
        Example(  # a comment next to it
            before=_LOOP + "    optimizer.zero_grad()\n    loss = model(x).sum()\n",
            after=_LOOP + "    optimizer.zero_grad()  # clear old gradients\n    loss = model(x).sum()\n",
        ),
    )

    def check(self, ctx: PythonContext) -> Iterator[Finding]:
        base = _touched_events(ctx, "base", ("zero_grad",))
        head = _touched_events(ctx, "head", ("zero_grad",))
        pairs = pair(base, head, key=lambda e: "zero_grad",
                     same=lambda b, h: _position(ctx, "base", b) == _position(ctx, "head", h))
        for old, new in pairs:
            if old is not None and new is None:
                if any(e.kind == "zero_grad" for e in _events_for(ctx, "head", _head_index(ctx, old))):
                    continue
                yield self.report(ctx, _event_span(ctx, "base", old),
                                  f"{_callee(old)}() removed: gradients now accumulate across steps",
                                  base_line=_event_base_line(ctx, "base", old), before=_callee(old) + "()")
            elif new is not None and old is None:
                yield self.report(ctx, _event_span(ctx, "head", new), f"{_callee(new)}() added",
                                  severity="information", after=_callee(new) + "()")
            else:
                assert old is not None and new is not None  # pair() never returns (None, None)
                before, after = _position(ctx, "base", old), _position(ctx, "head", new)
                if before != after:
                    severity = "warning" if after == "between backward and step" else "information"
                    yield self.report(ctx, _event_span(ctx, "head", new),
                                      f"{_callee(new)}() moved: was {before}, now {after}",
                                      base_line=_event_base_line(ctx, "base", old), severity=severity)
                args_before = {k: v for k, v in old.call.kwargs}
                args_after = {k: v for k, v in new.call.kwargs}
                old_value, new_value = args_before.get("set_to_none"), args_after.get("set_to_none")
                if (old_value is None) != (new_value is None) or (
                        old_value is not None and not old_value.same_as(new_value)):
                    yield self.report(ctx, _event_span(ctx, "head", new),
                                      f"{_callee(new)}() set_to_none {'(default)' if old_value is None else old_value.code}"
                                      f" -> {'(default)' if new_value is None else new_value.code}",
                                      base_line=_event_base_line(ctx, "base", old), severity="information")


def _head_index(ctx: PythonContext, event: Event) -> int:
    """The head logical line where a removed base event stood (for looking at its region)."""
    if not ctx.head.logical:
        return 0
    line = anchor(ctx, "base", event.index).line - 1
    index = ctx.head.index_at(line)
    while index < 0 and line > 0:
        line -= 1
        index = ctx.head.index_at(line)
    return max(index, 0)


def _callee(event: Event) -> str:
    return event.call.callee.replace("(...)", "()")


class BackwardOrStepChanged(Rule[PythonContext]):
    """``backward()`` or the optimizer step was added, removed, or moved into or out of a loop.

    Moving ``backward()`` into a micro-step loop while ``step()`` stays outside turns the
    loop into gradient accumulation (gradients add up over micro-batches: divide the
    loss accordingly). Moving ``step()`` into it steps on every micro-batch. Removing
    either stops learning. Routing them through a GradScaler (``scaler.scale(loss)
    .backward()``, ``scaler.step(optimizer)``) changes how float16 gradients are handled.
    """

    code = "ML802"
    family = "training_loop"
    name = "backward-step"
    summary = "backward() or optimizer step added, removed, or moved into / out of a loop"
    examples = (
        Example(
            before=_LOOP + "    loss = model(x).sum()\n    loss.backward()\n    optimizer.step()\n",
            after=_LOOP + "    for micro_step in range(accum):\n        loss = model(x).sum()\n"
                  "        loss.backward()\n    optimizer.step()\n",
            expect=(Expect(7, "loss.backward() moved into `for micro_step in range(accum)`"),),
        ),
        Example(
            before=_LOOP + "    loss = model(x).sum()\n    loss.backward()\n    optimizer.step()\n",
            after=_LOOP + "    loss = model(x).sum()\n    loss.backward()\n",
            expect=(Expect(6, "optimizer.step() removed"),),
        ),
        Example(  # the loop now iterates with a progress bar: same structure
            before=_LOOP + "    loss = model(x).sum()\n    loss.backward()\n    optimizer.step()\n",
            after=_LOOP.replace("loader", "tqdm(loader)") + "    loss = model(x).sum()\n    loss.backward()\n"
                  "    optimizer.step()\n",
        ),
        Example(  # the step line only changes the variable it goes through
            before=_LOOP + "    loss = model(x).sum()\n    loss.backward()\n    optimizer.step()\n",
            after=_LOOP + "    loss = model(x).sum()\n    loss.backward()\n    self.optimizer.step()\n",
        ),
    )

    def check(self, ctx: PythonContext) -> Iterator[Finding]:
        for kinds, noun in ((_BACKWARDS, "backward"), (_STEPS, "step")):
            base = _touched_events(ctx, "base", kinds)
            head = _touched_events(ctx, "head", kinds)
            pairs = pair(base, head, key=lambda e: e.kind,
                         same=lambda b, h: len(loops(ctx.base, b.index)) == len(loops(ctx.head, h.index)))
            unpaired_base = [b for b, h in pairs if h is None and b is not None]
            unpaired_head = [h for b, h in pairs if b is None and h is not None]
            # plain -> scaled (or back): a reroute through the GradScaler, reported once each
            for old, new in list(zip(unpaired_base, unpaired_head)):
                if {old.kind, new.kind} in ({"backward", "scaled_backward"}, {"optimizer_step", "scaler_step"}):
                    unpaired_base.remove(old)
                    unpaired_head.remove(new)
                    verb = "now goes through the GradScaler" if new.kind.startswith("scale") else \
                        "no longer goes through the GradScaler"
                    yield self.report(ctx, _event_span(ctx, "head", new), f"{_callee(new)}(): {noun} {verb}",
                                      base_line=_event_base_line(ctx, "base", old), severity="information")
            for new in unpaired_head:
                if new.kind in ("scaled_backward", "scaler_step") and any(
                        e.kind == {"scaled_backward": "backward", "scaler_step": "optimizer_step"}[new.kind]
                        for e in _touched_events(ctx, "head", kinds)):
                    yield self.report(ctx, _event_span(ctx, "head", new),
                                      f"{_callee(new)}(): {noun} can now go through the GradScaler",
                                      severity="information")
                    continue
                if any(e.kind == new.kind for e in base):
                    continue
                yield self.report(ctx, _event_span(ctx, "head", new), f"{_callee(new)}() added",
                                  severity="information")
            for old in unpaired_base:
                head_region_has = any(e.kind in kinds for e in _events_for(
                    ctx, "head", _head_index(ctx, old)))
                if head_region_has:
                    continue
                yield self.report(ctx, _event_span(ctx, "base", old),
                                  f"{_callee(old)}() removed: {'no gradients are computed' if noun == 'backward' else 'parameters are never updated'}",
                                  base_line=_event_base_line(ctx, "base", old))
            for old, new in [(b, h) for b, h in pairs if b is not None and h is not None]:
                before, after = loops(ctx.base, old.index), loops(ctx.head, new.index)
                if len(before) == len(after):
                    continue
                if len(after) > len(before):
                    message = f"{_callee(new)}() moved into `{after[-1]}`"
                else:
                    message = f"{_callee(new)}() moved out of `{before[-1]}`"
                yield self.report(ctx, _event_span(ctx, "head", new), message,
                                  base_line=_event_base_line(ctx, "base", old))



def _scaler_problems(ctx: PythonContext, side: str, where_index: int) -> dict[str, Event]:
    """problem -> the event it is reported on, for the region around ``where_index``."""
    region_events = _events_for(ctx, side, where_index)
    kinds = {e.kind for e in region_events}
    problems: dict[str, Event] = {}
    if "scaled_backward" in kinds:
        if "scaler_step" not in kinds:
            step = next((e for e in region_events if e.kind == "optimizer_step"), None)
            if step is not None:
                problems["bypassed"] = step
        elif "scaler_update" not in kinds:
            problems["no-update"] = next(e for e in region_events if e.kind == "scaler_step")
    return problems


class GradScalerBypassed(Rule[PythonContext]):
    """The loss is scaled (``scaler.scale(loss).backward()``) but the optimizer is stepped
    directly (``optimizer.step()`` instead of ``scaler.step(optimizer)``), or
    ``scaler.update()`` is missing.

    ``scaler.scale`` multiplies the loss by the current scale (65536 at the start), so
    every gradient is 65536 times too large unless ``scaler.step`` unscales it first:
    ``optimizer.step()`` applies the scaled gradients and training diverges (and
    inf/NaN steps are no longer skipped). Without ``scaler.update()`` the scale never
    adapts. Use ``scaler.step(optimizer)`` then ``scaler.update()``.
    """

    code = "ML803"
    family = "training_loop"
    reports_new_files = True
    name = "grad-scaler-bypassed"
    severity = "error"
    summary = "scaled loss with optimizer.step() instead of scaler.step(optimizer), or no scaler.update()"
    examples = (
        Example(
            before=_LOOP + "    loss = model(x).sum()\n    loss.backward()\n    optimizer.step()\n",
            after="scaler = torch.amp.GradScaler('cuda')\n" + _LOOP + "    loss = model(x).sum()\n"
                  "    scaler.scale(loss).backward()\n    optimizer.step()\n",
            expect=(Expect(8, "optimizer.step() bypasses the GradScaler", column=5,
                           fix="scaler = torch.amp.GradScaler('cuda')\n" + _LOOP + "    loss = model(x).sum()\n"
                               "    scaler.scale(loss).backward()\n    scaler.step(optimizer)\n    scaler.update()\n"),
                    Expect(1, "", code="ML102"), Expect(7, "", code="ML802")),
        ),
        Example(
            before="scaler = torch.amp.GradScaler('cuda')\n" + _LOOP + "    scaler.scale(loss).backward()\n"
                   "    scaler.step(optimizer)\n    scaler.update()\n",
            after="scaler = torch.amp.GradScaler('cuda')\n" + _LOOP + "    scaler.scale(loss).backward()\n"
                  "    scaler.step(optimizer)\n",
            expect=(Expect(7, "scaler.update() is never called"),),
        ),
        Example(  # the correct recipe, reformatted
            before="scaler = torch.amp.GradScaler('cuda')\n" + _LOOP + "    scaler.scale(loss).backward()\n"
                   "    scaler.step(optimizer)\n    scaler.update()\n",
            after="scaler = torch.amp.GradScaler('cuda')\n" + _LOOP + "    scaler.scale(loss).backward()\n"
                  "    scaler.step(optimizer)  # unscales first\n    scaler.update()\n",
        ),
    )

    def check(self, ctx: PythonContext) -> Iterator[Finding]:
        touched = ctx.head_regions
        if not touched:
            return
        # Scaler problems come from the training calls; when the change touches none of
        # them (on either side) it cannot have introduced one.
        relevant = _BACKWARDS + _STEPS + ("scaler_update",)
        if not (_touched_events(ctx, "base", relevant) or _touched_events(ctx, "head", relevant)
                or self._removed_lines_have_events(ctx)):
            return
        seen_regions = set()
        for index in touched:
            where = region(ctx.head, index)
            if (where.start, where.stop) in seen_regions:
                continue
            seen_regions.add((where.start, where.stop))
            head_problems = _scaler_problems(ctx, "head", index)
            if not head_problems:
                continue
            base_index = self._base_index(ctx, index)
            base_problems = _scaler_problems(ctx, "base", base_index) if base_index is not None else {}
            for problem, event in head_problems.items():
                if problem in base_problems:
                    continue
                span = ctx.head.span(event.index, event.call.node)
                if problem == "bypassed":
                    scaler = self._scaler_name(ctx, where)
                    optimizer = (event.call.receiver or "optimizer").replace("(...)", "()")
                    yield self.report(
                        ctx, span,
                        f"{_callee(event)}() bypasses the GradScaler: gradients stay multiplied by the loss scale; "
                        f"call {scaler}.step({optimizer}) and {scaler}.update()",
                        fixes=[self._fix(ctx, event, span, scaler, optimizer)])
                else:
                    yield self.report(ctx, span, f"{_callee(event)}(): scaler.update() is never called, so the "
                                      "loss scale never adapts")

    @staticmethod
    def _removed_lines_have_events(ctx: PythonContext) -> bool:
        return any(".step(" in line or ".update(" in line or "backward(" in line
                   for hunk in ctx.hunks for line in ctx.base.lines[hunk.base_start:hunk.base_end])

    @staticmethod
    def _base_index(ctx: PythonContext, head_index: int) -> int | None:
        ll = ctx.head.logical[head_index]
        for line in range(ll.start, ll.end):
            mapped = ctx.map.head_to_base(line)
            if mapped is not None and ctx.base.index_at(mapped) >= 0:
                return ctx.base.index_at(mapped)
        if ctx.base.logical:
            hunk = ctx.map.hunk_for_head_line(ll.start)
            line = hunk.base_start if hunk is not None else 0
            line = min(line, len(ctx.base.lines) - 1)
            while line > 0 and ctx.base.index_at(line) < 0:
                line -= 1
            return max(ctx.base.index_at(line), 0)
        return None

    @staticmethod
    def _scaler_name(ctx: PythonContext, where: range) -> str:
        for event in events(ctx.head, where):
            if event.kind == "scaled_backward" and event.call.receiver:
                return event.call.receiver[: -len(".scale(...)")]
        return "scaler"

    @staticmethod
    def _fix(ctx: PythonContext, event: Event, span: Span, scaler: str, optimizer: str) -> Fix:
        line_text = ctx.head.lines[span.line - 1]
        indent = line_text[: len(line_text) - len(line_text.lstrip())]
        newline = "\r\n" if line_text.endswith("\r\n") else "\n"
        edits = [TextEdit(span, f"{scaler}.step({optimizer})"),
                 TextEdit(Span(span.end_line + 1, 1, span.end_line + 1, 1), f"{indent}{scaler}.update(){newline}")]
        return Fix(f"Call {scaler}.step({optimizer}) and {scaler}.update()", tuple(edits))


_SCALER_METHODS = ("scale", "step", "update", "unscale_", "get_scale")


class ScalerNeverCreated(Rule[PythonContext]):
    """A GradScaler is used (``scaler.scale(loss)``, ``scaler.step(...)``) but the file
    never creates it.

    The name is unbound: the script crashes with ``NameError`` on the first step, or, if
    a global of that name comes from elsewhere, uses a scaler configured for something
    else. Create it before the loop: ``scaler = torch.amp.GradScaler("cuda")``.
    """

    code = "ML804"
    family = "training_loop"
    reports_new_files = True
    name = "scaler-never-created"
    severity = "error"
    summary = "GradScaler used but never created"
    examples = (
        Example(
            before=_LOOP + "    loss = model(x).sum()\n    loss.backward()\n",
            after=_LOOP + "    loss = model(x).sum()\n    scaler.scale(loss).backward()\n",
            expect=(Expect(6, "scaler is used but never created"), Expect(6, "", code="ML802")),
        ),
        Example(  # created under a condition: fine
            before=_LOOP + "    loss = model(x).sum()\n    loss.backward()\n",
            after="if use_amp:\n    scaler = torch.amp.GradScaler('cuda')\n" + _LOOP + "    loss = model(x).sum()\n"
                  "    scaler.scale(loss).backward() if use_amp else loss.backward()\n",
            expect=(Expect(2, "", code="ML102"), Expect(8, "", code="ML802")),
        ),
        Example(  # passed in as a parameter
            before="def train_step(model, loss, scaler):\n    loss.backward()\n",
            after="def train_step(model, loss, scaler):\n    scaler.scale(loss).backward()\n",
            expect=(Expect(2, "", code="ML802"),),
        ),
        Example(  # untouched use of a scaler defined elsewhere
            before="def train_step(model, loss, scaler):\n    scaler.scale(loss).backward()\n",
            after="def train_step(model, loss, scaler):\n    scaler.scale(loss).backward()  # scaled\n",
        ),
    )

    def check(self, ctx: PythonContext) -> Iterator[Finding]:
        reported = set()
        view = ctx.head
        for index in ctx.touched_head:
            for call in view.facts(index).calls:
                if call.method not in _SCALER_METHODS or not call.receiver or "(" in call.receiver:
                    continue
                name = call.receiver
                if "scaler" not in name.rsplit(".", 1)[-1].lower() or name in reported:
                    continue
                if self._bound(view, index, name):
                    continue
                reported.add(name)
                yield self.report(ctx, view.span(index, call.node),
                                  f"{name} is used but never created: add `{name} = torch.amp.GradScaler(\"cuda\")` "
                                  "before the loop")

    @staticmethod
    def _bound(view, index: int, name: str) -> bool:
        root = name.split(".", 1)[0]
        if view.definitions(name) or (root != "self" and view.definitions(root)):
            return True
        if root in view.aliases:
            return True
        for ancestor in view.ancestors(index):
            facts = view.facts(ancestor)
            if root in facts.def_params or facts.loop_target == root:
                return True
            if view.logical[ancestor].keyword == "with" and f" as {root}" in view.source(ancestor):
                return True
        if root == "self":
            return bool(view._lines_matching(__import__("re").compile(r"\bself\." + name.split(".", 1)[1]
                                                                      + r"\s*=")))
        return False


def _clipped(value) -> str:
    """The object whose gradients are clipped: ``model`` for ``model.parameters()`` and ``model``."""
    code = value.code
    for suffix in (".parameters()", ".named_parameters()"):
        if code.endswith(suffix):
            return code[:-len(suffix)]
    return code


def _is_clip(qualname, call, view) -> bool:
    last = qualname.rsplit(".", 1)[-1]
    return last in ("clip_grad_norm_", "clip_grad_value_", "clip_grad_norm", "clip_gradients") and (
        qualname.startswith("torch.nn.utils") or call.receiver is not None or "." not in qualname)


class GradientClippingChanged(ValueRule, Rule):
    """Gradient clipping was added, removed, or its threshold changed — or it now clips
    gradients that a GradScaler has not unscaled yet.

    Clipping bounds each update; removing it lets rare large gradients blow up training
    (especially transformers and RNNs), adding or tightening it slows learning.
    With a GradScaler, gradients must be unscaled (``scaler.unscale_(optimizer)``)
    before clipping, otherwise the threshold applies to gradients 65536 times too large
    and clipping does nothing useful.
    """

    code = "ML805"
    family = "training_loop"
    name = "gradient-clipping"
    summary = "gradient clipping added, removed, threshold changed, or applied to scaled gradients"
    topics = ("clipping",)
    examples = (
        Example(
            before=_LOOP + "    loss.backward()\n    optimizer.step()\n",
            after=_LOOP + "    loss.backward()\n    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
                  "    optimizer.step()\n",
            expect=(Expect(6, "gradient clipping added (max_norm 1.0)"),),
        ),
        Example(
            before=_LOOP + "    loss.backward()\n    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
                   "    optimizer.step()\n",
            after=_LOOP + "    loss.backward()\n    torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)\n"
                  "    optimizer.step()\n",
            expect=(Expect(6, "clip_grad_norm_ max_norm 1.0 -> 0.5"),),
        ),
        Example(
            before="grad_clip = 1.0 # clip gradients at this value, or disable if == 0.0\n",
            after="grad_clip = 0.0 # clip gradients at this value, or disable if == 0.0\n",
            expect=(Expect(1, "grad_clip 1.0 -> 0.0"),),
        ),
        Example(
            before="scaler = torch.amp.GradScaler('cuda')\n" + _LOOP + "    scaler.scale(loss).backward()\n"
                   "    scaler.step(optimizer)\n    scaler.update()\n",
            after="scaler = torch.amp.GradScaler('cuda')\n" + _LOOP + "    scaler.scale(loss).backward()\n"
                  "    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
                  "    scaler.step(optimizer)\n    scaler.update()\n",
            expect=(Expect(7, "clips scaled gradients"),),
        ),
        Example(  # the clip now bounds another network's gradients
            before="student, teacher = Net(), Net()\n" + _LOOP + "    loss.backward()\n"
                   "    torch.nn.utils.clip_grad_norm_(teacher.parameters(), 1.0)\n",
            after="student, teacher = Net(), Net()\n" + _LOOP + "    loss.backward()\n"
                  "    torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)\n",
            expect=(Expect(7, "clip_grad_norm_ now clips student.parameters() (was teacher.parameters())"),),
        ),
        Example(  # the same model, now kept on self
            before=_LOOP + "    loss.backward()\n    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n",
            after=_LOOP + "    loss.backward()\n    torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)\n",
        ),
        Example(  # the same clip, now on one line with a comment
            before=_LOOP + "    torch.nn.utils.clip_grad_norm_(\n        model.parameters(), 1.0)\n",
            after=_LOOP + "    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # stability\n",
        ),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        yield from super().check(ctx)
        if not isinstance(ctx, PythonContext):
            return
        for base, head in pair_calls(ctx, _is_clip, key=lambda site: "clip"):
            if head is not None and base is None:
                threshold = self._threshold(head)
                unscaled = self._clips_scaled(ctx, head)
                if unscaled:
                    yield self.report(ctx, site_span(ctx, head),
                                      f"{head.short}() clips scaled gradients: call scaler.unscale_(optimizer) "
                                      "before clipping", severity="error")
                else:
                    yield self.report(ctx, site_span(ctx, head),
                                      f"gradient clipping added ({threshold})", severity="information")
            elif base is not None and head is None:
                yield self.report(ctx, site_span(ctx, base),
                                  f"gradient clipping removed (was {self._threshold(base)})",
                                  base_line=base_line(ctx, base))
            else:
                for name, old, new in argument_changes(ctx, base, head):
                    if name in ("max_norm", "clip_value", "norm_type", "#1", "max_grad_norm"):
                        yield self.report(ctx, site_span(ctx, head),
                                          f"{head.short} {name} {value_text(old)} -> {value_text(new)}",
                                          base_line=base_line(ctx, base))
                    elif name in ("parameters", "#0") and old is not None and new is not None \
                            and not same_object(ctx, _clipped(old), _clipped(new)):
                        yield self.report(ctx, site_span(ctx, head),
                                          f"{head.short} now clips {new.code} (was {old.code})",
                                          base_line=base_line(ctx, base))

    @staticmethod
    def _threshold(site) -> str:
        call = site.call
        value = call.kwarg("max_norm") or call.kwarg("clip_value") or call.kwarg("gradient_clip_val") or (
            call.args[1] if len(call.args) > 1 else None)
        name = "clip_value" if "value" in site.qualname else "max_norm"
        return f"{name} {value.code}" if value is not None else "default threshold"

    @staticmethod
    def _clips_scaled(ctx: PythonContext, site) -> bool:
        kinds = [e.kind for e in _events_for(ctx, "head", site.index)]
        return "scaled_backward" in kinds and "unscale" not in kinds


_GRAD_MODE = {"torch.no_grad": "torch.no_grad()", "torch.inference_mode": "torch.inference_mode()",
              "torch.set_grad_enabled": "torch.set_grad_enabled()", "torch.enable_grad": "torch.enable_grad()",
              "torch.autograd.no_grad": "torch.no_grad()", "torch.autograd.grad_mode.no_grad": "torch.no_grad()"}


def _is_mode_switch(qualname, call, view) -> bool:
    if _mode(call) is None or not call.receiver or "(" in call.receiver:
        return False
    receiver = call.receiver.rsplit(".", 1)[-1].lower()
    if receiver in ("trainer", "self", "super") or "trainer" in receiver:
        return False
    return len(call.args) <= 1 and not call.kwargs


def _mode(call) -> str | None:
    """"train" or "eval": the mode a switch sets (``model.train(False)`` is eval)."""
    modes = MODE_SWITCHES.get(call.method)
    if modes is None or len(call.args) > 1:
        return None
    if call.args and call.args[0].is_literal and call.args[0].literal is False:
        return modes[1]
    return modes[0]


class TrainEvalModeChanged(Rule[PythonContext]):
    """``model.train()`` or ``model.eval()`` was added or removed.

    Dropout and batch normalization behave differently in the two modes. Without
    ``eval()`` evaluation runs with dropout on and batch statistics of the test batch
    (noisy, optimistic or pessimistic metrics); without ``train()`` after evaluation,
    training continues with dropout off and frozen batch-norm statistics.
    """

    code = "ML806"
    family = "training_loop"
    name = "train-eval-mode"
    summary = "model.train() / model.eval() added or removed"
    examples = (
        Example(
            before="def evaluate(model, loader):\n    model.eval()\n    for x in loader:\n        model(x)\n",
            after="def evaluate(model, loader):\n    for x in loader:\n        model(x)\n",
            expect=(Expect(2, "model.eval() removed from evaluate()"),),
        ),
        Example(
            before="def train(model, loader):\n    for x in loader:\n        model(x)\n",
            after="def train(model, loader):\n    model.train()\n    for x in loader:\n        model(x)\n",
            expect=(Expect(2, "model.train() added"),),
        ),
        Example(  # Hugging Face's Trainer.train() starts training: not a mode switch
            before="trainer = make_trainer()\n",
            after="trainer = make_trainer()\ntrainer.train()\n",
        ),
        Example(  # renamed variable, same call
            before="def evaluate(m):\n    m.eval()\n    return m(x)\n",
            after="def evaluate(net):\n    net.eval()\n    return net(x)\n",
        ),
        Example(  # stable-baselines3's spelling of the same switch
            before="def train(self):\n    self.policy.train()\n    self.update()\n",
            after="def train(self):\n    self.policy.set_training_mode(True)\n    self.update()\n",
        ),
        Example(  # ... and a switch to the other mode is a change
            before="def collect(self):\n    self.policy.train()\n    self.rollout()\n",
            after="def collect(self):\n    self.policy.set_training_mode(False)\n    self.rollout()\n",
            expect=(Expect(2, "self.policy.train() removed from collect()"),
                    Expect(2, "self.policy.set_training_mode() added")),
        ),
    )

    def check(self, ctx: PythonContext) -> Iterator[Finding]:
        pairs = pair_calls(ctx, _is_mode_switch,
                           key=lambda site: (_mode(site.call), site.call.receiver.rsplit(".", 1)[-1]))
        renames = ctx.renames
        for base, head in pairs:
            if base is not None and head is not None:
                continue
            if base is not None:
                mode = _mode(base.call)
                if any(h is not None and b is None and _mode(h.call) == mode for b, h in pairs):
                    continue  # the call moved to another receiver (model -> trainable_module)
                where = self._function(ctx.base, base.index)
                evaluating = is_evaluation(ctx.base, base.index)
                severity = "warning" if (mode == "eval") == evaluating or mode == "train" \
                    else "information"
                text = f"{base.call.callee}() removed" + (f" from {where}()" if where else "")
                consequence = (": evaluation runs with dropout and batch-norm in training mode"
                               if mode == "eval" else
                               ": training may continue in eval mode after evaluation")
                yield self.report(ctx, site_span(ctx, base), text + consequence,
                                  base_line=base_line(ctx, base), severity=severity)
            else:
                if any(b is not None and h is None and _mode(b.call) == _mode(head.call) for b, h in pairs):
                    continue
                yield self.report(ctx, site_span(ctx, head), f"{head.call.callee}() added",
                                  severity="information")

    @staticmethod
    def _function(view, index: int) -> str | None:
        enclosing = view.enclosing_def(index)
        return view.facts(enclosing).def_name if enclosing >= 0 else None


def _grad_mode_sites(ctx: PythonContext, side: str) -> list:
    """``with torch.no_grad():``, ``@torch.no_grad()`` and ``torch.set_grad_enabled(False)``."""
    return call_sites(ctx, side, lambda q, call, view: q in _GRAD_MODE)


class GradModeChanged(Rule[PythonContext]):
    """``torch.no_grad()`` / ``torch.inference_mode()`` was added or removed (as a ``with``
    block or a decorator).

    Evaluation without ``no_grad`` builds the autograd graph for every batch: memory
    grows and evaluation slows, and a stray ``backward`` could update weights from test
    data. Wrapping training code in ``no_grad`` silently stops learning (no gradients,
    and ``backward`` raises or does nothing).
    """

    code = "ML807"
    family = "training_loop"
    name = "grad-mode"
    summary = "no_grad / inference_mode added or removed"
    examples = (
        Example(
            before="import torch\ndef test(net, loader):\n    for x in loader:\n        net(x)\n",
            after="import torch\ndef test(net, loader):\n    with torch.no_grad():\n        for x in loader:\n"
                  "            net(x)\n",
            expect=(Expect(3, "torch.no_grad() added in test()"),),
        ),
        Example(
            before="import torch\n@torch.no_grad()\ndef evaluate(net, loader):\n    return [net(x) for x in loader]\n",
            after="import torch\ndef evaluate(net, loader):\n    return [net(x) for x in loader]\n",
            expect=(Expect(2, "torch.no_grad() removed from evaluate()"),),
        ),
        Example(  # the block is re-indented but keeps its no_grad
            before="import torch\ndef test(net, x):\n    with torch.no_grad():\n        y = net(x)\n",
            after="import torch\ndef test(net, x):\n    if x is not None:\n        with torch.no_grad():\n"
                  "            y = net(x)\n",
        ),
    )

    def check(self, ctx: PythonContext) -> Iterator[Finding]:
        pairs = pair(_grad_mode_sites(ctx, "base"), _grad_mode_sites(ctx, "head"),
                     key=lambda site: _GRAD_MODE[site.qualname], same=lambda b, h: True)
        for base, head in pairs:
            if base is not None and head is not None:
                continue
            site = head or base
            assert site is not None  # pair() never returns (None, None)
            view = ctx.view(site.side)
            name = _GRAD_MODE[site.qualname]
            decorated = _decorated_def(view, site.index)
            if decorated is not None:
                where = view.facts(decorated).def_name
                evaluating = True if "no_grad" in name or "inference" in name else is_evaluation(view, decorated + 1)
            else:
                where = TrainEvalModeChanged._function(view, site.index)
                evaluating = is_evaluation(view, site.index)
            if head is not None:
                trains = _runs_backward_in(view, decorated + 1 if decorated is not None else site.index)
                severity = "warning" if trains else "information"
                text = f"{name} added" + (f" in {where}()" if where else "")
                if trains:
                    text += ": the backward pass inside it gets no gradients"
                yield self.report(ctx, site_span(ctx, head), text, severity=severity)
            else:
                text = f"{name} removed" + (f" from {where}()" if where else "")
                if evaluating:
                    text += ": evaluation now builds the autograd graph"
                yield self.report(ctx, site_span(ctx, site), text, base_line=base_line(ctx, base),
                                  severity="warning" if evaluating else "information")


def _decorated_def(view, index: int) -> int | None:
    """The def a decorator line belongs to."""
    i = index
    while 0 <= i < len(view.logical) and view.logical[i].keyword == "@":
        i += 1
    if i != index and i < len(view.logical) and view.logical[i].keyword == "def":
        return i
    return None


def _runs_backward_in(view, index: int) -> bool:
    """Does the block of header ``index`` (a with/def) call backward()?"""
    block = view.block(index)
    return any(e.kind in _BACKWARDS for e in events(view, block))


def _divides_by_accumulation(value) -> str | None:
    """``loss / gradient_accumulation_steps`` -> ``gradient_accumulation_steps``."""
    node = value.node if value is not None else None
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Divide, cst.FloorDivide)):
        divisor = dotted_name(node.right)
        if divisor and (classify_name(divisor) == ("batch_size", "accumulation") or "accum" in divisor.lower()):
            return divisor
    return None


class AccumulationLossScalingChanged(Rule[PythonContext]):
    """The division of the loss by the number of accumulation steps was added or removed.

    With gradient accumulation, ``backward`` sums gradients over micro-batches; dividing
    each micro-batch loss by the number of steps makes the sum an average. Without the
    division every step's gradient is N times larger, as if the learning rate were N
    times higher (and clipping thresholds mean something else).
    """

    code = "ML808"
    family = "training_loop"
    name = "accumulation-loss-scaling"
    summary = "loss division by the gradient-accumulation steps added or removed"
    examples = (
        Example(
            before="for step in range(accum):\n    loss = model(x)\n    loss = loss / accum\n    loss.backward()\n",
            after="for step in range(accum):\n    loss = model(x)\n    loss.backward()\n",
            expect=(Expect(3, "loss is no longer divided by accum"),),
        ),
        Example(
            before="for step in range(gradient_accumulation_steps):\n    loss = model(x)\n    loss.backward()\n",
            after="for step in range(gradient_accumulation_steps):\n    loss = model(x)\n"
                  "    loss = loss / gradient_accumulation_steps # scale the loss to account for gradient accumulation\n"
                  "    loss.backward()\n",
            expect=(Expect(3, "loss now divided by gradient_accumulation_steps"),),
        ),
        Example(  # only the comment changed
            before="loss = loss / accum  # average\n",
            after="loss = loss / accum  # average over micro-batches\n",
        ),
    )

    def check(self, ctx: PythonContext) -> Iterator[Finding]:
        for side, other in (("base", "head"), ("head", "base")):
            view = ctx.view(side)
            for index in ctx.touched(side):
                for binding in view.facts(index).bindings:
                    if "loss" not in binding.target.lower():
                        continue
                    divisor = _divides_by_accumulation(binding.value) or (
                        binding.kind == "augassign" and self._aug_divisor(view, index, binding))
                    if not divisor:
                        continue
                    if self._present(ctx, other, binding.target, divisor):
                        continue
                    if side == "base":
                        yield self.report(ctx, anchor(ctx, "base", index),
                                          f"{binding.target} is no longer divided by {divisor}: gradients are "
                                          f"{divisor} times larger", base_line=view.logical[index].start + 1)
                    else:
                        yield self.report(ctx, view.span(index, binding.node),
                                          f"{binding.target} now divided by {divisor}", severity="information")

    @staticmethod
    def _aug_divisor(view, index, binding) -> str | None:
        text = view.source(index)
        if "/=" in text and binding.value is not None:
            name = dotted_name(binding.value.node) if binding.value.node is not None else None
            if name and (classify_name(name) == ("batch_size", "accumulation") or "accum" in name.lower()):
                return name
        return None

    def _present(self, ctx: PythonContext, side: str, target: str, divisor: str) -> bool:
        view = ctx.view(side)
        renames = ctx.renames
        divisor = renames.get(divisor, divisor) if side == "head" else divisor
        for index in ctx.touched(side):
            for binding in view.facts(index).bindings:
                if binding.target.lower() == target.lower() or "loss" in binding.target.lower():
                    found = _divides_by_accumulation(binding.value) or (
                        binding.kind == "augassign" and self._aug_divisor(view, index, binding))
                    if found:
                        return True
        return False
