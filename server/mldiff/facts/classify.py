"""What a statement is about for training, from its code alone: the families it touches.

A statement's roles come, in this order, from
1. the calls it makes, innermost first: an API of the table (``knowledge.apis``), a method
   on a receiver of a known kind (``knowledge.methods``: ``optimizer.step()``,
   ``x.pin_memory()``), or a function of the file whose body does such things
   (``facts.summaries``);
2. what it binds: a setting's name (``knowledge.names``), or where the bound value flows
   (an argument of a known API, or the value ``.backward()`` is called on: the loss);
3. for a block header, the context it sets up: ``with autocast(...)``, ``with torch.no_grad()``,
   or an ``if`` that tests a setting (``if args.amp:``).
Never from strings, comments, or a part of a name: ``lr_warmup_note`` is not a learning rate
unless the whole name is one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst

from mldiff.analysis.module import ModuleView
from mldiff.analysis.statements import CallFact
from mldiff.analysis.values import Value, dotted_name
from mldiff.facts.context import PythonContext, view_fact
from mldiff.facts.deltas import Delta, depend
from mldiff.knowledge import apis
from mldiff.knowledge.arguments import argument_role
from mldiff.knowledge.methods import (ANY, RECEIVER_CONSTRUCTORS, RECEIVER_NAMES, RECEIVER_ROLES, SCALED_STEP, Method,
                                      callable_role, kind_by_name, method_roles)
from mldiff.knowledge.names import classify_name

# What a family's operations are called in messages, for a role found without a better noun.
ROLE_NOUNS = {"optimizer": "optimizer", "scheduler": "LR scheduler", "norm_layer": "norm layer",
              "normalize": "Normalize", "dropout": "dropout", "loss": "loss", "dataloader": "data loader",
              "sampler": "sampler", "split": "dataset split", "autocast": "autocast", "grad_scaler": "GradScaler",
              "matmul_precision": "matmul precision", "default_dtype": "default dtype", "seed": "seed",
              "deterministic": "deterministic algorithms", "clip": "gradient clipping", "compile": "compile",
              "distributed": "distributed wrapper", "tensor_parallel": "tensor parallelism",
              "process_group": "process group", "device_mesh": "device mesh", "device": "device",
              "augmentation": "augmentation", "grad_mode": "gradient mode", "attention": "attention",
              "layer": "layer", "precision_config": "precision setting", "distributed_config": "distributed setting"}
# Roles that say nothing about training on their own (a layer's width is model capacity only through
# its arguments; attention kernels compute the same thing).
_SILENT_ROLES = frozenset({"layer", "attention", "device", "trainer"})
# A submodule's family by what it is: a layer changes the model, a norm or dropout its own family.
_LAYER_FAMILIES = {"layer": "model_capacity", "attention": "model_capacity", "norm_layer": "normalization",
                   "dropout": "regularization"}
_DTYPES = re.compile(r"(?:torch\.)?(?:float16|half|bfloat16|float32|float64|double|bf16|fp16|fp32)$")


@dataclass(frozen=True)
class Role:
    """One thing a statement does for training."""

    family: str
    noun: str                      # "optimizer step", "AdamW", "learning_rate"
    source: str                    # "call" | "method" | "function" | "binding" | "flow" | "context" |
    #                                "argument" (another object passed) | "expression" | "purpose"
    call: CallFact | None = None   # the call it was read from, if any
    param: str | None = None       # the parameter, for an argument's role
    side: str = ""                 # the side the call stands on


def call_role(ctx: PythonContext, side: str, call: CallFact) -> Role | None:
    """The role of one call: a known API, a method on a known kind of receiver, or a function of
    this file that does something known."""
    view = ctx.view(side)
    qualname = apis.canonical(view.qualname(call))
    role = apis.role_of(qualname)
    if role is None and apis.is_norm_layer(qualname) and "." in qualname:
        role = "norm_layer"
    if role is not None and role not in _SILENT_ROLES and role in apis.ROLE_FAMILIES:
        return Role(apis.ROLE_FAMILIES[role], qualname.rsplit(".", 1)[-1] if role != "augmentation"
                    else f"augmentation {qualname.rsplit('.', 1)[-1]}", "call", call, side=side)
    if call.receiver is not None:
        method = method_role(view, call)
        if method is not None:
            if method.name == "prepare" and any(receiver_kind(view, arg.code) == "sampler" for arg in call.args
                                                if arg.node is not None and dotted_name(arg.node)):
                return Role("data_pipeline", "accelerator.prepare (data loader)", "method", call, side=side)
            return Role(method.family, method.noun, "method", call, side=side)
    if call.receiver is None and "(" not in call.callee:
        from mldiff.facts.summaries import function_roles
        for summary in function_roles(ctx, side, call.callee):
            from mldiff.facts.deltas import moved_function
            from mldiff.facts.flows import find_defs
            headers = find_defs(view, call.callee)
            if headers and moved_function(ctx, side, headers[0]):
                return None  # code moved into a new function, called where it stood
            return Role(summary.family, f"{call.callee}() ({summary.noun})", "function", call, side=side)
    if call.receiver == "self" and call.method.isidentifier():  # a method of the class, or a submodule
        from mldiff.facts.summaries import function_roles
        for summary in function_roles(ctx, side, call.method):
            return Role(summary.family, f"self.{call.method}() ({summary.noun})", "function", call, side=side)
    if call.receiver in (None, "self") and call.method.isidentifier():
        dtype = next((arg.code for arg in (*call.args, *(value for _, value in call.kwargs))
                      if _DTYPES.match(arg.code)), None)
        if dtype is not None:
            from mldiff.facts.flows import find_defs
            if find_defs(view, call.method):  # the file's own helper, given a float dtype to work in
                return Role("precision", f"{call.callee}() in {dtype}", "call", call, side=side)
        # a layer held in an attribute or a local and called: ``self.norm(x)``, ``block = cbam(c); block(x)``
        built = view.constructor_of(call.callee)
        if built is not None:
            layer = apis.canonical(built)
            role = apis.role_of(layer) or ("norm_layer" if apis.is_norm_layer(layer) else None)
            family = _LAYER_FAMILIES.get(role) if role is not None else (
                "model_capacity" if _is_local_module(view, layer) else None)
            if family is not None:
                return Role(family, f"{call.callee} ({layer.rsplit('.', 1)[-1]})", "call", call, side=side)
    if "(" not in call.callee and "[" not in call.callee:
        held = callable_role(call.callee)
        if held is not None:
            return Role(held[0], f"{call.callee}() ({held[1]})", "call", call, side=side)
    return None


def call_roles(ctx: PythonContext, side: str, call: CallFact) -> list[Role]:
    """``call_role`` and the other families the API touches (``ZeroRedundancyOptimizer``: an
    optimizer that is also a distributed change)."""
    role = call_role(ctx, side, call)
    if role is None:
        return []
    entry = apis.api(ctx.view(side).qualname(call))
    return [role] + [Role(family, role.noun, role.source, call, side=side) for family in (entry.also if entry else ())]


def method_role(view: ModuleView, call: CallFact) -> Method | None:
    """The meaning of ``receiver.method(...)``, by the receiver's kind (see ``knowledge.methods``)."""
    candidates = method_roles(call.method)
    if not candidates or call.receiver is None:
        return None
    kind = receiver_kind(view, call.receiver)
    for method in candidates:
        if ANY not in method.receivers and kind not in method.receivers:
            continue
        if method.params and not _passes_any(call, method.params):
            continue
        return method
    return None


