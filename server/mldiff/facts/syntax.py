"""Python's ``ast`` over a logical line, for walking and comparing statements fast.

libcst parses (positions, facts); ``ast`` is many times faster to walk and to dump as a
formatting-free key, so comparisons of meaning use it on the same text libcst parsed."""
from __future__ import annotations

import ast
import copy
from functools import lru_cache

import libcst as cst

from mldiff.analysis.module import ModuleView
from mldiff.findings import Span
from mldiff.knowledge.methods import MODE_SWITCHES


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


def _ast_tree(view: ModuleView, index: int) -> ast.Module | None:
    if _unparseable(view, index):
        return None
    return _parse_cached(unit_source(view, index))


def _unparseable(view: ModuleView, index: int) -> bool:
    """Does logical line ``index`` fail to parse? Python's own parser answers first (many times
    faster than libcst, which the line may never need); libcst, which the rules read, decides
    when the two might disagree."""
    unit = view.parsed_unit(index)
    if unit is not None:
        return unit.tree is None
    if view.logical[index].part or _parse_cached(unit_source(view, index)) is None:
        return view.unit(index).tree is None
    return False




# -- the standard library's ast, for walking big statements fast --------------------------------------------
def ast_statement(view: ModuleView, index: int) -> ast.AST | None:
    """The logical line as an ``ast`` tree (cached by text). Walking ``ast`` is many times faster
    than a libcst visitor, which matters on a 2,000-line config dict a keystroke touches."""
    return _ast_tree(view, index)


