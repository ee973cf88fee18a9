"""A Python file's change: both sides, the hunks between them, and the logical lines
the hunks touch. Rules read a ``PythonChange`` and never see git or the editor."""
from __future__ import annotations

import re
from functools import cached_property, lru_cache
from typing import Container, Iterable, Protocol, Sequence

from mldiff.analysis.module import ModuleView
from mldiff.findings import Finding, Span
from mldiff.hunks import Hunk, LineMap, diff_lines, head_line_of_removed

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(r"""[A-Za-z_][A-Za-z0-9_]*|\d[\w.]*|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|#[^\n]*|\S""")

EMPTY = ModuleView("")


class Change(Protocol):
    """What the engine needs of any file's change (Python, notebook, config, environment file)."""

    path: str

    @property
    def hunks(self) -> Sequence[Hunk]: ...

    @property
    def unreliable_head_lines(self) -> frozenset[int]:
        """1-based head lines whose findings would be guesses (a statement there does not parse)."""
        ...

    def head_lines(self) -> list[str]:
        """The head file's lines, where suppression comments are looked up."""
        ...

    def parse_errors(self) -> list[tuple[str, int, str]]:
        """(side, 1-based line, message) for each place a side does not parse."""
        ...

    def notes(self) -> list[str]:
        """Why something was not read (a notebook for another language)."""
        ...

    def map_findings(self, findings: list[Finding]) -> list[Finding]:
        """Findings on a derived text (a notebook's cells as Python) moved to the file's positions."""
        ...


