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
    assert [name for name, _, _ in parsed] == ["error", "warning", "notice", "notice", "warning"]
    name, props, message = parsed[-1]
    assert props == {"file": "b,c.py", "line": "3", "title": "mldiff: not analysed"}
    assert message == "head side: 100% broken\nat x"
    assert err.getvalue().startswith("mldiff: 4 findings")


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