def _passes_any(call: CallFact, params: tuple[str, ...]) -> bool:
    if any(call.kwarg(name) is not None for name in params):
        return True
    if "dtype" in params and call.method == "to":  # x.to(torch.bfloat16), x.to(device, dtype)
        return any(_DTYPES.match(arg.code) for arg in call.args)
    return False


def receiver_kind(view: ModuleView, receiver: str) -> str | None:
    """What the object a method is called on is: by what built it, else by its name."""
    root = receiver.split("(", 1)[0]
    built = None
    if "(" not in receiver and "[" not in receiver:
        built = view.constructor_of(root)
    elif receiver == root + "(...)" and "[" not in root:  # built on the spot: ``torch.Generator(...).manual_seed``
        built = view.resolve(root)
    if built is not None:
        qualname = apis.canonical(built)
        role = apis.role_of(qualname)
        if role in RECEIVER_ROLES:
            return RECEIVER_ROLES[role]
        if qualname in RECEIVER_CONSTRUCTORS:
            return RECEIVER_CONSTRUCTORS[qualname]
    return kind_by_name(root.rstrip("."))


def statement_roles(ctx: PythonContext, side: str, index: int) -> tuple[Role, ...]:
    """Everything logical line ``index`` of ``side`` does for training (see the module docstring);
    computed once per line and side."""
    return ctx.fact(("roles", side, index), lambda: tuple(_statement_roles(ctx, side, index)))


def _statement_roles(ctx: PythonContext, side: str, index: int) -> list[Role]:
    view = ctx.view(side)
    facts = view.facts(index)
    logical = view.logical[index]
    out: list[Role] = []
    for call in reversed(facts.calls):
        # a lambda's calls are what the statement has done, now (``map(lambda t: t.half(), xs)``)
        # or later (``Lambda(lambda x: x / 255)``)
        out.extend(call_roles(ctx, side, call))
    out.extend(_reference_roles(ctx, side, index))
    if not logical.keyword:
        from mldiff.facts.summaries import input_scaling, label_masking
        scaling = input_scaling(view.source(index))
        if scaling is not None:
            out.append(Role("normalization", scaling, "expression"))
        if label_masking(view, index):
            out.append(Role("loss", "label masking", "expression"))
    for binding in facts.bindings:
        if binding.kind == "param":
            continue
        literal = binding.value.literal if binding.value is not None else None
        named = classify_name(binding.target, literal)
        if named is not None:
            # ``model.require_backward_grad_sync = ...`` sets an object's behaviour; ``lr = 0.1`` a setting
            acts = "." in binding.target and binding.kind in ("assign", "augassign") \
                and not _config_path(binding.target) \
                and receiver_kind(view, binding.target.rsplit(".", 1)[0]) is not None
            # a constant set inside a function (``num_heads = 1``) is no setting ``value_changes``
            # compares (those are module-level, argparse, config entries), but it configures all the same
            local = not acts and "." not in binding.target and binding.kind == "assign" and \
                binding.value is not None and binding.value.is_literal and view.enclosing_def(index) >= 0
            out.append(Role(named[0], binding.target, "attribute" if acts else "local" if local else "binding"))
            continue
        flowed = _flow_role(ctx, side, index, binding.target) if not out else None
        if flowed is not None:  # where a value goes says what it is only when what it does does not
            out.append(flowed)
    if logical.keyword == "with":
        for item in facts.with_items:
            role = _context_role(ctx, side, item)
            if role is not None:
                item_call = next((c for c in facts.calls if c.node is item.node), None)
                out.append(Role(role.family, role.noun, "context", item_call, side=side))
    elif logical.keyword in ("if", "elif", "while") and facts.condition is not None:
        for name in sorted(facts.condition.names):
            named = classify_name(name)
            if named is not None:
                out.append(Role(named[0], name, "context"))
                break
    return out


