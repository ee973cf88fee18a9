"""Building blocks rules share: find calls and bindings in the changed code, pair
base with head, compare arguments, and say where a value flows."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from mldiff.analysis import apis
from mldiff.analysis.change import PythonChange, whole_line
from mldiff.analysis.module import ModuleView
from mldiff.analysis.statements import Binding, CallFact
from mldiff.analysis.values import Value, shorten
from mldiff.findings import Fix, Related, Span, TextEdit


@dataclass(frozen=True)
class CallSite:
    side: str            # "base" or "head"
    index: int           # logical line
    call: CallFact
    qualname: str        # canonical qualified name

    @property
    def short(self) -> str:
        """``Adam`` for ``torch.optim.Adam``, ``transforms.Normalize`` for torchvision's."""
        return short_name(self.qualname)


def short_name(qualname: str) -> str:
    """``Adam`` for ``torch.optim.Adam``; ``transforms.Normalize`` keeps its module for clarity."""
    parts = qualname.split(".")
    if len(parts) >= 2 and parts[-2] in ("transforms", "v2", "F", "functional"):
        return ".".join(parts[-2:])
    return parts[-1]


CallPredicate = Callable[[str, CallFact, ModuleView], bool]


def call_sites(change: PythonChange, side: str, predicate: CallPredicate,
               indices: Iterable[int] | None = None) -> list[CallSite]:
    """Calls in the touched logical lines of ``side`` (or in ``indices``) that match."""
    view = change.view(side)
    out = []
    for index in (change.touched(side) if indices is None else indices):
        for call in view.facts(index).calls:
            qualname = apis.canonical(view.qualname(call))
            if predicate(qualname, call, view):
                out.append(CallSite(side, index, call, qualname))
    return out


def pair(base: Sequence, head: Sequence, key: Callable, same: Callable) -> list[tuple]:
    """Pair base items with head items of equal ``key``: identical ones (``same``) first,
    then the rest in order. Unpaired items come back as (item, None) or (None, item)."""
    head_groups: dict[object, list] = {}
    for item in head:
        head_groups.setdefault(key(item), []).append(item)
    pairs: list[tuple] = []
    base_left = []
    for item in base:
        group = head_groups.get(key(item))
        match = next((h for h in group if same(item, h)), None) if group else None
        if match is not None:
            group.remove(match)
            pairs.append((item, match))
        else:
            base_left.append(item)
    for item in base_left:
        group = head_groups.get(key(item))
        pairs.append((item, group.pop(0) if group else None))
    paired_head = {id(h) for _, h in pairs if h is not None}
    pairs.extend((None, h) for h in head if id(h) not in paired_head)
    return pairs


def pair_calls(change: PythonChange, predicate: CallPredicate,
               key: Callable[[CallSite], object] = lambda site: site.qualname) -> list[tuple]:
    base = call_sites(change, "base", predicate)
    head = call_sites(change, "head", predicate)
    return pair(base, head, key, lambda b, h: same_call(change, b, h))


def same_call(change: PythonChange, base: CallSite, head: CallSite) -> bool:
    return base.qualname == head.qualname and not argument_changes(change, base, head)


def argument_changes(change: PythonChange, base: CallSite, head: CallSite,
                     only: Iterable[str] | None = None) -> list[tuple[str, Value | None, Value | None]]:
    """(parameter, before, after) for each argument whose value differs in meaning."""
    before = apis.arguments(base.call, base.qualname)
    after = apis.arguments(head.call, head.qualname)
    names = list(dict.fromkeys([*before, *after]))
    if only is not None:
        wanted = set(only)
        names = [n for n in names if n in wanted]
    renames = change.renames
    out = []
    for name in names:
        old, new = before.get(name), after.get(name)
        if old is None and new is None:
            continue
        if old is not None and new is not None and old.same_as(new, renames):
            continue
        out.append((name, old, new))
    return out


# -- positions ------------------------------------------------------------------------------
def site_span(change: PythonChange, site: CallSite) -> Span:
    """Head-side anchor: the call itself on the head, where it stood for a base call."""
    if site.side == "head":
        return change.head.span(site.index, site.call.node)
    return change.head_anchor(change.base.logical[site.index].start)


