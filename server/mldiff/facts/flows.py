"""Where a value goes and where it comes from: uses of a setting, backward slices, definitions."""
from __future__ import annotations

import re

import libcst as cst

from mldiff.analysis.module import ModuleView
from mldiff.analysis.values import Value, dotted_name
from mldiff.facts.context import PythonContext, view_fact
from mldiff.facts.equivalence import is_noise
from mldiff.facts.sites import BindingSite, CallSite, arguments_of, short_name
from mldiff.findings import Related
from mldiff.knowledge import apis

# -- flows -----------------------------------------------------------------------------------
# Builtins a value passes through without saying what it configures (``len(drop_path)``)
_PLUMBING = frozenset({"len", "print", "str", "repr", "int", "float", "bool", "isinstance", "range", "enumerate",
                       "zip", "list", "tuple", "dict", "set", "type", "min", "max", "sum", "sorted", "getattr"})


# Methods of dicts, lists and strings: ``{"fp16": torch.float16}.get(args.precision)`` looks the
# value up; "used as get" would say nothing
_CONTAINER_METHODS = frozenset({"get", "pop", "setdefault", "append", "extend", "insert", "index", "count",
                                "format", "join", "split", "startswith", "endswith", "replace", "lower", "upper",
                                "strip", "items", "keys", "values", "update", "add", "remove", "discard"})


def flows(ctx: PythonContext, site: BindingSite, limit: int = 3) -> list[tuple[Related, CallSite, str]]:
    """Where the head value of ``site`` is passed to a call: (related location, call, parameter)."""
    view = ctx.head
    name = site.binding.target
    out: list[tuple[Related, CallSite, str]] = []
    for index in view.uses(name, _local_scope(view, site)):
        if index == site.index:
            continue
        for call in view.facts(index).calls:
            qualname = apis.canonical(view.qualname(call))
            if qualname in _PLUMBING or (call.method in _CONTAINER_METHODS and not apis.parameters(qualname)):
                continue
            for param, value in arguments_of(call, qualname).items():
                if _passes(name, value):
                    call_site = CallSite("head", index, call, qualname)
                    label = f"{short_name(qualname)} {param}" if not param.startswith(("#", "**")) \
                        else short_name(qualname)
                    related = Related(view.span(index, value.node if value.node is not None else call.node),
                                      f"used as {label}")
                    out.append((related, call_site, param))
                    break
            if len(out) >= limit:
                return out
    return out


def only_logged(ctx: PythonContext, site: BindingSite) -> bool:
    """Is the head value of a function's local ``site`` read only by lines that log or print it
    (``num_samples = ...`` ... ``logging.info(f"{num_samples}/...")``)? Then it is a figure
    for the log, not a setting."""
    if "." in site.binding.target or "[" in site.binding.target:
        return False
    scope = _local_scope(ctx.head, site)
    if scope is None:
        return False
    uses = [index for index in ctx.head.uses(site.binding.target, scope) if index != site.index]
    return bool(uses) and all(is_noise(ctx.head, index) for index in uses)


def feeds_only_the_log(view: ModuleView, index: int) -> bool:
    """Is logical line ``index`` a collective or in-place operation on a local tensor whose new
    value is read, until the name is bound again, only by lines that log it (``dist.reduce(
    loss.div_(world_size), 0)`` after the optimizer step, then ``print(loss.item())``, or a
    ``stats = dict(loss=loss.item())`` that is only printed)? Then it computes a figure for the
    log: the loss the step used is the same. A tensor reached through an attribute
    (``p.grad``) may alias the model's and is never such a value; nor is one nothing reads."""
    from mldiff.facts.syntax import kept_call
    found = kept_call(view, index)
    if found is None or found[1]:
        return False
    function = view.enclosing_def(index)
    if function < 0:
        return False
    within = view.block(function)
    call = found[0]
    root: str | None = None
    callee = dotted_name(call.func)
    if callee and apis.role_of(apis.canonical(view.resolve(callee))) == "collective" and call.args:
        root = _written_root(call.args[0].value)
    elif isinstance(call.func, cst.Attribute) and call.func.attr.value.endswith("_"):
        root = _written_root(call)
    if root is None:
        return False
    bindings = sorted(i for i, _ in view.definitions(root) if i in within)
    if not any(i < index for i in bindings):
        return False  # not a value this function computed
    until = next((i for i in bindings if i > index), within.stop)
    later = [use for use in view.uses(root, within) if index < use <= until]
    return bool(later) and all(_logs(view, use, within) for use in later)


def _written_root(node: cst.BaseExpression) -> str | None:
    """The local a chain of in-place calls writes (``loss.div_(n).mul_(2)`` -> ``loss``), else None."""
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value.endswith("_"):
        node = node.func.value
    return node.value if isinstance(node, cst.Name) else None


