"""Every changed value with what it configures, computed once per change.

A value's role comes from the API parameter it is passed to (``SGD(params, 0.1)``: 0.1 is
the SGD learning rate) or, for settings defined apart from their use (module constants,
argparse defaults, config dicts, dataclass fields), from its name (``knowledge.names``)
or from where the name flows (``base = 3e-4`` ... ``Adam(lr=base)``). Each family's value
rule reports the topics it owns, so the logic lives once."""
from __future__ import annotations

import re
from typing import Any, cast

import libcst as cst

from mldiff.analysis.module import ModuleView
from mldiff.analysis.textfiles import CONFIG_KINDS
from mldiff.analysis.values import Value, dotted_name
from mldiff.facts.anchors import base_line, binding_base_line, binding_span, site_span
from mldiff.facts.config_values import config_value_changes
from mldiff.facts.context import Context, PythonContext, TextContext
from mldiff.facts.delta import ValueChange
from mldiff.facts.setting_equivalence import without_equivalents
from mldiff.facts.equivalence import is_logging_call, same_after_resolving
from mldiff.facts.flows import flows, only_logged
from mldiff.facts.pairing import pair, pair_bindings
from mldiff.facts.sites import CallSite, argument_changes, arguments_of, call_sites, short_name
from mldiff.findings import Related, Span
from mldiff.knowledge import apis
from mldiff.knowledge.arguments import argument_role, has_argument_roles
from mldiff.knowledge.names import classify_in_section, classify_name


def value_changes(ctx: Context) -> list[ValueChange]:
    """Every changed argument and hyperparameter binding (Python) or setting (configs),
    computed once per change."""
    if isinstance(ctx, PythonContext):
        return ctx.fact("value_changes", lambda: without_equivalents(
            ctx, _argument_value_changes(ctx) + _binding_value_changes(ctx)))
    if isinstance(ctx, TextContext) and ctx.kind in CONFIG_KINDS:
        return ctx.fact("value_changes", lambda: without_equivalents(ctx, config_value_changes(ctx.change)))
    return []


def _category(qualname: str) -> str | None:
    if apis.is_optimizer(qualname):
        return "optimizer"
    if apis.is_scheduler(qualname):
        return "scheduler"
    if apis.is_dataloader(qualname):
        return "dataloader"
    if apis.is_loss(qualname):
        return "loss"
    if apis.is_dropout(qualname):
        return "dropout"
    if apis.is_norm_layer(qualname):
        return "norm:" + qualname
    return qualname


def _known_call(qualname: str, call, view) -> bool:
    return bool(apis.parameters(qualname)) or apis.is_optimizer(qualname) or apis.is_scheduler(qualname) \
        or apis.is_loss(qualname) or apis.is_norm_layer(qualname) or has_argument_roles(qualname)


def _argument_value_changes(ctx: PythonContext) -> list[ValueChange]:
    base = call_sites(ctx, "base", _known_call)
    head = call_sites(ctx, "head", _known_call)
    out: list[ValueChange] = []
    key = lambda site: (_category(site.qualname), ctx.view(site.side).scope_names(site.index))  # noqa: E731
    pairs = pair(base, head, key, lambda b, h: b.qualname == h.qualname and not argument_changes(ctx, b, h, resolve=False))
    for base_site, head_site in pairs:
        if base_site is None or head_site is None:
            continue
        for param, old, new in argument_changes(ctx, base_site, head_site):
            if new is None and head_site.call.star_kwargs:
                continue  # moved into a **kwargs dict the file does not build, or a caller's **kwargs
            role = argument_role(head_site.qualname, param) or argument_role(base_site.qualname, param)
            if role is None:
                continue
            if same_after_resolving(ctx, old, new):
                continue
            subject = f"{short_name(head_site.qualname)} {param}"
            out.append(ValueChange(role[0], role[1], subject, old, new, _value_span(ctx, head_site, new),
                                   base_line(ctx, base_site), kind="argument", name=param,
                                   origin=head_site.qualname))
    return out


def _value_span(ctx: PythonContext, site: CallSite, value: Value | None) -> Span:
    if value is not None and value.node is not None:
        return ctx.head.span(site.index, value.node)
    return site_span(ctx, site)


# ``wandb.config.batch_size = 128`` records a setting for the experiment tracker; it trains nothing
_LOGGING_ROOTS = frozenset({"wandb", "mlflow", "writer", "tb_writer", "logger", "neptune", "run", "experiment"})