def base_line(change: PythonChange, site: CallSite | None) -> int | None:
    """1-based base line of a base site (or of the base line a head site replaced)."""
    if site is None:
        return None
    if site.side == "base":
        return change.base.span(site.index, site.call.node).line
    return None


def line_span(change: PythonChange, side: str, index: int) -> Span:
    if side == "head":
        return change.head.span(index)
    return change.head_anchor(change.base.logical[index].start)


def value_text(value: Value | None) -> str:
    return "(not set)" if value is None else shorten(value.code)


# -- bindings -------------------------------------------------------------------------------
@dataclass(frozen=True)
class BindingSite:
    side: str
    index: int
    binding: Binding
    scope: tuple[str, ...]

    @property
    def key(self) -> tuple[str, ...]:
        return self.scope + (self.binding.target,)


def binding_sites(change: PythonChange, side: str, predicate: Callable[[Binding], bool]) -> list[BindingSite]:
    view = change.view(side)
    renames = change.renames if side == "base" else {}
    out = []
    for index in change.touched(side):
        facts = view.facts(index)
        scope = view.scope_names(index)
        if facts.def_name and view.logical[index].keyword == "def":
            scope = scope + (facts.def_name,)
        for binding in facts.bindings:
            if predicate(binding):
                if renames:
                    binding = _renamed(binding, renames)
                    scope = tuple(renames.get(s, s) for s in scope)
                out.append(BindingSite(side, index, binding, scope))
    return out


def _renamed(binding: Binding, renames: dict[str, str]) -> Binding:
    parts = binding.target.split(".")
    target = ".".join(renames.get(p, p) for p in parts)
    if target == binding.target:
        return binding
    return Binding(target, binding.value, binding.kind, binding.node)


def pair_bindings(change: PythonChange, predicate: Callable[[Binding], bool]) -> list[tuple]:
    base = binding_sites(change, "base", predicate)
    head = binding_sites(change, "head", predicate)
    renames = change.renames

    def same(b: BindingSite, h: BindingSite) -> bool:
        if b.binding.value is None or h.binding.value is None:
            return b.binding.value is h.binding.value
        return b.binding.value.same_as(h.binding.value, renames)

    return pair(base, head, lambda site: site.key, same)


def binding_span(change: PythonChange, site: BindingSite) -> Span:
    if site.side == "head":
        value = site.binding.value
        node = value.node if value is not None and value.node is not None else site.binding.node
        return change.head.span(site.index, node)
    return change.head_anchor(change.base.logical[site.index].start)


def binding_base_line(change: PythonChange, site: BindingSite | None) -> int | None:
    if site is None or site.side != "base":
        return None
    return change.base.logical[site.index].start + 1


# -- flows -----------------------------------------------------------------------------------
# Builtins a value passes through without saying what it configures (``len(drop_path)``)
_PLUMBING = frozenset({"len", "print", "str", "repr", "int", "float", "bool", "isinstance", "range", "enumerate",
                       "zip", "list", "tuple", "dict", "set", "type", "min", "max", "sum", "sorted", "getattr"})

def flows(change: PythonChange, site: BindingSite, limit: int = 3) -> list[tuple[Related, CallSite, str]]:
    """Where the head value of ``site`` is passed to a call: (related location, call, parameter)."""
    view = change.head
    name = site.binding.target
    out: list[tuple[Related, CallSite, str]] = []
    for index in view.uses(name, _local_scope(view, site)):
        if index == site.index:
            continue
        for call in view.facts(index).calls:
            qualname = apis.canonical(view.qualname(call))
            if qualname in _PLUMBING:
                continue
            for param, value in apis.arguments(call, qualname).items():
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


def flow_phrase(change: PythonChange, uses: list[tuple[Related, CallSite, str]]) -> str:
    if not uses:
        return ""
    related, site, param = uses[0]
    return f", {related.message} at line {related.span.line}"


