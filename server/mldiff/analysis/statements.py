"""Parse one logical line with libcst and read its facts: calls, bindings, imports.

A logical line is parsed on its own (dedented; clause headers such as ``else:``
wrapped so they parse alone), and the result is cached by its text, so a statement
is parsed once however often the buffer around it changes or moves. Positions are
computed only when a rule anchors a finding on a node.
"""
from __future__ import annotations

import re
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterator, Mapping

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from mldiff.analysis.walk import walk
from mldiff.analysis.values import Value, dotted_name, evaluate, make_value, subscript_name

# How a logical line is made to parse alone: text before it, and after it.
_WRAPPERS = {
    "elif": ("if 1: pass\n", ""),
    "else": ("if 1: pass\n", ""),
    "except": ("try: pass\n", ""),
    "finally": ("try: pass\n", ""),
}
_HEADER_BODY = "\n pass\n"
_DECORATED = "\ndef _mldiff_decorated(): pass\n"


@dataclass(frozen=True)
class CallFact:
    """One call: ``callee`` as written (``optim.Adam``, ``scaler.scale(...).step``)."""

    callee: str
    method: str                    # last component: "Adam", "step"
    receiver: str | None           # "scaler.scale(...)" for scaler.scale(loss).step(); None for plain names
    args: tuple[Value, ...]
    kwargs: tuple[tuple[str, Value], ...]
    star_args: tuple[Value, ...]
    star_kwargs: tuple[Value, ...]
    node: cst.Call = field(compare=False, repr=False, hash=False)
    in_lambda_or_def: bool = False  # defined for later, not run here

    def kwarg(self, name: str) -> Value | None:
        for key, value in self.kwargs:
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class Binding:
    """A name, attribute, subscript or dict key given a value: ``lr = 1e-3``,
    ``config['lr'] = 1e-3``, ``dict(lr=1e-3)`` assigned to ``config``,
    ``parser.add_argument('--lr', default=1e-3)`` (target ``args.lr``)."""

    target: str            # "lr", "self.lr", "config.lr", "args.lr"
    value: Value | None    # None when the value is not known (for-loop targets, unpacking)
    kind: str              # assign | annassign | augassign | dict_key | argparse | param
    node: cst.CSTNode = field(compare=False, repr=False, hash=False)

    @property
    def name(self) -> str:
        return self.target.rsplit(".", 1)[-1]


@dataclass
class Facts:
    """What one logical line says."""

    calls: list[CallFact] = field(default_factory=list)
    bindings: list[Binding] = field(default_factory=list)
    imports: list[tuple[str, str]] = field(default_factory=list)  # (local name, qualified name)
    star_imports: list[str] = field(default_factory=list)
    reads: frozenset[str] = frozenset()     # dotted names read anywhere in the line
    key: str = ""                            # formatting-insensitive key of the whole line
    def_name: str | None = None              # for def / class headers
    def_params: tuple[str, ...] = ()
    bases: tuple[str, ...] = ()              # class bases, as written
    with_items: tuple[Value, ...] = ()       # for `with` headers: the context managers
    loop_target: str | None = None           # for `for` headers
    loop_iter: Value | None = None
    condition: Value | None = None           # if / elif / while test
    is_string_only: bool = False             # docstring or bare string
    returns: tuple[Value, ...] = ()