class PythonChange:
    """Base and head of one Python file. Either side may be empty (added / deleted file)."""

    def __init__(self, path: str, base: ModuleView, head: ModuleView,
                 hunks: list[Hunk] | None = None) -> None:
        self.path = path
        self.base = base
        self.head = head
        self.hunks = hunks if hunks is not None else diff_lines(base.lines, head.lines)
        self.map = LineMap(self.hunks, len(base.lines), len(head.lines))
        self._bound: dict[str, frozenset[str]] = {}

    @classmethod
    def from_texts(cls, path: str, base_text: str | None, head_text: str | None) -> PythonChange:
        base = ModuleView.of(base_text) if base_text else EMPTY
        head = ModuleView.of(head_text) if head_text else EMPTY
        return cls(path, base, head)

    # -- which logical lines changed ------------------------------------------------------
    @cached_property
    def _touched(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        base_touched: set[int] = set()
        head_touched: set[int] = set()
        for hunk in self.hunks:
            _touch(self.base, hunk.base_start, hunk.base_end, base_touched)
            _touch(self.head, hunk.head_start, hunk.head_end, head_touched)
        # Close over unchanged lines: a statement touched on one side touches the statement
        # its unchanged lines belong to on the other (a comment added inside a call).
        pending = [("base", i) for i in base_touched] + [("head", i) for i in head_touched]
        while pending:
            side, index = pending.pop()
            view, other, mapping, other_set = (
                (self.base, self.head, self.map.base_to_head, head_touched) if side == "base"
                else (self.head, self.base, self.map.head_to_base, base_touched))
            ll = view.logical[index]
            for line in range(ll.start, ll.end):
                mapped = mapping(line)
                if mapped is None:
                    continue
                other_index = other.index_at(mapped)
                if other_index >= 0 and other_index not in other_set:
                    other_set.add(other_index)
                    pending.append(("head" if side == "base" else "base", other_index))
        return tuple(sorted(base_touched)), tuple(sorted(head_touched))

    @property
    def touched_base(self) -> tuple[int, ...]:
        return self._touched[0]

    @property
    def touched_head(self) -> tuple[int, ...]:
        return self._touched[1]

    @cached_property
    def head_regions(self) -> tuple[int, ...]:
        """Touched head logical lines, plus for each pure removal the head logical line next
        to where the lines stood: the places whose surroundings a removal changed."""
        out = set(self.touched_head)
        for hunk in self.hunks:
            if hunk.head_start == hunk.head_end and self.head.logical:
                line = min(hunk.head_start, len(self.head.lines) - 1)
                for probe in (line - 1, line):
                    index = self.head.index_at(probe) if probe >= 0 else -1
                    if index >= 0:
                        out.add(index)
                        break
        return tuple(sorted(out))

    def head_lines(self) -> list[str]:
        return self.head.lines

    def notes(self) -> list[str]:
        return []

    def map_findings(self, findings: list[Finding]) -> list[Finding]:
        return findings

    def view(self, side: str) -> ModuleView:
        return self.base if side == "base" else self.head

    def touched(self, side: str) -> tuple[int, ...]:
        return self.touched_base if side == "base" else self.touched_head

    def bound_names(self, side: str) -> frozenset[str]:
        """Targets the touched statements of ``side`` bind: a name this side introduces (binds
        where the other side does not) is among them, so lookups of such names start here."""
        cached = self._bound.get(side)
        if cached is None:
            view = self.view(side)
            cached = self._bound[side] = frozenset(
                binding.target for index in self.touched(side) for binding in view.facts(index).bindings)
        return cached

    def parse_errors(self) -> list[tuple[str, int, str]]:
        """(side, 1-based line, message) for touched logical lines that do not parse."""
        out = []
        for side in ("base", "head"):
            view = self.view(side)
            for index in self.touched(side):
                unit = view.unit(index)
                if unit.error is not None and unit.keyword != "case":
                    message, line = unit.error
                    out.append((side, view.logical[index].start + line + 1, message))
        return out

    @cached_property
    def unreliable_head_lines(self) -> frozenset[int]:
        """1-based head lines where base and head cannot be compared because a touched
        statement on either side does not parse: findings there would be guesses.

        A broken base statement often swallows what follows it (an unterminated string
        runs on): past the line where parsing failed, a head statement whose text the
        broken one does not contain is new code, and stays comparable."""
        broken_base: list[tuple[int, int, int, str]] = []  # start, failing line + 1, end, text
        broken_head: list[tuple[int, int]] = []
        for index in self.touched_head:
            if self.head.unit(index).error is not None:
                ll = self.head.logical[index]
                broken_head.append((ll.start, ll.end))
        for index in self.touched_base:
            unit = self.base.unit(index)
            if unit.error is not None:
                ll = self.base.logical[index]
                core_end = min(ll.end, ll.start + unit.error[1] + 1)
                broken_base.append((ll.start, core_end, ll.end, " ".join(self.base.source(index).split())))
        if not broken_base and not broken_head:
            return frozenset()
        lines: set[int] = set()
        for start, end in broken_head:
            lines.update(range(start + 1, end + 1))
        for start, _, end, _ in broken_base:  # unchanged head lines that stand for broken base text
            for line in range(start, end):
                mapped = self.map.base_to_head(line)
                if mapped is not None:
                    lines.add(mapped + 1)
        for hunk in self.hunks:
            head_lines = range(hunk.head_start, max(hunk.head_end, hunk.head_start + 1))
            if any(start < hunk.head_end and hunk.head_start < end for start, end in broken_head) or any(
                    start < hunk.base_end and hunk.base_start < core_end or start == hunk.base_start == hunk.base_end
                    for start, core_end, _, _ in broken_base):
                lines.update(line + 1 for line in head_lines)
                continue
            for start, _, end, text in broken_base:
                if start < max(hunk.base_end, hunk.base_start + 1) and hunk.base_start < end:
                    lines.update(line + 1 for line in head_lines if self._head_text_in(line, text))
        return frozenset(lines)

    def _head_text_in(self, line: int, text: str) -> bool:
        index = self.head.index_at(line)
        if index < 0:
            return True
        return " ".join(self.head.source(index).split()) in text

    # -- positions ---------------------------------------------------------------------
    def head_anchor(self, base_line: int) -> Span:
        """Where a removed base line (0-based) stood in the head: the first line of its
        hunk's replacement, else the next line, else the last line of the file."""
        if not self.head.lines:
            return Span(1, 1, 1, 1)
        return whole_line(self.head, head_line_of_removed(self.hunks, self.map, base_line, len(self.head.lines)))

    # -- renames ---------------------------------------------------------------------------
    @cached_property
    def renames(self) -> dict[str, str]:
        """Identifiers renamed consistently across the whole file (base name -> head name):
        the old name is gone from the head, the new one absent from the base, and the
        touched code is otherwise token for token the same."""
        pairs: dict[str, str] = {}
        for hunk in self.hunks:
            base_tokens = _tokens(self.base.lines[hunk.base_start:hunk.base_end])
            head_tokens = _tokens(self.head.lines[hunk.head_start:hunk.head_end])
            if len(base_tokens) != len(head_tokens):
                continue
            local: dict[str, str] | None = {}
            for position, (old, new) in enumerate(zip(base_tokens, head_tokens)):
                assert local is not None  # every path that sets it to None leaves the loop
                if old == new:
                    continue
                if _is_fstring(base_tokens, position, old) and _is_fstring(head_tokens, position, new):
                    local = _fstring_renames(old, new, local)
                    if local is None:
                        break
                    continue
                if not (_IDENTIFIER.fullmatch(old) and _IDENTIFIER.fullmatch(new)) or _is_attribute(
                        base_tokens, position):
                    local = None
                    break
                if _names_another_api(self.base, self.head, base_tokens, head_tokens, position):
                    local = {}  # SGD -> AdamW (imported names) are other APIs, not a rename
                    break
                if local.setdefault(old, new) != new:
                    local = None
                    break
            if not local or _imports_other_things(self.base.lines[hunk.base_start:hunk.base_end], local):
                continue
            for old, new in local.items():
                if pairs.setdefault(old, new) != new:
                    pairs[old] = ""
        if not pairs and not any(self._ASSIGNMENT.match(line) for h in self.hunks
                                 for line in self.base.lines[h.base_start:h.base_end]):
            return {}
        base_names, head_names = _Identifiers(self.base), _Identifiers(self.head)
        found = {old: new for old, new in pairs.items()
                 if new and old not in head_names and new not in base_names
                 and _binds(self.base.text, old) and _binds(self.head.text, new)}
        found.update(self._moved_assignments(found, base_names, head_names))
        return found

    _ASSIGNMENT = re.compile(r"^[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*=(?!=)(.+)$")

    def _moved_assignments(self, renames: dict[str, str], base_names: Container[str],
                           head_names: Container[str]) -> dict[str, str]:
        """A variable renamed on an assignment that also moved (into another hunk): ``round_len =
        len(tok(rou))`` removed, ``turn_len = len(tok(turn))`` added, the two right-hand sides the
        same under the other renames, the old name gone from the head and the new one new."""
        def assignments(view: ModuleView, ranges: list[tuple[int, int]]) -> list[tuple[str, list[str]]]:
            out = []
            for start, end in ranges:
                for line in view.lines[start:end]:
                    match = self._ASSIGNMENT.match(line.split("#", 1)[0])
                    if match:
                        out.append((match[1], _tokens([match[2]])))
            return out

        removed = [(name, value) for name, value in assignments(self.base, [(h.base_start, h.base_end)
                                                                            for h in self.hunks])
                   if name not in head_names and name not in renames]
        if not removed:
            return {}
        added = [(name, value) for name, value in assignments(self.head, [(h.head_start, h.head_end)
                                                                          for h in self.hunks])
                 if name not in base_names]
        out: dict[str, str] = {}
        for old, old_value in removed:
            if len(old_value) < 3 or not any(_IDENTIFIER.fullmatch(token) for token in old_value):
                continue  # ``x = 1`` -> ``y = 1`` is too little to call the same variable
            renamed = [renames.get(token, token) for token in old_value]
            matches = [new for new, new_value in added if new_value == renamed]
            if len(matches) == 1 and matches[0] not in out.values():
                out[old] = matches[0]
        return out


class _Identifiers:
    """Whether a name is an identifier of a side's code, not of its comments or strings
    (``"iter": iter_num`` does not use ``iter``). Asked of a few candidate names per change, so
    only the logical lines holding the word are tokenised (each text once): tokenising a whole
    5,000-line file took 45 ms, on every edit of it."""

    def __init__(self, view: ModuleView) -> None:
        self.view = view

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        word = re.compile(r"(?<![\w])" + re.escape(name) + r"(?![\w])")
        return any(name in _line_identifiers(self.view.source(index))
                   for index in self.view.lines_matching(word, (name,)))


@lru_cache(maxsize=8192)
def _line_identifiers(text: str) -> frozenset[str]:
    return frozenset(token for token in _TOKEN.findall(text) if _IDENTIFIER.fullmatch(token))


def _is_fstring(tokens: list[str], position: int, token: str) -> bool:
    return token[:1] in "'\"" and position > 0 and tokens[position - 1].lower() in ("f", "rf", "fr")


def _fstring_renames(old: str, new: str, local: dict[str, str]) -> dict[str, str] | None:
    """``f'cuda:{DDP_LOCAL_RANK}'`` -> ``f'cuda:{ddp_local_rank}'``: identifiers renamed inside the
    replacement fields, the literal text the same; None when anything else differs."""
    old_parts, new_parts = re.split(r"(\{[^{}]*\})", old), re.split(r"(\{[^{}]*\})", new)
    if len(old_parts) != len(new_parts):
        return None
    for old_part, new_part in zip(old_parts, new_parts):
        if old_part == new_part:
            continue
        if not (old_part.startswith("{") and new_part.startswith("{")):
            return None
        old_tokens, new_tokens = _TOKEN.findall(old_part), _TOKEN.findall(new_part)
        if len(old_tokens) != len(new_tokens):
            return None
        for old_token, new_token in zip(old_tokens, new_tokens):
            if old_token == new_token:
                continue
            if not (_IDENTIFIER.fullmatch(old_token) and _IDENTIFIER.fullmatch(new_token)):
                return None
            if local.setdefault(old_token, new_token) != new_token:
                return None
    return local


def _imports_other_things(base_lines: list[str], local: dict[str, str]) -> bool:
    """A hunk whose import lines now name other modules or objects (``from torch.nn.parallel import
    DistributedDataParallel as DDP`` -> ``from torch.distributed.fsdp import FullyShardedDataParallel
    as FSDP``) imports something else; only an ``as`` alias can be renamed."""
    for line in base_lines:
        stripped = line.lstrip()
        if not stripped.startswith(("import ", "from ")):
            continue
        for old in local:
            if re.search(r"(?<!as )\b" + re.escape(old) + r"\b", stripped.split("#", 1)[0]):
                return True
    return False


def _touch(view: ModuleView, start: int, end: int, touched: set[int]) -> None:
    if start < end:
        for line in range(start, end):
            index = view.index_at(line)
            if index >= 0:
                touched.add(index)
        return
    # empty side: lines were inserted/removed at this boundary; a logical line
    # spanning the boundary is touched.
    if 0 < start < len(view.lines):
        before, after = view.index_at(start - 1), view.index_at(start)
        if before >= 0 and before == after:
            touched.add(before)
        elif before >= 0:
            ll = view.logical[before]
            if ll.start <= start - 1 < ll.end and start < ll.end:
                touched.add(before)


def _is_attribute(tokens: list[str], position: int) -> bool:
    """``x.name`` (not ``self.name``): an attribute of something else, which a local
    rename cannot reach."""
    return position >= 2 and tokens[position - 1] == "." and tokens[position - 2] != "self"


def _binds(text: str, name: str) -> bool:
    """Does ``text`` bind ``name`` (assignment, def/class, parameter, loop or ``as`` target)?"""
    n = re.escape(name)
    pattern = (rf"(?:\b(?:def|class)\s+{n}\b|\b{n}\s*(?::[^=\n]+)?=(?!=)|\bfor\s+[\w\s,()]*\b{n}\b"
               rf"|\bas\s+{n}\b|[(,]\s*\**{n}\s*[,)=:]|\bself\.{n}\s*=(?!=))")
    return re.search(pattern, text) is not None


def _names_another_api(base: ModuleView, head: ModuleView, base_tokens: list[str], head_tokens: list[str],
                       position: int) -> bool:
    """Do the tokens at ``position`` name different imported things (``SGD`` -> ``AdamW``, ``nn.X``
    -> ``nn.Y``)? An alias renamed for the same import (``np`` -> ``npy``, both ``numpy``) does not."""
    old, new = base_tokens[position], head_tokens[position]
    if old in base.aliases or new in head.aliases:
        return base.aliases.get(old) != head.aliases.get(new)
    return any(position >= 2 and tokens[position - 1] == "." and tokens[position - 2] in view.aliases
               for view, tokens in ((base, base_tokens), (head, head_tokens)))


def _tokens(lines: Iterable[str]) -> list[str]:
    return [t for t in _TOKEN.findall("".join(lines)) if not t.startswith("#")]


def whole_line(view: ModuleView, line: int) -> Span:
    """Span of physical line ``line`` (0-based) from its first non-blank character to its end."""
    text = view.lines[line].rstrip("\r\n")
    start = len(text) - len(text.lstrip())
    return Span(line + 1, start + 1, line + 1, max(len(text), start) + 1)
