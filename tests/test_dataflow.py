"""The helpers structural rules share: spans of ast nodes, backward slices, block comparison."""
from __future__ import annotations

import ast

from mldiff.facts.context import python_context
from mldiff.analysis.change import PythonChange
from mldiff.analysis.module import ModuleView
from mldiff.facts.syntax import ast_span, ast_statement
from mldiff.facts.flows import backward_slice
from mldiff.facts.equivalence import differing_lines


def test_ast_span_counts_code_points_and_indentation():
    view = ModuleView("def f(x):\n    y = 'é' + x / 255\n")
    index = 1
    tree = ast_statement(view, index)
    division = next(n for n in ast.walk(tree) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div))
    span = ast_span(view, index, division)
    assert (span.line, span.column, span.end_column) == (2, 15, 22)
    assert view.lines[1][span.column - 1:span.end_column - 1] == "x / 255"


def test_ast_span_on_a_clause_header():
    view = ModuleView("if a:\n    pass\nelif x / 255 > 1:\n    pass\n")
    index = 2
    division = next(n for n in ast.walk(ast_statement(view, index)) if isinstance(n, ast.BinOp))
    span = ast_span(view, index, division)
    assert (span.line, span.column) == (3, 6)


def test_backward_slice_follows_values_not_namespaces():
    text = ("def configure(model, cfg):\n"
            "    decay = set()\n"
            "    for n, p in model.named_parameters():\n"
            "        if p.dim() >= 2:\n"
            "            decay.add(n)\n"
            "    groups = [{'params': sorted(decay), 'weight_decay': cfg.wd}]\n"
            "    return AdamW(groups)\n")
    view = ModuleView(text)
    call_index = 6
    value = view.facts(call_index).calls[0].args[0]
    lines = {view.logical[i].start + 1 for i in backward_slice(view, call_index, value)}
    assert lines == {2, 3, 4, 5, 6}


def test_differing_lines_ignore_comments_and_renames():
    base = "def get_lr(iter):\n    if iter < warm:\n        return lr * iter / warm\n    return lr\n"
    head = "def get_lr(it):\n    # warmup\n    if it < warm:\n        return lr * it / warm\n    return lr\n"
    change = python_context("train.py", base, head)
    assert differing_lines(change, change.base.block(0), change.head.block(0)) == ([], [])


def test_differing_lines_ignore_logging_but_not_formulas():
    base = "def get_lr(it):\n    return lr * it / warm\n"
    head = "def get_lr(it):\n    print(it)\n    return lr * (it + 1) / warm\n"
    change = python_context("train.py", base, head)
    base_only, head_only = differing_lines(change, change.base.block(0), change.head.block(0))
    assert [change.base.logical[i].start + 1 for i in base_only] == [2]
    assert [change.head.logical[i].start + 1 for i in head_only] == [3]
