"""``diff_lines`` against real git: every case here is run through ``git diff -U0`` and the
hunks must be the same, line for line.

Hand-written cases cover what git's xdiff does beyond a plain shortest edit script (the
indent heuristic, sliding groups over repeated lines, the discarding of lines with no
match, the 1024-byte tail trim, the Myers cost limit); a hypothesis test applies random
realistic edits to real source files from the installed torch package; an opt-in test
replays real commit history from local mirrors (``MLDIFF_MIRRORS``).
"""
from __future__ import annotations

import importlib.util
import os
import random
import re
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import GIT_ENV
from mldiff.hunks import Hunk, LineMap, diff_lines, split_lines

HEADER = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)
DIFF_OPTIONS = ["-U0", "--no-color", "--no-ext-diff", "--no-textconv"]
ENV = {**os.environ, **GIT_ENV}


def _side(first: bytes, count: bytes | None) -> tuple[int, int]:
    size = 1 if count is None else int(count)
    start = int(first) - 1 if size else int(first)  # git names the line before an empty side
    return start, start + size


def parse_hunks(patch: bytes) -> list[Hunk]:
    hunks = []
    for match in HEADER.finditer(patch):
        base, head = _side(match[1], match[2]), _side(match[3], match[4])
        hunks.append(Hunk(base[0], base[1], head[0], head[1]))
    return hunks


