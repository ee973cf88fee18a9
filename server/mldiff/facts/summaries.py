"""What a function of the file does for training, so that calling it, passing it or choosing it
is that operation: ``def normalize_to_neg_one_to_one(x): return x * 2 - 1`` used as
``transforms.Lambda(normalize_to_neg_one_to_one)`` scales the input, and a helper that calls
``optimizer.step()`` steps the optimizer wherever it is called.

A summary is the roles (``facts.classify``) of the statements in the function's body, one
per family, read on demand and once per side; functions called from there are summarised
too, to a small depth, and a function that calls itself is not followed again.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import libcst as cst

from mldiff.analysis.module import ModuleView
from mldiff.analysis.project import imports_module, module_parts
from mldiff.analysis.values import dotted_name
from mldiff.facts.context import PythonContext
from mldiff.facts.flows import find_defs
from mldiff.facts.syntax import _parse_cached  # Python's parser, once per text
from mldiff.knowledge import apis
from mldiff.knowledge.classes import class_purpose
from mldiff.knowledge.methods import BACKWARD_PASS, SCALED_STEP, kind_by_name

_DEPTH = 3


# the roles of a statement that backpropagates (``knowledge.methods``)
_BACKWARD_NOUNS = frozenset({BACKWARD_PASS, SCALED_STEP})


@dataclass(frozen=True)
class Summary:
    family: str
    noun: str


def function_roles(ctx: PythonContext, side: str, name: str) -> tuple[Summary, ...]:
    """What the file's (one) function called ``name`` does, one entry per family."""
    if not name.isidentifier():
        return ()
    return ctx.fact(("summary", side, name), lambda: _summarise(ctx, side, name))


def _summarise(ctx: PythonContext, side: str, name: str) -> tuple[Summary, ...]:
    from mldiff.facts.classify import statement_roles
    view = ctx.view(side)
    headers = find_defs(view, name)
    if len(headers) != 1:
        return ()
    stack: list[str] = ctx.fact(("summarising", side), list)
    if name in stack or len(stack) >= _DEPTH:
        return ()
    stack.append(name)
    try:
        found: dict[str, Summary] = {}
        backpropagates = False
        for index in view.block(headers[0]):
            for role in statement_roles(ctx, side, index):
                backpropagates = backpropagates or role.noun in _BACKWARD_NOUNS or \
                    (role.family == "loss" and role.source == "flow")
                # its locals are not settings of the caller, and a dtype cast or a copy inside a helper
                # (writing a checkpoint, logging) is no training operation of the caller's
                if role.source in ("call", "function") or role.source == "method" and \
                        role.family in ("training_loop", "learning_rate"):
                    found.setdefault(role.family, Summary(role.family, role.noun))
            scaling = input_scaling(view.source(index)) if view.logical[index].keyword == "" else None
            if scaling is not None:
                found.setdefault("normalization", Summary("normalization", scaling))
        if found.get("training_loop") == Summary("training_loop", "eval mode") and _sets_train_mode(view):
            del found["training_loop"]  # an evaluation helper, where the file puts the model back to train
        if not backpropagates:
            # a loss computed and not backpropagated is a metric (``validate()`` builds a
            # CrossEntropyLoss to report it); one returned for the caller to backpropagate is found
            # where the caller does (``facts.classify``'s flows, ``function_purpose``)
            found.pop("loss", None)
        return tuple(found.values())
    finally:
        stack.pop()


_TRAIN_MODE = re.compile(r"\.train\(\s*(?:True|mode\s*=\s*True)?\s*\)")


def _sets_train_mode(view) -> bool:
    """Does the file put a model into training mode (``model.train()``) anywhere?"""
    return any(call.method == "train" and call.receiver is not None and kind_by_name(call.receiver) == "model"
               for index in view.lines_matching(_TRAIN_MODE, ("train",)) for call in view.facts(index).calls)


def function_purpose(ctx: PythonContext, side: str, index: int) -> Purpose | None:
    """What the function around logical line ``index`` is for, when that makes every statement in
    it part of one operation: computing the loss (its result is backpropagated where it is
    called) or choosing the tokens the loss is taken over (it writes the ignore index into the
    labels). A changed line there that does nothing known on its own is still that operation."""
    view = ctx.view(side)
    header = view.enclosing_def(index)
    if header < 0:
        return None
    return ctx.fact(("purpose", side, header), lambda: _purpose(ctx, side, header))