# objects that hold settings, not training state: ``cfg.scheduler.warmup`` configures a scheduler
_CONFIG_ROOTS = frozenset({"_C", "C", "cfg", "config", "conf", "args", "opt", "opts", "hparams", "hp", "params"})


def _config_path(target: str) -> bool:
    """Is ``target`` a key of a settings object (``_C.TRAIN.LR_SCHEDULER.WARMUP_PREFIX``, yacs's
    upper-case sections, ``cfg.optimizer.lr``) rather than an attribute of the object it names?"""
    parts = target.split(".")
    return parts[0] in _CONFIG_ROOTS or any(part.isupper() for part in parts[:-1])


def _context_role(ctx: PythonContext, side: str, item: Value) -> Role | None:
    """What a ``with`` item sets up: a known context manager called there, or one bound to a name
    (``ctx = nullcontext() if cpu else torch.amp.autocast(...)`` ... ``with ctx:``)."""
    node = item.node
    view = ctx.view(side)
    if isinstance(node, (cst.Name, cst.Attribute)):
        name = dotted_name(node)
        definitions = view.definitions(name) if name else []
        for index, binding in definitions:
            if binding.value is None:
                continue
            for call in view.facts(index).calls:
                role = _manager_role(view, call.callee)
                if role is not None:
                    return role
        return None
    if isinstance(node, cst.Call):
        callee = dotted_name(node.func)
        return _manager_role(view, callee) if callee else None
    return None


def _manager_role(view: ModuleView, callee: str) -> Role | None:
    qualname = apis.canonical(view.resolve(callee))
    role = apis.role_of(qualname)
    if role is not None and role not in _SILENT_ROLES and role in apis.ROLE_FAMILIES:
        return Role(apis.ROLE_FAMILIES[role], qualname.rsplit(".", 1)[-1], "context")
    method = callee.rsplit(".", 1)[-1]
    receiver = callee.rsplit(".", 1)[0] if "." in callee else None
    if receiver is not None:
        kind = receiver_kind(view, receiver)
        for entry in method_roles(method):
            if ANY in entry.receivers or kind in entry.receivers:
                return Role(entry.family, entry.noun, "context")
    return None


def _flow_role(ctx: PythonContext, side: str, index: int, target: str) -> Role | None:
    """Where the value bound to ``target`` goes next, inside its function: an argument of a known
    API (its parameter's role), or the loss ``.backward()`` is called on, directly or through
    the arithmetic that makes the loss (``weights = ...`` ... ``loss = (loss * weights).mean()``
    ... ``loss.backward()``)."""
    view = ctx.view(side)
    if "." in target:
        return None
    function = view.enclosing_def(index)
    within = view.block(function) if function >= 0 else None
    # after the forward pass any arithmetic on the way is the loss's; before it, only a term the
    # loss is summed or scaled from (``entropy_loss`` ... ``loss = pg_loss + c * entropy_loss``):
    # what goes through a call on the way may be data going into the model
    operands_only = not _after_forward(view, index, within)
    hops = 1 if operands_only else _LOSS_HOPS
    if "[" in target:  # ``weights[snr == 0] = 1.0`` writes into ``weights``
        target = target.split("[", 1)[0]
        return Role("loss", f"{target} (the loss)", "flow") \
            if target.isidentifier() and _reaches_backward(view, index, target, within, hops, operands_only) else None
    if _reaches_backward(view, index, target, within, hops, operands_only):
        return Role("loss", "loss" if target == "loss" else f"{target} (the loss)", "flow")
    for use in view.uses(target, within):
        if use <= index:
            continue
        for call in view.facts(use).calls:
            qualname = apis.canonical(view.qualname(call))
            for position, arg in enumerate(call.args):
                if target in arg.names and arg.code == target:
                    params = apis.parameters(qualname)
                    param = params[position] if position < len(params) else f"#{position}"
                    role = argument_role(qualname, param)
                    if role is not None:
                        return Role(role[0], f"{target} ({qualname.rsplit('.', 1)[-1]} {param})", "flow", call, param)
            for param, arg in call.kwargs:
                if arg.code == target:
                    role = argument_role(qualname, param)
                    if role is not None:
                        return Role(role[0], f"{target} ({qualname.rsplit('.', 1)[-1]} {param})", "flow", call, param)
    return None



_LOSS_HOPS = 3


def reaches_backward(view: ModuleView, index: int, target: str) -> bool:
    """Is the value bound to ``target`` at ``index`` backpropagated in its function, directly or
    one binding on (``loss = loss / accumulation``)?"""
    function = view.enclosing_def(index)
    return _reaches_backward(view, index, target, view.block(function) if function >= 0 else None, 1)