def _logs(view: ModuleView, index: int, within: range) -> bool:
    """Does line ``index`` only log, or bind locals that only lines that log read?"""
    if is_noise(view, index):
        return True
    from mldiff.knowledge.methods import method_roles
    facts = view.facts(index)
    if view.logical[index].keyword or not facts.bindings or any(
            apis.role_of(apis.canonical(view.qualname(call))) is not None or method_roles(call.method)
            for call in facts.calls):
        return False  # a line that also does something known is more than a figure
    for binding in facts.bindings:
        target = binding.target
        if binding.kind == "dict_key":
            continue  # an entry of the dict bound beside it
        if "." in target or "[" in target:
            return False
        uses = [use for use in view.uses(target, within) if use > index]
        if not uses or not all(is_noise(view, use) for use in uses):
            return False
    return True


def _local_scope(view: ModuleView, site: BindingSite) -> range | None:
    """The function body a plain name bound in it is local to (a parameter: its own function's),
    or None when the name can be read anywhere in the file (module level, attributes, ``global``)."""
    if "." in site.binding.target:
        return None
    if site.binding.kind == "param" and view.segments.lines[site.index].keyword != "def":
        return range(site.index, site.index + 1)  # a lambda's parameter
    function = site.index if site.binding.kind == "param" else view.enclosing_def(site.index)
    if function < 0:
        return None
    body = view.block(function)
    lines = view.segments.lines
    text = "".join(view.lines[lines[function].start:lines[body.stop - 1].end if len(body) else lines[function].end])
    if re.search(r"\b(?:global|nonlocal)\b[^\n]*\b" + re.escape(site.binding.target) + r"\b", text):
        return None
    return body


def _passes(name: str, value: Value) -> bool:
    """Does ``value`` pass the setting ``name`` itself? ``Linear(config.n_embd)`` reads an attribute
    of ``config``, it does not pass ``config``."""
    if name in value.names:
        return not any(n.startswith(name + ".") for n in value.names)
    if name.startswith("args."):
        attr = "." + name.rsplit(".", 1)[-1]
        return any(n.endswith(attr) for n in value.names)
    return False


# Methods that change a container in place: ``no_decay.add(name)`` shapes the parameter groups.
MUTATORS = frozenset({"add", "append", "extend", "remove", "discard", "update", "insert", "pop", "clear",
                      "add_param_group", "setdefault", "__setitem__", "fill_", "copy_", "mul_", "div_",
                      "add_", "sub_", "zero_", "index_fill_", "masked_fill_"})


# -- definitions by name -------------------------------------------------------------------
def find_defs(view: ModuleView, name: str, keyword: str = "def") -> list[int]:
    """Logical lines that define function (or class) ``name``."""
    return _definition_index(view).get((keyword, name), [])


_DEF_LINE = re.compile(r"^[ \t]*(?:async[ \t]+)?(def|class)[ \t]+(\w+)")


def _definition_index(view: ModuleView) -> dict[tuple[str, str], list[int]]:
    """(keyword, name) -> the logical lines that define it, read once per side from the header
    lines' text (a regex scan per looked-up name was a pass over the whole file each)."""
    def compute() -> dict[tuple[str, str], list[int]]:
        index: dict[tuple[str, str], list[int]] = {}
        for number in view.lines_matching(_DEF_LINE, ("def", "class")):
            keyword = view.logical[number].keyword
            match = _DEF_LINE.match(view.source(number))
            if match and match[1] == keyword:
                index.setdefault((keyword, match[2]), []).append(number)
        return index
    return view_fact(view, "definition_index", compute)


def matching_def(ctx: PythonContext, side: str, header: int) -> int | None:
    """The definition on the other side with the same name and enclosing scope as ``header``."""
    view = ctx.view(side)
    other = ctx.view("head" if side == "base" else "base")
    name = view.facts(header).def_name
    if not name:
        return None
    renames = ctx.renames
    if side == "base":
        name = renames.get(name, name)
    else:
        inverse = {new: old for old, new in renames.items()}
        name = inverse.get(name, name)
    scope = view.scope_names(header)
    keyword = view.logical[header].keyword
    candidates = find_defs(other, name, keyword)
    for candidate in candidates:
        if other.scope_names(candidate) == scope:
            return candidate
    return candidates[0] if len(candidates) == 1 else None


def scope_range(view: ModuleView, index: int) -> range:
    """The logical lines of the function around ``index`` (the whole module at top level)."""
    header = view.enclosing_def(index)
    if header < 0:
        return range(0, len(view.logical))
    return range(header + 1, view.segments.block_end(header))


