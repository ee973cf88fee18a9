"""Where a value comes from, and whether a block of code changed in meaning.

Structural rules need more than the touched lines: the parameter groups an optimizer
receives are built over a dozen lines above the call, a hand-written LR schedule is a
whole function. These helpers follow a value backwards through the definitions and
mutations of the names it reads (inside one function, found by a regex prefilter, so
nothing outside the function is parsed) and compare statements by meaning: formatting,
comments, docstrings, logging and consistent renames do not count.
"""
from __future__ import annotations

import ast
import re
from functools import lru_cache
from typing import Iterable

import libcst as cst

from mldiff.analysis.change import PythonChange
from mldiff.analysis.module import ModuleView
from mldiff.analysis.values import Value, dotted_name, rename_key
from mldiff.findings import Span

# Calls that only report (they never change what is trained).
_LOG_ROOTS = frozenset({"logger", "logging", "log", "wandb", "writer", "tb_writer", "summary_writer", "tqdm",
                        "pbar", "progress", "progress_bar", "mlflow", "neptune", "tensorboard", "console", "rich",
                        "warnings", "_logger", "LOGGER", "self.logger", "self.log", "self.writer",
                        "self._logger", "sys.stdout", "sys.stderr", "meter", "metric_logger", "tracker"})
_LOG_METHODS = frozenset({"print", "info", "debug", "warning", "warn", "error", "exception", "critical", "log",
                          "add_scalar", "add_scalars", "add_histogram", "add_image", "add_text", "set_description",
                          "set_postfix", "set_postfix_str", "write", "flush", "log_metrics", "log_dict",
                          "progress_bar", "pprint", "rank_zero_info", "print0", "log0", "master_print",
                          "log_rank_0", "print_rank_0", "update_meters"})
# Methods that change a container in place: ``no_decay.add(name)`` shapes the parameter groups.
MUTATORS = frozenset({"add", "append", "extend", "remove", "discard", "update", "insert", "pop", "clear",
                      "add_param_group", "setdefault", "__setitem__", "fill_", "copy_", "mul_", "div_",
                      "add_", "sub_", "zero_", "index_fill_", "masked_fill_"})


def is_logging_call(callee: str) -> bool:
    root = callee.split(".", 1)[0]
    method = callee.rsplit(".", 1)[-1]
    if callee in ("print", "pprint", "progress_bar") or method in ("print",):
        return True
    if root in _LOG_ROOTS or callee.rsplit(".", 1)[0] in _LOG_ROOTS:
        return True
    return method in _LOG_METHODS and method not in ("write", "flush", "update_meters") and "." in callee