def _binding_value_changes(ctx: PythonContext) -> list[ValueChange]:
    out: list[ValueChange] = []
    leaves: list[str] = []
    renames = ctx.renames
    for base_site, head_site in pair_bindings(ctx, lambda b: b.target.split(".", 1)[0] not in _LOGGING_ROOTS):
        site = head_site or base_site
        binding = site.binding
        old = base_site.binding.value if base_site else None
        new = head_site.binding.value if head_site else None
        if base_site and head_site:
            if old is None or new is None or old.same_as(new, renames):
                continue
            if same_after_resolving(ctx, old, new):
                continue
        elif head_site is not None:
            if new is None or binding.kind == "param" or head_site.binding.kind == "augassign":
                continue
            if not new.is_literal or not _is_setting(ctx.head, head_site):
                continue
            if new.literal is None or (binding.kind == "argparse" and (new.literal is False or new.literal == "")):
                continue  # a new option that is off by default changes nothing yet
            # the same setting still bound elsewhere on the base side: a move, not an addition
            if any(b.value is not None and b.value.same_as(new, renames)
                   for _, b in ctx.base.definitions(binding.target)):
                continue
        else:
            if old is None or binding.kind in ("param", "augassign") or not old.is_literal \
                    or not _is_setting(ctx.base, base_site):
                continue
            if ctx.head.definitions(binding.target):
                continue
        if _is_api_call(ctx.base, old) or _is_api_call(ctx.head, new):
            continue  # its arguments are paired call by call; class swaps are structural rules' business
        literal = cast(Value, new if new is not None else old).literal  # each branch above ensures one
        role = classify_name(binding.target, literal)
        if role is None and binding.target.count(".") >= 1 and binding.kind in ("assign", "dict_key") \
                and binding.target.split(".", 1)[0] not in ("self", "cls") and not isinstance(literal, (dict, list)):
            # ``_C.BN.USE_PRECISE_STATS = True``: a config section says what its keys configure
            role = classify_in_section(binding.target.rsplit(".", 2)[-2], binding.name)
        if role is None and base_site and head_site and binding.kind == "param":
            # ``def build(opt_cls=torch.optim.Adam)`` -> ``torch.optim.SGD``: the default chooses the class
            from mldiff.facts.classify import api_reference
            chosen = api_reference(ctx.base, old) or api_reference(ctx.head, new)
            if chosen is not None:
                role = (chosen[0], "class_choice")
        uses = flows(ctx, head_site) if head_site is not None else []
        related_uses = [related for related, _, _ in uses]
        if role is None:
            for related, call_site, param in uses:
                role = argument_role(call_site.qualname, param)
                if role:
                    break
        if role is None and head_site is not None and cast(Value, new if new is not None else old).is_literal \
                and isinstance(literal, (int, float)) and not isinstance(literal, bool):
            loss_use = _loss_use(ctx, head_site)
            if loss_use is not None:
                role, related_uses = ("loss", "loss_arg"), [loss_use]
        if role is None or (head_site is not None and only_logged(ctx, head_site)):
            continue
        if base_site is None and _extracted_constant(ctx, uses, cast(Value, new)):  # added: new is set
            continue
        subject = _binding_subject(site)
        flow = ""
        if related_uses:
            flow = f", {related_uses[0].message} at line {related_uses[0].span.line}"
        span = binding_span(ctx, head_site) if head_site else binding_span(ctx, base_site)
        out.append(ValueChange(role[0], role[1], subject, old, new, span,
                               binding_base_line(ctx, base_site),
                               tuple(related_uses), flow, kind="binding", name=binding.target,
                               origin=binding.kind))
        leaves.append(binding.name)
    return _without_moves(ctx, out, leaves)


def _loss_use(ctx: PythonContext, site) -> Related | None:
    """Where a setting's value is a term of the loss: read by a line that computes the value
    backpropagated, or by a function whose result is (``loss = on_diag + args.lambd * off_diag``
    in a ``forward`` whose result the training loop backpropagates)."""
    from mldiff.facts.classify import statement_roles
    from mldiff.facts.summaries import serves_purpose
    view = ctx.head
    for index in view.uses(site.binding.target)[:4]:
        if index == site.index:
            continue
        purpose = serves_purpose(ctx, "head", index)
        if (purpose is not None and purpose.family == "loss") or any(
                role.family == "loss" and role.source == "flow" for role in statement_roles(ctx, "head", index)):
            return Related(view.span(index), "used in the loss")
    return None