def _reaches_backward(view: ModuleView, index: int, target: str, within, hops: int,
                      operands_only: bool = False) -> bool:
    """Is the value bound to ``target`` at ``index`` backpropagated, or bound into a value that is
    (at most ``hops`` bindings on, none of them a forward pass; with ``operands_only``, each one
    adding, scaling or reducing it: ``loss = a + w * target``, ``total += target.mean()``)?
    Only up to where ``target`` is bound anew: a loss computed once for a reference dump is not the
    one the training loop computes again and backpropagates."""
    killed: list[int] = []  # where it is bound anew, looked up once a use would answer yes

    def live(use: int) -> bool:
        if not killed:
            killed.append(_rebound(view, index, target, within))
        return use < killed[0]

    for use in view.uses(target, within):
        if use <= index:
            continue
        facts = view.facts(use)
        if any(_backpropagates(view, call, target) for call in facts.calls):
            return live(use)
        if hops <= 0 or any(_is_forward(view, call) for call in facts.calls):
            continue
        for binding in facts.bindings:
            if binding.value is None or target not in binding.value.names or "." in binding.target \
                    or "[" in binding.target:
                continue
            if binding.kind in ("assign", "augassign") and binding.target != target:
                if operands_only and not _operand_of(binding.value.node, target):
                    continue
                named = classify_name(binding.target)
                if named is not None and named[0] != "loss":
                    continue  # into ``grad_accum_steps``: a setting of its own family, not the loss
                if _reaches_backward(view, use, binding.target, within, hops - 1, operands_only):
                    return live(use)
    return False


def _rebound(view: ModuleView, index: int, target: str, within) -> int:
    """The first line after ``index`` that binds ``target`` anew without reading it, outside a
    branch beside the one ``index`` is in (an ``else`` binding does not end the ``if``'s value)."""
    lines = view.logical
    mine = view.ancestors(index)
    for other, binding in sorted(view.definitions(target), key=lambda definition: definition[0]):
        if other <= index or (within is not None and other not in within) or binding.target != target:
            continue
        if binding.kind not in ("assign", "annassign") or (binding.value is not None and target in binding.value.names):
            continue
        theirs = view.ancestors(other)
        below = [header for header in theirs if header not in mine]
        if below and lines[below[-1]].keyword in ("elif", "else", "except", "finally"):
            continue
        return other
    return len(lines)


# reductions and casts a loss term goes through on its way into the sum: ``term.mean()``
_REDUCTIONS = frozenset({"mean", "sum", "float", "double", "squeeze", "clone", "nanmean"})


def _operand_of(node: cst.CSTNode | None, target: str) -> bool:
    """Is ``target`` added, subtracted, scaled, negated or reduced in the expression ``node``
    (and not passed to some call, which may do anything with it)?"""
    if isinstance(node, cst.Name):
        return node.value == target
    if isinstance(node, cst.BinaryOperation):
        return _operand_of(node.left, target) or _operand_of(node.right, target)
    if isinstance(node, cst.UnaryOperation):
        return _operand_of(node.expression, target)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in _REDUCTIONS:
        return _operand_of(node.func.value, target)
    return False


def _after_forward(view: ModuleView, index: int, within) -> bool:
    """Does the model run (``model(x)``) before ``index`` in its block? Only what is computed
    from its outputs is the loss's arithmetic; what comes before is data on its way in."""
    start = within.start if within is not None else 0
    candidates = view_fact(view, "forward_lines", lambda: view.lines_matching(_FORWARD_TEXT))
    return any(_is_forward(view, call) for line in candidates if start <= line < index
               for call in view.facts(line).calls)


# the text a forward pass can be written with (``_is_forward`` decides): lines that cannot
# hold one are never parsed for it
_FORWARD_TEXT = re.compile(r"\.forward\s*\(|\b_*(?:" + next(p for p, kind in RECEIVER_NAMES if kind == "model")
                           + r")\s*\(", re.IGNORECASE)


def _is_forward(view: ModuleView, call: CallFact) -> bool:
    """``model(x)``, ``self.unet(...)``, ``net.forward(x)``: a model run on its inputs."""
    if call.method == "forward":
        return True
    return "(" not in call.callee and kind_by_name(call.callee.rsplit(".", 1)[-1]) == "model"


def _backpropagates(view: ModuleView, call: CallFact, target: str) -> bool:
    """Is ``target`` what this call backpropagates: ``loss.backward()``, ``(loss / n).backward()``,
    ``accelerator.backward(loss)``, ``scaler.scale(loss)`` (whose result is backpropagated),
    ``loss_scaler(loss, optimizer)``?"""
    if call.method == "backward":
        if call.receiver == target and receiver_kind(view, target) != "accelerator":
            return True
        if call.receiver is None and "(" in call.callee:
            return True  # (loss / accumulation).backward(): the use reads the target
        return any(arg.code == target for arg in call.args)
    if call.method == "scale" and call.receiver is not None and receiver_kind(view, call.receiver) == "scaler":
        return any(arg.code == target for arg in call.args)
    if "(" not in call.callee and "[" not in call.callee and call.args and call.args[0].code == target \
            and callable_role(call.callee) == ("training_loop", SCALED_STEP):
        return True  # ``loss_scaler(loss, optimizer)``: timm's NativeScaler scales, backpropagates, steps
    if call.receiver in (None, "self") and call.method.isidentifier():
        position = next((i for i, arg in enumerate(call.args) if arg.code == target), None)
        if position is not None:
            return _backpropagates_parameter(view, call.method, position + (call.receiver == "self"))
    return False