def is_noise(view: ModuleView, index: int) -> bool:
    """A docstring, ``pass``, ``assert``, or a line that only logs or prints."""
    unit = view.unit(index)
    statement = unit.statement
    if not isinstance(statement, cst.SimpleStatementLine):
        return False
    for small in statement.body:
        if isinstance(small, (cst.Pass, cst.Assert)):
            continue
        if isinstance(small, cst.Expr):
            value = small.value
            if isinstance(value, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
                continue
            if isinstance(value, cst.Call):
                callee = dotted_name(value.func) or ""
                if is_logging_call(callee):
                    continue
        return False
    return True


@lru_cache(maxsize=32768)
def _ast_key(source: str) -> str:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return " ".join(source.split())
    for node in ast.walk(tree):  # type annotations do not change what runs
        if isinstance(node, ast.arg):
            node.annotation = None
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.returns = None
    return ast.dump(tree, annotate_fields=False)


def unit_source(view: ModuleView, index: int) -> str:
    """The text libcst parsed for logical line ``index`` (clause headers wrapped so they parse
    alone), rebuilt without libcst's slow code generation; ast positions line up with the unit's."""
    from mldiff.analysis import statements
    logical = view.logical[index]
    keyword = logical.keyword
    before, after = statements._WRAPPERS.get(keyword, ("", ""))
    if keyword == "@":
        after = statements._DECORATED
    elif logical.is_header:
        after = statements._HEADER_BODY
    source = before + view.source(index)
    if not source.endswith("\n"):
        source += "\n"
    return source + (after.lstrip("\n") if after.startswith("\n") else after)


def statement_key(view: ModuleView, index: int, renames: dict[str, str] | None = None) -> str:
    """A logical line's meaning: its syntax tree without comments or layout, renamed to the head's names."""
    unit = view.unit(index)
    if unit.tree is None:
        return "error:" + " ".join(view.source(index).split())
    key = _ast_key(unit_source(view, index))
    return rename_key(key, renames) if renames else key


def block_signature(view: ModuleView, indices: Iterable[int],
                    renames: dict[str, str] | None = None) -> list[tuple[int, str]]:
    """(index, key) of the meaningful lines among ``indices`` (noise left out), in order."""
    return [(index, statement_key(view, index, renames)) for index in indices if not is_noise(view, index)]


def differing_lines(change: PythonChange, base_indices: Iterable[int],
                    head_indices: Iterable[int]) -> tuple[list[int], list[int]]:
    """Base and head logical lines whose meaning has no counterpart on the other side
    (a multiset difference of statement keys, base renamed to head names)."""
    renames = change.renames
    base = block_signature(change.base, base_indices, renames)
    head = block_signature(change.head, head_indices)
    head_left: dict[str, list[int]] = {}
    for index, key in head:
        head_left.setdefault(key, []).append(index)
    base_only = []
    for index, key in base:
        bucket = head_left.get(key)
        if bucket:
            bucket.pop(0)
        else:
            base_only.append(index)
    head_only = sorted(i for bucket in head_left.values() for i in bucket)
    if base_only and head_only:
        base_only, head_only = _drop_moved_references(change, base_only, head_only)
    return base_only, head_only


def _drop_moved_references(change: PythonChange, base_only: list[int],
                           head_only: list[int]) -> tuple[list[int], list[int]]:
    """Leave out pairs of lines that differ only in where a setting is read from
    (``warmup_iters`` -> ``cfg.optim.warmup_iters``, ``args.lr`` -> ``config.lr``)."""
    head_left = list(head_only)
    base_left = []
    for base_index in base_only:
        base_tree = _ast_tree(change.base, base_index)
        match = next((h for h in head_left if base_tree is not None
                      and _equivalent(base_tree, _ast_tree(change.head, h), change.renames)), None)
        if match is None:
            base_left.append(base_index)
        else:
            head_left.remove(match)
    return base_left, head_left


def _ast_tree(view: ModuleView, index: int) -> ast.AST | None:
    unit = view.unit(index)
    if unit.tree is None:
        return None
    return _parse_cached(unit_source(view, index))


def _reference(node: ast.AST) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return list(reversed(parts))
    return None


def _equivalent(a: ast.AST | None, b: ast.AST | None, renames: dict[str, str], called: bool = False) -> bool:
    """Same syntax tree, except that a setting may be read through another object (same last name)."""
    if a is None or b is None:
        return a is b
    if not called:
        ref_a, ref_b = _reference(a), _reference(b)
        if ref_a is not None and ref_b is not None:
            ref_a = [renames.get(part, part) for part in ref_a]
            if ref_a == ref_b:
                return True
            return ref_a[-1] == ref_b[-1] and (ref_a[0] != ref_b[0] or len(ref_a) != len(ref_b))
    if type(a) is not type(b):
        return False
    for field_name, value_a in ast.iter_fields(a):
        if field_name == "ctx":
            continue
        value_b = getattr(b, field_name, None)
        if isinstance(value_a, list):
            if not isinstance(value_b, list) or len(value_a) != len(value_b):
                return False
            if not all(_equivalent(x, y, renames) if isinstance(x, ast.AST) else _same_leaf(x, y, renames)
                       for x, y in zip(value_a, value_b)):
                return False
        elif isinstance(value_a, ast.AST):
            if not _equivalent(value_a, value_b, renames,
                               called=isinstance(a, ast.Call) and field_name == "func"):
                return False
        elif not _same_leaf(value_a, value_b, renames):
            return False
    return True


def _same_leaf(a, b, renames: dict[str, str]) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return renames.get(a, a) == b
    return type(a) is type(b) and a == b


# -- definitions by name -------------------------------------------------------------------
def find_defs(view: ModuleView, name: str, keyword: str = "def") -> list[int]:
    """Logical lines that define function (or class) ``name``."""
    pattern = re.compile(rf"^[ \t]*(?:async[ \t]+)?{keyword}[ \t]+{re.escape(name)}\b", re.M)
    return [i for i in view._lines_matching(pattern) if view.logical[i].keyword == keyword]


def matching_def(change: PythonChange, side: str, header: int) -> int | None:
    """The definition on the other side with the same name and enclosing scope as ``header``."""
    view = change.view(side)
    other = change.view("head" if side == "base" else "base")
    name = view.facts(header).def_name
    if not name:
        return None
    renames = change.renames
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


def calls_in_touched_scopes(change: PythonChange, side: str, text: re.Pattern[str], predicate,
                            words: tuple[str, ...] = ()) -> list:
    """Calls matching ``predicate(qualname, call, view)`` on the lines that match ``text``, in the
    functions (or the module) whose code the change touches: the unchanged loss or optimizer
    that a changed line upstream feeds. ``words``: a substring of one of them must stand in
    those scopes (a cheap test before the regex scan, most model files build no optimizer)."""
    from mldiff.analysis import apis
    from mldiff.rules.common import CallSite
    view = change.view(side)
    scopes = {(r.start, r.stop) for r in (scope_range(view, i) for i in change.touched(side))}
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
    logical = view.logical
    for start, stop in scopes:
        if start >= stop:
            continue
        text = "".join(view.lines[logical[start].start:logical[stop - 1].end])
        if any(word in text for word in words):
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


# -- node context ------------------------------------------------------------------------------
class _ParentFinder(cst.CSTVisitor):
    def __init__(self, target: cst.CSTNode) -> None:
        self.target = target
        self.stack: list[cst.CSTNode] = []
        self.path: list[cst.CSTNode] | None = None

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self.path is not None:
            return False
        if node is self.target:
            self.path = list(self.stack)
            return False
        self.stack.append(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if self.stack and self.stack[-1] is original_node:
            self.stack.pop()


def ancestors_of(root: cst.CSTNode | None, node: cst.CSTNode) -> list[cst.CSTNode]:
    """Nodes enclosing ``node`` inside ``root``, innermost first (empty if not found)."""
    if root is None:
        return []
    finder = _ParentFinder(node)
    root.visit(finder)
    return list(reversed(finder.path or []))


_TEST_PATH = re.compile(r"(?:^|/)(?:tests?|testing)/|(?:^|/)test_[^/]*\.py$|_test\.py$|(?:^|/)conftest\.py$")


def is_test_file(path: str) -> bool:
    """Unit tests build optimizers, losses and schedulers to test them, not to train anything."""
    return bool(_TEST_PATH.search(path))


def per_change(change, key: str, compute):
    """Compute something once per change and share it between the rules that need it."""
    store = change.__dict__.setdefault("_mldiff_shared", {})
    if key not in store:
        store[key] = compute(change)
    return store[key]


def span_contains(outer, inner) -> bool:
    """Does span ``inner`` start inside span ``outer`` (both head side, 1-based)?"""
    return (outer.line, outer.column) <= (inner.line, inner.column) <= (outer.end_line, outer.end_column)


# -- settings passed by keyword to calls the API table does not know ------------------------------------
def named_argument_changes(change: PythonChange, family: str) -> list:
    """``TrainingArguments(per_device_train_batch_size=8)``, ``Trainer(accumulate_grad_batches=4)``,
    ``create_transform(224, auto_augment='rand-m9')``: keyword arguments named like a setting of
    ``family`` (by ``classify_name``) passed to calls that ``value_changes`` does not compare."""
    return per_change(change, "named_arguments", _named_argument_changes).get(family, [])


def _named_family(name: str) -> tuple[str, str] | None:
    from mldiff.rules.roles import classify_name
    return classify_name(name)


def _unknown_call(qualname: str, call, view: ModuleView) -> bool:
    from mldiff.analysis import apis
    if call.in_lambda_or_def or not call.kwargs:
        return False
    if apis.parameters(qualname) or apis.is_optimizer(qualname) or apis.is_scheduler(qualname) \
            or apis.is_loss(qualname) or apis.is_norm_layer(qualname) or apis.is_dropout(qualname):
        return False  # value_changes compares these
    if is_logging_call(call.callee) or call.method in ("add_argument", "dict", "get", "setdefault", "format"):
        return False
    return any(_named_family(name) for name, _ in call.kwargs)


def _named_argument_changes(change: PythonChange) -> dict[str, list]:
    from mldiff.rules.common import call_sites, pair, site_span
    from mldiff.rules.roles import ValueChange

    def key(site):
        scope = change.view(site.side).scope_names(site.index)
        callee = site.call.callee
        if site.side == "base":
            scope = tuple(change.renames.get(n, n) for n in scope)
            callee = ".".join(change.renames.get(p, p) for p in callee.split("."))
        return callee, scope

    base = call_sites(change, "base", _unknown_call)
    head = call_sites(change, "head", _unknown_call)
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
            if old.same_as(new, change.renames) or (_is_plain_reference(old) and _is_plain_reference(new)):
                continue
            if not old.is_literal and not new.is_literal and not any(
                    (_named_family(name.rsplit(".", 1)[-1]) or ("",))[0] == role[0]
                    for name in old.names | new.names):
                continue  # ``dp_rates[0]`` -> ``next(dp_iter)``: computed either way, nothing to compare
            span = change.head.span(head_site.index, new.node) if new.node is not None else site_span(change, head_site)
            out.setdefault(role[0], []).append(ValueChange(
                role[0], role[1], f"{head_site.short} {name}", old, new, span,
                change.base.span(base_site.index, base_site.call.node).line))
    return out


def _is_plain_reference(value: Value) -> bool:
    name = dotted_name(value.node) if value.node is not None else None
    return bool(name) and "(" not in name and "[" not in name


def removed_span(change: PythonChange, site) -> Span:
    """Head anchor for a call that exists only on the base side: where its own line stood
    (not the first line of a long statement such as a multi-line ``Compose([...])``)."""
    if site.side == "head":
        return change.head.span(site.index, site.call.node)
    line = change.base.span(site.index, site.call.node).line - 1
    return change.head_anchor(line)


def pair_calls_across_scopes(change: PythonChange, predicate, scoped_key, loose_key=None) -> list[tuple]:
    """Pair base and head calls by ``scoped_key`` (category and enclosing function), then pair what
    is left over by ``loose_key`` alone: a call moved into a new ``main()`` or method is the same
    call, compared argument by argument, not one removal and one addition."""
    from mldiff.rules.common import pair, pair_calls, same_call
    pairs = pair_calls(change, predicate, key=scoped_key)
    removed = [base for base, head in pairs if head is None]
    added = [head for base, head in pairs if base is None]
    if not removed or not added:
        return pairs
    kept = [(base, head) for base, head in pairs if base is not None and head is not None]
    loose = loose_key or (lambda site: scoped_key(site)[0])
    return kept + pair(removed, added, loose, lambda b, h: same_call(change, b, h))


# -- the standard library's ast, for walking big statements fast --------------------------------------------
def ast_statement(view: ModuleView, index: int) -> ast.AST | None:
    """The logical line as an ``ast`` tree (cached by text). Walking ``ast`` is many times faster
    than a libcst visitor, which matters on a 2,000-line config dict a keystroke touches."""
    return _ast_tree(view, index)


@lru_cache(maxsize=4096)
def _parse_cached(code: str) -> ast.AST | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return None


def ast_span(view: ModuleView, index: int, node: ast.AST) -> Span:
    """Absolute span (1-based, code-point columns) of an ``ast`` node of logical line ``index``."""
    unit = view.unit(index)
    logical = view.logical[index]
    code_lines = unit_source(view, index).splitlines(keepends=True)

    def column(line: int, byte_offset: int) -> int:
        text = code_lines[line] if line < len(code_lines) else ""
        return len(text.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))

    start_line = node.lineno - 1
    end_line = (node.end_lineno or node.lineno) - 1
    first = start_line - unit.offset
    last = end_line - unit.offset
    return Span(logical.start + first + 1,
                column(start_line, node.col_offset) + (logical.indent_chars if first == 0 else 0) + 1,
                logical.start + last + 1,
                column(end_line, node.end_col_offset or 0) + (logical.indent_chars if last == 0 else 0) + 1)


# -- what the structural rules of the families report alike -------------------------------------------------
def scope_key(change: PythonChange, site, category: str) -> tuple:
    """Pairing key of a call: its category and the functions around it (base names renamed)."""
    scope = change.view(site.side).scope_names(site.index)
    if site.side == "base":
        scope = tuple(change.renames.get(name, name) for name in scope)
    return (category, scope)


def call_text(site, width: int = 60) -> str:
    """``AdamW(model.parameters(), lr=3e-4)``, ``F.cross_entropy(logits, y)``: a call as a reader knows it."""
    from mldiff.analysis.values import node_code, shorten
    code = node_code(site.call.node)
    arguments = code[code.index("("):] if "(" in code else "(...)"
    qualname = site.qualname
    short = "F." + qualname.rsplit(".", 1)[-1] if qualname.startswith("torch.nn.functional.") else \
        site.short.replace("functional.", "F.")
    return shorten(f"{short}{arguments}", width)


def report_added_or_removed(rule, change: PythonChange, base, head, noun: str, width: int = 60):
    """The finding for a call that exists on one side only (None when both sides have it)."""
    from mldiff.rules.common import base_line, site_span
    if base is not None and head is None:
        return rule.report(change, removed_span(change, base), f"{noun} {call_text(base, width)} removed",
                           base_line=base_line(change, base), before=call_text(base, 200))
    if head is not None and base is None:
        return rule.report(change, site_span(change, head), f"{noun} {call_text(head, width)} added",
                           after=call_text(head, 200))
    return None


def report_value_change(rule, change, value_change, message: str | None = None, severity: str | None = None):
    """A finding for one entry of ``value_changes`` (or a ValueChange a rule built itself)."""
    return rule.report(change, value_change.span, message or value_change.describe(),
                       base_line=value_change.base_line,
                       before=value_change.old.code if value_change.old is not None else None,
                       after=value_change.new.code if value_change.new is not None else None,
                       related=value_change.related, severity=severity)


def describe_difference(change: PythonChange, base_only: list[int], head_only: list[int], width: int = 70):
    """(span, detail, base line, before, after) of the first statements that differ in meaning."""
    from mldiff.analysis.values import shorten

    def text(view: ModuleView, index: int, size: int) -> str:
        return shorten(" ".join(view.source(index).split()), size)

    if head_only:
        detail = text(change.head, head_only[0], width)
        detail += f" (was {text(change.base, base_only[0], 45)})" if base_only else " added"
        span = change.head.span(head_only[0])
    else:
        detail = f"{text(change.base, base_only[0], width)} removed"
        span = change.head_anchor(change.base.logical[base_only[0]].start)
    base_line = change.base.logical[base_only[0]].start + 1 if base_only else None
    before = " ".join(change.base.source(base_only[0]).split()) if base_only else None
    after = " ".join(change.head.source(head_only[0]).split()) if head_only else None
    return span, detail, base_line, before, after


def paired_calls(change: PythonChange, predicate, category) -> list[tuple]:
    """Calls matching ``predicate`` in the touched code, base paired with head by ``category`` (a
    string, or a function of the call site) and enclosing function; computed once per change."""
    def key(site):
        return scope_key(change, site, category(site) if callable(category) else category)

    cache_key = f"paired_calls.{getattr(predicate, '__qualname__', id(predicate))}"
    return per_change(change, cache_key, lambda c: pair_calls_across_scopes(c, predicate, key))


def is_placeholder(value_change) -> bool:
    """``x = None``, ``groups = []`` added: a variable initialised, not a setting chosen."""
    return value_change.old is None and value_change.new is not None and \
        value_change.new.literal in (None, [], {}, (), "")


_RUNTIME_VALUE = re.compile(r"\.shape\b|\.size\(|\blen\(|\.numel\(")


def is_measured(value_change) -> bool:
    """``batch_size = x.shape[0]``: a size read off a tensor at run time, not a setting."""
    return any(v is not None and _RUNTIME_VALUE.search(v.code) for v in (value_change.old, value_change.new))


def in_class_only_on_one_side(change: PythonChange, site) -> bool:
    """Is the call inside a class that exists on its side only (a model class added or removed as a
    whole, or moved to another file)? Its layers take effect where the class is used, not here."""
    view = change.view(site.side)
    for ancestor in view.ancestors(site.index):
        if view.logical[ancestor].keyword == "class" and matching_def(change, site.side, ancestor) is None:
            return True
    return False
