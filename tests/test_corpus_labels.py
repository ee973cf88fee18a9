"""The project's own labelled corpus (tests/corpus/) keeps the labelling rules: the record
format, known families, evidence for every family, negatives that say what the diff does, no
repository held out for independent evaluation or already in the shared corpus, and the mix
the corpus was built for (a quarter negative at least, a third found by reading commit by
commit). That evidence lines are changed lines is checked against the repositories
themselves with ``scripts/check_labels.py --mirrors DIR``."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BATCHES = sorted((ROOT / "tests" / "corpus").glob("*.json"))


def checker():
    spec = importlib.util.spec_from_file_location("check_labels", ROOT / "scripts" / "check_labels.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", BATCHES, ids=lambda p: p.stem)
def test_every_case_keeps_the_labelling_rules(path):
    cases = json.loads(path.read_text(encoding="utf-8"))
    assert checker().problems_of(cases, None) == []


def test_the_corpus_has_the_size_and_mix_it_was_built_for():
    cases = [case for path in BATCHES for case in json.loads(path.read_text(encoding="utf-8"))]
    negatives = [case for case in cases if not case["families"]]
    assert len(cases) >= 200 and len(negatives) >= len(cases) / 4
    assert sum(case["found_by"] == "reading" for case in cases) >= len(cases) / 3
    assert len({case["repo"] for case in cases}) >= 10


def test_the_checker_finds_what_breaks_a_label():
    check = checker()
    good = {"repo": "someone/project", "commit": "a" * 40, "parent": "b" * 40, "path": "train.py",
            "families": ["loss"], "evidence": [{"family": "loss", "side": "new", "line": 3, "what": "label smoothing"}],
            "note": "Label smoothing turned on.", "found_by": "reading"}
    assert check.problems_of([good], None) == []
    broken = [dict(good, families=["accuracy"]), dict(good, repo="ultralytics/yolov5"),
              dict(good, families=[], note="only comments"), dict(good, evidence=[])]
    problems = check.problems_of(broken, None)
    assert any("unknown family accuracy" in p for p in problems)
    assert any("held out" in p for p in problems)
    assert any("negative case with evidence" in p for p in problems)
    assert any("family loss has no evidence" in p for p in problems)
