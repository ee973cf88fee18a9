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
        for f in candidates:
            assert f.family == ([r for r in all_rules() if r.code == code][0]).family
    expected_own = [e for e in example.expect if (e.code or rule.code) == rule.code]
    assert len(mine) == len(expected_own), "unexpected findings of this rule: " + "; ".join(
        f"line {f.line}: {f.message}" for f in mine)


def test_every_rule_has_positive_and_silent_examples():
    for rule in all_rules():
        assert any(e.expect for e in rule.examples), f"{rule.code} has no example that fires"
        assert any(not e.expect for e in rule.examples), f"{rule.code} has no near miss that stays silent"


def test_codes_are_grouped_by_family():
    from mldiff.families import FAMILY_NUMBERS
    for rule in all_rules():
        number = FAMILY_NUMBERS[rule.family]
        assert rule.code.startswith(f"ML{number}") and len(rule.code) == len(f"ML{number}") + 2, rule.code
