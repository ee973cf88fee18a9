"""The one place false alarms are kept out: what counts as the same on both sides.

Values equal after evaluation or after reading a name through its definition, a variable
extracted or inlined, dtype spellings (``torch.bfloat16`` / ``'bf16'``), statements equal
up to formatting, comments, logging and consistent renames, a setting read through
another object."""
from __future__ import annotations

import ast
import re
from typing import Any, Iterable

import libcst as cst

from mldiff.analysis.module import ModuleView
from mldiff.analysis.values import NOT_LITERAL, Value, _literal_equal, dotted_name, rename_key
from mldiff.facts.context import PythonContext
from mldiff.facts.syntax import (_ast_key, _ast_tree, _parse_cached, _unparseable, meaning_key, same_vectorised,
                                 unit_source)


def resolve_literal(view, value: Value | None) -> Any:
    """The constant a value stands for: itself if literal, else a module constant, argparse
    default or config entry it names (when the file binds it exactly once to a literal)."""
    if value is None:
        return NOT_LITERAL
    if value.is_literal:
        return value.literal
    node = value.node
    name = None
    from mldiff.analysis.values import dotted_name
    if node is not None:
        name = dotted_name(node)
    if not name:
        return _evaluated(view, value)  # arithmetic: ``42 + seed_offset``
    if "(" in name or "[" in name:
        return NOT_LITERAL
    definitions = view.definitions(name)
    literals = [b.value.literal for _, b in definitions if b.value is not None and b.value.is_literal]
    if definitions and len(literals) == len(definitions) and all(_literal_equal(literals[0], x) for x in literals):
        return literals[0]  # bound once, or to the same constant on every branch
    return _evaluated(view, value)


_OPERATORS: dict[type, Any] = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
                               ast.Mult: lambda a, b: a * b, ast.FloorDiv: lambda a, b: a // b,
                               ast.Div: lambda a, b: a / b, ast.Mod: lambda a, b: a % b}


def _evaluated(view: ModuleView, value: Value) -> Any:
    """The number an arithmetic expression of constants the file defines evaluates to
    (``42 + seed_offset`` with ``seed_offset = 0`` on every branch: 42), else NOT_LITERAL."""
    try:
        tree = ast.parse(value.code, mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return NOT_LITERAL
    if not isinstance(tree, ast.BinOp):
        return NOT_LITERAL

    def number(node: ast.AST, depth: int = 0) -> Any:
        if depth > 8:
            raise ValueError
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, (ast.Name, ast.Attribute)):
            literal = _bound_constant(view, node)
            if isinstance(literal, (int, float)) and not isinstance(literal, bool):
                return literal
            raise ValueError
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](number(node.left, depth + 1), number(node.right, depth + 1))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -number(node.operand, depth + 1)
        raise ValueError

    try:
        return number(tree)
    except (ValueError, ArithmeticError, TypeError, OverflowError):
        return NOT_LITERAL


def _bound_constant(view: ModuleView, node: ast.AST) -> Any:
    """The constant a name is assigned on every branch; an option's default is no constant (a
    run can pass another value), so ``x * args.accum`` is not ``x`` for ``--accum`` 1."""
    name = ast.unparse(node)
    definitions = view.definitions(name)
    if any(b.kind not in ("assign", "annassign") for _, b in definitions):
        return NOT_LITERAL
    literals = [b.value.literal for _, b in definitions if b.value is not None and b.value.is_literal]
    if definitions and len(literals) == len(definitions) and all(_literal_equal(literals[0], x) for x in literals):
        return literals[0]
    return NOT_LITERAL