# -- fixes ---------------------------------------------------------------------------------------
def restore_fix(change: PythonChange, base_index: int, title: str) -> Fix | None:
    """Put back the base lines of the hunk that removed base logical line ``base_index``."""
    start = change.base.logical[base_index].start
    hunk = next((h for h in change.hunks if h.base_start <= start < h.base_end), None)
    if hunk is None:
        return None
    text = "".join(change.base.lines[hunk.base_start:hunk.base_end])
    if text and not text.endswith("\n") and hunk.head_end < len(change.head.lines):
        text += "\n"
    return Fix(title, (TextEdit(Span(hunk.head_start + 1, 1, hunk.head_end + 1, 1), text),))


# -- conditions --------------------------------------------------------------------------------
def conditions(view: ModuleView, index: int, renames: dict[str, str] | None = None) -> dict[str, str]:
    """The conditions under which logical line ``index`` runs, within its function: the tests of
    the enclosing ``if`` / ``elif`` / ``while`` headers, and for ``elif`` / ``else`` branches the
    negated tests of the branches before them. Keys are formatting-insensitive (``and`` split,
    ``not not x`` and ``not (a is None)`` simplified, ``renames`` applied); values are readable.
    ``if __name__ == "__main__":`` and constant tests are left out."""
    out: dict[str, str] = {}
    lines = view.logical
    own = [index] if lines[index].keyword and not lines[index].is_header else []  # `if x: y()` on one line
    for ancestor in own + view.ancestors(index):
        keyword = lines[ancestor].keyword
        if keyword in ("def", "class"):
            break
        if keyword in ("if", "elif", "while"):
            _add_condition(view, ancestor, False, out, renames)
        if keyword in ("elif", "else"):
            previous = _previous_branch(view, ancestor)
            while previous >= 0 and lines[previous].keyword in ("if", "elif"):
                _add_condition(view, previous, True, out, renames)
                if lines[previous].keyword == "if":
                    break
                previous = _previous_branch(view, previous)
    return out


def _previous_branch(view: ModuleView, index: int) -> int:
    """The statement just before ``index`` at the same level (the branch an elif/else continues)."""
    lines = view.logical
    parent = lines[index].parent
    indent = lines[index].indent
    for candidate in range(index - 1, -1, -1):
        line = lines[candidate]
        if line.parent == parent and line.indent == indent:
            return candidate
        if line.indent < indent:
            return -1
    return -1


def _add_condition(view: ModuleView, header: int, negate: bool, out: dict[str, str],
                   renames: dict[str, str] | None) -> None:
    import ast
    condition = view.facts(header).condition
    if condition is None:
        return
    try:
        tree = ast.parse(condition.code, mode="eval").body
    except (SyntaxError, ValueError):
        return
    parts = _conjuncts(_negated(tree) if negate else tree)
    for part in parts:
        if isinstance(part, ast.Constant) or _is_main_guard(part):
            continue
        key = ast.dump(part, annotate_fields=False)
        if renames:
            from mldiff.analysis.values import rename_key
            key = rename_key(key, renames)
        text = ast.unparse(part)
        out.setdefault(key, f"({text})" if isinstance(part, ast.BoolOp) else text)


def _conjuncts(node):
    import ast
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        out = []
        for value in node.values:
            out.extend(_conjuncts(value))
        return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = node.operand
        if isinstance(inner, ast.UnaryOp) and isinstance(inner.op, ast.Not):
            return _conjuncts(inner.operand)
        if isinstance(inner, ast.BoolOp) or (isinstance(inner, ast.Compare) and len(inner.ops) == 1):
            return _conjuncts(_negated(inner))
    return [node]


_INVERSE_COMPARISONS = {"Is": "IsNot", "IsNot": "Is", "Eq": "NotEq", "NotEq": "Eq", "In": "NotIn", "NotIn": "In",
                        "Lt": "GtE", "GtE": "Lt", "Gt": "LtE", "LtE": "Gt"}


def _negated(node):
    import ast
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return node.operand
    if isinstance(node, ast.BoolOp):  # De Morgan: not (a and not b) -> not a or b
        return ast.BoolOp(ast.Or() if isinstance(node.op, ast.And) else ast.And(), [_negated(v) for v in node.values])
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        inverse = _INVERSE_COMPARISONS[type(node.ops[0]).__name__]
        return ast.Compare(node.left, [getattr(ast, inverse)()], node.comparators)
    return ast.UnaryOp(ast.Not(), node)


