"""Every example of every rule, run through the real engine (the Fixit pattern)."""
from __future__ import annotations

import pytest

from mldiff.engine import analyze
from mldiff.rules.base import all_rules

CASES = [
    pytest.param(rule, example, id=f"{rule.code}-{number}")
    for rule in all_rules()
    for number, example in enumerate(rule.examples)
]


@pytest.mark.parametrize("rule,example", CASES)
def test_rule_example(rule, example):
    result = analyze(example.path, example.before, example.after)
    assert not result.errors, result.errors
    if not example.expect:
        assert result.findings == [], "a near miss must stay silent, got: " + "; ".join(
            f"{f.code} line {f.line}: {f.message}" for f in result.findings)
        return
    mine = [f for f in result.findings if f.code == rule.code]
    for expected in example.expect:
        code = expected.code or rule.code
        candidates = [f for f in result.findings if f.code == code and f.line == expected.line]
        assert any(expected.message in f.message for f in candidates), (
            f"expected {code} at line {expected.line} with {expected.message!r}; got "
            + "; ".join(f"{f.code} line {f.line}: {f.message}" for f in result.findings))
        matching = [f for f in candidates if expected.message in f.message]
        if expected.column is not None:
            assert expected.column in [f.span.column for f in matching], [f.span for f in matching]
        if expected.fix is not None:
            (finding,) = matching
            assert finding.fixes, f"{code} at line {expected.line} has no quick fix"
            assert apply_fix(example.after, finding.fixes[0]) == expected.fix
        for f in candidates:
            assert f.family == ([r for r in all_rules() if r.code == code][0]).family
    expected_own = [e for e in example.expect if (e.code or rule.code) == rule.code]
    assert len(mine) == len(expected_own), "unexpected findings of this rule: " + "; ".join(
        f"line {f.line}: {f.message}" for f in mine)


def apply_fix(text: str, fix) -> str:
    """``text`` with the fix's edits applied (spans: 1-based lines and code-point columns)."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def offset(line: int, column: int) -> int:
        return offsets[min(line - 1, len(lines))] + column - 1

    for edit in sorted(fix.edits, key=lambda e: (e.span.line, e.span.column), reverse=True):
        start, end = offset(edit.span.line, edit.span.column), offset(edit.span.end_line, edit.span.end_column)
        text = text[:start] + edit.new_text + text[end:]
    return text


def test_examples_that_pin_a_fix_or_a_column():
    """The three rules with quick fixes show the fixed file in an example; some pin the column."""
    fixing = {rule.code for rule in all_rules() for e in rule.examples for x in e.expect if x.fix is not None}
    assert {"ML201", "ML107", "ML803"} <= fixing, fixing
    assert any(x.column is not None for rule in all_rules() for e in rule.examples for x in e.expect)


def test_every_rule_has_positive_and_silent_examples():
    for rule in all_rules():
        assert any(e.expect for e in rule.examples), f"{rule.code} has no example that fires"
        assert any(not e.expect for e in rule.examples), f"{rule.code} has no near miss that stays silent"


def test_codes_are_grouped_by_family():
    from mldiff.families import FAMILY_NUMBERS
    for rule in all_rules():
        number = FAMILY_NUMBERS[rule.family]
        assert rule.code.startswith(f"ML{number}") and len(rule.code) == len(f"ML{number}") + 2, rule.code