def same_after_resolving(ctx: PythonContext, old: Value | None, new: Value | None) -> bool:
    """``lr=LR`` -> ``lr=args.lr`` is no change when both name the same constant; two plain
    references we cannot resolve are one value respelled when they read one setting through
    another object (``args.lr`` -> ``cfg.lr``) or one name renamed (the old name gone, the new
    one new). Two variables both sides have (``T_max=warmup_steps`` -> ``T_max=decay_steps``)
    are two values."""
    if old is None or new is None:
        return False
    old_literal = resolve_literal(ctx.base, old)
    new_literal = resolve_literal(ctx.head, new)
    old_dtype, new_dtype = _dtype_name(ctx.base, old, old_literal), _dtype_name(ctx.head, new, new_literal)
    if old_dtype is not None and new_dtype is not None:
        return old_dtype == new_dtype
    if old_literal is not NOT_LITERAL and new_literal is not NOT_LITERAL:
        from mldiff.analysis.values import _literal_equal
        return _literal_equal(old_literal, new_literal)
    if _key_renamed(ctx, old, new):
        return True
    old_name, new_name = _reference(ctx.base, old), _reference(ctx.head, new)
    if old_name is not None and new_name is not None:
        if old_name[1] and new_name[1]:  # both name things of imported modules: torch.float16
            return old_name[0] == new_name[0]
        if old_literal is NOT_LITERAL or new_literal is NOT_LITERAL:
            return _one_reference(ctx, old_name[0], new_name[0]) or same_when_inlined(ctx, old, new)
    return same_when_inlined(ctx, old, new) or _read_elsewhere(ctx, old, new) or same_vectorised(old.code, new.code)


def _key_renamed(ctx: PythonContext, old: Value, new: Value) -> bool:
    """``cfg["ctx_len"]`` -> ``cfg["context_length"]`` with the old key gone from the whole head and
    the new one absent from the whole base: the setting was renamed, its value read the same."""
    before, after = _subscript_read(old), _subscript_read(new)
    if before is None or after is None or before[0] != after[0] or before[1] == after[1]:
        return False
    return not _mentions(ctx.head, before[1]) and not _mentions(ctx.base, after[1])


def _subscript_read(value: Value) -> tuple[str, str] | None:
    """(object, key) of a read such as ``config["lr"]``: a string key of a plain reference."""
    node = value.node
    if value.is_literal or not isinstance(node, cst.Subscript) or len(node.slice) != 1:
        return None
    index = node.slice[0].slice
    if not isinstance(index, cst.Index) or not isinstance(index.value, cst.SimpleString):
        return None
    root = dotted_name(node.value)
    key = index.value.evaluated_value
    if not root or "(" in root or not isinstance(key, str) or not key.isidentifier():
        return None
    return root, key


