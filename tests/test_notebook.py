"""Jupyter notebooks: code cells paired across the sides and analysed as one Python module,
positions mapped back to the .ipynb file and to the cell, outputs ignored, magics tolerated,
broken notebooks reported once, never a crash."""
from __future__ import annotations

import json

import pytest

from mldiff.config import Settings
from mldiff.engine import analyze, analyze_change
from mldiff.analysis.notebook import Cell, Notebook, notebook_change, pair_cells, pythonize, read_notebook
from mldiff.findings import CellSpan, Finding, Fix, Span, TextEdit

OPTIMIZER = "import torch\nopt = torch.optim.Adam(model.parameters(), lr={lr})\n"


def notebook(*cells, outputs=None, count=1, language="python", as_string=False, indent=1, ids=None) -> str:
    """An nbformat 4 notebook: a str cell is code, ("markdown", text) a markdown cell; ``ids``
    gives each cell its nbformat id (nbformat 4.5)."""
    out = []
    for index, cell in enumerate(cells):
        kind, text = cell if isinstance(cell, tuple) else ("code", cell)
        source = text if as_string else text.splitlines(keepends=True)
        entry = {"cell_type": kind, "metadata": {}, "source": source}
        if ids is not None:
            entry["id"] = ids[index]
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
    assert errors["head"].message == (f"head side does not parse at line {errors['head'].line}: "
                                      f"cell 1, line 1: invalid syntax")
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
    assert read_notebook(notebook(("markdown", "only prose\n"))).code_cells == ()
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


# -- cells as the unit -------------------------------------------------------------------------
TRANSFORM = ("from torchvision import transforms\n"
             "tf = transforms.Compose([\n    transforms.ToTensor(),\n    transforms.Normalize((0.5,), (0.5,)),\n])\n")
SCHEDULE = "import torch\nsched = torch.optim.lr_scheduler.StepLR(opt, step_size=10)\n"


def test_a_finding_names_its_cell_counting_markdown_cells_as_jupyter_does():
    before = notebook(("markdown", "# Train\n"), "import torch\n", ("markdown", "## Optimizer\n"),
                      "x = 1\n" + OPTIMIZER.format(lr="1e-3"), ids=["t", "a", "m", "opt"])
    after = before.replace("lr=1e-3", "lr=1e-2")
    (finding,) = analyze("train.ipynb", before, after).findings
    assert finding.cell == CellSpan(4, "opt", Span(3, 47, 3, 51))   # the 4th cell, 3rd line of its source
    assert finding.location() == "train.ipynb: cell 4, line 3"
    data = finding.to_json()
    assert (data["cell"], data["cell_id"], data["cell_line"], data["cell_column"]) == (4, "opt", 3, 47)
    assert covered(after, finding.span) == "1e-2"             # `line` stays the .ipynb file's line
    assert Finding.from_json(data).cell == finding.cell


def test_reordered_cells_without_ids_are_paired_by_code_and_only_the_edit_is_reported():
    before = notebook(TRANSFORM, "x = 1\n" + OPTIMIZER.format(lr="1e-3"), SCHEDULE)
    after = notebook(SCHEDULE, "x = 1\n" + OPTIMIZER.format(lr="3e-4"), TRANSFORM)
    change = notebook_change("a.ipynb", before, after)
    assert change.pairs == {0: 2, 1: 1, 2: 0}
    assert [(h.head_start, h.head_end) for h in change.hunks] == [(4, 5)]   # one changed line, not three moved cells
    (finding,) = analyze("a.ipynb", before, after).findings
    assert finding.code == "ML301" and finding.cell.cell == 2 and finding.cell.span.line == 3
    assert '"opt = torch.optim.Adam' in before.split("\n")[finding.base_line - 1]


def test_inserted_and_deleted_cells_leave_the_others_unchanged():
    before = notebook(TRANSFORM, "print('debug')\n", OPTIMIZER.format(lr="1e-3"), SCHEDULE, ids=list("abcd"))
    after = notebook("%load_ext autoreload\n", TRANSFORM, OPTIMIZER.format(lr="1e-3"), "y = 2\n", SCHEDULE,
                     ids=list("xacyd"))
    change = notebook_change("a.ipynb", before, after)
    assert change.pairs == {1: 0, 2: 2, 4: 3}
    assert analyze("a.ipynb", before, after).findings == []


