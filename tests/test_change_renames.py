"""Renames: an identifier renamed consistently is not a change, even when the old name
still appears inside strings or comments of the new file."""
from __future__ import annotations

from mldiff.analysis.change import PythonChange


def test_rename_seen_through_strings_and_comments():
    base = ("def get_lr(iter):\n    return lr * iter / warmup\n\n"
            "log = {'iter': step}\nprint(f'iter {step}')\n")
    head = ("def get_lr(it):\n    return lr * it / warmup\n\n"
            "log = {'iter': step}\nprint(f'iter {step}')  # iter\n")
    change = PythonChange.from_texts("train.py", base, head)
    assert change.renames == {"iter": "it"}


def test_name_still_used_in_code_is_not_a_rename():
    base = "def f(iter):\n    return iter\n\nx = iter([1])\n"
    head = "def f(it):\n    return it\n\nx = iter([1])\n"
    change = PythonChange.from_texts("train.py", base, head)
    assert "iter" not in change.renames


def test_swapping_an_imported_class_is_not_a_rename():
    base = "import torch.nn as nn\nfrom torch.optim import SGD\nbn = nn.BatchNorm2d(64)\nopt = SGD(p)\n"
    head = "import torch.nn as nn\nfrom torch.optim import SGD\nbn = nn.GroupNorm(64)\nopt = SGD(p)\n"
    change = PythonChange.from_texts("model.py", base, head)
    assert change.renames == {}