def _backpropagates_parameter(view: ModuleView, name: str, position: int) -> bool:
    """Does the file's one function ``name`` backpropagate its parameter at ``position``
    (``def backprop_loss(self, loss): ... loss.backward()``), itself or a sum it is a term of?
    What it passes to another call (a model, a config) is data, not the loss."""
    from mldiff.facts.flows import find_defs
    headers = find_defs(view, name)
    if len(headers) != 1:
        return False
    params = view.facts(headers[0]).def_params
    if position >= len(params):
        return False
    known: dict[str, bool] = view_fact(view, ("backpropagates", name, position), dict)
    if "result" not in known:
        known["result"] = False  # while it is computed: a call back into it says no
        known["result"] = _reaches_backward(view, headers[0], params[position], view.block(headers[0]), 1,
                                            operands_only=True)
    return known["result"]


def _reference_roles(ctx: PythonContext, side: str, index: int) -> list[Role]:
    """A function of the file passed or chosen by name (``transforms.Lambda(scale)``,
    ``partial(scale, ...)``, ``self.norm = scale if auto else identity``) does what it does;
    a known API named, not called, is what it will build (see ``_api_reference``)."""
    from mldiff.facts.summaries import function_roles
    view = ctx.view(side)
    facts = view.facts(index)
    values = [arg for call in facts.calls if not call.in_lambda_or_def
              for arg in (*call.args, *(value for _, value in call.kwargs))]
    values += [binding.value for binding in facts.bindings if binding.value is not None and binding.kind != "param"]
    out: list[Role] = []
    seen: set[str] = set()
    inspected = {id(arg.node) for call in facts.calls if call.callee in _INSPECTING for arg in call.args}
    for value in values:
        if id(value.node) not in inspected:
            role = _api_reference(view, value)
            if role is not None and role.noun not in seen:
                seen.add(role.noun)
                out.append(role)
        node = value.node
        names = [node.value] if isinstance(node, cst.Name) else \
            [n for n in value.names if "." not in n] if isinstance(node, cst.IfExp) else []
        for name in names:
            if name in seen:
                continue
            seen.add(name)
            for summary in function_roles(ctx, side, name):
                out.append(Role(summary.family, f"{name} ({summary.noun})", "function"))
                break
    return out


# calls that look at a class rather than build it: ``isinstance(m, nn.BatchNorm2d)``
_INSPECTING = frozenset({"isinstance", "issubclass", "type", "hasattr", "getattr", "setattr", "print", "str",
                         "repr", "id", "callable", "vars", "dir", "super"})


def _api_reference(view: ModuleView, value) -> Role | None:
    """A known API class or function named as a value, not called: registered in a table
    (``{"cross_entropy": nn.CrossEntropyLoss}``), held to be built later (``opt_cls =
    torch.optim.AdamW``), or passed to be built (``partial(torch.optim.SGD, ...)``). It is what
    the code will build, so swapping it is that family's change. Layers stay silent, as called."""
    named = api_reference(view, value)
    if named is None:
        return None
    return Role(named[0], f"{named[1].rsplit('.', 1)[-1]} (named, built later)", "reference")


def api_reference(view: ModuleView, value: Value | None) -> tuple[str, str] | None:
    """(family, qualified name) when ``value`` names a known API of a reported role without
    calling it (see ``_api_reference``); also what a parameter default such as ``def
    build(opt_cls=torch.optim.AdamW)`` chooses (``facts.value_changes``)."""
    node = value.node if value is not None else None
    if not isinstance(node, (cst.Name, cst.Attribute)):
        return None
    name = dotted_name(node)
    if not name:
        return None
    qualname = apis.canonical(view.resolve(name))
    if "." not in qualname:
        return None  # a bare name the file does not import: a variable, not an API
    role = apis.role_of(qualname)
    if role is None and apis.is_norm_layer(qualname):
        role = "norm_layer"
    if role is None or role in _SILENT_ROLES or role not in apis.ROLE_FAMILIES:
        return None
    return apis.ROLE_FAMILIES[role], qualname