def _is_main_guard(node) -> bool:
    import ast
    return isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "__name__"


def condition_phrase(conditions_: dict[str, str]) -> str:
    """`` (when a and b)`` for messages, or an empty string."""
    if not conditions_:
        return ""
    return " (when " + shorten(" and ".join(conditions_.values()), 80) + ")"


def condition_change(change: PythonChange, base_index: int, head_index: int) -> str | None:
    """How the conditions around a statement changed between base and head (a condition added or
    dropped), or None."""
    before = conditions(change.base, base_index, change.renames)
    after = conditions(change.head, head_index)
    if before.keys() == after.keys():
        return None
    if not (before.keys() < after.keys() or after.keys() < before.keys()):
        return None  # a condition reworded (`use_cuda` -> `device == 'cuda'`): nothing added or dropped
    if not after:
        return "now unconditional (was only when " + " and ".join(before.values()) + ")"
    if not before:
        return "now only when " + " and ".join(after.values())
    if len(after) > len(before):
        return "now also requires " + " and ".join(v for k, v in after.items() if k not in before)
    return "no longer requires " + " and ".join(v for k, v in before.items() if k not in after)


def touched_with_blocks(change: PythonChange, side: str, pattern) -> list[int]:
    """Touched logical lines of ``side``, plus the lines matching ``pattern`` inside the blocks of
    touched ``if`` / ``elif`` / ``else`` / ``while`` headers (their conditions changed even though
    the lines themselves did not)."""
    view = change.view(side)
    touched = set(change.touched(side))
    headers = [i for i in touched if view.logical[i].keyword in ("if", "elif", "else", "while")
               and view.logical[i].is_header]
    if headers:
        matching = view._lines_matching(pattern)
        for header in headers:
            block = view.block(header)
            touched.update(i for i in matching if i in block)
    return sorted(touched)


# -- calls added, removed, changed or moved under another condition ------------------------------
@dataclass(frozen=True)
class CallChange:
    """One matching call that differs between base and head."""

    kind: str                # "added" | "removed" | "arguments" | "condition"
    base: CallSite | None
    head: CallSite | None
    arguments: tuple[tuple[str, Value | None, Value | None], ...] = ()
    condition: str = ""      # "condition"/"arguments": how it changed, if it did; "added"/"removed": " (when ...)"

    def with_arguments(self, arguments: tuple) -> CallChange | None:
        """The same change restricted to ``arguments``: a pure condition change when none are
        left but the conditions moved, None when nothing is left."""
        if arguments:
            return CallChange("arguments", self.base, self.head, arguments, self.condition)
        return CallChange("condition", self.base, self.head, condition=self.condition) if self.condition else None

    @property
    def site(self) -> CallSite:
        return self.head or self.base  # type: ignore[return-value]