def git_hunks(base: bytes, head: bytes) -> list[Hunk]:
    """The hunks of ``git diff --no-index -U0`` between two files holding these bytes."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "base").write_bytes(base)
        Path(folder, "head").write_bytes(head)
        result = subprocess.run(["git", "diff", "--no-index", *DIFF_OPTIONS, "--", "base", "head"],
                                cwd=folder, env=ENV, capture_output=True)
    assert result.returncode in (0, 1), result.stderr.decode(errors="replace")
    assert b"Binary files" not in result.stdout
    return parse_hunks(result.stdout)


def lines_of(data: bytes) -> list[str]:
    return split_lines(data.decode("utf-8", "surrogateescape"))


def our_hunks(base: bytes, head: bytes) -> list[Hunk]:
    return diff_lines(lines_of(base), lines_of(head))


def assert_like_git(base: bytes, head: bytes) -> list[Hunk]:
    expected = git_hunks(base, head)
    ours = our_hunks(base, head)
    assert [h.header() for h in ours] == [h.header() for h in expected]  # readable on failure
    assert ours == expected
    return ours


def text(*lines: str) -> bytes:
    return "".join(lines).encode()


# -- hand-written cases ------------------------------------------------------------------------

FUNCTIONS = text("def first():\n", "    return 1\n", "\n", "\n", "def second():\n", "    return 2\n")
CLASS = text("class Model:\n", "    def a(self):\n", "        pass\n", "\n", "    def b(self):\n",
             "        pass\n")
BRACES = text("int f() {\n", "  if (a) {\n", "    b();\n", "  }\n", "}\n")

CASES = {
    "insert in the middle": (text("a\n", "b\n", "c\n"), text("a\n", "b\n", "x\n", "c\n")),
    "insert at the start": (text("a\n", "b\n"), text("x\n", "a\n", "b\n")),
    "append at the end": (text("a\n", "b\n"), text("a\n", "b\n", "c\n")),
    "delete a line": (text("a\n", "b\n", "c\n"), text("a\n", "c\n")),
    "delete the first line": (text("a\n", "b\n", "c\n"), text("b\n", "c\n")),
    "replace a line": (text("a\n", "b\n", "c\n"), text("a\n", "B\n", "c\n")),
    "replace unequal blocks": (text("a\n", "b\n", "c\n", "d\n", "e\n"), text("a\n", "x\n", "e\n")),
    "two separate edits": (text("a\n", "b\n", "c\n", "d\n", "e\n"), text("a\n", "B\n", "c\n", "D\n", "e\n")),
    # The inserted copy of "x = 1" could sit before or after it; git lines it up with the
    # removed line, so one replacement shows instead of a removal and an insertion.
    "line replaced by a copy of its neighbour": (text("y = 2\n", "x = 1\n"), text("x = 1\n", "x = 1\n")),
    "blank line added between blanks": (text("a\n", "\n", "\n", "b\n"), text("a\n", "\n", "\n", "\n", "b\n")),
    "blank line removed": (text("a\n", "\n", "\n", "b\n", "\n", "c\n"), text("a\n", "\n", "b\n", "\n", "c\n")),
    "repeated closing braces": (BRACES, text("int f() {\n", "  if (a) {\n", "    b();\n", "  }\n",
                                             "  if (c) {\n", "    d();\n", "  }\n", "}\n")),
    "repeated pass": (text("def a():\n", "    pass\n", "def b():\n", "    pass\n"),
                      text("def a():\n", "    pass\n", "def c():\n", "    pass\n", "def b():\n", "    pass\n")),
    "many identical lines": (text(*["pass\n"] * 40), text(*["pass\n"] * 37, "x\n", *["pass\n"] * 5)),
    # The blank line in the rewritten block occurs often in the head, and only among lines
    # that do not occur there at all: git discards it rather than pairing it with a blank.
    "blank line inside a rewritten block": (
        text("def train():\n", "    old_0()\n", "\n", *[f"    old_{i}()\n" for i in range(1, 7)],
             "def evaluate():\n", "    pass\n"),
        text("def train():\n", "    new_0()\n", "    new_1()\n", "\n", "    new_2()\n", "\n", "    new_3()\n",
             "    new_4()\n", "    new_5()\n", "\n", "    new_6()\n", "\n", "def evaluate():\n", "    pass\n",
             "\n", "\n")),
    "function added between functions": (FUNCTIONS, text(
        "def first():\n", "    return 1\n", "\n", "\n", "def added():\n", "    return 3\n", "\n", "\n",
        "def second():\n", "    return 2\n")),
    "method added inside a class": (CLASS, text(
        "class Model:\n", "    def a(self):\n", "        pass\n", "\n", "    def c(self):\n", "        pass\n", "\n",
        "    def b(self):\n", "        pass\n")),
    "function removed": (text("def a():\n", "    pass\n", "\n", "def b():\n", "    pass\n", "\n", "def c():\n",
                              "    pass\n"),
                         text("def a():\n", "    pass\n", "\n", "def c():\n", "    pass\n")),
    "if block wrapped": (text("x = 1\n", "y = 2\n", "z = 3\n"),
                         text("x = 1\n", "if cond:\n", "    y = 2\n", "z = 3\n")),
    "tab indentation": (text("def f():\n", "\tif a:\n", "\t\tb()\n", "\n", "\tc()\n"),
                        text("def f():\n", "\tif a:\n", "\t\tb()\n", "\n", "\tif d:\n", "\t\te()\n", "\n", "\tc()\n")),
    # The indent heuristic's details, each case decided by one of them:
    "tab advances to a multiple of 8": (text("    x\n", "\t\ty\n", "    x\n"), text("    x\n")),
    "carriage return is whitespace to the heuristic": (text("\r\n"), text("\r\n", "  y\n", "\r\n")),
    "end of file is a bad place to split": (text("x\n", "\n", "    y\n", "x\n"), text("x\n")),
    "indent counts up to 200 columns": (text(" " * 205 + "y\n", " " * 205 + "y\n", " " * 210 + "x\n"),
                                        text(" " * 205 + "y\n", " " * 210 + "x\n")),
    "blank lines count": (text("x\n", *["\n"] * 6, "    y\n"), text("x\n", *["\n"] * 3, "    y\n")),
    "blank lines count up to 20": (text("x\n", *["\n"] * 25, "    y\n"), text("x\n", *["\n"] * 22, "    y\n")),
    "heuristic looks back 100 lines at most": (text("start\n", *["x\n", "    y\n"] * 200, "end\n"),
                                               text("start\n", *["x\n", "    y\n"] * 80, "end\n")),
    "no newline at end of base": (text("a\n", "b"), text("a\n", "b\n")),
    "no newline at end of head": (text("a\n", "b\n"), text("a\n", "b")),
    "no newline on either side, last line changed": (text("a\n", "b"), text("a\n", "c")),
    "line added after a last line without newline": (text("a\n", "b"), text("a\n", "b\n", "c")),
    "crlf line ending changed": (text("a\r\n", "b\r\n", "c\r\n"), text("a\r\n", "b\n", "c\r\n")),
    "crlf file edited": (text("a\r\n", "\r\n", "b\r\n", "c\r\n"), text("a\r\n", "\r\n", "x\r\n", "b\r\n", "c\r\n")),
    "all lines to crlf": (text("a\n", "b\n", "c\n"), text("a\r\n", "b\r\n", "c\r\n")),
    "lone carriage return stays in the line": (text("a\rb\n", "c\n"), text("a\n", "b\n", "c\n")),
    "empty base": (b"", text("a\n", "b\n")),
    "empty head": (text("a\n", "b\n"), b""),
    "empty base, head without newline": (b"", b"a"),
    "identical": (FUNCTIONS, FUNCTIONS),
    "both empty": (b"", b""),
    "non-ascii and undecodable bytes": ("é = 1\nß\n".encode() + b"\xff\xfe\n" + "ü\n".encode(),
                                        "é = 1\n".encode() + b"\xff\xfe\n" + "ü\n".encode() + b"\xff\n"),
    # git cuts the common tail in 1024-byte blocks before diffing (for -U0), so the inserted
    # line cannot slide to the end of the file: it lands at line 90.
    "tail trim stops sliding": (text(*["x\n"] * 600), text(*["x\n"] * 601)),
    "short tail is not trimmed": (text(*["x\n"] * 400), text(*["x\n"] * 401)),
    # The common bytes reach 1024 only with the shared ending "x\n" of the first differing
    # lines, so all 511 common lines are hidden and the insertion stays at line 2.
    "tail trim counts the differing lines' common ending": (
        text("    return x\n", *["x\n"] * 511), text("    return x\n", *["x\n"] * 512)),
    "tail trim with multibyte characters": (text("é\n", *["ß = 1\n"] * 300), text("é\n", *["ß = 1\n"] * 301)),
}


@pytest.mark.parametrize("base,head", CASES.values(), ids=CASES.keys())
def test_hand_written_case_matches_git(base: bytes, head: bytes) -> None:
    assert_like_git(base, head)


# What git prints for some cases, spelled out, so a reader sees the behaviour (and a git
# that changed its defaults would show up here).
EXPECTED_HEADERS = {
    "function added between functions": ["@@ -4,0 +5,4 @@"],  # blank lines go after the new function
    "method added inside a class": ["@@ -4,0 +5,3 @@"],  # likewise inside a class
    "repeated closing braces": ["@@ -4,0 +5,3 @@"],
    "tail trim stops sliding": ["@@ -89,0 +90 @@"],
    "short tail is not trimmed": ["@@ -400,0 +401 @@"],
    "tail trim counts the differing lines' common ending": ["@@ -1,0 +2 @@"],
    "line replaced by a copy of its neighbour": ["@@ -1 +1 @@"],
    "tab advances to a multiple of 8": ["@@ -1,2 +0,0 @@"],
    "carriage return is whitespace to the heuristic": ["@@ -1,0 +2,2 @@"],
    "end of file is a bad place to split": ["@@ -1,3 +0,0 @@"],
    "indent counts up to 200 columns": ["@@ -2 +1,0 @@"],
    "blank lines count": ["@@ -5,3 +4,0 @@"],
    "blank lines count up to 20": ["@@ -20,3 +19,0 @@"],
    "heuristic looks back 100 lines at most": ["@@ -162,240 +161,0 @@"],
    "no newline at end of base": ["@@ -2 +2 @@"],
    "crlf line ending changed": ["@@ -2 +2 @@"],
    "empty base": ["@@ -0,0 +1,2 @@"],
    "empty head": ["@@ -1,2 +0,0 @@"],
    "identical": [],
}


@pytest.mark.parametrize("name", EXPECTED_HEADERS)
def test_known_headers(name: str) -> None:
    base, head = CASES[name]
    assert [h.header() for h in our_hunks(base, head)] == EXPECTED_HEADERS[name]


def _rewritten_around_blanks(blank_lines: int) -> tuple[bytes, bytes]:
    """Two rewritten 400-line blocks with a run of blank lines between them."""
    def side(tag: str) -> bytes:
        return text("start\n", *[f"{tag}_{i}\n" for i in range(400)], *["\n"] * blank_lines,
                    *[f"{tag}_b{i}\n" for i in range(400)], "end\n")
    return side("old"), side("new")


@pytest.mark.parametrize("blank_lines,expected", [
    (20, ["@@ -2,400 +2,400 @@", "@@ -422,400 +422,400 @@"]),  # under sqrt(lines) copies: matched
    (40, ["@@ -2,840 +2,840 @@"]),  # many copies, buried in unmatched lines: discarded
    (60, ["@@ -2,400 +2,400 @@", "@@ -462,400 +462,400 @@"]),  # too many within 100 lines: kept
])
def test_blank_lines_between_rewritten_blocks(blank_lines: int, expected: list[str]) -> None:
    """xdiff's multimatch rule: a line with at least sqrt(n) copies in the other text is
    discarded when, within 100 lines each way, unmatched lines outnumber such lines 3 to 1."""
    base, head = _rewritten_around_blanks(blank_lines)
    assert [h.header() for h in assert_like_git(base, head)] == expected


def _numbered(count: int, seed: int) -> list[str]:
    """Distinct-looking lines of code, each occurring a few times in the file."""
    rng = random.Random(seed)
    return [f"    value_{rng.randrange(count // 3)} = compute({rng.randrange(50)})\n" for _ in range(count)]


def test_cost_limited_rewrite_matches_git() -> None:
    """A rewrite too costly for an optimal diff: xdiff stops each split at an edit cost of
    256 and takes the furthest-reaching path, forward or backward."""
    rng = random.Random(0)
    base = _numbered(3000, 1)
    blocks = [base[i:i + 30] for i in range(0, len(base), 30)]
    rng.shuffle(blocks)
    head = [line for block in blocks for line in block if rng.random() > 0.1]
    assert_like_git("".join(base).encode(), "".join(head).encode())


def _blocks_moved_at_both_ends(seed: int) -> tuple[list[str], list[str]]:
    """33,000 lines drawn from 800 distinct ones, with 20 blocks of up to 40 lines moved
    or copied within the first 1,500 lines and 20 more within the last 1,500."""
    rng = random.Random(seed)
    base = [f"v{rng.randrange(800)}\n" for _ in range(33000)]
    head = list(base)
    for low, high in ((0, 1500), (len(head) - 1500, len(head) - 100)):
        for _ in range(20):
            start = rng.randrange(low, high)
            block = head[start:start + rng.randint(2, 40)]
            if rng.random() < 0.5:
                del head[start:start + len(block)]
            target = rng.randrange(low, high)
            head[target:target] = block
    return base, head


@pytest.mark.parametrize("seed", [0, 4], ids=["forward", "backward"])
def test_long_snake_heuristic_matches_git(seed: int) -> None:
    """Over 65,536 lines in play raise the cost limit above 256; past cost 256 xdiff then
    splits early where a diagonal got far ahead and ends in a run of 20 equal lines
    (found by the forward search with seed 0, by the backward one with seed 4). Without
    that cut-off both pairs would get other hunks than git's."""
    base, head = _blocks_moved_at_both_ends(seed)
    assert_like_git("".join(base).encode(), "".join(head).encode())


