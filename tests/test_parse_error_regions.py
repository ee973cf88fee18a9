"""A side that does not parse must not make everything after the error look added or removed."""
from __future__ import annotations

from mldiff.facts.context import python_context
from mldiff.engine import analyze

BASE = (
    "import torch\n"
    "parser.add_argument('-x', type=int, default=8,\n"
    "                    help=\"broken\n"
    "                    string\")\n"
    "torch.cuda.set_device(0)\n"
    "model = torch.nn.DataParallel(model, device_ids=[0])\n"
    "for epoch in range(3):\n"
    "    train()\n"
)
HEAD = BASE.replace('help="broken\n                    string")', 'help="""fixed\n                    string""")') \
    .replace("    train()\n", "    data.shuffle()\n    train()\n")


def test_statements_swallowed_by_a_broken_string_are_not_new():
    result = analyze("train.py", BASE, HEAD)
    assert result.errors, "the base side's syntax error is reported"
    messages = [f"{f.code} {f.message}" for f in result.findings]
    assert not [m for m in messages if "set_device" in m or "DataParallel" in m], messages


def test_the_rules_alone_keep_what_is_really_new_next_to_a_broken_statement():
    """The engine drops every finding on lines a parse error makes unreliable; the rules' own
    check (``counterpart_broken``) is finer: what the broken text does not hold is new."""
    from mldiff.analysis.change import PythonChange
    from mldiff.rules.data_pipeline import ShuffleChanged
    from mldiff.rules.compile_distributed import DevicePlacementChanged, DistributedWrappingChanged
    change = python_context("train.py", BASE, HEAD)
    assert [f.message for f in ShuffleChanged().check(change)] == ["shuffle added: data.shuffle()"]
    assert list(DevicePlacementChanged().check(change)) == []
    assert list(DistributedWrappingChanged().check(change)) == []
