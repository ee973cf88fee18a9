"""``mldiff.debounceMs``: automatic by default, fixed when set, against the real server process.

The server logs (at debug level) the debounce it chose for each edit and why; these tests
read that log and what was published, never the clock.
"""
from __future__ import annotations

import re
import sys

import pytest

from conftest import Repo
from lsp_fixtures import TRAIN, TRAIN_LINE, TRAIN_LINE_TEXT, commit_train_script
from lsp_wire import WireServer
from mldiff.lsp.scheduler import auto_delay_s

DEBUG_SERVER = [sys.executable, "-m", "mldiff", "serve", "--log-level", "debug"]
AUTO_LINE = re.compile(r"debounce for (\S+): (\d+) ms \(auto; last analysis (?:took ([\d.]+) ms|not yet)\)")
FIXED_LINE = re.compile(r"debounce for (\S+): (\d+) ms \(mldiff\.debounceMs\)")


@pytest.fixture
def server(repo: Repo, tmp_path):
    commit_train_script(repo)
    wire = WireServer(repo.path, tmp_path / "server.log", command=DEBUG_SERVER)
    yield wire
    assert wire.stop() == 0


def edit_train_line(server: WireServer, uri: str, version: int, old: str, new: str) -> None:
    server.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": version},
        "contentChanges": [{"range": {"start": {"line": TRAIN_LINE, "character": 0},
                                      "end": {"line": TRAIN_LINE, "character": len(old)}}, "text": new}]})


def test_auto_debounce_follows_the_last_analysis_and_is_none_for_a_fast_one(server, repo):
    """A two-line file analyses in a few milliseconds once the server is warm: after such an
    analysis the next edit starts at once; every wait logged follows the documented rule."""
    repo.write("tiny.py", "import torch\nlr = 0.1\n")
    repo.commit("tiny")
    server.start(options={"debounceMs": "auto"})
    uri = server.open(repo.path / "tiny.py", "import torch\nlr = 0.2\n")
    server.settle(uri, 1)
    chosen: list[tuple[int, float]] = []
    for version in range(2, 42):
        server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                 "contentChanges": [{"text": f"import torch\nlr = 0.{version}\n"}]})
        server.settle(uri, version)  # every edit is analysed, and published with its version
        for match in AUTO_LINE.finditer(server.new_stderr()):
            assert match[1] == uri
            assert match[3] is not None, "an edit after an analysis knows how long it took"
            chosen.append((int(match[2]), float(match[3])))
        if any(delay == 0 for delay, _ in chosen):
            break
    assert chosen, "the server logged no automatic debounce"
    for delay_ms, took_ms in chosen:  # the documented rule, within the log's rounding
        assert abs(delay_ms - auto_delay_s(took_ms / 1000) * 1000) <= 1
    assert any(delay == 0 for delay, _ in chosen), chosen
    server.check_health()


def test_explicit_debounce_is_honoured_and_supersedes_quick_edits(server, repo):
    server.start(options={"debounceMs": 3000})
    uri = server.open(repo.path / "train.py", TRAIN)
    server.settle(uri, 1)  # opening is analysed at once, whatever the debounce
    first = f"{TRAIN_LINE_TEXT}  # a"
    edit_train_line(server, uri, 2, TRAIN_LINE_TEXT, first)
    edit_train_line(server, uri, 3, first, f"{TRAIN_LINE_TEXT}  # b")  # well within 3 s of the first
    server.settle(uri, 3)
    assert [p.get("version") for p in server.published[uri]] == [1, 3], "version 2 waited, then was superseded"
    log = server.new_stderr()
    assert [(m[1], int(m[2])) for m in FIXED_LINE.finditer(log)] == [(uri, 3000), (uri, 3000)]
    assert not AUTO_LINE.search(log)


def test_auto_debounce_bounds():
    assert auto_delay_s(None) > 0            # not analysed yet: a short wait
    assert auto_delay_s(0.001) == 0          # fast: none
    assert auto_delay_s(0.04) == 0.04        # as long as the last analysis
    assert auto_delay_s(5.0) == 0.25         # bounded