def calls_in_touched_scopes(ctx: PythonContext, side: str, text: re.Pattern[str], predicate,
                            words: tuple[str, ...] = ()) -> list:
    """Calls matching ``predicate(qualname, call, view)`` on the lines that match ``text``, in the
    functions (or the module) whose code the change touches: the unchanged loss or optimizer
    that a changed line upstream feeds. ``words``: a substring of one of them must stand in
    those scopes (a cheap test before the regex scan, most model files build no optimizer)."""
    from mldiff.facts.sites import CallSite
    from mldiff.knowledge import apis
    view = ctx.view(side)
    scopes = {(r.start, r.stop) for r in (scope_range(view, i) for i in ctx.touched(side))}
    if not scopes or (words and not _mentions(view, scopes, words)):
        return []
    out = []
    for index in view._lines_matching(text):
        if not any(start <= index < stop for start, stop in scopes):
            continue
        for call in view.facts(index).calls:
            qualname = apis.canonical(view.qualname(call))
            if predicate(qualname, call, view):
                out.append(CallSite(side, index, call, qualname))
    return out


def _mentions(view: ModuleView, scopes: set[tuple[int, int]], words: tuple[str, ...]) -> bool:
    """Does one of ``words`` stand in one of the scopes (logical line ranges)? Asked of the
    view's cached scans, which an edit elsewhere leaves standing."""
    for word in words:
        for index in view.lines_matching(re.compile(re.escape(word)), (word,)):
            if any(start <= index < stop for start, stop in scopes):
                return True
    return False


# -- backward slices -------------------------------------------------------------------------
def _assigned_subscripts(view: ModuleView, index: int) -> set[str]:
    """Names written through a subscript or attribute on this line: ``weight[PAD] = 0``."""
    statement = view.unit(index).statement
    out: set[str] = set()
    if not isinstance(statement, cst.SimpleStatementLine):
        return out
    for small in statement.body:
        targets: list[cst.BaseExpression] = []
        if isinstance(small, cst.Assign):
            targets = [t.target for t in small.targets]
        elif isinstance(small, (cst.AugAssign, cst.AnnAssign)):
            targets = [small.target]
        for target in targets:
            node = target
            while isinstance(node, (cst.Subscript, cst.Attribute)):
                node = node.value
                name = dotted_name(node)
                if name and "(" not in name:
                    out.add(name)
    return out


def mutations(view: ModuleView, name: str, within: range) -> list[int]:
    """Lines inside ``within`` that change ``name`` in place (``s.add(x)``, ``w[i] = 0``)."""
    out = []
    for index in view.uses(name):
        if index not in within:
            continue
        facts = view.facts(index)
        if any(call.receiver == name and call.method in MUTATORS for call in facts.calls):
            out.append(index)
        elif name in _assigned_subscripts(view, index):
            out.append(index)
    return out


_SHAPING_HEADERS = frozenset({"if", "elif", "else", "for", "while"})


def _bare_names(names) -> list[str]:
    """Names read as values, not as namespaces: in ``model.parameters()`` and ``args.lr`` the
    model and the argument namespace are not followed (their construction is not what changed)."""
    namespaces = {name.split(".", 1)[0] for name in names if "." in name}
    return [name for name in names if "." not in name and name not in namespaces]


def backward_slice(view: ModuleView, index: int, value: Value | None, limit: int = 80,
                   skip: re.Pattern[str] | None = None) -> list[int]:
    """Logical lines of the enclosing function that shape ``value`` as read at line ``index``:
    definitions and in-place changes of the names it reads, the loops and conditions
    around them, followed transitively (at most ``limit`` lines; names matching ``skip``
    are not followed)."""
    if value is None:
        return []
    within = scope_range(view, index)
    pending = _bare_names(value.names)
    seen_names: set[str] = set()
    lines: set[int] = set()
    while pending and len(lines) < limit:
        name = pending.pop()
        if name in seen_names or name in ("self", "cls") or "(" in name or (skip is not None and skip.search(name)):
            continue
        seen_names.add(name)
        found = [i for i, _ in view.definitions(name) if i in within and i <= index]
        found += [i for i in mutations(view, name, within) if i <= index]
        for line in found:
            for member in [line, *view.ancestors(line)]:
                if member in lines or member not in within:
                    continue
                if member != line and view.logical[member].keyword not in _SHAPING_HEADERS:
                    continue
                lines.add(member)
                facts = view.facts(member)
                pending.extend(_bare_names(facts.reads))
                if facts.loop_target:
                    seen_names.update(t.strip() for t in facts.loop_target.strip("()").split(","))
    return sorted(lines)


def in_class_only_on_one_side(ctx: PythonContext, site) -> bool:
    """Is the call inside a class that exists on its side only (a model class added or removed as a
    whole, or moved to another file)? Its layers take effect where the class is used, not here."""
    view = ctx.view(site.side)
    for ancestor in view.ancestors(site.index):
        if view.logical[ancestor].keyword == "class" and matching_def(ctx, site.side, ancestor) is None:
            return True
    return False