def call_changes(change: PythonChange, predicate: CallPredicate, pattern=None,
                 key: Callable[[PythonChange, CallSite, str], object] | tuple | None = None,
                 where: Callable[[PythonChange, CallSite], bool] | None = None,
                 callee: Callable[[str], str] | None = None) -> list[CallChange]:
    """Matching calls in the changed code, paired base to head (identical calls first): added,
    removed, with changed arguments, or the same call under other conditions. With ``pattern``
    (a regex prefilter), calls inside the blocks of touched ``if``/``else`` headers count too.
    ``key(change, site, name)`` says which calls may pair (default: the callee, after renames; a
    tuple of keys pairs in rounds, each over what the rounds before left unpaired);
    ``where(change, site)`` filters the sites further where the line matters; ``callee(qualname)``
    says which callees count as the same (default: the qualified name)."""
    renames = change.renames

    def name(site: CallSite) -> str:
        qualname = renamed(site.qualname, renames) if site.side == "base" else site.qualname
        return callee(qualname) if callee is not None else qualname

    def sites(side: str) -> list[CallSite]:
        indices = touched_with_blocks(change, side, pattern) if pattern is not None else None
        return [s for s in call_sites(change, side, predicate, indices)
                if not s.call.in_lambda_or_def and (where is None or where(change, s))]

    def same(base: CallSite, head: CallSite) -> bool:  # cheap: no look-ups of what names stand for
        return name(base) == name(head) and not argument_changes(change, base, head) \
            and condition_change(change, base.index, head.index) is None

    keys = key if isinstance(key, tuple) else (key,)
    base_sites, head_sites = sites("base"), sites("head")
    pairs: list[tuple] = []
    for number, one_key in enumerate(keys):  # later keys pair what the earlier ones left alone
        pair_key = (lambda site, k=one_key: k(change, site, name(site))) if one_key is not None else name
        pairs += [p for p in pair(base_sites, head_sites, pair_key, same)
                  if number == len(keys) - 1 or (p[0] is not None and p[1] is not None)]
        base_sites = [s for s in base_sites if not any(p[0] is s for p in pairs)]
        head_sites = [s for s in head_sites if not any(p[1] is s for p in pairs)]
    out = []
    for base, head in pairs:
        one = head if base is None else base if head is None else None
        if one is not None and counterpart_broken(change, one.side, change.view(one.side).logical[one.index].start):
            continue
        if base is None:
            out.append(CallChange("added", None, head, condition=condition_phrase(conditions(change.head, head.index))))
        elif head is None:
            out.append(CallChange("removed", base, None,
                                  condition=condition_phrase(conditions(change.base, base.index))))
        else:
            arguments = resolved_argument_changes(change, base, head)
            if name(base) != name(head) or arguments:
                out.append(CallChange("arguments", base, head, tuple(arguments),
                                      condition=condition_change(change, base.index, head.index) or ""))
            else:
                moved = condition_change(change, base.index, head.index)
                if moved:
                    out.append(CallChange("condition", base, head, condition=moved))
    return out


def renamed(dotted: str, renames: dict[str, str]) -> str:
    """``s.set_epoch`` -> ``train_sampler.set_epoch`` when ``s`` was renamed to ``train_sampler``."""
    if not renames:
        return dotted
    return ".".join(renames.get(part, part) for part in dotted.split("."))


def assigned_key(change: PythonChange, site: CallSite, name: str) -> object:
    """Pair calls by what they are assigned to (``sampler = RandomSampler(ds)`` with ``sampler =
    WeightedRandomSampler(w, n)``: a swap), else by callee."""
    view = change.view(site.side)
    for binding in view.facts(site.index).bindings:
        if binding.value is not None and binding.value.node is site.call.node:
            target = renamed(binding.target, change.renames) if site.side == "base" else binding.target
            return ("target", target)  # not the scope: code moved into a function still pairs
    return ("callee", name)


def call_code(site: CallSite, width: int = 60) -> str:
    """The call as written, on one line (shortened for messages)."""
    from mldiff.analysis.values import node_code
    return shorten(node_code(site.call.node), width)


def group_span(change: PythonChange, sites: Sequence[CallSite]) -> Span:
    """One head-side span covering several call sites (all on one side)."""
    spans = [site_span(change, site) for site in sites]
    first = min(spans, key=lambda s: (s.line, s.column))
    last = max(spans, key=lambda s: (s.end_line, s.end_column))
    return Span(first.line, first.column, last.end_line, last.end_column)


def grouped(changes: Iterable[CallChange], change: PythonChange) -> list[list[CallChange]]:
    """Changes that say the same thing, together: calls added (or removed) in one block under the
    same conditions, the same argument change made to several calls (``bias=False`` on four
    ``Linear`` layers), several calls moved under the same new condition."""
    groups: dict[tuple, list[CallChange]] = {}
    for item in changes:
        if item.kind in ("added", "removed"):
            site = item.site
            parent = change.view(site.side).logical[site.index].parent
            group_key: tuple = (item.kind, parent, item.condition)
        elif item.kind == "arguments" and item.base.qualname == item.head.qualname:
            group_key = (item.kind, item.head.qualname, tuple(
                (name, old.key if old else None, new.key if new else None) for name, old, new in item.arguments))
        elif item.kind == "condition":
            group_key = (item.kind, item.condition)
        else:
            group_key = (item.kind, id(item))
        groups.setdefault(group_key, []).append(item)
    return list(groups.values())


