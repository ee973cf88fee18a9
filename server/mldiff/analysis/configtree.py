"""YAML, JSON (with comments) and TOML read into one tree whose every node knows where it
is written, so a changed ``optimizer.lr`` is reported on its own line and column.

The standard parsers give values without positions (``json``, ``tomllib``) or positions
without Python values (``yaml.compose``). This module joins the two: YAML through the
composer's node marks, JSON through a small position-aware parser (which also accepts
the comments and trailing commas of ``devcontainer.json``), TOML through ``tomllib`` for
the values and a scanner for where each key and array element is written.
Lines are 1-based and columns 1-based code points, as in ``findings.Span``.
"""
from __future__ import annotations

import json
import re
import sys
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from json.decoder import scanstring as _scanstring  # type: ignore[attr-defined]  # public, but not in typeshed
from typing import Any, Iterator

from mldiff.findings import Span

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MAX_DEPTH = 200          # deeper nesting is not a configuration file
MAX_NODES = 200_000      # YAML aliases can multiply a small text into a huge tree


class ConfigSyntaxError(ValueError):
    """The text does not parse; ``line`` is 1-based (0 when the parser did not say)."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass
class Node:
    """One value of a parsed config: a mapping, a list or a scalar, and where it is written."""

    kind: str                                   # "map", "list" or "scalar"
    span: Span
    value: Any = None                           # the scalar's Python value (None for containers)
    written: str = ""                           # the scalar as written ("1e-3", "'adamw'")
    items: list[tuple[Any, Node]] = field(default_factory=list)  # (key or index, child)
    key_span: Span | None = None                # where this node's key is written, if any

    def get(self, key: Any) -> Node | None:
        for item_key, child in reversed(self.items):   # the last duplicate wins, as in json.loads
            if item_key == key:
                return child
        return None

    def children(self) -> Iterator[Node]:
        for _, child in self.items:
            yield child

    @classmethod
    def from_python(cls, value: Any, span: Span | None = None) -> Node:
        """A tree of a parsed value without positions (all at ``span``): comparing values
        needs no positions, and building them costs far more than ``json.loads``."""
        span = span or Span(1, 1, 1, 1)
        if isinstance(value, dict):
            return cls("map", span, items=[(k, cls.from_python(v, span)) for k, v in value.items()])
        if isinstance(value, list):
            return cls("list", span, items=[(i, cls.from_python(v, span)) for i, v in enumerate(value)])
        return cls("scalar", span, value, _toml_written(value))

    def to_python(self) -> Any:
        if self.kind == "scalar":
            return self.value
        if self.kind == "list":
            return [child.to_python() for _, child in self.items]
        return {key: child.to_python() for key, child in self.items}


class _Lines:
    """Offsets -> 1-based (line, column), for parsers that work on offsets."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1

    def span(self, start: int, end: int) -> Span:
        line, column = self.position(start)
        end_line, end_column = self.position(end)
        return Span(line, column, end_line, end_column)


def strip_bom(text: str) -> tuple[str, int]:
    """The text without a leading byte-order mark, and how many columns line 1 lost."""
    if text.startswith("\ufeff"):
        return text[1:], 1
    return text, 0


def _shift_first_line(node: Node, columns: int) -> None:
    """Put back the columns a stripped BOM took from line 1."""
    if not columns:
        return
    stack = [node]
    while stack:
        current = stack.pop()
        current.span = _shift_span(current.span, columns)
        if current.key_span is not None:
            current.key_span = _shift_span(current.key_span, columns)
        stack.extend(current.children())


def _shift_span(span: Span, columns: int) -> Span:
    return Span(span.line, span.column + (columns if span.line == 1 else 0),
                span.end_line, span.end_column + (columns if span.end_line == 1 else 0))


# -- JSON / JSONC ----------------------------------------------------------------------------
_JSON_SPACE = re.compile(r"(?:[ \t\r\n]+|//[^\n]*|/\*[\s\S]*?\*/)*")
_JSON_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_JSON_WORDS = {"true": True, "false": False, "null": None,   # and what Python's json writes for floats:
               "NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def parse_json(text: str, *, comments: bool = True, skip: frozenset[str] = frozenset(),
               only: frozenset[str] | None = None, drop: frozenset[str] = frozenset()) -> Node:
    """A JSON document as a ``Node`` tree. With ``comments`` (the default), ``//`` and
    ``/* */`` comments and trailing commas are accepted, as VS Code's JSONC allows.
    Values of keys in ``skip`` (or, with ``only``, of keys not in it) are read by the C
    decoder, without positions inside them: a notebook's outputs can be megabytes of JSON
    nobody reports on, and a config needs positions only on the paths that changed.
    Keys in ``drop`` are stepped over and left out of the tree."""
    body, shift = strip_bom(text)
    parser = _JsonParser(body, comments, skip, only, drop)
    node = parser.document()
    _shift_first_line(node, shift)
    return node