def delta_roles(ctx: PythonContext, delta: Delta) -> list[Role]:
    """What a statement delta is about, most specific first. Settings bound by name are left to
    ``facts.value_changes`` (whose equivalences know moves, extracted constants and inert
    options); a call that only moved between statements (into a variable, a method, another
    line) is no role of either statement."""
    if delta.kind in ("added", "removed", "changed"):
        from mldiff.facts.flows import feeds_only_the_log
        if all(index is None or feeds_only_the_log(ctx.view(side), index)
               for side, index in (("base", delta.base), ("head", delta.head))):
            return []  # a loss reduced across ranks only to be printed: the step used the same one
        if delta.kind == "added":
            roles = _unmoved(ctx, delta, _acting(statement_roles(ctx, "head", delta.head_index),
                                                 ctx.head.logical[delta.head_index].is_header))
        elif delta.kind == "removed":
            roles = _unmoved(ctx, delta, _acting(statement_roles(ctx, "base", delta.base_index),
                                                 ctx.base.logical[delta.base_index].is_header))
        else:
            roles = _unmoved(ctx, delta, _changed_roles(ctx, delta.base_index, delta.head_index))
        return roles or _purpose_roles(ctx, delta)
    if ctx.head.logical[delta.head_index].is_header:
        return []  # a block header's context is its body's: the statements inside carry it
    own = _acting(statement_roles(ctx, "head", delta.head_index))
    if delta.kind == "order" and delta.element.isdigit() and depend(ctx.head, delta.head_index, int(delta.element)):
        # the order of two statements one reads the other's result of is the business of both: the
        # batch now fetched before the forward pass is a data change as much as the forward's
        passed = _acting(statement_roles(ctx, "head", int(delta.element)))
        own += [role for role in passed if role.family not in {r.family for r in own}]
    if not own:
        return []
    if delta.kind == "context" and delta.element == "with":
        if all(role.noun in _BOOKKEEPING and role.source == "method" for role in own):
            return []  # autocast or no_grad changes what is computed, not zero_grad() or a scheduler step
        around = [role for side, index in (("head", delta.head_index), ("base", delta.base_index))
                  for role in _enclosing_with_roles(ctx, side, index)]
        return around  # an unknown context manager (`with ctx:` of unknown kind) says nothing
    return own


# operations that compute nothing autocast or a grad mode could change (backward and the step
# outside autocast is what the AMP recipe asks for, so those do count)
_BOOKKEEPING = frozenset({"zero_grad", "scheduler step"})


def _purpose_roles(ctx: PythonContext, delta: Delta) -> list[Role]:
    """The last resort: a line that does nothing known on its own, in a function whose every line
    serves one operation (``summaries.function_purpose``), on both sides."""
    from mldiff.facts.summaries import serves_purpose
    purpose = None
    for side, index in (("head", delta.head), ("base", delta.base)):
        if index is not None:
            served = serves_purpose(ctx, side, index)
            if served is None:
                return []  # (the other side is not asked: it may read the project's other files)
            purpose = purpose or served
    return [Role(purpose.family, purpose.noun, "purpose")] if purpose is not None else []


def _acting(roles: tuple[Role, ...], header: bool = False) -> list[Role]:
    """The roles a statement acts through: not the settings it binds by name or passes on to an
    API (``facts.value_changes`` compares those), nor, for a block header, the settings its
    condition tests (its body's statements carry that)."""
    return [role for role in roles if role.source != "binding" and not (role.source == "flow" and role.param)
            and not (header and role.source == "context" and role.call is None)]


def call_identity(ctx: PythonContext, side: str, call: CallFact) -> str:
    """What a call is, independent of how it is spelled: the API's canonical name, a method by the
    kind of its receiver (``opt.step()`` and ``self.optimizer.step()`` are one optimizer step),
    else the callee with the change's renames applied."""
    view = ctx.view(side)
    qualname = apis.canonical(view.qualname(call))
    if apis.role_of(qualname) is not None:
        return apis.module_form(qualname)
    if call.callee.endswith("(...)"):  # nn.CrossEntropyLoss()(out, y): the loss itself
        return apis.module_form(apis.canonical(view.resolve(call.callee[:-5])))
    if call.receiver is not None:
        kind = receiver_kind(view, call.receiver)
        if kind is not None:
            return f"<{kind}>.{call.method}"
    callee = call.callee
    return ".".join(ctx.renames.get(p, p) for p in callee.split(".")) if side == "base" else callee


def call_signature(ctx: PythonContext, side: str, call: CallFact) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A call's identity and its arguments by parameter (positional ones named through the table)."""
    from mldiff.analysis.values import rename_key
    from mldiff.facts.sites import arguments_of
    identity = call_identity(ctx, side, call)
    qualname = apis.canonical(ctx.view(side).qualname(call))
    renames = ctx.renames if side == "base" else None
    arguments = tuple(sorted((param, rename_key(value.key, renames) if renames else value.key)
                             for param, value in arguments_of(call, qualname).items()))
    return identity, arguments


def _moved_calls(ctx: PythonContext) -> dict[str, dict[str, list[tuple[str | None, int]]]]:
    """Per side, the calls (identity -> (receiver, delta number)) of the statements that changed."""
    def compute() -> dict[str, dict[str, list[tuple[str | None, int]]]]:
        from mldiff.facts.deltas import statement_deltas
        sides: dict[str, dict[str, list[tuple[str | None, int]]]] = {"base": {}, "head": {}}
        for number, delta in enumerate(statement_deltas(ctx)):
            if delta.kind not in ("added", "removed", "changed"):
                continue
            for side, index in (("base", delta.base), ("head", delta.head)):
                if index is not None:
                    for call in ctx.view(side).facts(index).calls:
                        sides[side].setdefault(call_identity(ctx, side, call), []).append((call.receiver, number))
        return sides
    return ctx.fact("moved_calls", compute)