def _elsewhere(change: PythonChange, group: list[CallChange]) -> str:
    """`` (also at lines 42, 77)`` for the other members of a group of like changes."""
    lines = [site_span(change, item.head).line for item in group[1:] if item.head is not None]
    return f" (also at line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))})" if lines else ""


# -- reporting call and binding changes ---------------------------------------------------------
def _describe_group(verb: str, group: list[CallChange]) -> str:
    calls = ", ".join(call_code(item.site, 48) for item in group[:3])
    if len(group) > 3:
        calls += f" and {len(group) - 3} more"
    return f"{verb}: {calls}{group[0].condition}"


def report_call_changes(rule, change: PythonChange, changes: list[CallChange], noun: str,
                        annotate: Callable[[list[CallChange]], tuple[str, str | None]] | None = None):
    """Findings for added / removed (grouped by block), changed and re-conditioned calls.
    ``annotate(group)`` may add a note to the message and pick another severity."""
    for group in grouped(changes, change):
        item = group[0]
        note, severity = annotate(group) if annotate is not None else ("", None)
        if item.kind == "added":
            sites = [g.head for g in group]
            yield rule.report(change, group_span(change, sites), _describe_group(f"{noun} added", group) + note,
                              before=None, after="; ".join(call_code(s) for s in sites), severity=severity)
        elif item.kind == "removed":
            sites = [g.base for g in group]
            yield rule.report(change, site_span(change, sites[0]),
                              _describe_group(f"{noun} removed", group) + note,
                              base_line=base_line(change, sites[0]),
                              before="; ".join(call_code(s) for s in sites), after=None, severity=severity,
                              fixes=[f for f in [restore_fix(change, sites[0].index,
                                                             "Restore the removed lines from the base")] if f])
        elif item.kind == "arguments":
            base, head = item.base, item.head
            if base.qualname != head.qualname:
                text = f"{noun} changed: {call_code(base, 48)} -> {call_code(head, 48)}"
            else:
                parts = [f"{param if not param.startswith('#') else 'argument'} {value_text(old)} -> "
                         f"{value_text(new)}" for param, old, new in item.arguments]
                text = f"{call_label(change, head)} " + ", ".join(parts)
            if item.condition:
                text += f", {item.condition}"
            yield rule.report(change, site_span(change, head), text + _elsewhere(change, group) + note,
                              base_line=base_line(change, base), before=call_code(base), after=call_code(head),
                              severity=severity)
        else:
            calls = ", ".join(call_code(g.head, 48) for g in group[:3]) + (
                f" and {len(group) - 3} more" if len(group) > 3 else "")
            yield rule.report(change, group_span(change, [g.head for g in group]),
                              f"{calls} {item.condition}" + note, base_line=base_line(change, item.base),
                              before=call_code(item.base), after=call_code(item.head), severity=severity)


def display_target(target: str) -> str:
    """``os.environ['PYTHONHASHSEED']`` for the binding target ``os.environ.PYTHONHASHSEED``."""
    for prefix in ("os.environ.", "environ."):
        if target.startswith(prefix):
            return f"{prefix[:-1]}[{target[len(prefix):]!r}]"
    return target


def resolved_target(view: ModuleView, target: str) -> str:
    return apis.canonical(view.resolve(target))


def binding_changes(change: PythonChange, accept: Callable[[str], bool], pattern) -> list[tuple]:
    """Bindings whose resolved target ``accept`` takes (``cudnn.benchmark`` ->
    ``torch.backends.cudnn.benchmark``), paired base to head: (base, head, condition change)
    where the value or the conditions around it differ."""
    def sites(side: str) -> list[tuple[BindingSite, str]]:
        view = change.view(side)
        out = []
        for index in touched_with_blocks(change, side, pattern):
            for binding in view.facts(index).bindings:
                target = resolved_target(view, binding.target)
                if binding.kind != "param" and accept(target):
                    out.append((BindingSite(side, index, binding, ()), target))
        return out

    renames = change.renames

    def same_value(base, head) -> bool:
        old, new = base[0].binding.value, head[0].binding.value
        if old is None or new is None:
            return old is new
        return old.same_as(new, renames)

    def same(base, head) -> bool:
        return same_value(base, head) and condition_change(change, base[0].index, head[0].index) is None

    out = []
    for base, head in pair(sites("base"), sites("head"), lambda s: s[1], same):
        if base is not None and head is not None:
            moved = condition_change(change, base[0].index, head[0].index)
            if same_value(base, head) and not moved:
                continue
            out.append((base, head, moved or ""))
        else:
            one = head or base
            if not counterpart_broken(change, one[0].side, change.view(one[0].side).logical[one[0].index].start):
                out.append((base, head, ""))
    return out


