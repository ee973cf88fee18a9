"""Jupyter notebooks: code cells analysed as Python, positions mapped back to the .ipynb
file, outputs ignored, magics tolerated, broken notebooks reported, never a crash."""
from __future__ import annotations

import json

import pytest

from mldiff.engine import analyze
from mldiff.analysis.notebook import notebook_change, pythonize, read_notebook
from mldiff.findings import Finding, Fix, Span, TextEdit

OPTIMIZER = "import torch\nopt = torch.optim.Adam(model.parameters(), lr={lr})\n"


def notebook(*cells, outputs=None, count=1, language="python", as_string=False, indent=1) -> str:
    """An nbformat 4 notebook: a str cell is code, ("markdown", text) a markdown cell."""
    out = []
    for cell in cells:
        kind, text = cell if isinstance(cell, tuple) else ("code", cell)
        source = text if as_string else text.splitlines(keepends=True)
        entry = {"cell_type": kind, "metadata": {}, "source": source}
        if kind == "code":
            entry.update(execution_count=count, outputs=outputs or [])
        out.append(entry)
    metadata = {"kernelspec": {"display_name": language, "language": language, "name": language},
                "language_info": {"name": language}}
    return json.dumps({"cells": out, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5},
                      indent=indent, ensure_ascii=False) + "\n"


def covered(text: str, span: Span) -> str:
    lines = text.split("\n")
    assert span.line == span.end_line
    return lines[span.line - 1][span.column - 1:span.end_column - 1]


def test_a_code_cell_change_is_reported_at_its_notebook_line_and_columns():
    before = notebook(("markdown", "# Train\n"), "%matplotlib inline\n" + OPTIMIZER.format(lr="1e-3"))
    after = notebook(("markdown", "# Train\n"), "%matplotlib inline\n" + OPTIMIZER.format(lr="1e-2"))
    result = analyze("train.ipynb", before, after)
    assert result.errors == []
    (finding,) = result.findings
    assert finding.code == "ML301" and "1e-3 -> 1e-2" in finding.message
    assert covered(after, finding.span) == "1e-2"
    assert '"opt = torch.optim.Adam' in after.split("\n")[finding.line - 1]
    assert '"opt = torch.optim.Adam' in before.split("\n")[finding.base_line - 1]


def test_source_written_as_one_string_maps_columns_through_escapes():
    before = notebook('x = "é\\t"\n' + OPTIMIZER.format(lr="0.1"), as_string=True)
    after = notebook('x = "é\\t"\n' + OPTIMIZER.format(lr="0.5"), as_string=True)
    (finding,) = analyze("a.ipynb", before, after).findings
    assert covered(after, finding.span) == "0.5"


def test_unicode_columns_are_code_points_of_the_file():
    before = notebook("s = '日本語 🚀'; import torch\nopt = torch.optim.SGD(p, lr=0.1)  # 学習率\n")
    after = notebook("s = '日本語 🚀'; import torch\nopt = torch.optim.SGD(p, lr=0.2)  # 学習率\n")
    (finding,) = analyze("a.ipynb", before, after).findings
    assert covered(after, finding.span) == "0.2"


def test_outputs_execution_counts_metadata_and_markdown_produce_nothing():
    code = OPTIMIZER.format(lr="1e-3")
    before = notebook(("markdown", "lr is 1e-3\n"), code, count=3)
    after = notebook(("markdown", "we now use lr = 1e-2\n"), code, count=17,
                     outputs=[{"output_type": "stream", "name": "stdout", "text": ["loss 2.3\n"]},
                              {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo" * 500},
                               "metadata": {}}])
    result = analyze("a.ipynb", before, after)
    assert result.findings == [] and result.errors == []


def test_magics_shell_lines_and_non_python_cell_magics_do_not_break_the_rest():
    before = notebook("!pip install -q timm\n%load_ext autoreload\n", "%%bash\necho $((1 +\n",
                      "for i in range(2):\n    %time f(i)\n" + OPTIMIZER.format(lr="1e-3"), "files = !ls\nhelp?\n")
    after = before.replace("lr=1e-3", "lr=3e-4")
    result = analyze("a.ipynb", before, after)
    assert result.errors == []
    assert [f.code for f in result.findings] == ["ML301"]


def test_shell_lines_continued_with_backslashes():
    code = "! python prep.py --data a \\\n        --split train\nx = 1\n"
    text, error = pythonize(code)
    assert error is None and text.split("\n")[2] == "x = 1"


def test_pythonize_keeps_line_count_and_modulo_continuations():
    code = "x = (a\n     % b)\n%time y = 1\n"
    text, error = pythonize(code)
    assert error is None and text.count("\n") == code.count("\n")
    assert "% b)" in text.split("\n")[1]
    assert text.split("\n")[2].startswith("pass  # %time")


def test_a_cell_that_does_not_parse_is_an_error_and_other_cells_still_count():
    before = notebook("def f(:\n    pass\n", OPTIMIZER.format(lr="1e-3"))
    after = notebook("def f(:\n    return 1\n", OPTIMIZER.format(lr="1e-2"))
    result = analyze("a.ipynb", before, after)
    assert [f.code for f in result.findings] == ["ML301"]
    errors = {e.message.split(" ", 1)[0]: e for e in result.errors}
    assert set(errors) == {"base", "head"}   # the cell changed on both sides
    assert "code cell does not parse" in errors["head"].message
    assert '"def f(:' in after.split("\n")[errors["head"].line - 1]