# -- random realistic edits on real source files -------------------------------------------------

def _torch_sources() -> list[Path]:
    spec = importlib.util.find_spec("torch")  # found, not imported: importing torch takes seconds
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(list(spec.submodule_search_locations)[0])
    return sorted(path for path in root.rglob("*.py") if path.stat().st_size > 2000)


SOURCES = _torch_sources()
needs_sources = pytest.mark.skipif(not SOURCES, reason="torch is not installed (source files to edit)")


@lru_cache(maxsize=64)
def _source_lines(path: Path) -> tuple[bytes, ...]:
    return tuple(path.read_bytes().splitlines(keepends=True))


FILLER = [b"\n", b"    pass\n", b"}\n", b"        return x\n", b"\n\n", b"    # comment\n", b"x = 1\n"]


def _reindent(line: bytes, how: int) -> bytes:
    if how == 0:
        return b"    " + line
    if how == 1:
        return line[4:] if line.startswith(b"    ") else line
    return b"\t" + line.lstrip(b" ")


@st.composite
def edited_sources(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A window of a real file and a copy changed by a few block edits: delete, insert
    (blank lines, ``pass``, braces or lines from elsewhere in the file), duplicate, move,
    re-indent, change, CRLF, and dropping or adding the final newline."""
    lines = _source_lines(draw(st.sampled_from(SOURCES)))
    size = draw(st.sampled_from([10, 60, 300, 1500]))
    start = draw(st.integers(0, max(0, len(lines) - size)))
    base = list(lines[start:start + size])
    head = list(base)
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(head)))
        length = draw(st.integers(0, 12))
        block = head[at:at + length]
        operation = draw(st.sampled_from(
            ["delete", "insert", "duplicate", "move", "reindent", "change", "crlf"]))
        if operation == "delete":
            del head[at:at + length]
        elif operation == "insert":
            source = draw(st.integers(0, len(lines)))
            extra = draw(st.lists(st.sampled_from(FILLER), max_size=3))
            head[at:at] = extra + list(lines[source:source + length])
        elif operation == "duplicate":
            head[at:at] = block
        elif operation == "move":
            del head[at:at + length]
            target = draw(st.integers(0, len(head)))
            head[target:target] = block
        elif operation == "reindent":
            how = draw(st.integers(0, 2))
            head[at:at + length] = [_reindent(line, how) for line in block]
        elif operation == "change":
            head[at:at + length] = [line.rstrip(b"\n") + b"  # changed\n" for line in block]
        else:
            head[at:at + length] = [line.replace(b"\n", b"\r\n") for line in block]
    base_bytes, head_bytes = b"".join(base), b"".join(head)
    if draw(st.booleans()) and head_bytes.endswith(b"\n"):
        head_bytes = head_bytes[:-1]
    return base_bytes, head_bytes


@needs_sources
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edited_sources())
def test_random_edits_of_real_sources_match_git(pair: tuple[bytes, bytes]) -> None:
    assert_like_git(*pair)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a\n", b"b\n", b"\n", b"}\n", b"    pass\n", b"\tc\n"]), max_size=40),
       st.lists(st.sampled_from([b"a\n", b"b\n", b"\n", b"}\n", b"    pass\n", b"\tc\n"]), max_size=40))
def test_random_texts_from_few_lines_match_git(base: list[bytes], head: list[bytes]) -> None:
    """Few distinct lines make many equally short diffs: git's tie-breaking decides."""
    assert_like_git(b"".join(base), b"".join(head))


# -- LineMap -------------------------------------------------------------------------------------

def assert_line_map_agrees(base: list[str], head: list[str], hunks: list[Hunk]) -> None:
    line_map = LineMap(hunks, len(base), len(head))
    removed = {line for hunk in hunks for line in range(hunk.base_start, hunk.base_end)}
    added = {line for hunk in hunks for line in range(hunk.head_start, hunk.head_end)}
    kept_base = [line for line in range(len(base)) if line not in removed]
    kept_head = [line for line in range(len(head)) if line not in added]
    assert len(kept_base) == len(kept_head)
    for base_line, head_line in zip(kept_base, kept_head):  # unchanged lines pair up in order
        assert base[base_line] == head[head_line]
        assert line_map.base_to_head(base_line) == head_line
        assert line_map.head_to_base(head_line) == base_line
    for line in removed:
        assert line_map.base_to_head(line) is None
    for line in added:
        assert line_map.head_to_base(line) is None
        assert line_map.hunk_for_head_line(line) is not None
    for hunk in hunks:
        if hunk.head_start == hunk.head_end:  # a pure removal is found at the line after it
            assert line_map.hunk_for_head_line(hunk.head_start) == hunk


@pytest.mark.parametrize("base,head", CASES.values(), ids=CASES.keys())
def test_line_map_agrees_with_hunks(base: bytes, head: bytes) -> None:
    base_lines, head_lines = lines_of(base), lines_of(head)
    assert_line_map_agrees(base_lines, head_lines, diff_lines(base_lines, head_lines))


@needs_sources
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edited_sources())
def test_line_map_agrees_on_random_edits(pair: tuple[bytes, bytes]) -> None:
    base_lines, head_lines = lines_of(pair[0]), lines_of(pair[1])
    assert_line_map_agrees(base_lines, head_lines, diff_lines(base_lines, head_lines))


