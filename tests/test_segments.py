"""The segmenter against real code: every logical line it finds must parse on its own
(with its wrapper), and every statement Python's own parser sees must start one."""
from __future__ import annotations

import ast
from pathlib import Path

import libcst
import pytest

from mldiff.analysis.segments import segment
from mldiff.analysis.module import ModuleView

# Real, varied Python that is always installed with mldiff's dependencies.
SOURCES = sorted((Path(libcst.__file__).parent).rglob("*.py"))[:400] + sorted(
    Path(ast.__file__).parent.glob("*.py"))[:150]


@pytest.mark.parametrize("path", SOURCES[::11], ids=lambda p: p.name)
def test_every_logical_line_parses_alone(path: Path):
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        tree = ast.parse(text)
    except SyntaxError:
        pytest.skip("not valid Python for this interpreter")
    view = ModuleView(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            owner = view.index_at(node.lineno - 1)
            assert owner >= 0, f"{path.name}:{node.lineno} is in no logical line"
    for index, ll in enumerate(view.logical):
        unit = view.unit(index)
        if ll.keyword == "case":
            continue
        assert unit.error is None, f"{path.name}:{ll.start + 1} ({ll.keyword or 'statement'}): {unit.error}"


def test_long_container_is_split_and_parts_parse():
    body = "".join(f"    'key{i}': {i},\n" for i in range(80))
    text = f"config = {{\n{body}}}\nx = 1\n"
    view = ModuleView(text)
    parts = [ll.part for ll in view.logical]
    assert parts[0] == "head" and parts.count("element") == 80 and "tail" in parts
    bindings = [b.target for i in range(len(view.logical)) for b in view.facts(i).bindings]
    assert "config.key5" in bindings and "x" in bindings


def test_clause_headers_parse_alone():
    text = ("try:\n    a()\nexcept ValueError as e:\n    b()\nelse:\n    c()\nfinally:\n    d()\n"
            "match x:\n    case 1:\n        pass\n")
    view = ModuleView(text)
    for index, ll in enumerate(view.logical):
        if ll.keyword != "case":
            assert view.unit(index).error is None, ll


def test_unterminated_bracket_makes_one_broken_line_not_a_crash():
    view = ModuleView("x = foo(\ny = 2\nz = 3\n")
    assert len(view.logical) == 1
    assert view.unit(0).error is not None


def test_long_container_with_comments_before_its_first_element_is_split():
    body = "".join(f"    'model{i}': _cfg(\n        url='u{i}'),\n" for i in range(40))
    text = f"default_cfgs = {{\n\n    # pretrained weights\n{body}}}\n"
    view = ModuleView(text)
    parts = [ll.part for ll in view.logical]
    assert parts[0] == "head" and parts.count("element") == 40
    assert view.logical[0].end == 3  # the blank and comment lines stay with the head
    assert all(view.unit(i).error is None for i in range(len(view.logical)))


# -- reuse across edits --------------------------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mldiff.analysis.segments import resegment  # noqa: E402

_EDIT_BASE = (Path(__file__).resolve().parents[1] / "fixtures" / "tiny-train" / "train.py").read_text().splitlines(
    keepends=True)
_FRAGMENTS = ["x = 1", "(", ")", "[", "]", "'''", '"', "# c", ":", "\\", "if x:", "    ", "\t", "", "lr = 0.2",
              "def f(", "else:", "f'{x}'", "}", "{", "async def g():", "match = 3", "@dec", "x = (1,"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_EDIT_BASE) - 1), st.lists(st.sampled_from(_FRAGMENTS), max_size=4),
                          st.booleans()), min_size=1, max_size=3))
def test_reused_segments_equal_a_fresh_segmentation(edits):
    """An edit that keeps the line count (typing in a line) gives exactly the segments a full
    scan gives, whether they are reused or recomputed."""
    lines = list(_EDIT_BASE)
    for number, fragments, keep in edits:
        text = "".join(fragments)
        lines[number] = (lines[number].rstrip("\n") + text if keep else text) + "\n"
    assert resegment(lines, _EDIT_BASE, segment(_EDIT_BASE)) == segment(lines)


def test_typing_inside_a_statement_reuses_the_segments():
    previous = segment(_EDIT_BASE)
    number = next(i for i, line in enumerate(_EDIT_BASE) if "default=0.05" in line)
    lines = list(_EDIT_BASE)
    lines[number] = lines[number].replace("default=0.05", "default=0.2")
    assert resegment(lines, _EDIT_BASE, previous) is previous
    lines[number] = lines[number].replace("default=0.2)", "default=(0.2")  # opens a bracket
    assert resegment(lines, _EDIT_BASE, previous) is not previous