@dataclass(frozen=True)
class Purpose:
    family: str
    noun: str
    names: frozenset[str] | None = None  # the names that serve it; None: the whole function does


def serves_purpose(ctx: PythonContext, side: str, index: int) -> Summary | None:
    """``function_purpose`` when logical line ``index`` serves it: for a function that masks labels,
    a line that binds (or a block that binds) one of the values the masking reads, within two
    assignments; for a loss function, any line."""
    purpose = function_purpose(ctx, side, index)
    if purpose is None:
        return None
    if purpose.names is not None:
        view = ctx.view(side)
        lines = [index, *view.block(index)] if view.logical[index].is_header else [index]
        if not any(binding.target.split("[", 1)[0] in purpose.names
                   for line in lines for binding in view.facts(line).bindings):
            return None
    return Summary(purpose.family, purpose.noun)


def _purpose(ctx: PythonContext, side: str, header: int) -> Purpose | None:
    view = ctx.view(side)
    name = view.facts(header).def_name
    if not name:
        return None
    masking = [index for index in view.block(header) if label_masking(view, index)]
    if masking:
        return Purpose("loss", f"label masking in {name}()", _feeding(view, header, masking))
    if _backpropagated_result(view, name):
        return Purpose("loss", f"the loss {name}() computes")
    if _result_is_the_lr(view, name):
        return Purpose("learning_rate", f"the schedule {name}() computes")
    owner = _enclosing_class(view, header)
    if owner >= 0:
        facts = view.facts(owner)
        bases = tuple(apis.canonical(view.resolve(base)) for base in facts.bases)
        served = class_purpose(facts.def_name or "", bases)
        if served is not None:
            return Purpose(*served)
    elif ctx.project is not None and view.enclosing_def(header) < 0 and \
            all(use in view.block(header) for use in view.uses(name)):
        return _purpose_where_used(ctx, side, name)  # a function the file itself does not call
    return None


def _purpose_where_used(ctx: PythonContext, side: str, name: str) -> Purpose | None:
    """What a module-level function is for by where the project's other files use it: its
    result backpropagated there, or made the learning rate (``lr_schedule =
    utils.cosine_scheduler(...)`` ... ``param_group["lr"] = lr_schedule[it]`` in ``main.py``)."""
    parts = module_parts(ctx.path)
    if not parts or ctx.project is None:
        return None
    own = ctx.view(side).text
    for path, text in ctx.project.files_naming(side, name):
        if path == ctx.path or text == own:
            continue
        other = ModuleView.of(text)
        spelling = _imported_as(other, name, parts)
        if spelling is None:
            continue
        if _backpropagated_result(other, spelling):
            return Purpose("loss", f"the loss {name}() computes ({path} backpropagates it)")
        if _result_is_the_lr(other, spelling):
            return Purpose("learning_rate", f"the schedule {name}() computes ({path} sets the learning rate from it)")
    return None


def _imported_as(view: ModuleView, name: str, parts: tuple[str, ...]) -> str | None:
    """How a file that imports the module at ``parts`` spells its ``name``: ``name`` after
    ``from utils import name`` (or ``*``), ``U.name`` after ``import utils as U``; None when it
    does not import that module, or defines a ``name`` of its own."""
    if find_defs(view, name):
        return None
    for local, qualified in view.aliases.items():
        module, _, last = qualified.rpartition(".")
        if last == name and module and imports_module(module, parts):
            return local
        if imports_module(qualified, parts):
            return f"{local}.{name}"
    if any(imports_module(module, parts) for module in view.star_imports):
        return name
    return None


def _enclosing_class(view, index: int) -> int:
    """The innermost ``class`` around logical line ``index``, or -1."""
    for ancestor in view.ancestors(index):
        if view.logical[ancestor].keyword == "class":
            return ancestor
    return -1