def _without_moves(ctx: PythonContext, changes: list[ValueChange], leaves: list[str]) -> list[ValueChange]:
    """A setting removed in one place and bound, same name and value, in another (``GPTConfig.dropout``
    -> ``C.dropout`` when a dataclass becomes a config function, ``TrainerConfig.batch_size`` -> a
    ``batch_size=64`` parameter default), or renamed in place with its value (``CFG["ctx_len"]:
    256`` -> ``CFG["context_length"]: 256``) is a move, not a change."""
    removed = [i for i, c in enumerate(changes) if c.new is None and c.old is not None and c.old.is_literal]
    added = [i for i, c in enumerate(changes) if c.old is None and c.new is not None and c.new.is_literal]
    if not removed and not added:
        return changes
    from mldiff.analysis.values import _literal_equal

    bound: dict[str, list[tuple[str, str, Any]]] = {}

    def touched_literals(side: str) -> list[tuple[str, str, Any]]:
        if side not in bound:
            view = ctx.view(side)
            bound[side] = [(b.name, b.target, b.value.literal) for i in ctx.touched(side)
                           for b in view.facts(i).bindings if b.value is not None and b.value.is_literal]
        return bound[side]

    def renamed(old_target: str, new_target: str) -> bool:
        """A key renamed in place: the same container, the old key gone, the new one new, and
        the only key the change takes from that container and the only one it adds there
        (``WEIGHT_DECAY`` -> ``USE_CUSTOM_WEIGHT_DECAY`` + ``CUSTOM_WEIGHT_DECAY`` is a new design)."""
        container = old_target.rsplit(".", 1)[0]
        if "." not in old_target or container != new_target.rsplit(".", 1)[0]:
            return False
        gone = {t for _, t, _ in touched_literals("base") if t.startswith(container + ".")
                and not ctx.head.definitions(t)}
        new = {t for _, t, _ in touched_literals("head") if t.startswith(container + ".")
               and not ctx.base.definitions(t)}
        return gone == {old_target} and new == {new_target}

    head_bound = touched_literals("head") if removed else []
    base_bound = touched_literals("base") if added else []
    dropped: set[int] = set()
    for i in removed:
        if any((name == leaves[i] or renamed(changes[i].name, target))
               and _literal_equal(value, cast(Value, changes[i].old).literal) for name, target, value in head_bound):
            dropped.add(i)
    for j in added:
        if any((name == leaves[j] or renamed(target, changes[j].name))
               and _literal_equal(value, cast(Value, changes[j].new).literal) for name, target, value in base_bound):
            dropped.add(j)
    return [c for k, c in enumerate(changes) if k not in dropped]


def _is_api_call(view, value: Value | None) -> bool:
    """``nn.Dropout(0.1)``, ``optim.SGD(...)``: a call of an API whose arguments ``value_changes`` compares."""
    node = value.node if value is not None else None
    if node is None or node.__class__.__name__ != "Call":
        return False
    from mldiff.analysis.values import dotted_name
    callee = dotted_name(cast(cst.Call, node).func)  # a Call, as tested above
    if not callee:
        return False
    return _known_call(apis.canonical(view.resolve(callee)), None, view)


def _extracted_constant(ctx: PythonContext, uses, new: Value) -> bool:
    """``seed = 1337`` added where ``manual_seed(1337)`` became ``manual_seed(seed)``: the literal
    moved into a name, and the call it feeds had that very value on the base side."""
    from mldiff.analysis.values import _literal_equal
    for _, call_site, param in uses:
        for base_site in call_sites(ctx, "base", lambda q, c, v: q == call_site.qualname):
            old = arguments_of(base_site.call, base_site.qualname).get(param)
            if old is not None and old.is_literal and _literal_equal(old.literal, new.literal):
                return True
    return False


def _is_setting(view, site) -> bool:
    """A setting (module constant, class field, argparse option, config entry), as opposed
    to a function's local variable, whose appearance or disappearance is a refactor."""
    if site.binding.kind in ("argparse", "dict_key"):
        return True
    if "." in site.binding.target and site.binding.target.split(".", 1)[0] in view.aliases:
        return True  # ``torch.backends.cudnn.benchmark = True`` in a function is still a global switch
    return view.enclosing_def(site.index) < 0


def _binding_subject(site) -> str:
    binding = site.binding
    if binding.kind == "argparse":
        return f"--{binding.target.split('.', 1)[1]} default"
    if binding.kind == "param" and site.scope:
        return f"{site.scope[-1]}({binding.target}=...) default"
    if site.scope and binding.kind in ("annassign", "assign") and "." not in binding.target:
        return f"{site.scope[-1]}.{binding.target}"
    return binding.target


