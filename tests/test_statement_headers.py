"""A touched ``try:`` or ``match`` header parses on its own (it used to be a parse error)."""
from __future__ import annotations

from mldiff.analysis.change import PythonChange
from mldiff.analysis.module import ModuleView


def test_try_and_match_headers_parse_alone():
    view = ModuleView("try:\n    x = 1\nexcept ValueError:\n    pass\nmatch command:\n    case 'go':\n        pass\n")
    errors = {view.logical[i].keyword: view.unit(i).error for i in range(len(view.logical))}
    assert errors["try"] is None and errors["match"] is None and errors["except"] is None


def test_a_changed_try_block_is_not_a_parse_error():
    change = PythonChange.from_texts("a.py", "try:\n    x = 1\nfinally:\n    pass\n",
                                     "try:  # guarded\n    x = 2\nfinally:\n    pass\n")
    assert change.parse_errors() == []