def _feeding(view, header: int, lines: list[int], rounds: int = 2) -> frozenset[str]:
    """Names read by ``lines`` and, ``rounds`` times over, by the lines of the function that bind
    them (``cur_len`` <- ``cur_len += turn_len`` <- ``turn_len = len(tokenizer(turn).input_ids)``)."""
    names = {name.split(".", 1)[0] for line in lines for name in view.facts(line).reads}
    for line in lines:
        names.update(b.target.split("[", 1)[0] for b in view.facts(line).bindings)
    block = view.block(header)
    for _ in range(rounds):
        more = set(names)
        for line in block:
            facts = view.facts(line)
            if any(binding.target.split("[", 1)[0] in names for binding in facts.bindings):
                more.update(name.split(".", 1)[0] for name in facts.reads)
        names = more
    return frozenset(names)


def _backpropagated_result(view, name: str) -> bool:
    """Is what ``name(...)`` returns backpropagated where it is called (``loss = name(...)`` ...
    ``loss.backward()``, or ``name(...).backward()``)? A method (``self.name(...)``,
    ``model.forward(...)``) counts when the file defines one function of that name."""
    from mldiff.facts.classify import reaches_backward
    as_method = len(find_defs(view, name)) == 1
    lines = view.uses(name)
    if as_method:
        called = re.compile(r"\." + re.escape(name) + r"\s*\(")
        lines = sorted(set(lines) | set(view.lines_matching(called, (name,))))
    for use in lines:
        facts = view.facts(use)
        for call in facts.calls:
            if (call.callee == name or as_method and call.method == name) and call.node is not None:
                for binding in facts.bindings:
                    if binding.value is not None and binding.value.node is call.node and "." not in binding.target \
                            and reaches_backward(view, use, binding.target):
                        return True
            if call.method == "backward" and call.receiver is not None and call.receiver.startswith(name + "("):
                return True
    return False


def _result_is_the_lr(view, name: str) -> bool:
    """Does what ``name(...)`` returns become the learning rate where it is called? Bound to a
    learning-rate setting as the whole value (``lr = get_lr(it) if decay_lr else base_lr``,
    ``param_group["lr"] = warmup(it)``), or held as a schedule that such a binding indexes or
    calls (``schedule = cosine_scheduler(...)`` ... ``param_group["lr"] = schedule[it]``). A
    function whose result is one factor of the rate (``args.lr * world_size()``) is not."""
    for use in view.uses(name):
        for binding in view.facts(use).bindings:
            if binding.value is None or not _principal_call(binding.value.node, name):
                continue
            if _is_lr_setting(binding.target):
                return True
            if binding.target.isidentifier() and _schedule_read(view, use, binding.target):
                return True
    return False


def _is_lr_setting(target: str) -> bool:
    from mldiff.knowledge.names import classify_name
    role = classify_name(target)
    return role is not None and role[0] == "learning_rate"


def _principal_call(node, name: str) -> bool:
    """Is ``node`` a call of ``name``, whole or as a branch of a conditional expression?"""
    if isinstance(node, cst.IfExp):
        return _principal_call(node.body, name) or _principal_call(node.orelse, name)
    if isinstance(node, cst.Call):
        func = node.func
        return dotted_name(func) == name or "." not in name and isinstance(func, cst.Attribute) \
            and func.attr.value == name
    return False


def _schedule_read(view, index: int, local: str) -> bool:
    """Is ``local`` indexed or called (``schedule[it]``, ``schedule(step)``) in a binding of a
    learning-rate setting, in the function (or module level) that binds it at ``index``?"""
    header = view.enclosing_def(index)
    within = view.block(header) if header >= 0 else None
    indexed = re.compile(r"\b" + re.escape(local) + r"\s*[\[(]")
    for use in view.uses(local, within):
        if use == index or not indexed.search(view.source(use)):
            continue
        if any(_is_lr_setting(binding.target) and binding.value is not None and local in binding.value.names
               for binding in view.facts(use).bindings):
            return True
    return False


# ``x[...] = value``: the one assignment label masking is written as
_SUBSCRIPT_WRITE = re.compile(r"\]\s*=(?!=)")



