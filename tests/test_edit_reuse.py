"""An edit re-uses what the buffer's previous view found (segments, text scans, imports) only
where the edit cannot have changed it: each answer after an edit equals a fresh view's."""
from __future__ import annotations

import re

from mldiff.analysis.module import ModuleView
from mldiff.engine import analyze

BASE = """import torch
from torch import nn

def build(model):
    lr = 1e-3
    return model

def train(model, loader):
    for x, y in loader:
        loss = model(x).sum()
        loss.backward()
"""

ADAM = re.compile(r"\bAdam\b")


def edited(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def test_a_scan_is_reused_only_while_the_edited_line_matches_as_before():
    first = ModuleView(BASE)
    assert first.lines_matching(ADAM, ("Adam",)) == []
    commented = ModuleView(edited(BASE, "    lr = 1e-3", "    lr = 1e-3  # Adam's default"), previous=first)
    assert commented.segments is first.segments  # the edit moved no statement boundary
    assert commented.lines_matching(ADAM, ("Adam",)) == ModuleView(commented.text).lines_matching(ADAM, ("Adam",))
    assert commented.lines_matching(ADAM, ("Adam",)) != []
    plain = ModuleView(edited(BASE, "    return model", "    return model.half()"), previous=first)
    assert plain.lines_matching(ADAM, ("Adam",)) == []


def test_imports_are_read_again_when_an_edited_line_imports():
    first = ModuleView(BASE)
    assert first.resolve("nn.Linear") == "torch.nn.Linear"
    again = ModuleView(edited(BASE, "from torch import nn", "import torch.nn as nn2"), previous=first)
    assert again.resolve("nn2.Linear") == "torch.nn.Linear"
    assert again.resolve("nn.Linear") == "nn.Linear"


def test_findings_after_a_run_of_edits_equal_a_fresh_analysis():
    head = edited(BASE, "    lr = 1e-3", "    lr = 1e-2")
    previous = analyze("train.py", BASE, head)
    for new in ("    return model  # note", "    return model.half()", "    return model"):
        text = edited(head, "    return model", new)
        previous = analyze("train.py", BASE, text, previous=previous)
        fresh = analyze("train.py", BASE, text)
        assert [f.to_json() for f in previous.findings] == [f.to_json() for f in fresh.findings]