class Unit:
    """One logical line, parsed (or not: ``error`` says why)."""

    __slots__ = ("text", "keyword", "part", "tree", "statement", "offset", "error", "_facts", "_positions",
                 "__weakref__")

    def __init__(self, text: str, keyword: str, is_header: bool, part: str = "", opener: str = "",
                 closer: str = "") -> None:
        self.text = text
        self.keyword = keyword
        self.part = part
        self.tree: cst.Module | None = None
        self.statement: cst.CSTNode | None = None
        self.error: tuple[str, int] | None = None  # (message, 0-based line within the logical line)
        self._facts: Facts | None = None
        self._positions: Mapping[cst.CSTNode, CodeRange] | None = None
        self.offset = 0
        before, after = _WRAPPERS.get(keyword, ("", ""))
        if keyword == "@":
            after = _DECORATED
        elif keyword == "try" and is_header:
            after = _HEADER_BODY + "finally:\n pass\n"
        elif keyword == "match" and is_header:
            after = "\n case _:\n  pass\n"
        elif is_header:
            after = _HEADER_BODY
        if part == "tail":
            return  # only closing brackets: nothing to read
        if part == "head":
            after = "\n" + closer  # on a line of its own: the head may end with a comment
        elif part == "element":
            before = (PART_CALL + "(" if opener == "(" else opener) + "\n"
            after = "\n" + {"(": ")", "[": "]", "{": "}"}[opener]
        if keyword == "case":
            self.error = ("match/case is not analysed", 0)
            return
        self.offset = before.count("\n")
        source = before + text
        if part:
            source = source.rstrip("\r\n") + after + "\n"
        else:
            if not source.endswith("\n"):
                source += "\n"
            source += after.lstrip("\n") if after.startswith("\n") else after
        try:
            self.tree = cst.parse_module(source)
        except cst.ParserSyntaxError as exc:
            message = str(exc.message).strip().splitlines()[0] if exc.message else "syntax error"
            self.error = (message, max(0, exc.raw_line - 1 - self.offset))
            return
        except Exception as exc:  # libcst raises a few other types on odd input
            self.error = (f"does not parse: {exc.__class__.__name__}", 0)
            return
        body = self.tree.body
        if not body:  # libcst drops a leading U+FEFF: a line of only that holds no statement
            self.error = ("invalid character U+FEFF" if "\ufeff" in text else "no statement", 0)
            return
        statement: cst.CSTNode | None = body[-1] if before and not part else body[0]
        if isinstance(statement, cst.If) and keyword in ("elif", "else"):
            statement = statement.orelse
        elif isinstance(statement, cst.Try) and keyword in ("except", "finally"):
            statement = statement.handlers[0] if keyword == "except" else statement.finalbody
        elif keyword == "@" and isinstance(statement, cst.FunctionDef):
            statement = statement.decorators[0]
        self.statement = statement

    @property
    def facts(self) -> Facts:
        if self._facts is None:
            self._facts = _extract(self) if self.statement is not None else Facts()
        return self._facts

    def position(self, node: cst.CSTNode) -> tuple[int, int, int, int] | None:
        """(line, column, end_line, end_column) of ``node`` within the logical line:
        0-based lines, 0-based code-point columns of the dedented text."""
        if self.tree is None:
            return None
        if self._positions is None:
            wrapper = MetadataWrapper(self.tree, unsafe_skip_copy=True)
            self._positions = wrapper.resolve(PositionProvider)
        code_range: CodeRange | None = self._positions.get(node)
        if code_range is None:
            return None
        return (code_range.start.line - 1 - self.offset, code_range.start.column,
                code_range.end.line - 1 - self.offset, code_range.end.column)


# Parsed statements are shared by every view that holds the same text (an edit re-uses
# the units of all unchanged lines): the live ones through a weak map, the most recent
# few strongly, so that the units of text no editor or view holds any more are freed
# and a long editing session does not grow memory.
_LIVE: "weakref.WeakValueDictionary[tuple, Unit]" = weakref.WeakValueDictionary()
_RECENT: OrderedDict[tuple, Unit] = OrderedDict()
_RECENT_LIMIT = 256
PART = "<part>"          # binding prefix for entries of a split container, see ModuleView.facts
PART_CALL = "_mldiff_part"  # the call that wraps a split call's arguments so they parse alone


def parse_unit(text: str, keyword: str, is_header: bool, part: str = "", opener: str = "",
               closer: str = "") -> Unit:
    """The parsed logical line, shared with any live view that parsed this exact text."""
    key = (text, keyword, is_header, part, opener, closer)
    unit = _LIVE.get(key)
    if unit is None:
        unit = Unit(text, keyword, is_header, part, opener, closer)
        _LIVE[key] = unit
    _RECENT[key] = unit
    _RECENT.move_to_end(key)
    if len(_RECENT) > _RECENT_LIMIT:
        _RECENT.popitem(last=False)
    return unit


