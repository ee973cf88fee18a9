"""Dockerfiles (and Containerfiles): base images per stage, and the packages, wheel indexes
and conda channels that ``RUN pip install`` / ``conda install`` lines pull in.

Instructions are read the way BuildKit reads them: continuation lines joined (with the
``# escape=`` directive honoured), comment lines inside continuations dropped, heredocs
(``RUN <<EOF``) taken as script lines. ``ARG`` and ``ENV`` values are substituted into
``FROM`` and ``RUN`` (``$NAME``, ``${NAME}``, ``${NAME:-default}``), and each fact keeps the
variables it came from, so a changed ``ARG CUDA=11.8`` is reported where it is written.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field, replace

from mldiff.analysis.requirements import is_compute_channel, conda_pin, make_pin
from mldiff.analysis.environment import Environment, Image, Pin, Variable, WheelIndex
from mldiff.findings import Span

_DIRECTIVE = re.compile(r"#\s*([A-Za-z]+)\s*=\s*(\S+)\s*$")
_HEREDOC = re.compile(r"<<-?\s*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\1")
_VARIABLE = re.compile(r"\\\$|\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
_SHELL = re.compile(r"""(&&|\|\||[;|&\n()])|((?:[^\s;&|()'"\\]|\\.|'[^']*'|"(?:[^"\\]|\\.)*")+)|\s+""", re.S)
_PIP = re.compile(r"(?:.*/)?pip(?:\d+(?:\.\d+)?)?$")
_PYTHON = re.compile(r"(?:.*/)?python(?:\d+(?:\.\d+)?)?$")
_CONDA = re.compile(r"(?:.*/)?(?:conda|mamba|micromamba)$")
_PIP_VALUE_OPTIONS = {"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-t", "--target",
                      "--prefix", "--root", "--platform", "--python-version", "--implementation", "--abi",
                      "--trusted-host", "--cache-dir", "--src", "--upgrade-strategy", "--progress-bar", "--log",
                      "--config-settings", "-C", "--global-option", "--no-binary", "--only-binary",
                      "--index-strategy", "--python", "-p", "--report"}
_PIP_INDEX_OPTIONS = {"-i": "--index-url", "--index-url": "--index-url", "--extra-index-url": "--extra-index-url",
                      "-f": "--find-links", "--find-links": "--find-links"}
_CONDA_VALUE_OPTIONS = {"-n", "--name", "-p", "--prefix", "--file", "--solver", "--repodata-fn"}
_INDEX_VARIABLES = {"PIP_INDEX_URL": "--index-url", "PIP_EXTRA_INDEX_URL": "--extra-index-url",
                    "PIP_FIND_LINKS": "--find-links", "UV_INDEX_URL": "--index-url",
                    "UV_EXTRA_INDEX_URL": "--extra-index-url", "UV_INDEX": "--index"}


@dataclass
class Instruction:
    """One instruction with continuations joined; ``position`` maps an offset in ``text``
    back to the file."""

    keyword: str
    text: str
    line: int
    starts: list[int] = field(default_factory=list)        # text offsets where physical pieces begin
    places: list[tuple[int, int]] = field(default_factory=list)  # (line, column) of each piece

    def position(self, offset: int) -> tuple[int, int]:
        piece = max(bisect_right(self.starts, offset) - 1, 0)
        line, column = self.places[piece]
        return line, column + offset - self.starts[piece]

    def span(self, start: int, end: int) -> Span:
        line, column = self.position(start)
        end_line, end_column = self.position(max(end - 1, start))
        return Span(line, column, end_line, end_column + (1 if end > start else 0))


def instructions(text: str) -> list[Instruction]:
    lines = text.split("\n")
    escape = "\\"
    for line in lines:   # parser directives come first, before any instruction or comment
        match = _DIRECTIVE.match(line.strip())
        if match is None:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("`", "\\"):
            escape = match.group(2)
    out: list[Instruction] = []
    number = 0
    while number < len(lines):
        raw = lines[number].rstrip("\r")
        stripped = raw.lstrip()
        if not stripped or stripped.startswith("#"):
            number += 1
            continue
        match = re.match(r"\s*([A-Za-z]+)\s*", raw)
        if match is None:
            number += 1
            continue
        instruction = Instruction(match.group(1).upper(), "", number + 1)
        piece, column = raw[match.end():], match.end()
        while True:
            body = piece.rstrip()
            continued = body.endswith(escape)
            if continued:
                body = body[:-1]
            instruction.starts.append(len(instruction.text))
            instruction.places.append((number + 1, column + 1))
            instruction.text += body
            number += 1
            if not continued:
                break
            while number < len(lines) and (not lines[number].strip() or lines[number].lstrip().startswith("#")):
                number += 1
            if number >= len(lines):
                break
            piece, column = lines[number].rstrip("\r"), 0
        if instruction.keyword in ("RUN", "COPY", "ADD"):
            for delimiter in (m.group(2) for m in _HEREDOC.finditer(instruction.text)):
                while number < len(lines):
                    body = lines[number].rstrip("\r")
                    number += 1
                    if body.strip() == delimiter:
                        break
                    instruction.starts.append(len(instruction.text) + 1)
                    instruction.places.append((number, 1))
                    instruction.text += "\n" + body
        out.append(instruction)
    return out


@dataclass
class _Word:
    text: str          # unquoted, variables substituted
    written: str
    start: int
    end: int
    via: tuple[Variable, ...]


def _substitute(text: str, variables: dict[str, Variable]) -> tuple[str, tuple[Variable, ...]]:
    used: list[Variable] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "\\$":
            return "$"
        name = match.group(1) or match.group(4)
        variable = variables.get(name)
        if variable is not None:
            used.append(variable)
        operator, word = match.group(2), match.group(3)
        if operator in ("-", ":-"):
            return variable.value if variable is not None and (variable.value or operator == "-") else word
        if operator in ("+", ":+"):
            return word if variable is not None and (variable.value or operator == "+") else ""
        return variable.value if variable is not None else match.group(0)

    return _VARIABLE.sub(replace, text), tuple(used)


def _unquote(word: str) -> str:
    out = []
    for match in re.finditer(r"'([^']*)'|\"((?:[^\"\\]|\\.)*)\"|\\(.)|([^'\"\\]+)", word, re.S):
        if match.group(1) is not None:
            out.append(match.group(1))
        elif match.group(2) is not None:
            out.append(re.sub(r"\\(.)", r"\1", match.group(2)))
        elif match.group(3) is not None:
            out.append(match.group(3))
        else:
            out.append(match.group(4))
    return "".join(out)


def _words(text: str, variables: dict[str, Variable]) -> list[list[_Word]]:
    """Simple commands of a shell line: words with positions, split at ``&&``, ``;``, pipes."""
    commands: list[list[_Word]] = [[]]
    for match in _SHELL.finditer(text):
        if match.group(1):
            commands.append([])
        elif match.group(2):
            written = match.group(2)
            value, via = _substitute(written, variables)
            commands[-1].append(_Word(_unquote(value), written, match.start(2), match.end(2), via))
    return [command for command in commands if command]


def _assignments(text: str, keyword: str) -> list[tuple[str, str, int, int]]:
    """(name, raw value, value start, value end) of ``ARG A=1 B`` / ``ENV A=1`` / ``ENV A 1``."""
    out = []
    if keyword == "ENV" and not re.match(r"\s*[A-Za-z_][A-Za-z0-9_]*=", text):
        match = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s+(.*?)\s*$", text)
        if match:
            out.append((match.group(1), match.group(2), match.start(2), match.end(2)))
        return out
    for match in re.finditer(r"([A-Za-z_][A-Za-z0-9_]*)(?:=((?:[^\s'\"\\]|\\.|'[^']*'|\"(?:[^\"\\]|\\.)*\")*))?",
                             text):
        value = match.group(2)
        start = match.start(2) if value is not None else match.end(1)
        out.append((match.group(1), value, start, match.end()))
    return out


def dockerfile_environment(text: str) -> Environment:
    env = Environment()
    global_args: dict[str, Variable] = {}
    scope: dict[str, Variable] | None = None   # None: before the first FROM
    aliases: set[str] = set()
    for instruction in instructions(text):
        keyword = instruction.keyword
        if keyword in ("ARG", "ENV"):
            target = global_args if scope is None else scope
            for name, raw, start, end in _assignments(instruction.text, keyword):
                if raw is None:
                    if keyword == "ARG" and scope is not None and name in global_args:
                        scope[name] = global_args[name]
                    continue
                value, _ = _substitute(_unquote(raw), {**global_args, **(scope or {})})
                variable = Variable(name, value, instruction.span(start, end))
                target[name] = variable
                if name in _INDEX_VARIABLES and value:
                    for url in value.split():
                        env.indexes.append(WheelIndex(url, _INDEX_VARIABLES[name], variable.span, (variable,)))
        elif keyword == "FROM":
            commands = _words(instruction.text, global_args)
            words = [w for w in (commands[0] if commands else []) if not w.text.startswith("--")]
            if not words:
                continue
            image = words[0]
            alias = words[2].text.lower() if len(words) >= 3 and words[1].text.lower() == "as" else ""
            slot = f"stage {alias}" if alias else "stage"
            if image.text.lower() not in aliases and image.text.lower() != "scratch":
                env.images.append(Image(slot, image.text, image.written, instruction.span(image.start, image.end),
                                        image.via))
            if alias:
                aliases.add(alias)
            scope = {}
        elif keyword == "RUN":
            variables = {**global_args, **(scope or {})}
            for command in _words(instruction.text, variables):
                _install(command, instruction, env)
    return env


def _install(command: list[_Word], instruction: Instruction, env: Environment) -> None:
    """Pins and indexes of one ``pip install`` / ``uv pip install`` / ``conda install``."""
    words = list(command)
    while words and (words[0].text in ("sudo", "time", "exec", "env", "command", "nice")
                     or re.match(r"[A-Za-z_][A-Za-z0-9_]*=", words[0].text)):   # FOO=bar pip install ...
        words = words[1:]
    names = [w.text for w in words]
    manager = ""
    start = 0
    for i, name in enumerate(names):
        if name != "install" and not (name == "create" and i and _CONDA.match(names[i - 1])):
            continue
        before = names[:i]
        tool = [n for n in before if not n.startswith("-")]
        if tool and (_PIP.match(tool[-1]) or tool[-2:] == ["uv", "pip"]
                     or (len(tool) >= 2 and tool[-1] == "pip" and _PYTHON.match(tool[0]))):
            manager = "pip"
        elif tool and _CONDA.match(tool[-1]):
            manager = "conda"
        start = i + 1
        break
    if not manager:
        return
    args = words[start:]
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        option, eq, value = word.text.partition("=")
        if word.text.startswith("-"):
            index_option = _PIP_INDEX_OPTIONS.get(option) if manager == "pip" else None
            if manager == "conda" and option in ("-c", "--channel"):
                index_option = "conda channel"
            takes_value = index_option or option in (_PIP_VALUE_OPTIONS if manager == "pip" else _CONDA_VALUE_OPTIONS)
            target = word
            if takes_value and not eq and i < len(args):
                target = args[i]
                value = target.text
                i += 1
            if index_option and value and (index_option != "conda channel" or is_compute_channel(value)):
                env.indexes.append(WheelIndex(value, index_option, instruction.span(target.start, target.end),
                                              target.via))
            continue
        if word.text.startswith((".", "/", "$")) or word.text in ("-",):
            continue
        span = instruction.span(word.start, word.end)
        pin = make_pin(word.text, span, "Dockerfile") if manager == "pip" else conda_pin(word.text, span,
                                                                                         "Dockerfile")
        if pin is not None:
            env.pins.append(_with_via(pin, word.via))


def _with_via(pin: Pin, via: tuple[Variable, ...]) -> Pin:
    return replace(pin, via=via) if via else pin
