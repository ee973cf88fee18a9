"""What a ``setup.py`` pins: the requirements of its ``setup(...)`` call.

``install_requires``, ``setup_requires``, ``tests_require`` and ``extras_require`` (a dict of
lists) are read from the literal lists and dicts of the call, or from module-level names bound
to them (``install_requires=REQUIRED``); each string is a PEP 508 requirement, read like a line
of a requirements file. A file that does not parse, or builds its lists at run time, pins
nothing mldiff can see.
"""
from __future__ import annotations

import ast

from mldiff.analysis.environment import Environment
from mldiff.analysis.requirements import make_pin
from mldiff.findings import Span

_LISTS = ("install_requires", "setup_requires", "tests_require")


def setup_environment(text: str) -> Environment:
    env = Environment()
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return env
    lines = text.splitlines()
    names = {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
             for target in node.targets if isinstance(target, ast.Name)}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _callee(node.func) in ("setup", "setuptools.setup")):
            continue
        for keyword in node.keywords:
            value = names.get(keyword.value.id, keyword.value) if isinstance(keyword.value, ast.Name) else keyword.value
            if keyword.arg in _LISTS:
                _pins(value, keyword.arg, lines, env)
            elif keyword.arg == "extras_require" and isinstance(value, ast.Dict):
                for key, items in zip(value.keys, value.values):
                    group = key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else "extras"
                    _pins(names.get(items.id, items) if isinstance(items, ast.Name) else items,
                          f"extras_require.{group}", lines, env)
    return env


def _callee(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return ""


def _pins(value: ast.AST, group: str, lines: list[str], env: Environment) -> None:
    if not isinstance(value, (ast.List, ast.Tuple)):
        return
    for element in value.elts:
        if isinstance(element, ast.Constant) and isinstance(element.value, str):
            pin = make_pin(element.value, _span(element, lines), group)
            if pin is not None:
                env.pins.append(pin)


def _span(node: ast.expr | ast.stmt, lines: list[str]) -> Span:
    """The string's span, 1-based, columns in code points (ast counts UTF-8 bytes)."""
    line = node.lineno
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    start = len(text.encode("utf-8")[:node.col_offset].decode("utf-8", errors="ignore"))
    end_line = node.end_lineno or line
    end_text = lines[end_line - 1] if 0 < end_line <= len(lines) else ""
    end = len(end_text.encode("utf-8")[:node.end_col_offset or 0].decode("utf-8", errors="ignore"))
    return Span(line, start + 1, end_line, end + 1)
