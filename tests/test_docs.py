"""Documentation unit tests: the rules reference is generated from the rule classes and
must be current; every rule and family appears in it."""
from __future__ import annotations

from pathlib import Path

from mldiff.docs import render
from mldiff.families import FAMILIES
from mldiff.rules.base import all_rules

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_rules_reference_is_current():
    current = (DOCS / "rules.md").read_text(encoding="utf-8")
    assert current == render(), "docs/rules.md is stale: run `python -m mldiff.docs`"


def test_every_rule_and_family_is_documented():
    text = (DOCS / "rules.md").read_text(encoding="utf-8")
    for rule in all_rules():
        assert f"### {rule.code}\n" in text, rule.code
        assert rule.documentation().strip(), f"{rule.code} has no docstring"
    for family in FAMILIES:
        assert f"## {family} (" in text, family
