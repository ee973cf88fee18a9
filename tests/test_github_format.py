"""``--format github``: workflow commands that GitHub Actions turns into annotations, escaped
the way GitHub's toolkit escapes them, so no message or path can end a command early,
start another one, or smuggle in a property."""
from __future__ import annotations

import io
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import mldiff
from mldiff.checking import CheckResult
from mldiff.findings import FileError, Finding, Span
from mldiff.formats import github
from repo_snapshot import unchanged

COMMAND = re.compile(r"^::(?P<name>error|warning|notice)(?: (?P<props>[^:]*))?::(?P<message>.*)$")
NORMALIZED = ("from torchvision import transforms\n"
              "transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])\n")
PLAIN = "from torchvision import transforms\ntransform = transforms.ToTensor()\n"


def unescape(text: str) -> str:
    """GitHub's runner reverses the escapes in this order (%25 last)."""
    for escaped, plain in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(escaped, plain)
    return text


def parse(line: str) -> tuple[str, dict[str, str], str]:
    match = COMMAND.match(line)
    assert match, line
    props = {}
    for pair in (match["props"] or "").split(","):
        if pair:
            key, _, value = pair.partition("=")
            props[key] = unescape(value)
    return match["name"], props, unescape(match["message"])


# -- the escapes themselves, character by character ------------------------------------------
@pytest.mark.parametrize("plain, data, prop", [
    ("%", "%25", "%25"),
    ("\r", "%0D", "%0D"),
    ("\n", "%0A", "%0A"),
    (":", ":", "%3A"),
    (",", ",", "%2C"),
    ("%0A", "%250A", "%250A"),          # an escape sequence in the text stays text
    ("%25", "%2525", "%2525"),
    ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
    ("::error::x", "::error::x", "%3A%3Aerror%3A%3Ax"),
    ("k=v,title=x", "k=v,title=x", "k=v%2Ctitle=x"),
    ("tränen 😀 = ok;|", "tränen 😀 = ok;|", "tränen 😀 = ok;|"),
])
def test_escapes_match_github_toolkit(plain, data, prop):
    assert github.escape_data(plain) == data
    assert github.escape_property(plain) == prop


def test_every_other_character_passes_through():
    special = {"%", "\r", "\n", ":", ","}
    for code in range(0x20000):
        char = chr(code)
        if char in special or 0xD800 <= code <= 0xDFFF:
            continue
        assert github.escape_data(char) == char
        assert github.escape_property(char) == char


@given(st.text())
def test_escaping_round_trips_and_stays_on_one_line(text):
    data, prop = github.escape_data(text), github.escape_property(text)
    assert "\n" not in data and "\r" not in data
    assert not set(prop) & {"\n", "\r", ":", ","}
    assert unescape(data) == text and unescape(prop) == text


@given(path=st.text(min_size=1).filter(lambda p: "\0" not in p), message=st.text())
def test_a_finding_is_one_command_whatever_its_text(path, message):
    finding = Finding(path, "ML201", "normalization", "warning", message, Span(3, 1, 4, 7))
    out = io.StringIO()
    github.write(CheckResult("a" * 40, "worktree", [finding]), out, io.StringIO())
    lines = out.getvalue().split("\n")
    assert lines[-1] == "" and len(lines) == 2
    name, props, parsed_message = parse(lines[0])
    assert name == "warning" and parsed_message == message
    assert props == {"file": path, "line": "3", "col": "1", "endLine": "4", "endColumn": "7",
                     "title": "ML201 [normalization]"}


def test_severities_map_to_commands_and_errors_are_annotated():
    findings = [Finding("a.py", code, "precision", severity, "m", Span(1, 1, 1, 2))
                for code, severity in (("ML101", "error"), ("ML102", "warning"), ("ML103", "information"),
                                       ("ML104", "hint"))]
    out, err = io.StringIO(), io.StringIO()
    github.write(CheckResult("a" * 40, "worktree", findings, [FileError("b,c.py", "head side: 100% broken\nat x", 3)]),
                 out, err)
    parsed = [parse(line) for line in out.getvalue().splitlines()]
    assert [name for name, _, _ in parsed] == ["error", "warning", "warning", "notice", "notice"]  # most severe first
    name, props, message = parsed[2]
    assert props == {"file": "b,c.py", "line": "3", "title": "mldiff: not analysed"}
    assert message == "head side: 100% broken\nat x"
    assert err.getvalue().startswith("mldiff: 4 findings")