class _JsonParser:
    def __init__(self, text: str, comments: bool, skip: frozenset[str] = frozenset(),
                 only: frozenset[str] | None = None, drop: frozenset[str] = frozenset()) -> None:
        self.text = text
        self.lines = _Lines(text)
        self.comments = comments
        self.skip_keys = skip
        self.only_keys = only
        self.drop_keys = drop
        self.decoder = json.JSONDecoder()
        self.pos = 0
        self.count = 0

    def error(self, message: str, offset: int | None = None) -> ConfigSyntaxError:
        line, column = self.lines.position(self.pos if offset is None else offset)
        return ConfigSyntaxError(message, line, column)

    def skip(self) -> None:
        text, pos = self.text, self.pos
        if self.comments:
            space = _JSON_SPACE.match(text, pos)
            assert space is not None  # the pattern matches the empty string
            self.pos = space.end()
            return
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        self.pos = pos

    def document(self) -> Node:
        self.skip()
        if self.pos >= len(self.text):
            raise self.error("empty document")
        try:
            node = self.value(0)
        except RecursionError:
            raise self.error("nested too deeply") from None
        self.skip()
        if self.pos < len(self.text):
            raise self.error("extra data after the document")
        return node

    def value(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise self.error("nested too deeply")
        self.count += 1
        text, start = self.text, self.pos
        if start >= len(text):
            raise self.error("unexpected end of document")
        char = text[start]
        if char == "{":
            return self.container(depth, "map", "}")
        if char == "[":
            return self.container(depth, "list", "]")
        if char == '"':
            value, written = self.string()
            return Node("scalar", self.lines.span(start, self.pos), value, written)
        match = _JSON_NUMBER.match(text, start)
        if match and match.end() > start and not text.startswith("-Infinity", start):
            written = match.group()
            self.pos = match.end()
            number = float(written) if any(c in written for c in ".eE") else int(written)
            return Node("scalar", self.lines.span(start, self.pos), number, written)
        for word, literal in _JSON_WORDS.items():
            if text.startswith(word, start):
                self.pos = start + len(word)
                return Node("scalar", self.lines.span(start, self.pos), literal, word)
        raise self.error(f"unexpected character {char!r}")

    def string(self) -> tuple[str, str]:
        start = self.pos
        try:
            value, end = _scanstring(self.text, start + 1)
        except ValueError as exc:
            if _JSON_STRING.match(self.text, start) is None:
                raise self.error("unterminated string") from None
            raise self.error(f"invalid string: {getattr(exc, 'msg', exc)}") from None
        self.pos = end
        return value, self.text[start:end]

    def skipped(self, keep: bool = True) -> Node | None:
        """The value at ``pos`` decoded in C (a Node without inner positions if ``keep``,
        else only stepped over), or None to parse it here (JSONC, errors)."""
        start = self.pos
        try:
            value, end = self.decoder.raw_decode(self.text, start)
        except (ValueError, RecursionError):
            return None
        self.pos = end
        if not keep:
            return Node("scalar", Span(1, 1, 1, 1))
        return Node.from_python(value, self.lines.span(start, end))

    def container(self, depth: int, kind: str, close: str) -> Node:
        text, start = self.text, self.pos
        self.pos += 1
        items: list[tuple[Any, Node]] = []
        seen = 0
        while True:
            self.skip()
            if self.pos >= len(text):
                raise self.error(f"missing {close!r}", start)
            if text[self.pos] == close:
                self.pos += 1
                break
            if seen:
                if text[self.pos] != ",":
                    raise self.error(f"expected ',' or {close!r}")
                self.pos += 1
                self.skip()
                if self.comments and self.pos < len(text) and text[self.pos] == close:
                    self.pos += 1  # trailing comma (JSONC)
                    break
            if kind == "map":
                if self.pos >= len(text) or text[self.pos] != '"':
                    raise self.error("expected a property name in double quotes")
                seen += 1
                key_start = self.pos
                key, _ = self.string()
                key_span = self.lines.span(key_start, self.pos)
                self.skip()
                if self.pos >= len(text) or text[self.pos] != ":":
                    raise self.error("expected ':' after a property name")
                self.pos += 1
                self.skip()
                unwanted = key in self.drop_keys or (self.only_keys is not None and key not in self.only_keys)
                if unwanted and self.skipped(keep=False):
                    continue   # not wanted: stepped over in C
                child = (self.skipped() if key in self.skip_keys else None) or self.value(depth + 1)
                child.key_span = key_span
                items.append((key, child))
            else:
                seen += 1
                items.append((len(items), self.value(depth + 1)))
        return Node(kind, self.lines.span(start, self.pos), items=items)


# -- YAML ------------------------------------------------------------------------------------
def parse_yaml(text: str, only: frozenset[str] | None = None) -> list[Node]:
    """Every document of a YAML stream as a ``Node`` tree (empty documents are skipped);
    with ``only``, mapping entries whose key is not in it are left out."""
    import yaml

    body, shift = strip_bom(text)
    loader = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
    try:
        documents = list(yaml.compose_all(body, Loader=loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(filter(None, [exc.context, exc.problem])) or "invalid YAML"
        raise ConfigSyntaxError(message, (mark.line + 1) if mark else 0,
                                (mark.column + 1) if mark else 0) from None
    except yaml.YAMLError as exc:
        raise ConfigSyntaxError(str(exc).splitlines()[0] if str(exc) else "invalid YAML") from None
    builder = _YamlBuilder(body, only)
    out = []
    for document in documents:
        if document is None:
            continue
        node = builder.build(document, 0, ())
        _shift_first_line(node, shift)
        out.append(node)
    return out


class _YamlBuilder:
    def __init__(self, text: str, only: frozenset[str] | None = None) -> None:
        import yaml

        self.yaml = yaml
        self.only = only
        self.lines = text.split("\n")
        self.constructor = _tolerant_loader()("")
        self.count = 0

    def span(self, node) -> Span:
        start, end = node.start_mark, node.end_mark
        return Span(start.line + 1, start.column + 1, end.line + 1, end.column + 1)

    def build(self, node, depth: int, active: tuple[int, ...]) -> Node:
        yaml = self.yaml
        self.count += 1
        if depth > MAX_DEPTH or self.count > MAX_NODES:
            raise ConfigSyntaxError("YAML nested or aliased too deeply", node.start_mark.line + 1)
        if id(node) in active:  # a recursive alias
            return Node("scalar", self.span(node), None, "*recursive*")
        active = active + (id(node),)
        if isinstance(node, yaml.MappingNode):
            items: list[tuple[Any, Node]] = []
            explicit = {self.key(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":   # "<<: *defaults"
                    sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                    for source in sources:
                        if isinstance(source, yaml.MappingNode):
                            merged = self.build(source, depth + 1, active)
                            items.extend((k, c) for k, c in merged.items if k not in explicit)
                    continue
                key = self.key(key_node)
                if self.only is not None and str(key) not in self.only:
                    continue
                child = self.build(value_node, depth + 1, active)
                child.key_span = self.span(key_node)
                items.append((key, child))
            return Node("map", self.span(node), items=items)
        if isinstance(node, yaml.SequenceNode):
            return Node("list", self.span(node),
                        items=[(i, self.build(item, depth + 1, active)) for i, item in enumerate(node.value)])
        return Node("scalar", self.span(node), self.scalar(node), self.written(node))

    def key(self, node) -> Any:
        if isinstance(node, self.yaml.ScalarNode):
            value = self.scalar(node)
            return value if isinstance(value, (str, int, float, bool)) else str(value)
        return f"<{node.tag.rsplit(':', 1)[-1]} key at line {node.start_mark.line + 1}>"

    def scalar(self, node) -> Any:
        try:
            return self.constructor.construct_object(node)
        except Exception:  # unknown tags (!ref, !!python/...) stay the text they are
            return node.value

    def written(self, node) -> str:
        start, end = node.start_mark, node.end_mark
        if start.line == end.line and 0 <= start.line < len(self.lines):
            return self.lines[start.line][start.column:end.column].strip()
        return str(node.value)


# -- TOML ------------------------------------------------------------------------------------
_TOML_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*')"""
_TOML_DOTTED = rf"{_TOML_KEY_PART}(?:[ \t]*\.[ \t]*{_TOML_KEY_PART})*"
_TOML_HEADER = re.compile(rf"\[(\[?)[ \t]*({_TOML_DOTTED})[ \t]*\]\]?")
_TOML_KEYVAL = re.compile(rf"({_TOML_DOTTED})[ \t]*=[ \t]*")
_TOML_PART = re.compile(_TOML_KEY_PART)
_TOML_BARE_END = re.compile(r"[^,\]}\s#]*(?:[ \t]+[0-9:.+\-Z]+)?")  # numbers, dates, booleans


def parse_toml(text: str) -> Node:
    """A TOML document as a ``Node`` tree; positions come from a scanner run over the text."""
    body, shift = strip_bom(text)
    data = _load_toml(body)
    try:
        positions = _TomlScanner(body).scan()
    except (IndexError, ValueError, RecursionError):  # positions are best effort; values are tomllib's
        positions = {}
    node = _toml_node(data, (), positions, Span(1, 1, 1, 1), None)
    _shift_first_line(node, shift)
    return node


def _load_toml(text: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.search(r"\(at line (\d+), column (\d+)\)", message)
        line = int(match.group(1)) if match else 0
        column = int(match.group(2)) if match else 0
        raise ConfigSyntaxError(re.sub(r"\s*\(at line \d+, column \d+\)", "", message) or "invalid TOML",
                                line, column) from None
    except (RecursionError, ValueError) as exc:
        raise ConfigSyntaxError(str(exc) or "invalid TOML") from None


def _toml_node(value: Any, path: tuple, positions: dict[tuple, tuple[Span, Span | None]],
               inherited: Span, inherited_key: Span | None) -> Node:
    span, key_span = positions.get(path, (inherited, inherited_key))
    if isinstance(value, dict):
        items = [(key, _toml_node(child, path + (key,), positions, span, None)) for key, child in value.items()]
        node = Node("map", span, items=items)
    elif isinstance(value, list):
        items = [(i, _toml_node(child, path + (i,), positions, span, None)) for i, child in enumerate(value)]
        node = Node("list", span, items=items)
    else:
        node = Node("scalar", span, value, _toml_written(value))
    node.key_span = key_span
    return node


def _toml_written(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _toml_key(dotted: str) -> tuple[str, ...]:
    parts = []
    for match in _TOML_PART.finditer(dotted):
        part = match.group()
        if part.startswith('"'):
            part = json.loads(part)
        elif part.startswith("'"):
            part = part[1:-1]
        parts.append(part)
    return tuple(parts)


class _TomlScanner:
    """Where each key, table header and array element of a valid TOML text is written."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = _Lines(text)
        self.positions: dict[tuple, tuple[Span, Span | None]] = {}
        self.arrays_of_tables: dict[tuple, int] = {}

    def scan(self) -> dict[tuple, tuple[Span, Span | None]]:
        text = self.text
        pos = 0
        table: tuple = ()
        while pos < len(text):
            pos = self.skip_blank(pos)
            if pos >= len(text):
                break
            char = text[pos]
            if char == "\n":
                pos += 1
                continue
            if char == "#":
                pos = self.line_end(pos)
                continue
            header = _TOML_HEADER.match(text, pos)
            if char == "[" and header:
                table = self.resolve(_toml_key(header.group(2)), array=bool(header.group(1)))
                span = self.lines.span(pos, header.end())
                self.positions[table] = (span, span)
                pos = self.line_end(header.end())
                continue
            keyval = _TOML_KEYVAL.match(text, pos)
            if keyval is None:  # not something we understand: skip the line
                pos = self.line_end(pos)
                continue
            key_span = self.lines.span(pos, pos + len(keyval.group(1)))
            path = table + _toml_key(keyval.group(1))
            start = keyval.end()
            end = self.value(start, path)
            self.positions[path] = (self.lines.span(start, end), key_span)
            pos = self.line_end(end)
        return self.positions

    def resolve(self, key: tuple[str, ...], array: bool) -> tuple:
        """A header's path with the current index of every array of tables on the way."""
        path: tuple = ()
        for i, part in enumerate(key):
            path = path + (part,)
            last = i == len(key) - 1
            if last and array:
                index = self.arrays_of_tables.get(path, 0)
                self.arrays_of_tables[path] = index + 1
                return path + (index,)
            if path in self.arrays_of_tables:
                path = path + (self.arrays_of_tables[path] - 1,)
        return path

    def skip_blank(self, pos: int) -> int:
        text = self.text
        while pos < len(text) and text[pos] in " \t\r":
            pos += 1
        return pos

    def skip_space(self, pos: int) -> int:
        """Whitespace, newlines and comments (inside arrays)."""
        text = self.text
        while pos < len(text):
            if text[pos] in " \t\r\n":
                pos += 1
            elif text[pos] == "#":
                pos = self.line_end(pos)
            else:
                break
        return pos

    def line_end(self, pos: int) -> int:
        end = self.text.find("\n", pos)
        return len(self.text) if end < 0 else end

    def value(self, pos: int, path: tuple) -> int:
        """Record where the value at ``pos`` (and its elements) is written; return its end."""
        text = self.text
        if text.startswith(('"""', "'''"), pos):
            quote = text[pos:pos + 3]
            end = pos + 3
            while True:
                end = text.index(quote, end)
                if quote == "'''" or not _escaped(text, end):
                    break
                end += 1
            end += 3
            while end < len(text) and text[end] == quote[0]:  # up to two quotes may close the string
                end += 1
            return end
        char = text[pos]
        if char in "\"'":
            end = pos + 1
            while text[end] != char or (char == '"' and _escaped(text, end)):
                end += 1
            return end + 1
        if char == "[":
            index = 0
            pos = self.skip_space(pos + 1)
            while text[pos] != "]":
                element_end = self.value(pos, path + (index,))
                self.positions[path + (index,)] = (self.lines.span(pos, element_end), None)
                index += 1
                pos = self.skip_space(element_end)
                if text[pos] == ",":
                    pos = self.skip_space(pos + 1)
            return pos + 1
        if char == "{":
            pos = self.skip_space(pos + 1)
            while text[pos] != "}":
                keyval = _TOML_KEYVAL.match(text, pos)
                if keyval is None:
                    raise ValueError("inline table")
                key_span = self.lines.span(pos, pos + len(keyval.group(1)))
                inner = path + _toml_key(keyval.group(1))
                end = self.value(keyval.end(), inner)
                self.positions[inner] = (self.lines.span(keyval.end(), end), key_span)
                pos = self.skip_space(end)
                if text[pos] == ",":
                    pos = self.skip_space(pos + 1)
            return pos + 1
        match = _TOML_BARE_END.match(text, pos)
        return match.end() if match and match.end() > pos else pos + 1


def _escaped(text: str, pos: int) -> bool:
    """Whether the character at ``pos`` is escaped by an odd run of backslashes."""
    count = 0
    while pos - count - 1 >= 0 and text[pos - count - 1] == "\\":
        count += 1
    return count % 2 == 1


def load_config(kind: str, text: str) -> list[Any]:
    """The documents of a config text as plain values, with the fast parsers (C ``json`` and
    libyaml); positions are not needed to find what changed. ``ConfigSyntaxError`` with the
    parser's line when it does not parse."""
    body, _ = strip_bom(text)
    if kind == "json":
        try:
            return [json.loads(body)]
        except (ValueError, RecursionError):
            return [parse_json(text).to_python()]   # JSONC, or the error with its position
    if kind == "toml":
        return [_load_toml(body)]
    import yaml

    try:
        return [document for document in yaml.load_all(body, Loader=_tolerant_loader()) if document is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(filter(None, [exc.context, exc.problem])) or "invalid YAML"
        raise ConfigSyntaxError(message, (mark.line + 1) if mark else 0, (mark.column + 1) if mark else 0) from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
        raise ConfigSyntaxError(str(exc).splitlines()[0] if str(exc) else "invalid YAML") from None


@lru_cache(maxsize=1)
def _tolerant_loader():
    """libyaml's safe loader that reads any tag it does not know (``!!python/tuple``,
    SpeechBrain's ``!new:`` / ``!ref``, Hydra's custom tags) as the plain value it tags,
    instead of failing: the file is valid YAML, only its loader is special."""
    import yaml

    base = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader

    class TolerantLoader(base):  # type: ignore[misc, valid-type]
        pass

    def plain(loader, node):
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)

    TolerantLoader.add_constructor(None, plain)
    return TolerantLoader


def parse_config(kind: str, text: str, only: frozenset[str] | None = None) -> list[Node]:
    """The documents of a config text of ``kind`` ("yaml", "json" or "toml"); with ``only``,
    positions are needed only under keys in it (others may be missing or unpositioned)."""
    if kind == "json":
        return [parse_json(text, only=only)]
    if kind == "toml":
        return [parse_toml(text)]
    return parse_yaml(text, only)
