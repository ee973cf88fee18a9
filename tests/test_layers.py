"""The package's layers import downward only, and no modules import each other in a circle.

knowledge (what APIs mean) <- analysis (what each side's text says) <- facts (what the
change means) <- rules (judgements) <- engine <- the front ends (CLI, language server,
history, validation, formats). The shared vocabulary at the bottom (findings, config,
errors, hunks, ...) imports none of the layers. Imports inside functions count too: a
lazy import that reaches up is still a dependency upward.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "server" / "mldiff"

# The bottom: plain data and utilities every layer may use.
SHARED = {"mldiff", "mldiff.errors", "mldiff.families", "mldiff.findings", "mldiff.textdecode", "mldiff.hunks",
          "mldiff.config", "mldiff.suppression"}
LAYERS = ["knowledge", "analysis", "facts", "rules", "engine"]
# What each layer may import besides SHARED and itself.
ALLOWED = {
    "shared": set(),
    "knowledge": set(),
    "analysis": {"knowledge"},
    "facts": {"knowledge", "analysis"},
    "rules": {"knowledge", "analysis", "facts"},
    "engine": {"knowledge", "analysis", "facts", "rules"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    if module in SHARED:
        return "shared"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return "front"


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported mldiff module, line, at module level) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    top_level = {id(node) for node in tree.body}
    type_checking = {id(inner) for node in tree.body if isinstance(node, ast.If)
                     and "TYPE_CHECKING" in ast.unparse(node.test) for inner in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            if name == "mldiff" or name.startswith("mldiff."):
                out.append((name, node.lineno, id(node) in top_level and id(node) not in type_checking))
    return out


def known_modules() -> set[str]:
    return {module_name(path) for path in PACKAGE.rglob("*.py")}


def resolve(name: str, modules: set[str]) -> str | None:
    """The module an imported name lives in (``mldiff.facts.sites.CallSite`` -> ``mldiff.facts.sites``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def test_layers_import_downward_only():
    modules = known_modules()
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = module_name(path)
        own = layer(here)
        if own == "front":
            continue
        for name, line, _ in imports(path):
            target = resolve(name, modules)
            if target is None or target == "mldiff":
                continue
            other = layer(target)
            if other not in ("shared", own) and other not in ALLOWED[own]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {own} imports {target} ({other})")
    assert not wrong, "\n".join(wrong)


def test_no_import_circles():
    """Module-level imports form no cycle (a cycle is what makes import order matter)."""
    modules = known_modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for path in PACKAGE.rglob("*.py"):
        here = module_name(path)
        for name, _, top in imports(path):
            target = resolve(name, modules)
            if top and target is not None and target not in (here, "mldiff") and not here.startswith(target + "."):
                graph[here].add(target)
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "\n".join(cycles)


def test_the_checker_reads_real_imports():
    """The layer test would catch an upward import (it reads real files, so check it reads them)."""
    found = {name for name, _, _ in imports(PACKAGE / "engine.py")}
    assert "mldiff.rules.base" in found and layer("mldiff.rules.base") == "rules"
    assert layer("mldiff.lsp.server") == "front" and "lsp" not in ALLOWED["rules"]
