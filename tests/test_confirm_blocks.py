"""The block a changed line is in, as a not-observed confirmation names it (from the source)."""
from __future__ import annotations

import pytest

from mldiff.validate.confirm import enclosing_header

SOURCE = """\
def train(args):
    if args.finetune:
        lr = 0.01
    elif args.resume:
        lr = 0.02
    else:
        lr = 0.1
    try:
        load(args)
    except FileNotFoundError:
        pass
    finally:
        done = True
    for epoch in range(3):
        step(epoch)
    match args.mode:
        case "fast":
            lr *= 2
    return lr
"""


@pytest.mark.parametrize("line, header", [
    (3, "if args.finetune:"), (5, "elif args.resume:"), (7, "else:"), (9, "try:"),
    (11, "except FileNotFoundError:"), (13, "finally:"), (15, "for epoch in range(3):"),
    (18, 'case "fast":'), (19, "def train(args):"), (1, None),
])
def test_enclosing_header(line, header):
    assert enclosing_header(SOURCE, line) == header


def test_no_source_or_no_python():
    assert enclosing_header(None, 3) is None
    assert enclosing_header("lr: 0.1\n", 1) is None
    assert enclosing_header("def broken(:\n", 1) is None
