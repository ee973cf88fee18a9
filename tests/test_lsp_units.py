"""The language server's plain parts, without a server: buffers, positions, settings,
stable findings and the suppress edit."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st
from lsprotocol import types

from mldiff.findings import Finding, Fix, Span, TextEdit
from mldiff.lsp.code_actions import comment_line, suppress_edit
from mldiff.lsp.documents import Document, has_lone_cr, split_lsp_lines
from mldiff.lsp.positions import UTF8, UTF16, UTF32, span_to_range, to_code_points, to_units
from mldiff.lsp.settings import SettingsState
from mldiff.lsp.stability import GoodState, stable_findings

ENCODINGS = {UTF8: "utf-8", UTF16: "utf-16-le", UTF32: "utf-32-le"}
UNIT_BYTES = {UTF8: 1, UTF16: 2, UTF32: 4}


def units(text: str, encoding: str) -> int:
    return len(text.encode(ENCODINGS[encoding])) // UNIT_BYTES[encoding]


def document(text: str) -> Document:
    return Document("file:///x.py", "/x.py", "python", 1, split_lsp_lines(text))


def pos(line: int, character: int) -> types.Position:
    return types.Position(line=line, character=character)


# -- lines and edits --------------------------------------------------------------------------
@pytest.mark.parametrize("text, lines", [
    ("", []),
    ("a", ["a"]),
    ("a\n", ["a\n"]),
    ("a\r\nb", ["a\r\n", "b"]),
    ("a\rb\n", ["a\r", "b\n"]),
    ("form\x0cfeed\u2028x\n", ["form\x0cfeed\u2028x\n"]),  # not line ends for LSP clients
])
def test_split_lsp_lines(text: str, lines: list[str]) -> None:
    assert split_lsp_lines(text) == lines
    assert "".join(split_lsp_lines(text)) == text


def test_lone_cr_is_detected() -> None:
    assert has_lone_cr("a\rb") and not has_lone_cr("a\r\nb\n")


@pytest.mark.parametrize("encoding", [UTF8, UTF16, UTF32])
def test_edit_after_cjk_and_emoji(encoding: str) -> None:
    doc = document('s = "数据🙂"; lr = 0.1\nnext\n')
    prefix = 's = "数据🙂"; lr = '
    start = units(prefix, encoding)
    doc.edit(pos(0, start), pos(0, start + 3), "0.01", encoding)
    assert doc.text == 's = "数据🙂"; lr = 0.01\nnext\n'


@pytest.mark.parametrize("encoding, width", [(UTF16, 1), (UTF8, 3), (UTF32, 1)])
def test_lone_surrogates_count_as_one_character(encoding: str, width: int) -> None:
    # half a surrogate pair is one UTF-16 unit (three bytes in WTF-8); two halves side by side stay two
    doc = document("# \ud83d\ude00x😀y\n")
    x = 2 + 2 * width
    assert to_units("# \ud83d\ude00", encoding) == x
    doc.edit(pos(0, x), pos(0, x + 1), "X", encoding)
    assert doc.text == "# \ud83d\ude00X😀y\n"
    emoji = {UTF16: 2, UTF8: 4, UTF32: 1}[encoding]
    assert to_code_points("# \ud83d\ude00X😀y", x + 1 + emoji, encoding) == 6
    inside_emoji = 6 if encoding == UTF32 else 5  # one unit into the emoji: rounds down to its start
    assert to_code_points("# \ud83d\ude00X😀y", x + 2, encoding) == inside_emoji


def test_edits_that_add_and_join_lines() -> None:
    doc = document("a\nb\nc\n")
    doc.edit(pos(1, 0), pos(1, 1), "x\ny", UTF16)
    assert doc.lines == ["a\n", "x\n", "y\n", "c\n"]
    doc.edit(pos(0, 1), pos(3, 0), "", UTF16)
    assert doc.lines == ["ac\n"]
    doc.edit(pos(1, 0), pos(1, 0), "tail", UTF16)  # the empty line after the final newline
    assert doc.text == "ac\ntail"


def test_positions_past_the_end_are_clamped() -> None:
    doc = document("ab\ncd")
    doc.edit(pos(0, 99), pos(0, 120), "!", UTF16)
    assert doc.text == "ab!\ncd"
    doc.edit(pos(40, 3), pos(50, 0), "?", UTF16)
    assert doc.text == "ab!\ncd?"
    doc.edit(pos(1, 1), pos(0, 1), "-", UTF16)  # start after end: swapped
    assert doc.text == "a-d?"


def test_a_cr_typed_before_a_newline_merges_into_crlf() -> None:
    doc = document("a\nb\n")
    doc.edit(pos(0, 1), pos(0, 1), "\r", UTF16)
    assert doc.lines == ["a\r\n", "b\n"]


def test_every_change_gets_a_new_revision() -> None:
    doc = document("a\n")
    seen = {doc.revision, document("a\n").revision}
    doc.edit(pos(0, 0), pos(0, 0), "x", UTF16)
    seen.add(doc.revision)
    doc.replace("y\n")
    seen.add(doc.revision)
    assert len(seen) == 4 and doc.text == "y\n"


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab数🙂 \n\r", max_size=6), min_size=1, max_size=6),
       st.integers(0, 8), st.integers(0, 12), st.integers(0, 8), st.integers(0, 12), st.text("x🙂\n", max_size=3))
def test_incremental_edit_matches_editing_the_whole_text(parts, l1, c1, l2, c2, new_text) -> None:
    """An edit through ``Document.edit`` gives the text a client gets by editing its own copy."""
    text = "".join(parts)
    doc = document(text)
    lines = split_lsp_lines(text) or [""]
    if lines[-1].endswith(("\n", "\r")):
        lines.append("")

    def offset(line: int, character: int) -> int:
        if line >= len(lines):  # past the last line: the end of the document (as VS Code does)
            return len(text)
        content = lines[line].rstrip("\r\n")
        column = to_code_points(content, character, UTF16)
        return sum(len(x) for x in lines[:line]) + column

    start, end = sorted([offset(l1, c1), offset(l2, c2)])
    doc.edit(pos(l1, c1), pos(l2, c2), new_text, UTF16)
    expected = text[:start] + new_text + text[end:]
    assert doc.text == expected
    assert doc.lines == split_lsp_lines(expected)


# -- positions ---------------------------------------------------------------------------------
@hypothesis_settings(max_examples=200, deadline=None)
@given(st.text(alphabet="aé数🙂\t", max_size=12), st.sampled_from([UTF8, UTF16, UTF32]))
def test_units_and_code_points_round_trip(text: str, encoding: str) -> None:
    for column in range(len(text) + 1):
        client = to_units(text[:column], encoding)
        assert client == units(text[:column], encoding)
        assert to_code_points(text, client, encoding) == column


def test_a_column_inside_a_character_rounds_down() -> None:
    assert to_code_points("🙂x", 1, UTF16) == 0
    assert to_code_points("数x", 2, UTF8) == 0


def test_span_to_range_with_emoji_and_end_of_document() -> None:
    lines = ['a = "🙂"; b = f(1)\n', "c\n"]
    call = lines[0].index("f(1)")
    rng = span_to_range(Span(1, call + 1, 1, call + 5), lines, UTF16)
    assert (rng.start.character, rng.end.character) == (call + 1, call + 5)  # the emoji is two units
    end = span_to_range(Span(2, 1, 3, 1), lines, UTF16)
    assert (end.end.line, end.end.character) == (2, 0)
    no_newline = span_to_range(Span(1, 1, 3, 1), ["x\n", "yz"], UTF16)
    assert (no_newline.end.line, no_newline.end.character) == (1, 2)


# -- settings -----------------------------------------------------------------------------------
def test_editor_settings_win_over_pyproject_and_set_base_over_both(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.mldiff]\nbase = "main"\nignore = ["ML1"]\n')
    reported: list[str] = []
    state = SettingsState(reported.append)
    assert state.settings_for(str(tmp_path)).base == "main"
    state.initialization = {"base": "HEAD~1", "trace": "off", "debounceMs": 5}
    assert state.settings_for(str(tmp_path)).base == "HEAD~1"
    assert state.settings_for(str(tmp_path)).ignore == ("ML1",)
    state.workspace = {"": {"base": "develop"}, "file:///ws/b": {"base": "index"}}
    assert state.settings_for(str(tmp_path), "file:///ws/a/x.py").base == "develop"
    assert state.settings_for(str(tmp_path), "file:///ws/b/x.py").base == "index"
    state.base_override = "merge-base:main"
    assert state.settings_for(str(tmp_path), "file:///ws/b/x.py").base == "merge-base:main"
    assert state.options().debounce_ms == 5
    assert reported == []


def test_bad_settings_are_reported_and_skipped(tmp_path: Path) -> None:
    reported: list[str] = []
    state = SettingsState(reported.append)
    state.initialization = {"select": ["not-a-family"], "base": "", "debounceMs": "soon",
                            "diagnosticMode": "sometimes"}
    settings = state.settings_for(str(tmp_path))
    assert settings.select == () and settings.base == "HEAD"
    options = state.options()
    assert options.debounce_ms is None and options.diagnostic_mode == "auto"  # None: automatic
    assert len(reported) == 3 and any("mldiff.select" in r for r in reported)


def test_broken_pyproject_falls_back_to_defaults(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.mldiff\n")
    reported: list[str] = []
    assert SettingsState(reported.append).settings_for(str(tmp_path)).base == "HEAD"
    assert reported and "TOML" in reported[0]


# -- stable findings while typing -----------------------------------------------------------------
def finding(line: int, message: str = "x removed", fix_line: int | None = None) -> Finding:
    fixes = ()
    if fix_line is not None:
        fixes = (Fix("Restore", (TextEdit(Span(fix_line, 1, fix_line + 1, 1), "old\n"),)),)
    return Finding("t.py", "ML201", "normalization", "warning", message, Span(line, 1, line, 5), fixes=fixes)


def test_findings_in_a_broken_statement_come_from_the_last_good_analysis() -> None:
    good_lines = ("a\n", "b\n", "c\n", "d\n")
    good = GoodState("base", good_lines, (finding(3, "kept", fix_line=3), finding(2, "edited")))
    now = ["new\n", "a\n", "B(\n", "c\n", "d\n"]   # a line inserted, line "b" being edited
    unreliable = frozenset(range(3, len(now) + 1))  # an open bracket to the end
    garbage = finding(3, "garbage removed")
    outside = finding(1, "outside")
    shown = stable_findings([garbage, outside], unreliable, good, now)
    assert [f.message for f in shown] == ["outside", "kept"]
    kept = shown[1]
    assert kept.span.line == 4 and kept.fixes[0].edits[0].span.line == 4  # moved with its fix


def test_without_parse_errors_the_findings_are_the_engines() -> None:
    current = [finding(2)]
    assert stable_findings(current, frozenset(), GoodState("b", ("x\n",), (finding(1, "old"),)), ["x\n", "y\n"]) == current


# -- suppress ------------------------------------------------------------------------------------
def apply(line: str, edit: types.TextEdit, encoding: str = UTF16) -> str:
    content = line.rstrip("\n")
    start = to_code_points(content, edit.range.start.character, encoding)
    end = to_code_points(content, edit.range.end.character, encoding)
    return content[:start] + edit.new_text + content[end:] + "\n"


@pytest.mark.parametrize("line, expected", [
    ("x = f(1)\n", "x = f(1)  # mldiff: ignore[ML201]\n"),
    ("x = f(1)  # see 数据🙂\n", "x = f(1)  # see 数据🙂  # mldiff: ignore[ML201]\n"),
    ("x = f(1)  # mldiff: ignore[ML101]\n", "x = f(1)  # mldiff: ignore[ML101, ML201]\n"),
    ("x = f(1)  # mldiff: ignore[]\n", "x = f(1)  # mldiff: ignore[ML201]\n"),
])
def test_suppress_edit(line: str, expected: str) -> None:
    edit = suppress_edit(line, 3, "ML201", UTF16)
    assert edit is not None and edit.range.start.line == 3
    assert apply(line, edit) == expected


def test_suppress_is_not_offered_twice() -> None:
    assert suppress_edit("x = 1  # mldiff: ignore[ML201]\n", 0, "ML201", UTF16) is None
    assert suppress_edit("x = 1  # mldiff: ignore\n", 0, "ML201", UTF16) is None


def test_suppress_goes_on_a_line_that_can_hold_a_comment() -> None:
    lines = ["x = a + \\\n", "    b\n", 's = """doc\n', 'more"""\n']
    assert comment_line(lines, 0, 1) == 1
    assert comment_line(lines, 2, 3) == 3
