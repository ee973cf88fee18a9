"""ModuleView.definitions finds argparse options spelled with hyphens (``--batch-size``
binds ``args.batch_size``), so a moved parser is recognised as a move."""
from __future__ import annotations

from mldiff.analysis.module import ModuleView


def test_hyphenated_option_defines_underscored_attribute():
    view = ModuleView("import argparse\np = argparse.ArgumentParser()\n"
                      "p.add_argument(\n    '--batch-size',\n    type=int,\n    default=64,\n)\n")
    found = view.definitions("args.batch_size")
    assert len(found) == 1 and found[0][1].value.literal == 64


def test_moved_parser_is_not_a_new_setting():
    from mldiff.engine import analyze
    base = ("import argparse\n\ndef main():\n    parser = argparse.ArgumentParser()\n"
            "    parser.add_argument('--batch-size', type=int, default=64)\n    return parser.parse_args()\n")
    head = ("import argparse\n\ndef parse_args():\n    parser = argparse.ArgumentParser()\n"
            "    parser.add_argument(\n        '--batch-size',\n        type=int,\n        default=64,\n    )\n"
            "    return parser.parse_args()\n")
    assert analyze("train.py", base, head).findings == []