def test_line_map_concrete() -> None:
    base = lines_of(text("a\n", "b\n", "c\n", "d\n"))
    head = lines_of(text("a\n", "x\n", "y\n", "c\n", "d\n", "e\n"))
    hunks = diff_lines(base, head)
    assert hunks == [Hunk(1, 2, 1, 3), Hunk(4, 4, 5, 6)]
    line_map = LineMap(hunks, len(base), len(head))
    assert [line_map.base_to_head(line) for line in range(4)] == [0, None, 3, 4]
    assert [line_map.head_to_base(line) for line in range(6)] == [0, None, None, 2, 3, None]


def test_split_lines_keeps_endings() -> None:
    assert split_lines("") == []
    assert split_lines("a\r\nb\rc\nd") == ["a\r\n", "b\rc\n", "d"]
    assert split_lines("a\n\n") == ["a\n", "\n"]


# -- real history (opt-in) -----------------------------------------------------------------------

MIRRORS = os.environ.get("MLDIFF_MIRRORS")


def _git_dirs(root: Path) -> list[Path]:
    """Repositories (bare or plain git directories) at most two levels below ``root``."""
    found = []
    for candidate in sorted([root, *root.glob("*"), *root.glob("*/*")]):
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            found.append(candidate)
    return found


def _git(git_dir: Path, *args: str, input: bytes | None = None) -> bytes:
    result = subprocess.run(["git", "--git-dir", str(git_dir), *args], env=ENV, input=input,
                            capture_output=True)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