def report_binding_changes(rule, change: PythonChange, pairs, describe):
    """Findings for ``binding_changes`` pairs; ``describe(target, old, new)`` says what it means."""
    for base, head, moved in pairs:
        site, target = head or base
        short = display_target(site.binding.target)
        old = base[0].binding.value if base else None
        new = head[0].binding.value if head else None
        meaning = describe(target, old, new)
        if base and head:
            if old is not None and new is not None and old.same_as(new, change.renames):
                text = f"{short} = {value_text(new)} {moved}"
            else:
                text = f"{short} {value_text(old)} -> {value_text(new)}{meaning}"
                if moved:
                    text += f", {moved}"
        elif head:
            text = f"{short} = {value_text(new)} set{condition_phrase(conditions(change.head, head[0].index))}{meaning}"
        else:
            text = f"{short} = {value_text(old)} removed{meaning}"
        span = binding_span(change, head[0]) if head else binding_span(change, base[0])
        yield rule.report(change, span, text, base_line=binding_base_line(change, base[0] if base else None),
                          before=old.code if old is not None else None,
                          after=new.code if new is not None else None)


def resolved_argument_changes(change: PythonChange, base: CallSite, head: CallSite) -> list[tuple]:
    """``argument_changes`` less the ones that only name the same constant (``manual_seed(1337)``
    -> ``manual_seed(seed)`` with ``seed = 1337``)."""
    from mldiff.rules.roles import _same_after_resolving
    return [(name, old, new) for name, old, new in argument_changes(change, base, head)
            if not _same_after_resolving(change, old, new)]


def condition_use(view: ModuleView, name: str) -> str:
    """``, used in `if compile:` at line 181`` when setting ``name`` decides a branch (the first
    ``if`` / ``elif`` / ``while`` that reads it), else an empty string."""
    for index in view.uses(name):
        line = view.logical[index]
        if line.keyword in ("if", "elif", "while"):
            text = " ".join(view.source(index).split())
            return f", used in `{shorten(text, 48)}` at line {line.start + 1}"
    return ""


def call_label(change: PythonChange, site: CallSite) -> str:
    """``Adam`` for an API call, ``model.cuda`` for a method of a local object."""
    call = site.call
    if call.receiver is not None and call.callee.split(".", 1)[0] not in change.view(site.side).aliases:
        return call.callee
    return site.short


def counterpart_broken(change: PythonChange, side: str, line: int) -> bool:
    """Does 0-based physical ``line`` of ``side`` stand, on the other side, inside a statement that
    does not parse, and does that broken text hold the same statement? An unterminated string
    can swallow the rest of a file into one broken statement; what it swallowed is not new."""
    if side == "head":
        mapped, view, other = change.map.head_to_base(line), change.head, change.base
    else:
        mapped, view, other = change.map.base_to_head(line), change.base, change.head
    if mapped is None:
        for hunk in change.hunks:
            start, end = (hunk.head_start, hunk.head_end) if side == "head" else (hunk.base_start, hunk.base_end)
            if start <= line < max(end, start + 1):
                mapped = hunk.base_start if side == "head" else hunk.head_start
                break
    if mapped is None:
        return False
    own = view.index_at(line)
    statement = " ".join(view.source(own).split()) if own >= 0 else ""
    for probe in (mapped, mapped - 1):
        index = other.index_at(probe)
        if index >= 0 and other.logical[index].keyword != "case" and other.unit(index).error is not None:
            return not statement or statement in " ".join(other.source(index).split())
    return False