def clear_cache() -> None:
    _RECENT.clear()
    _LIVE.clear()


# ---------------------------------------------------------------------------
# fact extraction


def _extract(unit: Unit) -> Facts:
    statement = unit.statement
    facts = Facts()
    collector = _Collector(facts)
    assert statement is not None
    if unit.part == "element" and isinstance(statement, cst.SimpleStatementLine):
        container = statement.body[0].value if isinstance(statement.body[0], cst.Expr) else None
        if container is not None:
            _bind_dict_entries(PART, container, facts)
            if isinstance(container, cst.Call):
                for arg in container.args:
                    if arg.keyword is not None and not arg.star:
                        facts.bindings.append(Binding(f"{PART}.{arg.keyword.value}", make_value(arg.value),
                                                      "dict_key", arg.value))
    elif isinstance(statement, cst.SimpleStatementLine):
        for small in statement.body:
            _small_statement(small, facts)
        if len(statement.body) == 1 and isinstance(statement.body[0], cst.Expr) and isinstance(
                statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
            facts.is_string_only = True
    elif isinstance(statement, cst.FunctionDef):
        facts.def_name = statement.name.value
        facts.def_params = tuple(p.name.value for p in _params(statement.params))
        for param in _params(statement.params):
            if param.default is not None:
                facts.bindings.append(Binding(param.name.value, make_value(param.default), "param", param))
        for decorator in statement.decorators:
            collector.walk(decorator)
        collector.walk(statement.params)
        _visit_inline_body(statement, collector, facts)
    elif isinstance(statement, cst.ClassDef):
        facts.def_name = statement.name.value
        facts.bases = tuple(filter(None, (dotted_name(arg.value) for arg in statement.bases)))
        for arg in statement.bases:
            collector.walk(arg)
        _visit_inline_body(statement, collector, facts)
    elif isinstance(statement, (cst.With,)):
        facts.with_items = tuple(make_value(item.item) for item in statement.items)
        for item in statement.items:
            collector.walk(item)
        _visit_inline_body(statement, collector, facts)
    elif isinstance(statement, cst.For):
        facts.loop_target = dotted_name(statement.target) or _code(statement.target)
        facts.loop_iter = make_value(statement.iter)
        collector.walk(statement.target)
        collector.walk(statement.iter)
        _visit_inline_body(statement, collector, facts)
    elif isinstance(statement, (cst.If, cst.While)):
        facts.condition = make_value(statement.test)
        collector.walk(statement.test)
        _visit_inline_body(statement, collector, facts)
    elif isinstance(statement, cst.ExceptHandler):
        if statement.type is not None:
            collector.walk(statement.type)
        _visit_inline_body(statement, collector, facts)
    elif isinstance(statement, cst.Decorator):
        collector.walk(statement)
    elif isinstance(statement, (cst.Else, cst.Finally, cst.Try)):
        _visit_inline_body(statement, collector, facts)
    else:
        collector.walk(statement)
    if isinstance(statement, cst.SimpleStatementLine):
        collector.walk(statement)
    if unit.part == "element":
        facts.calls = [call for call in facts.calls if call.callee != PART_CALL]
    facts.reads = frozenset(collector.reads)
    facts.key = _line_key(unit)
    return facts


def _visit_inline_body(statement: cst.CSTNode, collector: _Collector, facts: Facts) -> None:
    """One-liners such as ``if x: y = 1`` carry their body on the same logical line."""
    body = getattr(statement, "body", None)
    if isinstance(body, cst.SimpleStatementSuite):
        for small in body.body:
            _small_statement(small, facts)
        collector.walk(body)


def _params(params: cst.Parameters) -> Iterator[cst.Param]:
    yield from params.posonly_params
    yield from params.params
    yield from params.kwonly_params


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _line_key(unit: Unit) -> str:
    from mldiff.analysis.values import canonical
    text = unit.text.strip()
    if unit.keyword and unit.keyword != "@" and text.endswith(":"):
        return unit.keyword + ":" + " ".join(text.split())
    return canonical(text) if not unit.keyword else " ".join(text.split())


def _target_names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Subscript) and len(target.slice) == 1:
        base = dotted_name(target.value)
        index = target.slice[0].slice
        if base and isinstance(index, cst.Index):
            key = evaluate(index.value)
            if isinstance(key, str):
                return [f"{base}.{key}"]
    name = dotted_name(target)
    if name is not None:
        return [name]
    if isinstance(target, (cst.Tuple, cst.List)):
        out = []
        for element in target.elements:
            out.extend(_target_names(element.value))
        return out
    return []