def _unmoved(ctx: PythonContext, delta: Delta, roles: list[Role]) -> list[Role]:
    """Roles whose call has no counterpart among the other side's changed statements: a call of the
    same API (or method of the same object, or function) removed in one place and added in
    another moved, or changed its arguments, which ``facts.value_changes`` compares. The
    statement's own other version does not count (that is the change itself)."""
    calls = _moved_calls(ctx)
    own = ctx.fact("delta_numbers", lambda: {id(d): n for n, d in enumerate(_deltas_of(ctx))}).get(id(delta), -1)

    def moved(role: Role) -> bool:
        side = role.side or ("head" if delta.head is not None else "base")
        other = calls["head" if side == "base" else "base"]
        call = role.call
        assert call is not None
        for receiver, number in other.get(call_identity(ctx, side, call), ()):
            if number == own:
                continue
            if call.receiver is None or receiver is None:
                return True
            base_receiver, head_receiver = (call.receiver, receiver) if side == "base" else (receiver, call.receiver)
            if same_object(ctx, base_receiver, head_receiver):
                return True
        return False

    # an argument that names another object is about that object, not the call it is passed to
    return [role for role in roles if role.call is None or role.source == "argument" or not moved(role)]


def _deltas_of(ctx: PythonContext) -> list[Delta]:
    from mldiff.facts.deltas import statement_deltas
    return statement_deltas(ctx)


def _enclosing_with_roles(ctx: PythonContext, side: str, index: int) -> list[Role]:
    view = ctx.view(side)
    out: list[Role] = []
    for ancestor in view.ancestors(index):
        if view.logical[ancestor].keyword in ("def", "class"):
            break
        if view.logical[ancestor].keyword == "with":
            out.extend(role for role in statement_roles(ctx, side, ancestor) if role.source == "context")
    return out


def _changed_roles(ctx: PythonContext, base: int, head: int) -> list[Role]:
    """The roles of what differs between two versions of one statement: a call only one side
    makes; a method now called on another object (``loader.set_epoch`` -> ``loader.sampler.
    set_epoch``); an argument of a method whose meaning depends on it (``.to(dtype=...)``); an
    argument variable that now names an object built differently (a test set given another
    transform); a function of the file newly passed by name. The arguments of the table's APIs
    are ``facts.value_changes``' to compare."""
    base_calls = list(ctx.base.facts(base).calls)
    head_calls = list(ctx.head.facts(head).calls)
    base_signatures = {call_signature(ctx, "base", call): call for call in base_calls}
    head_signatures = {call_signature(ctx, "head", call): call for call in head_calls}
    base_by_identity: dict[str, list[CallFact]] = {}
    for call in base_calls:
        base_by_identity.setdefault(call_identity(ctx, "base", call), []).append(call)
    head_identities = {call_identity(ctx, "head", call) for call in head_calls}
    out: list[Role] = []
    for signature, call in head_signatures.items():
        if signature in base_signatures:
            if _guard_changed(ctx, base, head, base_signatures[signature], call) or \
                    _now_kept(ctx, base, head, base_signatures[signature], call):
                out.extend(call_roles(ctx, "head", call))  # the same call, under another guard or now kept
            continue
        olds = base_by_identity.get(signature[0])
        if not olds:
            out.extend(call_roles(ctx, "head", call))
            continue
        old = olds[0]
        if signature[0].startswith("<") and call.receiver is not None and old.receiver is not None and \
                not same_object(ctx, old.receiver, call.receiver):
            out.extend(call_roles(ctx, "head", call))  # the same operation on another object
            continue
        method = method_role(ctx.head, call) if call.receiver is not None else None
        if method is not None and method.params:
            out.append(Role(method.family, method.noun, "method", call, side="head"))
        out.extend(_argument_object_roles(ctx, old, call))
    for signature, call in base_signatures.items():
        if signature not in head_signatures and signature[0] not in head_identities:
            roles = call_roles(ctx, "base", call)
            if not roles and call.receiver is not None:
                method = method_role(ctx.base, call)
                if method is not None and method.params:
                    roles = [Role(method.family, method.noun, "method", call, side="base")]
            out.extend(roles)
    base_references = {role.noun: role for role in _reference_roles(ctx, "base", base)}
    head_references = {role.noun: role for role in _reference_roles(ctx, "head", head)}
    out += [role for noun, role in head_references.items() if noun not in base_references]
    out += [role for noun, role in base_references.items() if noun not in head_references and role.source == "reference"]
    if not out:  # the value a loss is computed from changed
        out = [role for role in statement_roles(ctx, "head", head) if role.source == "flow" and not role.param]
    return out


def _now_kept(ctx: PythonContext, base: int, head: int, old: CallFact, new: CallFact) -> bool:
    """Is the object a call builds kept now and dropped before, or the other way round (a
    scheduler built and never stepped)? Only for the objects that act through their methods
    later (optimizers, schedulers, scalers, loaders, samplers): what an operation such as
    ``clip_grad_norm_`` returns is only a report of what it did."""
    from mldiff.facts.syntax import kept_call
    before, after = kept_call(ctx.base, base), kept_call(ctx.head, head)
    if before is None or after is None or before[0] is not old.node or after[0] is not new.node \
            or before[1] == after[1]:
        return False
    return apis.role_of(apis.canonical(ctx.head.qualname(new))) in RECEIVER_ROLES


