"""What structural findings carry besides their message: the base line, before/after, and a
restore fix for removals (so editors never re-analyse)."""
from __future__ import annotations

from mldiff.engine import analyze

BASE = """import random
import torch

random.seed(1)
torch.manual_seed(1)
model = build()
"""
HEAD = """import random
import torch

model = build()
"""


def test_a_removed_seeding_is_anchored_where_it_stood_and_can_be_restored():
    [finding] = analyze("train.py", BASE, HEAD).findings
    assert (finding.code, finding.line, finding.base_line) == ("ML701", 4, 4)
    assert finding.before == "random.seed(1); torch.manual_seed(1)" and finding.after is None
    [fix] = finding.fixes
    [edit] = fix.edits
    assert edit.new_text == "random.seed(1)\ntorch.manual_seed(1)\n"
    assert (edit.span.line, edit.span.end_line) == (4, 4)  # an insertion before the line that followed


def test_a_plan_entry_change_names_both_sides():
    base = ("from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel\n"
            "plan = {\n    'w1': ColwiseParallel(),\n    'w2': RowwiseParallel(),\n}\n")
    head = base.replace("'w2': RowwiseParallel()", "'w2': RowwiseParallel(use_local_output=False)")
    [finding] = analyze("tp.py", base, head).findings
    assert finding.code == "ML1203" and finding.line == 4 and finding.base_line == 4
    assert (finding.before, finding.after) == ("RowwiseParallel()", "RowwiseParallel(use_local_output=False)")


def test_settings_in_config_modules_flow_into_the_message():
    base = "compile = False\nmodel = GPT()\nif compile:\n    model = torch.compile(model)\n"
    [finding] = analyze("train.py", base, base.replace("compile = False", "compile = True")).findings
    assert finding.code == "ML1201"
    assert finding.message == "compile False -> True, used in `if compile:` at line 3"
