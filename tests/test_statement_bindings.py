"""Bindings read from single statements: the names rules pair base with head by."""
from __future__ import annotations

from mldiff.analysis.statements import parse_unit


def targets(source: str) -> list[str]:
    return [binding.target for binding in parse_unit(source, "", False).facts.bindings]


def test_subscript_with_a_string_key_binds_a_dotted_name():
    assert targets("config['lr'] = 1e-3\n") == ["config.lr"]
    assert targets("os.environ['PYTHONHASHSEED'] = str(seed)\n") == ["os.environ.PYTHONHASHSEED"]


def test_other_subscripts_keep_their_shape():
    assert targets("weight[PAD] = 0\n") == ["weight[...]"]
    assert targets("lr = 0.1\n") == ["lr"]