def test_an_unchanged_broken_cell_is_not_reported_again():
    broken = "def f(:\n"
    result = analyze("a.ipynb", notebook(broken, OPTIMIZER.format(lr="1")), notebook(broken, OPTIMIZER.format(lr="2")))
    assert result.errors == [] and len(result.findings) == 1


@pytest.mark.parametrize("head", ['{"cells": [', "not json at all", '{"cells": [{"cell_type": "code", "source": "x"}\n'])
def test_invalid_json_is_a_parse_error_not_a_crash(head):
    result = analyze("a.ipynb", notebook(OPTIMIZER.format(lr="1e-3")), head)
    assert result.findings == []
    assert len(result.errors) == 1 and "not a valid notebook" in result.errors[0].message


def test_a_notebook_for_another_language_is_skipped_with_a_note():
    result = analyze("a.ipynb", notebook("x <- 1\n", language="R"), notebook("x <- 2\n", language="R"))
    assert result.findings == [] and result.errors == []
    assert result.notes == ["a.ipynb: a r notebook; its cells are not analysed"]


def test_nbformat_3_worksheets_and_input():
    def v3(lr):
        return json.dumps({"nbformat": 3, "metadata": {}, "worksheets": [{"cells": [
            {"cell_type": "code", "input": OPTIMIZER.format(lr=lr).splitlines(keepends=True), "outputs": []}]}]},
            indent=1)
    (finding,) = analyze("old.ipynb", v3("0.1"), v3("0.3")).findings
    assert covered(v3("0.3"), finding.span) == "0.3"


def test_bom_and_crlf_notebooks():
    before = "\ufeff" + notebook(OPTIMIZER.format(lr="0.1")).replace("\n", "\r\n")
    after = "\ufeff" + notebook(OPTIMIZER.format(lr="0.2")).replace("\n", "\r\n")
    (finding,) = analyze("a.ipynb", before, after).findings
    assert covered(after, finding.span) == "0.2"


def test_suppression_comment_inside_a_cell():
    before = notebook(OPTIMIZER.format(lr="0.1"))
    after = notebook(OPTIMIZER.format(lr="0.2") .replace("lr=0.2)", "lr=0.2)  # mldiff: ignore[ML301]"))
    assert analyze("a.ipynb", before, after).findings == []


def test_other_python_rules_run_on_notebooks():
    before = notebook("from torchvision import transforms\n",
                      "tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])\n")
    after = notebook("from torchvision import transforms\n", "tf = transforms.ToTensor()\n")
    (finding,) = analyze("a.ipynb", before, after).findings
    assert finding.code == "ML201" and '"tf = transforms.ToTensor()' in after.split("\n")[finding.line - 1]


def test_lines_split_across_source_strings():
    def split_nb(lr):
        cell = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                "source": ["import torch\n", "opt = torch.optim.SGD(p, ", f"lr={lr})\n"]}
        return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1)
    (finding,) = analyze("a.ipynb", split_nb("0.1"), split_nb("0.7")).findings
    assert covered(split_nb("0.7"), finding.span) == "0.7"


def test_fixes_are_mapped_inside_one_string_and_escaped_or_dropped():
    text = notebook('x = "a"\n')
    change = notebook_change("a.ipynb", text, text)
    edit = TextEdit(Span(1, 5, 1, 8), '"b"')
    finding = Finding("a.ipynb", "ML000", "precision", "warning", "m", Span(1, 5, 1, 8),
                      fixes=(Fix("one line", (edit,)), Fix("two lines", (TextEdit(Span(1, 1, 2, 1), "y\n"),))))
    (mapped,) = change.map_findings([finding])
    (fix,) = mapped.fixes
    assert covered(text, fix.edits[0].span) == '\\"a\\"' and fix.edits[0].new_text == '\\"b\\"'


def test_virtual_text_and_no_code():
    assert read_notebook(notebook(("markdown", "only prose\n"))).text == ""
    assert analyze("a.ipynb", notebook(("markdown", "a\n")), notebook(("markdown", "b\n"))).findings == []


def test_jupyter_checkpoint_copies_are_not_read():
    before, after = notebook(OPTIMIZER.format(lr="0.1")), notebook(OPTIMIZER.format(lr="0.2"))
    assert analyze("nb/.ipynb_checkpoints/a-checkpoint.ipynb", before, after).findings == []
    assert len(analyze("nb/a.ipynb", before, after).findings) == 1


def test_mangled_notebooks_never_crash_and_spans_stay_in_the_file():
    from hypothesis import given, settings, strategies as st

    base = notebook("%matplotlib inline\nimport torch\n", "for x in y:\n    !echo hi\n" + OPTIMIZER.format(lr="0.1"))
    pieces = st.sampled_from(list('{}[]:,"\\#%!?\n ') + ["\\n", "\\u00e9", '\\"', "é", "🚀", "lr=0.2"])

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, len(base)), st.integers(0, 3), pieces), max_size=5))
    def check(edits):
        head = base
        for position, delete, piece in edits:
            position = min(position, len(head))
            head = head[:position] + piece + head[position + delete:]
        result = analyze("a.ipynb", base, head)
        assert not [e for e in result.errors if "internal error" in e.message]
        lines = head.split("\n")
        for finding in result.findings:
            assert 1 <= finding.span.line <= finding.span.end_line <= len(lines)
            assert 1 <= finding.span.column <= len(lines[finding.span.line - 1]) + 1

    check()