def label_masking(view, index: int) -> bool:
    """``labels[:, :n] = IGNORE_INDEX``, ``labels.masked_fill_(pad, -100)``, ``torch.where(pad, -100,
    labels)``: the statement writes cross-entropy's ignore index into a tensor."""
    text = view.source(index)
    if "masked_fill" not in text and "where" not in text and not _SUBSCRIPT_WRITE.search(text):
        return False
    tree = _parse_cached(text.strip())
    if tree is None:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Subscript) for t in node.targets):
            if _is_ignore_index(view, node.value):
                return True
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("masked_fill", "masked_fill_") and len(node.args) == 2 \
                    and _is_ignore_index(view, node.args[1]):
                return True
            if node.func.attr == "where" and len(node.args) == 3 and any(
                    _is_ignore_index(view, arg) for arg in node.args[1:]):
                return True
    return False


def _is_ignore_index(view, node: ast.AST, depth: int = 0) -> bool:
    """-100, or a name bound to it (``IGNORE_TOKEN_ID = LabelSmoother.ignore_index``)."""
    from mldiff.knowledge.libraries import IGNORE_INDEX, IGNORE_INDEX_NAMES
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        return node.operand.value == -IGNORE_INDEX
    if isinstance(node, (ast.Name, ast.Attribute)) and depth < 3:
        name = ast.unparse(node)
        if view.resolve(name) in IGNORE_INDEX_NAMES or name in IGNORE_INDEX_NAMES:
            return True
        definitions = view.definitions(name)
        if not definitions:
            return False
        for _, binding in definitions:
            value = binding.value
            if value is None:
                return False
            if value.is_literal:
                if value.literal != IGNORE_INDEX:
                    return False
                continue
            try:
                bound = ast.parse(value.code, mode="eval").body
            except (SyntaxError, ValueError, RecursionError):
                return False
            if not _is_ignore_index(view, bound, depth + 1):
                return False
        return True
    return False


_PIXEL = (255, 255.0, 127.5)


def input_scaling(source: str) -> str | None:
    """``x / 255``, ``x * 2 - 1``, ``(x + 1) / 2``, ``x * 0.5 + 0.5``: arithmetic that moves pixel
    values between ranges ([0, 255], [0, 1], [-1, 1]); None for any other statement."""
    if "/" not in source and "*" not in source:   # every form divides or multiplies
        return None
    tree = _parse_cached(source.strip())
    if tree is None:
        return None
    for node in ast.walk(tree):
        if not isinstance(node, ast.BinOp):
            continue
        if isinstance(node.op, ast.Div) and isinstance(node.left, ast.BinOp) and isinstance(node.left.op, ast.Sub) \
                and _is_statistic(node.left.right, ("mean", "mu", "avg")) and _is_statistic(node.right, ("std", "sigma")):
            return "standardisation (x - mean) / std"
        right = _number(node.right)
        if isinstance(node.op, (ast.Div, ast.Mult)) and right in _PIXEL:
            return "input scaling by " + ("1/" if isinstance(node.op, ast.Div) else "") + f"{right:g}"
        if isinstance(node.op, (ast.Sub, ast.Add)) and right in (1, 1.0, 0.5):
            inner = node.left
            if isinstance(inner, ast.BinOp) and isinstance(inner.op, (ast.Mult, ast.Div)) and \
                    _number(inner.right) in (2, 2.0, 0.5):
                return "input scaling " + ("to [-1, 1]" if isinstance(node.op, ast.Sub) else "to [0, 1]")
        if isinstance(node.op, (ast.Div, ast.Mult)) and right in (2, 2.0, 0.5) and isinstance(node.left, ast.BinOp) \
                and isinstance(node.left.op, ast.Add) and _number(node.left.right) in (1, 1.0):
            return "input scaling to [0, 1]"
    return None


def _is_statistic(node: ast.AST, names: tuple[str, ...]) -> bool:
    """``x.mean()``, ``mean``, ``self.std``, ``(x.std() + 1e-8)``: a mean or a standard deviation."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _is_statistic(node.left, names) or _is_statistic(node.right, names)
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr.lower().lstrip("_") in names
    return isinstance(node, ast.Name) and node.id.lower().lstrip("_") in names


def _number(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    return None
