"""A training script emptied or deleted: removals are read without an internal error
(ML801/ML802 looked for the loop of a removed call in a head with no lines)."""
from __future__ import annotations

import pytest

from mldiff.engine import analyze

LOOP = ("import torch\nmodel = torch.nn.Linear(4, 1)\nopt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for x, y in loader:\n    opt.zero_grad()\n    loss = model(x).sum()\n    loss.backward()\n    opt.step()\n")


@pytest.mark.parametrize("head", ["", None, "# nothing left\n"])
def test_an_emptied_training_script_is_no_internal_error(head):
    result = analyze("train.py", LOOP, head)
    assert [e.message for e in result.errors if "internal error" in e.message] == []