class _Blobs:
    """Blob contents through one ``git cat-file --batch`` process."""

    def __init__(self, git_dir: Path) -> None:
        self.process = subprocess.Popen(["git", "--git-dir", str(git_dir), "cat-file", "--batch"],
                                        env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def read(self, object_id: str) -> bytes:
        if set(object_id) == {"0"}:
            return b""
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(object_id.encode() + b"\n")
        self.process.stdin.flush()
        header = self.process.stdout.readline().split()
        assert header[1] == b"blob", header
        data = self.process.stdout.read(int(header[2]) + 1)
        return data[:-1]

    def close(self) -> None:
        assert self.process.stdin
        self.process.stdin.close()
        self.process.wait()


def _python_changes(git_dir: Path, parent: str, commit: str) -> Iterator[tuple[str, str, str, list[Hunk] | None]]:
    """(path, old blob, new blob, git's hunks or None for a binary file) for each .py file
    the commit changed, from ``git diff --raw`` and ``git diff -U0`` over the same pathspec
    (both list the files in the same order)."""
    options = ["--no-renames", "--src-prefix=a/", "--dst-prefix=b/", parent, commit, "--", "*.py"]
    raw = _git(git_dir, "diff", "--raw", "-z", "--no-abbrev", *options).split(b"\0")
    entries = [(raw[i].split(), raw[i + 1].decode("utf-8", "surrogateescape")) for i in range(0, len(raw) - 1, 2)]
    patch = _git(git_dir, "diff", *DIFF_OPTIONS, *options)
    sections = re.split(rb"^diff --git ", patch, flags=re.MULTILINE)[1:]
    assert len(sections) == len(entries), (parent, commit)
    for (meta, path), section in zip(entries, sections):
        old_mode, new_mode, old_blob, new_blob = (field.decode() for field in meta[:4])
        if "160000" in (old_mode, new_mode):
            continue  # a submodule, not a file
        binary = re.search(rb"^Binary files ", section, flags=re.MULTILINE) is not None
        yield path, old_blob, new_blob, None if binary else parse_hunks(section)


@pytest.mark.skipif(not MIRRORS, reason="set MLDIFF_MIRRORS to a directory of git repositories")
def test_matches_git_on_real_history() -> None:
    """Every .py file changed by the last MLDIFF_MIRROR_COMMITS commits (default 300) of each
    repository under MLDIFF_MIRRORS, against each parent (a root commit against the empty
    tree): ``git diff -U0 parent commit -- path`` and diff_lines on the two blobs agree."""
    assert MIRRORS
    commits_per_repo = int(os.environ.get("MLDIFF_MIRROR_COMMITS", "300"))
    repositories = _git_dirs(Path(MIRRORS))
    assert repositories, f"no git repositories under {MIRRORS}"
    compared = binary = 0
    mismatches: list[str] = []
    per_repository = []
    for git_dir in repositories:
        compared_before = compared
        empty_tree = _git(git_dir, "hash-object", "-t", "tree", "--stdin", input=b"").decode().strip()
        history = _git(git_dir, "rev-list", "--parents", f"--max-count={commits_per_repo}", "HEAD")
        blobs = _Blobs(git_dir)
        try:
            for line in history.decode().splitlines():
                commit, *parents = line.split()
                for parent in parents or [empty_tree]:
                    for path, old_blob, new_blob, expected in _python_changes(git_dir, parent, commit):
                        if expected is None:
                            binary += 1
                            continue
                        base, head = blobs.read(old_blob), blobs.read(new_blob)
                        compared += 1
                        if our_hunks(base, head) != expected:
                            mismatches.append(f"{git_dir} {parent[:12]}..{commit[:12]} -- {path}")
        finally:
            blobs.close()
        per_repository.append(f"{git_dir.relative_to(MIRRORS)}: {compared - compared_before}")
    print(f"\ncompared {compared} file pairs from {len(repositories)} repositories "
          f"({binary} binary skipped), {len(mismatches)} mismatches; " + ", ".join(per_repository))
    assert compared > 0
    assert not mismatches, "\n".join(mismatches[:20])
