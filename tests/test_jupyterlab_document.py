"""JupyterLab's virtual document read back into cells (mldiff.lsp.jupyterlab).

The texts here are what jupyterlab-lsp 5.3 in JupyterLab 4.6 sent for the fixture notebook
with the extra cells below (recorded from a real session): cells joined by two blank
lines, markdown and raw cells as one empty line, magics rewritten.
"""
from __future__ import annotations

import json

from conftest import FIXTURES
from mldiff.config import Settings
from mldiff.engine import analyze, analyze_change
from mldiff.analysis.notebook import editor_notebook_change, read_notebook
from mldiff.lsp.jupyterlab import is_virtual_document, virtual_notebook

EXTRA = [
    {"cell_type": "code", "id": "m1", "metadata": {}, "outputs": [], "execution_count": None,
     "source": ["%%time\n", "x = 1\n", "y = 2"]},
    {"cell_type": "code", "id": "m2", "metadata": {}, "outputs": [], "execution_count": None,
     "source": ["!pip list\n", "files = !ls\n", "help?\n", "x = 1  # %% not magic\n", "%time f(1)"]},
    {"cell_type": "code", "id": "m3", "metadata": {}, "outputs": [], "execution_count": None,
     "source": ["%%bash\n", "echo hi\n", "echo there"]},
    {"cell_type": "code", "id": "m4", "metadata": {}, "outputs": [], "execution_count": None,
     "source": ["a = 1\n", "\n", "\n", "\n", "b = 2\n"]},
    {"cell_type": "raw", "id": "r", "metadata": {}, "source": ["raw text"]},
    {"cell_type": "code", "id": "m5", "metadata": {}, "outputs": [], "execution_count": None, "source": []},
]
FIXTURE = json.loads((FIXTURES / "notebooks" / "train.ipynb").read_text(encoding="utf-8"))
NOTEBOOK = json.dumps({**FIXTURE, "cells": FIXTURE["cells"] + EXTRA}, indent=1) + "\n"
RECORDED = (
    '\n\n\nget_ipython().run_line_magic("matplotlib", " inline")\nimport torch\nfrom torch import nn\n'
    'from torch.utils.data import DataLoader\nfrom torchvision import datasets, transforms\n\n\n'
    'transform = transforms.Compose([\n    transforms.ToTensor(),\n    transforms.Normalize((0.1307,), (0.3081,)),\n'
    '])\ndata = datasets.FakeData(size=512, image_size=(1, 28, 28), num_classes=10, transform=transform)\n'
    'loader = DataLoader(data, batch_size=64, shuffle=True)\n\n\n\n\n\n'
    'model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))\n'
    'optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)\nloss_fn = nn.CrossEntropyLoss()\n\n\n'
    'for images, labels in loader:\n    optimizer.zero_grad()\n    loss = loss_fn(model(images), labels)\n'
    '    loss.backward()\n    optimizer.step()\nprint(f"loss {loss.item():.4f}")\n\n\n'
    '# START_CELL_MAGIC("time", "")\nx = 1\ny = 2\n# END_CELL_MAGIC\n\n\n'
    'get_ipython().getoutput("pip list")\nfiles = get_ipython().getoutput("ls")\n'
    "get_ipython().run_line_magic('pinfo',  'help')\nx = 1  # %% not magic\n"
    'get_ipython().run_line_magic("time", " f(1)")\n\n\n'
    'get_ipython().run_cell_magic("bash", "", """echo hi\necho there""")\n\n\n'
    'a = 1\n\n\n\nb = 2\n\n\n\n\n\n\n\n')


def test_the_recorded_document_gives_back_every_cell_as_written():
    saved = read_notebook(NOTEBOOK)
    cells = virtual_notebook(RECORDED, saved).cells
    assert [(cell.number, cell.kind, cell.id) for cell in cells] == [
        (c.number, c.kind, c.id) for c in saved.cells]
    for cell, known in zip(cells, saved.cells):
        if known.kind == "code":
            assert cell.lines == known.lines + (("",) if known.id == "m4" else ()), known.id
    lines = RECORDED.split("\n")
    for cell in cells:
        if cell.kind == "code" and cell.lines and not cell.lines[0].startswith(("%", "!")):
            assert lines[cell.first_line - 1] == cell.lines[0]      # where each cell starts in the document


def test_without_the_saved_notebook_the_blank_line_pairs_split_the_cells():
    cells = virtual_notebook(RECORDED, None).code_cells
    assert cells[0].lines[0] == "%matplotlib inline"
    assert [cell.lines[0] for cell in cells if cell.lines != ("",)][:4] == [
        "%matplotlib inline", "transform = transforms.Compose([", "model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))",
        "for images, labels in loader:"]


def test_unsaved_edits_new_cells_and_a_deleted_one_keep_the_other_cells_as_they_are():
    saved = read_notebook(NOTEBOOK)
    edited = RECORDED.replace("    transforms.Normalize((0.1307,), (0.3081,)),\n", "")
    edited = edited.replace("loss_fn = nn.CrossEntropyLoss()\n\n\n", "loss_fn = nn.CrossEntropyLoss()\n\n\nz = 3\n\n\n")
    edited = edited.replace('get_ipython().run_cell_magic("bash", "", """echo hi\necho there""")\n\n\n', "")
    cells = virtual_notebook(edited, saved).cells
    by_id = {cell.id: cell for cell in cells}
    assert "m3" not in by_id
    assert by_id["data"].lines[1:3] == ("    transforms.ToTensor(),", "])")
    assert by_id["model"].lines == saved.cells[4].lines
    (new,) = [cell for cell in cells if cell.kind == "code" and cell.id is None]
    assert new.lines == ("z = 3",) and cells.index(new) == 5


def test_findings_land_on_the_virtual_document_lines():
    saved = read_notebook(NOTEBOOK)
    edited = RECORDED.replace("lr=1e-3", "lr=1e-2").replace("    transforms.Normalize((0.1307,), (0.3081,)),\n", "")
    head = virtual_notebook(edited, saved)
    result = analyze_change("notebook", editor_notebook_change("train.ipynb", saved, head, edited), NOTEBOOK, edited,
                            Settings())
    assert result.errors == []
    lines = edited.split("\n")
    assert {(f.code, lines[f.span.line - 1][f.span.column - 1:f.span.end_column - 1]) for f in result.findings} == {
        ("ML201", "])"), ("ML301", "1e-2")}
    assert {f.cell.cell_id for f in result.findings} == {"data", "model"}


def test_only_a_python_buffer_that_is_not_json_is_a_virtual_document():
    assert is_virtual_document(RECORDED, "python")
    assert not is_virtual_document(NOTEBOOK, "python")
    assert not is_virtual_document(RECORDED, "json")
