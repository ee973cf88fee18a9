"""Setting rules also read config files (YAML / JSON / TOML changes bring their own value
changes); their structural parts are for Python only and must not trip over other changes."""
from __future__ import annotations

from mldiff.analysis.values import Value
from mldiff.findings import Span
from mldiff.rules.base import all_rules
from mldiff.rules.roles import SettingRule, ValueChange


class ConfigChange:
    """What a config-file change offers rules: a path and its own value changes."""

    def __init__(self, changes: list[ValueChange]) -> None:
        self.path = "config.yaml"
        self._changes = changes

    def value_changes(self) -> list[ValueChange]:
        return self._changes


def literal(value) -> Value:
    return Value(code=repr(value), key=repr(value), literal=value)


def setting(family: str, topic: str, name: str, old, new) -> ValueChange:
    return ValueChange(family, topic, name, literal(old), literal(new), Span(3, 1, 3, 10), 3, kind="binding",
                       name=name, origin="yaml")


def test_config_values_are_reported_by_the_setting_rules():
    change = ConfigChange([
        setting("determinism", "seed", "seed", 1, 2),
        setting("data_pipeline", "shuffle", "shuffle", True, False),
        setting("model_capacity", "size", "n_layer", 12, 24),
        setting("compile_distributed", "compile", "compile", False, True),
        setting("determinism", "deterministic_flag", "cudnn_benchmark", True, False),
    ])
    found = {}
    for rule in all_rules():
        if issubclass(rule, SettingRule) and "yaml" in rule.file_kinds:
            for finding in rule().check(change):
                found[finding.code] = finding.message
    assert found == {"ML701": "seed 1 -> 2", "ML1001": "shuffle True -> False", "ML1101": "n_layer 12 -> 24",
                     "ML1201": "compile False -> True", "ML702": "cudnn_benchmark True -> False"}