def _guard_changed(ctx: PythonContext, base: int, head: int, old: CallFact, new: CallFact) -> bool:
    """Does one call run under another conditional expression now (``manual_seed(args.seed) if
    args.seed else None`` -> ``... if args.seed is not None else None``: seed 0 is seeded now)?
    A guard reworded without reading other names, values or operators is the same guard."""
    from mldiff.facts.conditions import call_guards
    from mldiff.facts.surroundings import condition_difference
    # once per statement, not once per call of it
    base_guards = ctx.fact(("call_guards", "base", base), lambda: call_guards(ctx.base, base, ctx.renames))
    head_guards = ctx.fact(("call_guards", "head", head), lambda: call_guards(ctx.head, head))
    before, after = base_guards.get(id(old.node), {}), head_guards.get(id(new.node), {})
    return bool(before or after) and condition_difference(before, after) is not None


def same_object(ctx: PythonContext, base_receiver: str, head_receiver: str) -> bool:
    """Do two receivers name one object? The same name after the change's renames, an alias
    (``opt = optimizer``), the same construction (``optimizer = Adam(...)`` and ``self.optimizer =
    Adam(...)``), or two names of one kind the file does not define (``opt`` / ``optimizer``).
    An attribute of the other (``loader.sampler`` for ``loader``) is another object, and so is
    one the base already had under its own name (``teacher`` -> ``student``)."""
    renamed = ".".join(ctx.renames.get(p, p) for p in base_receiver.split("."))
    if renamed == head_receiver:
        return True
    if head_receiver.startswith(renamed + ".") or renamed.startswith(head_receiver + "."):
        return False
    for view, one, other in ((ctx.base, base_receiver, head_receiver), (ctx.head, head_receiver, base_receiver)):
        if _construction(view, one) == ("alias", other):
            return True
    if base_receiver.rsplit(".", 1)[-1] != head_receiver.rsplit(".", 1)[-1] and ctx.base.definitions(head_receiver):
        return False  # the call now names an object that was there before, beside the old one
    base_built, head_built = _construction(ctx.base, base_receiver), _construction(ctx.head, head_receiver)
    if base_built is not None and base_built == head_built:
        return True
    if base_built is not None and head_built is None and ctx.head.definitions(base_receiver) \
            and base_receiver.rsplit(".", 1)[-1] != head_receiver.rsplit(".", 1)[-1]:
        return False  # the object the file builds is still there: the call names another
    if base_built is None or head_built is None:  # built elsewhere: one kind of object, respelled
        kind = receiver_kind(ctx.base, base_receiver)
        return kind is not None and kind == receiver_kind(ctx.head, head_receiver)
    return False


def _construction(view: ModuleView, name: str) -> tuple[str, str] | None:
    """How the file builds ``name``: ("call", the call's key) or ("alias", the other name), when it
    binds it once; None when it does not bind it, or binds it several times."""
    if "(" in name or "[" in name:
        return None
    definitions = view.definitions(name)
    if len(definitions) != 1 or definitions[0][1].value is None:
        return None
    value = definitions[0][1].value
    if isinstance(value.node, cst.Call):
        return "call", value.key
    if isinstance(value.node, (cst.Name, cst.Attribute)):
        return "alias", value.code
    return None


def _argument_object_roles(ctx: PythonContext, old: CallFact, new: CallFact) -> list[Role]:
    """An argument that names another variable now (``transform=transform`` -> ``transform=
    transform_test``): what the two variables' constructions do differently."""
    from mldiff.facts.sites import arguments_of
    out: list[Role] = []
    before = arguments_of(old, apis.canonical(ctx.base.qualname(old)))
    after = arguments_of(new, apis.canonical(ctx.head.qualname(new)))
    for param, value in after.items():
        previous = before.get(param)
        if previous is None or not isinstance(value.node, cst.Name) or not isinstance(previous.node, cst.Name):
            continue
        old_name, new_name = previous.node.value, value.node.value
        if ctx.renames.get(old_name, old_name) == new_name:
            continue
        old_roles = _definition_roles(ctx, "base", old_name)
        new_roles = _definition_roles(ctx, "head", new_name)
        old_nouns, new_nouns = {r.noun for r in old_roles}, {r.noun for r in new_roles}
        families = set()
        for role in old_roles + new_roles:
            if (role.noun in old_nouns) != (role.noun in new_nouns) and role.family not in families:
                families.add(role.family)
                out.append(Role(role.family, f"{param}={new_name} (was {old_name})", "argument", new))
    return out


def _definition_roles(ctx: PythonContext, side: str, name: str) -> list[Role]:
    """The API calls of the statement that binds ``name`` (a long one split into parts, whole)."""
    view = ctx.view(side)
    definitions = view.definitions(name)
    if len(definitions) != 1:
        return []
    index = definitions[0][0]
    indices = [index]
    if view.logical[index].part == "head":
        follow = index + 1
        while follow < len(view.logical) and view.logical[follow].part in ("element", "tail"):
            indices.append(follow)
            follow += 1
    return [role for i in indices for role in _statement_roles(ctx, side, i) if role.source == "call"]


def _is_local_module(view: ModuleView, name: str) -> bool:
    """A class of this file that subclasses a torch module (``class Attention(nn.Module)``)."""
    if "." in name:
        return False
    from mldiff.facts.flows import find_defs
    for header in find_defs(view, name, "class"):
        bases = view.facts(header).bases
        if any(base.rsplit(".", 1)[-1] in ("Module", "ModuleList", "Sequential") for base in bases):
            return True
    return False