@lru_cache(maxsize=4096)
def _parse_cached(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return None


def ast_span(view: ModuleView, index: int, node: ast.expr | ast.stmt) -> Span:
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


def kept_call(view: ModuleView, index: int) -> tuple[cst.Call, bool] | None:
    """(the call, whether its result is kept) when logical line ``index`` is only a call
    (``warmup.LinearWarmup(opt)``: the object is built and dropped) or binds one (``sched =
    warmup.LinearWarmup(opt)``); None for any other statement."""
    statement = view.unit(index).statement
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if isinstance(small, (cst.Expr, cst.Assign, cst.AnnAssign)) and isinstance(small.value, cst.Call):
        return small.value, not isinstance(small, cst.Expr)
    return None


def ancestors_of(root: cst.CSTNode | None, node: cst.CSTNode) -> list[cst.CSTNode]:
    """Nodes enclosing ``node`` inside ``root``, innermost first (empty if not found)."""
    if root is None:
        return []
    finder = _ParentFinder(node)
    root.visit(finder)
    return list(reversed(finder.path or []))


# Keywords that document a call, not configure it (argparse help, metavar).
_DOCUMENTING = frozenset({"help", "metavar", "description", "epilog", "usage", "doc", "docstring"})
# Methods that are other spellings of the same operation, or move a tensor without changing
# what is computed (device placement is not training semantics: see compile_distributed).
_SPELLINGS = {"reshape": "view", "contiguous": "", "cuda": "", "cpu": "", "to": ""}


@lru_cache(maxsize=32768)
def meaning_key(source: str) -> str:
    """``_ast_key`` with what does not change training taken out as well: documenting keywords
    (``help=``), spellings of one tensor method (``view`` / ``reshape``) or mode switch
    (``train(False)`` / ``eval()``), device moves
    (``.cuda()``, ``.to(device)``; a ``.to`` that changes the dtype or is non-blocking stays)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return " ".join(source.split())
    tree = _Meaning().visit(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            node.annotation = None
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.returns = None
    return ast.dump(tree, annotate_fields=False)


class _Meaning(ast.NodeTransformer):
    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        vectorised = _vectorised(node)
        if vectorised is not None:
            return vectorised
        node.keywords = [k for k in node.keywords if k.arg not in _DOCUMENTING]
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in MODE_SWITCHES and len(node.args) <= 1 \
                and not node.keywords:
            off = bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value is False
            mode = MODE_SWITCHES[func.attr][1 if off else 0]
            if mode is not None:  # model.train(False), policy.set_training_mode(False): model.eval()
                func.attr, node.args = mode, []
            return node
        if isinstance(func, ast.Attribute) and func.attr in _SPELLINGS:
            spelled = _SPELLINGS[func.attr]
            if spelled:
                func.attr = spelled
                return node
            if func.attr == "to" and (any(k.arg in ("dtype", "non_blocking", "memory_format") for k in node.keywords)
                                      or len(node.args) > 1 or any(_is_dtype(a) for a in node.args)):
                return node
            return func.value  # a device move: the tensor itself
        return node


# elementwise functions NumPy and ``math`` both have: ``math.cos(pi * i / n)`` per element is
# ``np.cos(np.pi * x / n)`` over the array
_ELEMENTWISE = frozenset({"cos", "sin", "tan", "exp", "log", "log2", "log10", "sqrt", "tanh", "floor", "ceil",
                          "fabs", "pi", "e"})
_ARRAY_MODULES = ("np", "numpy")


def _vectorised(node: ast.Call) -> ast.AST | None:
    """``np.array([f(i) for i in x])`` -> ``f(x)`` when ``f`` is arithmetic and elementwise
    functions of ``i`` alone (a loop over an array vectorised with NumPy computes the same
    values), with ``math.cos`` read as ``np.cos``; None for any other call."""
    func = node.func
    if not (isinstance(func, ast.Attribute) and func.attr in ("array", "asarray") and isinstance(func.value, ast.Name)
            and func.value.id in _ARRAY_MODULES and len(node.args) == 1 and not node.keywords):
        return None
    comp = node.args[0]
    if not isinstance(comp, ast.ListComp) or len(comp.generators) != 1:
        return None
    loop = comp.generators[0]
    if loop.ifs or loop.is_async or not isinstance(loop.target, ast.Name):
        return None
    variable = loop.target.id
    if not _elementwise(comp.elt, variable) or variable not in {n.id for n in ast.walk(comp.elt) if isinstance(n, ast.Name)}:
        return None

    class Substitute(ast.NodeTransformer):
        def visit_Name(self, name: ast.Name) -> ast.AST:
            return loop.iter if name.id == variable else name

        def visit_Attribute(self, attribute: ast.Attribute) -> ast.AST:
            if isinstance(attribute.value, ast.Name) and attribute.value.id == "math":
                return ast.Attribute(value=ast.Name(id="np", ctx=ast.Load()), attr=attribute.attr, ctx=ast.Load())
            return self.generic_visit(attribute)

    substituted: ast.AST = Substitute().visit(comp.elt)
    return substituted


class _Vectorise(ast.NodeTransformer):
    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        return _vectorised(node) or node


def same_vectorised(old: str, new: str) -> bool:
    """Are two expressions one computation once loops over arrays are read vectorised (a
    schedule table built per element in one and with NumPy in the other)?"""
    if "array(" not in old and "array(" not in new:
        return False
    old_tree, new_tree = _parse_cached(old.strip()), _parse_cached(new.strip())
    if old_tree is None or new_tree is None:
        return False
    a, b = (ast.dump(_Vectorise().visit(copy.deepcopy(tree)), annotate_fields=False) for tree in (old_tree, new_tree))
    return a == b


def _elementwise(node: ast.AST, variable: str) -> bool:
    """Arithmetic on constants, names and elementwise functions, the loop ``variable`` only bare
    (``len(iters)`` of another name is a constant of the loop)."""
    if isinstance(node, ast.BinOp):
        return not isinstance(node.op, ast.MatMult) and _elementwise(node.left, variable) and \
            _elementwise(node.right, variable)
    if isinstance(node, ast.UnaryOp):
        return _elementwise(node.operand, variable)
    if isinstance(node, (ast.Constant, ast.Name)):
        return True
    if isinstance(node, ast.Attribute):  # ``math.pi``, ``self.base``: not of the loop variable
        return isinstance(node.value, ast.Name) and node.value.id != variable and (
            node.value.id not in ("math", *_ARRAY_MODULES) or node.attr in _ELEMENTWISE)
    if isinstance(node, ast.Call) and not node.keywords:
        func = node.func
        if isinstance(func, ast.Name) and func.id == "len":
            return len(node.args) == 1 and isinstance(node.args[0], ast.Name) and node.args[0].id != variable
        return isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
            func.value.id in ("math", *_ARRAY_MODULES) and func.attr in _ELEMENTWISE and \
            all(_elementwise(arg, variable) for arg in node.args)
    return False


def _is_dtype(node: ast.AST) -> bool:
    text = ast.unparse(node)
    return text.rsplit(".", 1)[-1] in ("float16", "half", "bfloat16", "float32", "float", "float64", "double",
                                       "int8", "uint8", "long", "int64")