def _read_elsewhere(ctx: PythonContext, old: Value, new: Value) -> bool:
    """The same expression, each setting in it read through another object or as a constant
    before (``total // tokens`` -> ``args.total // tokens``): ``_equivalent`` over the two trees."""
    if old.is_literal or new.is_literal:
        return False
    try:
        before, after = ast.parse(old.code, mode="eval").body, ast.parse(new.code, mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return False
    return _equivalent(before, after, ctx.renames)


def _one_reference(ctx: PythonContext, old: str, new: str) -> bool:
    """Do two dotted names (base, head) read one value? The same after the change's renames or
    in the last component (a setting read through another object: ``args.lr``, ``self.lr``), or
    one name renamed: the old one is gone from the head and the new one absent from the base."""
    renamed = ".".join(ctx.renames.get(p, p) for p in old.split("."))
    if renamed == new or old.rsplit(".", 1)[-1] == new.rsplit(".", 1)[-1]:
        return True
    if "." in old and "." in new and old.split(".", 1)[0] != new.split(".", 1)[0]:
        return True  # read from other objects under other names: a refactor we cannot follow
    return not _mentions(ctx.head, old) and not _mentions(ctx.base, new)


def _mentions(view: ModuleView, name: str) -> bool:
    import re
    return re.search(r"(?<![\w.])" + re.escape(name) + r"\b", view.text) is not None


def same_when_inlined(ctx: PythonContext, old: Value, new: Value) -> bool:
    """``old`` and ``new`` read the same once the variables one side introduces are read
    through (a variable extracted or inlined by the change)."""
    return _inlined_key(ctx, "head", new) == rename_key(old.key, ctx.renames) \
        or _inlined_key(ctx, "base", old) == new.key


def _inlined_key(ctx: PythonContext, side: str, value: Value) -> str | None:
    """``value``'s key with each name that this side introduces (binds exactly once, the other side
    never) replaced by its definition: ``get_rank(dp_pg)`` with ``dp_pg = mesh.get_group(0)`` reads
    as ``get_rank(mesh.get_group(0))``, so extracting a variable is no change."""
    import ast
    if value.is_literal or not value.names or len(value.names) > 24:
        return None
    view, other_view = ctx.view(side), ctx.view("base" if side == "head" else "head")
    # A name this side introduces is bound by a touched statement here and by none of the other
    # side's touched statements (a binding in untouched code stands on both sides); visit_Name
    # then checks the whole files.
    here, there = ctx.bound_names(side), ctx.bound_names("base" if side == "head" else "head")

    def fresh(name: str) -> bool:
        return name in here and name not in there

    if not any(fresh(name) for name in value.names if "." not in name):
        return None
    try:
        tree = ast.parse(value.code, mode="eval")
    except (SyntaxError, ValueError):
        return None
    inlined = False

    class Inline(ast.NodeTransformer):
        depth = 0

        def visit_Name(self, node: ast.Name):
            nonlocal inlined
            if not fresh(node.id):
                return node
            definitions = view.definitions(node.id)
            if len(definitions) != 1 or definitions[0][1].value is None or other_view.definitions(node.id) \
                    or self.depth >= 3:
                return node
            try:
                replacement = ast.parse(definitions[0][1].value.code, mode="eval").body
            except (SyntaxError, ValueError):
                return node
            inlined = True
            self.depth += 1
            replacement = self.visit(replacement)  # `dataset1 = MNIST(..., transform=transform)`, and transform's
            self.depth -= 1
            return replacement

    body = Inline().visit(tree.body)
    return ast.dump(body, annotate_fields=False) if inlined else None


_DTYPES = {"float16": "float16", "half": "float16", "fp16": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16",
           "float32": "float32", "float": "float32", "fp32": "float32", "float64": "float64", "double": "float64"}


def _dtype_name(view, value: Value, literal: Any) -> str | None:
    """``torch.bfloat16``, ``'bfloat16'`` and ``'bf16'`` all name bfloat16."""
    if isinstance(literal, str):
        return _DTYPES.get(literal.lower())
    reference = _reference(view, value)
    if reference is not None and reference[0].startswith("torch."):
        return _DTYPES.get(reference[0][len("torch."):])
    return None


def _reference(view, value: Value) -> tuple[str, bool] | None:
    """(resolved dotted name, whether it names something of an imported module) for a
    plain reference such as ``args.lr`` or ``torch.float16``; None for other expressions."""
    from mldiff.analysis.values import dotted_name
    node = value.node
    if node is None or value.is_literal:  # None / True / False are values, not references
        return None
    name = dotted_name(node)
    if not name or "(" in name or "[" in name:
        return None
    root = name.split(".", 1)[0]
    return view.resolve(name), root in view.aliases


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


_PRINTER = re.compile(r"(?:^|_)print(?:_|\d|$)")


def is_logging_call(callee: str) -> bool:
    root = callee.split(".", 1)[0]
    method = callee.rsplit(".", 1)[-1]
    if callee in ("print", "pprint", "progress_bar") or method in ("print",):
        return True
    if "." not in callee and _PRINTER.search(callee):
        return True  # the project's own print helpers: print0, rank0_print, print_rank_0, master_print
    if root in _LOG_ROOTS or callee.rsplit(".", 1)[0] in _LOG_ROOTS:
        return True
    return method in _LOG_METHODS and method not in ("write", "flush", "update_meters") and "." in callee


def is_noise(view: ModuleView, index: int) -> bool:
    """A docstring, ``pass``, ``assert``, or a line that only logs or prints."""
    logical = view.logical[index]
    if logical.keyword or logical.is_header:
        return False
    if not logical.part and view.parsed_unit(index) is None:
        tree = _parse_cached(unit_source(view, index))
        if tree is not None:  # Python's parser, when libcst has not parsed the line yet
            return all(_is_noise_statement(statement) for statement in tree.body)
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


def _is_noise_statement(statement: ast.stmt) -> bool:
    if isinstance(statement, (ast.Pass, ast.Assert)):
        return True
    if not isinstance(statement, ast.Expr):
        return False
    value = statement.value
    if isinstance(value, ast.JoinedStr) or (isinstance(value, ast.Constant) and isinstance(value.value, str)):
        return True
    if isinstance(value, ast.Call):
        try:
            callee = ast.unparse(value.func)
        except (ValueError, RecursionError):
            return False
        return _is_dotted(value.func) and is_logging_call(callee)
    return False


def _is_dotted(node: ast.AST) -> bool:
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def statement_key(view: ModuleView, index: int, renames: dict[str, str] | None = None) -> str:
    """A logical line's meaning: its syntax tree without comments or layout, renamed to the head's names."""
    if _unparseable(view, index):
        return "error:" + " ".join(view.source(index).split())
    key = _ast_key(unit_source(view, index))
    return rename_key(key, renames) if renames else key


def meaning_of(view: ModuleView, index: int, renames: dict[str, str] | None = None) -> str:
    """``statement_key`` that also ignores documentation keywords, spellings of one tensor method
    and device moves (``facts.syntax.meaning_key``): what the statement diff compares."""
    if _unparseable(view, index):
        return "error:" + " ".join(view.source(index).split())
    key = meaning_key(unit_source(view, index))
    return rename_key(key, renames) if renames else key


def block_signature(view: ModuleView, indices: Iterable[int],
                    renames: dict[str, str] | None = None) -> list[tuple[int, str]]:
    """(index, key) of the meaningful lines among ``indices`` (noise left out), in order."""
    return [(index, statement_key(view, index, renames)) for index in indices if not is_noise(view, index)]


def differing_lines(ctx: PythonContext, base_indices: Iterable[int],
                    head_indices: Iterable[int]) -> tuple[list[int], list[int]]:
    """Base and head logical lines whose meaning has no counterpart on the other side
    (a multiset difference of statement keys, base renamed to head names)."""
    renames = ctx.renames
    base = block_signature(ctx.base, base_indices, renames)
    head = block_signature(ctx.head, head_indices)
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
        base_only, head_only = _drop_moved_references(ctx, base_only, head_only)
    return base_only, head_only


def same_statement(ctx: PythonContext, base_index: int, head_index: int) -> bool:
    """Are the two lines one statement, but for where a setting is read from
    (``device_batch_size`` -> ``args.device_batch_size``) or an output now kept (``loss, _ =``
    -> ``loss, pred =``)?"""
    base_tree, head_tree = _ast_tree(ctx.base, base_index), _ast_tree(ctx.head, head_index)
    if base_tree is None or head_tree is None:
        return False
    return _equivalent(base_tree, head_tree, ctx.renames) or _unpacked_further(base_tree, head_tree, ctx.renames)


def _unpacked_further(base: ast.Module, head: ast.Module, renames: dict[str, str]) -> bool:
    """``loss = f(x)`` -> ``loss, aux = f(x)``: the result now unpacked into more names, which
    only runs if what ``f`` returns changed with it; that change is where the meaning is."""
    if len(base.body) != 1 or len(head.body) != 1:
        return False
    old, new = base.body[0], head.body[0]
    if not (isinstance(old, ast.Assign) and isinstance(new, ast.Assign) and len(old.targets) == len(new.targets) == 1
            and isinstance(old.targets[0], ast.Name) and isinstance(new.targets[0], ast.Tuple)):
        return False
    name = renames.get(old.targets[0].id, old.targets[0].id)
    return any(isinstance(e, ast.Name) and e.id == name for e in new.targets[0].elts) and \
        _equivalent(old.value, new.value, renames)


def _drop_moved_references(ctx: PythonContext, base_only: list[int],
                           head_only: list[int]) -> tuple[list[int], list[int]]:
    """Leave out pairs of lines that differ only in where a setting is read from
    (``warmup_iters`` -> ``cfg.optim.warmup_iters``, ``args.lr`` -> ``config.lr``)."""
    head_left = list(head_only)
    base_left = []
    for base_index in base_only:
        base_tree = _ast_tree(ctx.base, base_index)
        match = next((h for h in head_left if base_tree is not None
                      and _equivalent(base_tree, _ast_tree(ctx.head, h), ctx.renames)), None)
        if match is None:
            base_left.append(base_index)
        else:
            head_left.remove(match)
    return base_left, head_left


def _ast_reference(node: ast.AST) -> list[str] | None:
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
    if isinstance(a, ast.Name) and isinstance(b, ast.Name) and isinstance(a.ctx, ast.Store) \
            and isinstance(b.ctx, ast.Store) and "_" in (a.id, b.id):
        return True  # ``loss, _ = model(x)`` -> ``loss, pred = model(x)``: an output now kept
    if not called:
        ref_a, ref_b = _ast_reference(a), _ast_reference(b)
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