def _small_statement(small: cst.BaseSmallStatement, facts: Facts) -> None:
    if isinstance(small, cst.Assign):
        for assign_target in small.targets:
            _bind(assign_target.target, small.value, "assign", facts)
    elif isinstance(small, cst.AnnAssign):
        if small.value is not None:
            _bind(small.target, small.value, "annassign", facts)
        else:
            for name in _target_names(small.target):
                facts.bindings.append(Binding(name, None, "annassign", small))
    elif isinstance(small, cst.AugAssign):
        for name in _target_names(small.target):
            facts.bindings.append(Binding(name, make_value(small.value), "augassign", small))
    elif isinstance(small, cst.Import):
        for alias in small.names:
            full = dotted_name(alias.name) or ""
            if alias.asname is not None:
                local = dotted_name(alias.asname.name) or full
                facts.imports.append((local, full))
            else:
                root = full.split(".", 1)[0]
                facts.imports.append((root, root))
    elif isinstance(small, cst.ImportFrom):
        module = dotted_name(small.module) if small.module is not None else ""
        dots = "." * len(small.relative)
        base = dots + (module or "")
        if isinstance(small.names, cst.ImportStar):
            facts.star_imports.append(base)
        else:
            for alias in small.names:
                name = dotted_name(alias.name) or ""
                local = (dotted_name(alias.asname.name) or "") if alias.asname is not None else name
                facts.imports.append((local or name, f"{base}.{name}" if base else name))
    elif isinstance(small, cst.Return) and small.value is not None:
        facts.returns = (make_value(small.value),)


def _bind(target: cst.BaseExpression, value: cst.BaseExpression, kind: str, facts: Facts) -> None:
    names = _target_names(target)
    if isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, (cst.Tuple, cst.List)) \
            and len(target.elements) == len(value.elements):
        for element, element_value in zip(target.elements, value.elements):
            _bind(element.value, element_value.value, kind, facts)
        return
    if len(names) != 1:
        for name in names:
            facts.bindings.append(Binding(name, None, kind, target))
        return
    name = names[0]
    facts.bindings.append(Binding(name, make_value(value), kind, value))
    _bind_dict_entries(name, value, facts)


# the entry that names an element of a list of configs (``configs = [dict(name="tiny", ...), ...]``)
_ENTRY_NAMES = ("name", "model_name", "id", "key")


def _bind_dict_entries(prefix: str, value: cst.BaseExpression, facts: Facts) -> None:
    """``config = {'lr': 1e-3}`` and ``config = dict(lr=1e-3)`` bind ``config.lr``; a list of
    configs that each carry a name (``configs = [dict(name="tiny", n_layer=2)]``) binds
    ``configs.tiny`` and ``configs.tiny.n_layer``: an element keeps its identity when others are
    inserted or removed around it."""
    if isinstance(value, (cst.List, cst.Tuple)):
        for item in value.elements:
            if isinstance(item, cst.StarredElement):
                continue
            name = _entry_name(item.value)
            if name is not None:
                facts.bindings.append(Binding(f"{prefix}.{name}", make_value(item.value), "dict_key", item.value))
                _bind_dict_entries(f"{prefix}.{name}", item.value, facts)
        return
    for key, entry in _mapping_entries(value):
        if isinstance(key, str) and key.isidentifier():
            facts.bindings.append(Binding(f"{prefix}.{key}", make_value(entry), "dict_key", entry))
            _bind_dict_entries(f"{prefix}.{key}", entry, facts)


