"""Setting rules also read config files (YAML / JSON / TOML changes bring their own value
changes); their structural parts are for Python only and must not trip over other changes."""
from __future__ import annotations

from mldiff.engine import analyze

BASE = "seed: 1\nshuffle: true\nn_layer: 12\n"
HEAD = "seed: 2\nshuffle: false\nn_layer: 24\n"


def test_config_values_are_reported_by_the_setting_rules():
    result = analyze("config.yaml", BASE, HEAD)
    assert not result.errors
    assert {f.code: f.message for f in result.findings} == {
        "ML701": "seed 1 -> 2", "ML1001": "shuffle true -> false", "ML1101": "n_layer 12 -> 24"}