def test_a_cell_id_wins_over_similar_code():
    base = [Cell(1, "code", "a", ("lr = 0.1",)), Cell(2, "code", "b", ("lr = 0.2",))]
    head = [Cell(1, "code", "b", ("lr = 0.1",)), Cell(2, "code", "a", ("lr = 0.3",))]
    assert pair_cells(base, head) == {0: 1, 1: 0}
    # the same code without ids; then the most similar; repeated ids count as none
    plain = [Cell(i + 1, "code", "dup", cell.lines) for i, cell in enumerate(base)]
    assert pair_cells(plain, [Cell(1, "code", "dup", ("lr = 0.2",)), Cell(2, "code", None, ("lr = 0.15",))]) == \
        {0: 1, 1: 0}


def test_a_changed_cell_that_does_not_parse_hides_nothing_else_and_reports_nothing_of_its_own():
    """While a cell does not parse it is commented out: its code must not look deleted."""
    before = notebook(TRANSFORM, OPTIMIZER.format(lr="1e-3"))
    after = notebook(TRANSFORM.replace("])\n", "])\nx = (\n"), OPTIMIZER.format(lr="1e-2"))
    result = analyze("a.ipynb", before, after)
    assert [(f.code, f.cell.cell) for f in result.findings] == [("ML301", 2)]
    (error,) = result.errors
    assert error.message.startswith("head side does not parse at line") and "cell 1, line 6:" in error.message


def test_checks_that_span_cells_see_the_notebook_as_one_module():
    setup = "import torch\nmodel = torch.nn.Linear(2, 2)\noptimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
    scaler = "scaler = torch.amp.GradScaler('cuda')\n"
    loop = ("for x in data:\n    with torch.autocast('cuda', dtype=torch.float16):\n        loss = model(x).sum()\n"
            "    scaler.scale(loss).backward()\n    scaler.step(optimizer)\n    scaler.update()\n"
            "    optimizer.zero_grad()\n")
    bypass = loop.replace("    scaler.step(optimizer)\n    scaler.update()\n", "    optimizer.step()\n")
    findings = analyze("a.ipynb", notebook(setup, scaler, loop), notebook(setup, scaler, bypass)).findings
    assert "ML803" in {f.code for f in findings}                     # GradScaler bypassed
    assert {f.cell.cell for f in findings} == {3}
    assert "ML804" not in {f.code for f in findings}                  # the scaler of cell 2 is seen
    # the same findings as for the one file the cells make
    as_file = analyze("a.py", setup + scaler + loop, setup + scaler + bypass).findings
    assert sorted(f.code for f in findings) == sorted(f.code for f in as_file)
    removed = analyze("a.ipynb", notebook(setup, scaler, loop), notebook(setup, loop)).findings
    assert [(f.code, f.cell.cell) for f in removed] == [("ML102", 2)]   # GradScaler removed: its cell went


def test_fixes_as_edits_of_the_cell():
    text = notebook("import torch\n", 'x = "a"\ny = 1\n')
    change = notebook_change("a.ipynb", text, text)
    two_lines = Fix("two lines", (TextEdit(Span(2, 1, 4, 1), 'x = "b"\ny = 2\n'),))
    finding = Finding("a.ipynb", "ML000", "precision", "warning", "m", Span(2, 5, 2, 8), fixes=(two_lines,))
    (mapped,) = change.map_findings([finding])
    assert mapped.fixes == ()                                  # a JSON string cannot take two lines
    (fix,) = mapped.cell_fixes
    assert fix.edits == (TextEdit(Span(1, 1, 3, 1), 'x = "b"\ny = 2\n'),)   # the whole of cell 2


def test_a_notebook_from_editor_cells_maps_to_its_document_and_cells():
    from mldiff.analysis.notebook import editor_notebook_change
    base = notebook(("markdown", "# T\n"), "import torch\n", OPTIMIZER.format(lr="1e-3"))
    head, document = Notebook.of_cells([("markdown", "# T", None), ("code", "import torch", None),
                                        ("code", OPTIMIZER.format(lr="1e-2"), None)])
    change = editor_notebook_change("a.ipynb", base, head, document)
    result = analyze_change("notebook", change, base, document, Settings())
    (finding,) = result.findings
    assert finding.cell == CellSpan(3, None, Span(2, 47, 2, 51))
    assert document.split("\n")[finding.span.line - 1][finding.span.column - 1:finding.span.end_column - 1] == "1e-2"