def _mapping_entries(value: cst.BaseExpression) -> list[tuple[object, cst.BaseExpression]]:
    """(key, value) of a dict literal (keys evaluated) or of ``dict(...)`` / ``OrderedDict(...)``
    keywords; nothing for any other expression."""
    if isinstance(value, cst.Dict):
        return [(evaluate(e.key), e.value) for e in value.elements if isinstance(e, cst.DictElement)]
    if isinstance(value, cst.Call) and dotted_name(value.func) in ("dict", "OrderedDict", "collections.OrderedDict"):
        return [(a.keyword.value, a.value) for a in value.args if a.keyword is not None and not a.star]
    return []


def _entry_name(value: cst.BaseExpression) -> str | None:
    """The name a config in a list goes by (its ``name`` entry, as an identifier), or None."""
    for key, entry in _mapping_entries(value):
        if key in _ENTRY_NAMES:
            name = evaluate(entry)
            if isinstance(name, str) and name:
                return re.sub(r"\W", "_", name)
    return None


class _Collector:
    """Calls (in source order, outer before inner) and the names a line reads."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.reads: set[str] = set()
        self._lambdas: list[cst.Lambda] = []  # calls inside a lambda are defined, not run

    def walk(self, node: cst.CSTNode) -> None:
        walk(node, self._enter)

    def _enter(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Call):
            self._call(node)
        elif isinstance(node, cst.Name):
            self.reads.add(node.value)
        elif isinstance(node, cst.Attribute):
            name = dotted_name(node)
            if name and "(" not in name and "[" not in name:
                self.reads.add(name)
                self.reads.add(name.split(".", 1)[0])
                return False
        elif isinstance(node, cst.Subscript):
            name = subscript_name(node)
            if name:
                self.reads.add(name)
        elif isinstance(node, cst.Lambda):
            self._lambdas.append(node)
            inner = _Collector(self.facts)
            inner._lambdas = [node]
            walk(node.body, inner._enter)
            self.reads |= inner.reads
            return False
        return True

    def _call(self, node: cst.Call) -> None:
        callee = dotted_name(node.func)
        if callee is None:  # a method of an expression: `(loss / accumulation).backward()`
            callee = "(...)." + node.func.attr.value if isinstance(node.func, cst.Attribute) else "(...)"
        method = callee.rsplit(".", 1)[-1]
        receiver = callee.rsplit(".", 1)[0] if "." in callee else None
        args, kwargs, star_args, star_kwargs = [], [], [], []
        for arg in node.args:
            value = make_value(arg.value)
            if arg.star == "*":
                star_args.append(value)
            elif arg.star == "**":
                star_kwargs.append(value)
            elif arg.keyword is not None:
                kwargs.append((arg.keyword.value, value))
            else:
                args.append(value)
        self.facts.calls.append(CallFact(callee, method, receiver, tuple(args), tuple(kwargs),
                                         tuple(star_args), tuple(star_kwargs), node, bool(self._lambdas)))
        if method == "add_argument":
            _argparse_binding(node, kwargs, args, self.facts)


def _argparse_binding(node: cst.Call, kwargs: list[tuple[str, Value]], args: list[Value], facts: Facts) -> None:
    """``parser.add_argument('--lr', default=0.1)`` binds ``args.lr`` to 0.1."""
    options = [a.literal for a in args if isinstance(a.literal, str)]
    if not options:
        return
    keywords = dict(kwargs)
    dest = keywords.get("dest")
    if dest is not None and isinstance(dest.literal, str):
        name = dest.literal
    else:
        long_options = [o for o in options if o.startswith("--")]
        chosen = long_options[0] if long_options else options[0]
        name = chosen.lstrip("-").replace("-", "_")
    if not name.isidentifier():
        return
    default = keywords.get("default")
    if default is None:
        action = keywords.get("action")
        if action is not None and action.literal in ("store_true", "store_false"):
            code = "False" if action.literal == "store_true" else "True"
            default = Value(code=code, key=code, literal=(code == "True"), names=frozenset(), node=None)
    facts.bindings.append(Binding(f"args.{name}", default, "argparse", node))
