"""Bindings read from single statements, and renames across a change: what rules pair base with head by."""
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


def test_swapping_a_called_class_is_not_a_rename():
    from mldiff.analysis.change import PythonChange
    swap = PythonChange.from_texts("t.py", "from models import *\nnet = ResNet18()\n",
                                   "from models import *\nnet = SimpleDLA()\n")
    assert swap.renames == {}
    rename = PythonChange.from_texts("t.py", "def train_epoch(n):\n    pass\ntrain_epoch(1)\n",
                                     "def run_epoch(n):\n    pass\nrun_epoch(1)\n")
    assert rename.renames == {"train_epoch": "run_epoch"}