# -- bad notebooks: one clear message each, never a crash --------------------------------------
def test_nbformat_3_cells_are_numbered_across_worksheets():
    def v3(lr):
        cell = {"cell_type": "code", "input": OPTIMIZER.format(lr=lr).splitlines(keepends=True), "outputs": []}
        return json.dumps({"nbformat": 3, "metadata": {}, "worksheets": [
            {"cells": [{"cell_type": "heading", "level": 1, "source": ["Train"]}]}, {"cells": [cell]}]}, indent=1)
    result = analyze("old.ipynb", v3("0.1"), v3("0.3"))
    assert result.errors == [] and [f.cell.cell for f in result.findings] == [2]


def test_huge_outputs_do_not_make_a_notebook_too_large():
    image = {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo" * 5_000_000}, "metadata": {}}
    before = notebook(OPTIMIZER.format(lr="1e-3"), outputs=[image])
    after = before.replace("lr=1e-3", "lr=1e-2")
    assert len(after) > 50_000_000
    result = analyze("big.ipynb", before, after)
    assert [f.code for f in result.findings] == ["ML301"] and result.notes == [] and result.errors == []


def test_too_much_code_gets_a_note_and_neither_side_is_read():
    code = "x = 1\n" * 900_000
    result = analyze("gen.ipynb", notebook("lr = 0.1\n"), notebook(code + "lr = 0.2\n"))
    assert result.findings == [] and result.errors == []
    assert result.notes == ["gen.ipynb: head side: 5.4 MB of code in its cells, more than mldiff reads (5 MB); "
                            "its cells are not analysed"]


@pytest.mark.parametrize("head, message", [
    ('{"cells": [', "not a valid notebook: "),
    ("[1, 2]", "not a valid notebook: not a notebook: the document is not a JSON object"),
    ('{"metadata": {}, "nbformat": 4}', 'not a valid notebook: not a notebook: it has no "cells" list'),
])
def test_json_that_is_no_notebook_gets_one_error(head, message):
    result = analyze("a.ipynb", notebook(OPTIMIZER.format(lr="1e-3")), head)
    assert result.findings == []
    (error,) = result.errors
    assert error.message.startswith("head side does not parse at line") and message in error.message


def test_a_conflict_inside_the_json_gets_one_error():
    base = notebook(OPTIMIZER.format(lr="1e-3"))
    lines = base.split("\n")
    at = next(i for i, line in enumerate(lines) if "lr=1e-3" in line)
    conflicted = "\n".join(lines[:at] + ["<<<<<<< HEAD", lines[at].replace("1e-3", "1e-2"), "=======",
                                         lines[at].replace("1e-3", "3e-4"), ">>>>>>> other"] + lines[at + 1:])
    result = analyze("a.ipynb", base, conflicted)
    assert result.findings == []
    assert [e.message for e in result.errors] == [
        f"head side has merge-conflict markers (line {at + 1}): resolve the conflict first"]


def test_cells_without_ids_and_cells_with_odd_fields_are_read():
    cells = [{"cell_type": "code", "source": None, "outputs": []}, "not a cell", {"source": ["x = 1\n"]},
             {"cell_type": "code", "source": OPTIMIZER.format(lr="0.1").splitlines(keepends=True), "outputs": []}]

    def text(lr):
        cells[3]["source"] = OPTIMIZER.format(lr=lr).splitlines(keepends=True)
        return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 2})
    result = analyze("a.ipynb", text("0.1"), text("0.2"))
    assert result.errors == [] and [(f.code, f.cell.cell, f.cell.cell_id) for f in result.findings] == [
        ("ML301", 4, None)]


def test_line_numbers_in_messages_name_the_cell_and_its_line():
    before = notebook("import torch\nLR = 1e-3\n", "x = 1\nopt = torch.optim.Adam(model.parameters(), lr=LR)\n")
    after = before.replace("LR = 1e-3", "LR = 1e-2")
    (finding,) = analyze("a.ipynb", before, after).findings
    assert finding.message == "LR 1e-3 -> 1e-2, used as Adam lr in cell 2, line 2", finding.message
    assert finding.cell.cell == 1
    change = notebook_change("a.ipynb", before, after)
    assert change._cell_message("changed (also at lines 3, 4)") == "changed (also in cell 2, line 1; cell 2, line 2)"
    assert change._cell_message("x (line 2)") == "x (cell 1, line 2)"
    assert change._cell_message("beyond (line 99)") == "beyond (line 99)"