# -- GitHub's caps: 10 annotations of each type per step, 50 per job --------------------------------
def findings_of(counts: dict[str, int]) -> list[Finding]:
    findings = []
    for severity, count in counts.items():
        findings += [Finding(f"f{i:02}.py", "ML201", "normalization", severity, f"{severity} {i}", Span(i + 1, 1, i + 1, 2))
                     for i in range(count)]
    return sorted(findings, key=lambda f: (f.path, f.severity))   # file order, as run_check gives them


def commands_of(lines: list[str]) -> list[str]:
    return [parse(line)[0] for line in lines]


def test_within_the_caps_nothing_is_left_out():
    lines = github.annotations(CheckResult("a" * 40, "worktree", findings_of({"error": 10, "warning": 10, "notice": 0,
                                                                               "information": 10})))
    assert commands_of(lines) == ["error"] * 10 + ["warning"] * 10 + ["notice"] * 10
    assert all("more not annotated" not in line for line in lines)


def test_the_most_severe_are_kept_and_one_notice_counts_the_rest():
    result = CheckResult("a" * 40, "worktree", findings_of({"error": 12, "warning": 25, "information": 7, "hint": 9}),
                         [FileError("broken.py", "head side does not parse", 2)])
    lines = github.annotations(result)
    names = commands_of(lines)
    assert names == ["error"] * 10 + ["warning"] * 10 + ["notice"] * 10
    kept = [parse(line)[2] for line in lines[:-1]]
    assert kept[:10] == [f"error {i}" for i in range(10)]                 # errors first, in file order
    assert kept[20:29] == [f"information {i}" for i in range(7)] + ["hint 0", "hint 1"]
    name, props, message = parse(lines[-1])
    # Left out: 2 errors, 15 warnings and the file not analysed (a warning too), 7 hints.
    assert props == {"title": "mldiff: 25 more not annotated"}
    assert message.startswith("25 more findings (2 errors, 15 warnings, 7 hints, 1 file not analysed) not annotated: "
                              "GitHub shows at most 10 annotations of each type per step.")


def test_the_summary_takes_a_place_when_the_job_total_is_reached():
    result = CheckResult("a" * 40, "worktree", findings_of({"error": 3, "warning": 5}))
    lines = github.annotations(result, per_type=10, total=6)
    assert commands_of(lines) == ["error"] * 3 + ["warning"] * 2 + ["notice"]
    assert parse(lines[-1])[1] == {"title": "mldiff: 3 more not annotated"}


def test_check_annotates_within_the_caps(repo):
    names = [f"m{i:02}.py" for i in range(14)]
    for name in names:
        repo.write(name, NORMALIZED)
    repo.commit("base")
    for name in names:
        repo.write(name, PLAIN)
    result = mldiff("check", "--format", "github", "--select", "ML201", cwd=repo.path)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert commands_of(lines) == ["warning"] * 10 + ["notice"]
    assert [parse(line)[1]["file"] for line in lines[:10]] == names[:10]
    assert parse(lines[-1])[2].startswith("4 more findings (4 warnings) not annotated")


# -- end to end ---------------------------------------------------------------------------------
def test_check_prints_annotations_for_an_odd_path(repo):
    name = "data,v1/100%:train.py"
    repo.write(name, NORMALIZED)
    repo.commit("base")
    repo.write(name, PLAIN)
    with unchanged(repo.path):
        result = mldiff("check", "--format", "github", cwd=repo.path)
    assert result.returncode == 1, result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith("::warning file=data%2Cv1/100%25%3Atrain.py,line=2,col=1,")
    command, props, message = parse(line)
    assert props["file"] == name and props["title"] == "ML201 [normalization]"
    assert "Normalize((0.5,), (0.5,)) removed" in message
    assert result.stderr.startswith("mldiff: 1 finding")