# -- settings passed by keyword to calls the API table does not know ------------------------------------
def named_argument_changes(ctx: PythonContext, family: str) -> list:
    """``TrainingArguments(per_device_train_batch_size=8)``, ``Trainer(accumulate_grad_batches=4)``,
    ``create_transform(224, auto_augment='rand-m9')``: keyword arguments named like a setting of
    ``family`` (by ``classify_name``) passed to calls that ``value_changes`` does not compare."""
    return ctx.fact("named_arguments", lambda: _named_argument_changes(ctx)).get(family, [])


def _named_family(name: str) -> tuple[str, str] | None:
    from mldiff.knowledge.names import classify_in_section, classify_name
    return classify_name(name)


def _unknown_call(qualname: str, call, view: ModuleView) -> bool:
    from mldiff.knowledge import apis
    if call.in_lambda_or_def or not call.kwargs:
        return False
    if apis.parameters(qualname) or apis.is_optimizer(qualname) or apis.is_scheduler(qualname) \
            or apis.is_loss(qualname) or apis.is_norm_layer(qualname) or apis.is_dropout(qualname) \
            or has_argument_roles(qualname):
        return False  # value_changes compares these
    if is_logging_call(call.callee) or call.method in ("add_argument", "dict", "get", "setdefault", "format"):
        return False
    return any(_named_family(name) for name, _ in call.kwargs)


def _named_argument_changes(ctx: PythonContext) -> dict[str, list]:
    from mldiff.facts.anchors import site_span
    from mldiff.facts.pairing import pair
    from mldiff.facts.sites import call_sites

    def key(site):
        scope = ctx.view(site.side).scope_names(site.index)
        callee = site.call.callee
        if site.side == "base":
            scope = tuple(ctx.renames.get(n, n) for n in scope)
            callee = ".".join(ctx.renames.get(p, p) for p in callee.split("."))
        return callee, scope

    base = call_sites(ctx, "base", _unknown_call)
    head = call_sites(ctx, "head", _unknown_call)
    out: dict[str, list] = {}
    for base_site, head_site in pair(base, head, key, lambda b, h: True):
        if base_site is None or head_site is None:
            continue
        old_kwargs, new_kwargs = dict(base_site.call.kwargs), dict(head_site.call.kwargs)
        for name in dict.fromkeys([*old_kwargs, *new_kwargs]):
            role = _named_family(name)
            old, new = old_kwargs.get(name), new_kwargs.get(name)
            if role is None or old is None or new is None:
                continue  # an argument added or removed falls back to a default we do not know
            if old.same_as(new, ctx.renames) or (_is_plain_reference(old) and _is_plain_reference(new)) \
                    or same_after_resolving(ctx, old, new):
                continue
            if not old.is_literal and not new.is_literal and not any(
                    (_named_family(name.rsplit(".", 1)[-1]) or ("",))[0] == role[0]
                    for name in old.names | new.names):
                continue  # ``dp_rates[0]`` -> ``next(dp_iter)``: computed either way, nothing to compare
            span = ctx.head.span(head_site.index, new.node) if new.node is not None else site_span(ctx, head_site)
            roles = [role]
            if role == ("determinism", "seed") and apis.role_of(head_site.qualname) in _DATA_ORDER_ROLES:
                roles.append(("data_pipeline", "data order"))  # a dataset's seed decides what each rank reads
            for family, topic in roles:
                out.setdefault(family, []).append(ValueChange(
                    family, topic, f"{head_site.short} {name}", old, new, span,
                    ctx.base.span(base_site.index, base_site.call.node).line))
    return out


_DATA_ORDER_ROLES = frozenset({"dataset", "dataloader", "sampler"})


def _is_plain_reference(value: Value) -> bool:
    name = dotted_name(value.node) if value.node is not None else None
    return name is not None and bool(name) and "(" not in name and "[" not in name


def is_placeholder(value_change) -> bool:
    """``x = None``, ``groups = []`` added: a variable initialised, not a setting chosen."""
    return value_change.old is None and value_change.new is not None and \
        value_change.new.literal in (None, [], {}, (), "")


_RUNTIME_VALUE = re.compile(r"\.shape\b|\.size\(|\blen\(|\.numel\(")


def is_measured(value_change) -> bool:
    """``batch_size = x.shape[0]``: a size read off a tensor at run time, not a setting."""
    return any(v is not None and _RUNTIME_VALUE.search(v.code) for v in (value_change.old, value_change.new))
