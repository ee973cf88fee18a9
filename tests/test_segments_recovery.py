"""A broken line (an unterminated one-line string, common while typing) must not merge the
rest of the file into one logical line: the analyzer would see every later statement as touched."""
from __future__ import annotations

from mldiff.analysis.segments import segment


def test_unterminated_string_inside_brackets_ends_the_statement():
    lines = ["parser.add_argument('-x', default=8,\n", '    help="Start decaying every epoch\n',
             '    epoch")\n', "\n", "lr = 0.1\n", "def f(x):\n", "    return x\n"]
    segments = segment(lines)
    starts = [logical.start for logical in segments.lines]
    assert 4 in starts and 5 in starts and 6 in starts


def test_triple_quoted_strings_still_span_lines():
    lines = ['x = f("""a\n', 'b""")\n', "y = 1\n"]
    assert [(ll.start, ll.end) for ll in segment(lines).lines] == [(0, 2), (2, 3)]
