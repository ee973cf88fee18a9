"""One side of a diff (base or head) of a Python file, analysed lazily.

Segmenting is cheap and done up front; libcst parses only the logical lines a rule
asks about (the ones a hunk touches, their enclosing headers, imports, and the
definitions and uses of names that flow into changed code). Each parse is cached
by the logical line's text in ``statements``.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from collections import OrderedDict
from itertools import accumulate
from dataclasses import replace
from functools import cached_property

from mldiff.analysis.segments import LogicalLine, Segments, edited_lines, resegment, segment
import libcst as cst

from mldiff.analysis.statements import PART, Binding, CallFact, Facts, Unit, parse_unit
from mldiff.findings import Span
from mldiff.hunks import split_lines

_VIEWS: "OrderedDict[tuple[int, int], ModuleView]" = OrderedDict()
_VIEW_LIMIT = 8
_IMPORT_LINE = re.compile(r"[ \t]*(?:import|from)[ \t]")


class ModuleView:
    """A Python text: its logical lines, what they say, and how names resolve."""

    def __init__(self, text: str, lines: list[str] | None = None, previous: ModuleView | None = None) -> None:
        """``previous``: a view of an earlier version of the text (the buffer before an edit),
        whose segments are reused where the edit cannot have changed them."""
        self.text = text
        self.lines = lines if lines is not None else split_lines(text)
        edited = edited_lines(previous.lines, self.lines) if previous is not None else None
        self.segments: Segments = segment(self.lines) if previous is None else \
            resegment(self.lines, previous.lines, previous.segments, edited)
        # name look-ups scan the whole text: remember them for the life of this view
        self._matching: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        # after an edit that moved no statement boundary, the earlier view's scans hold wherever
        # the edited lines match as they did (its scans, {line number: its text there}), and its
        # imports where no edited line imports
        self._earlier: tuple[dict[tuple[str, tuple[str, ...]], list[int]], dict[int, str]] | None = None
        if previous is not None and edited is not None and self.segments is previous.segments and len(edited) <= 8:
            self._earlier = (previous._matching, edited)
            if not any(_IMPORT_LINE.match(text) for number, old in edited.items()
                       for text in (old, self.lines[number])):
                for name in ("import_indices", "aliases", "star_imports"):
                    if name in previous.__dict__:
                        self.__dict__[name] = previous.__dict__[name]
        self._definitions: dict[str, list[tuple[int, Binding]]] = {}
        self._uses: dict[str, list[int]] = {}
        self._constructors: dict[str, str | None] = {}
        self._elements: dict[int, Facts] = {}
        self._units: dict[int, Unit] = {}

    @classmethod
    def of(cls, text: str) -> ModuleView:
        """A view of ``text``, shared with earlier callers of the same text (the base side of
        a buffer stays the same across edits; its look-ups need not be redone)."""
        key = (len(text), hash(text))
        view = _VIEWS.get(key)
        if view is not None and view.text == text:
            _VIEWS.move_to_end(key)
            return view
        view = cls(text)
        _VIEWS[key] = view
        if len(_VIEWS) > _VIEW_LIMIT:
            _VIEWS.popitem(last=False)
        return view

    # -- logical lines ---------------------------------------------------------------
    @property
    def logical(self) -> tuple[LogicalLine, ...]:
        return self.segments.lines

    def index_at(self, line: int) -> int:
        """Logical line holding 0-based physical ``line`` (-1 on blank and comment lines)."""
        return self.segments.at(line)

    def source(self, index: int) -> str:
        """The logical line's text, dedented (its first line loses its indentation)."""
        ll = self.segments.lines[index]
        first = self.lines[ll.start][ll.indent_chars:]
        return first + "".join(self.lines[ll.start + 1:ll.end])

    def unit(self, index: int) -> Unit:
        unit = self._units.get(index)
        if unit is None:
            ll = self.segments.lines[index]
            unit = self._units[index] = parse_unit(self.source(index), ll.keyword, ll.is_header, ll.part,
                                                   ll.opener, ll.closer)
        return unit

    def parsed_unit(self, index: int) -> Unit | None:
        """Logical line ``index``'s unit if libcst has parsed it already, else None (no parse)."""
        return self._units.get(index)

    def facts(self, index: int) -> Facts:
        facts = self.unit(index).facts
        if self.segments.lines[index].part == "element" and facts.bindings:
            return self._element_facts(index, facts)
        return facts

    def _element_facts(self, index: int, facts: Facts) -> Facts:
        """Entries of a split ``config = {...}`` / ``dict(...)`` bind ``config.key``, as they
        would in the whole statement; other containers' entries bind nothing."""
        cached = self._elements.get(index)
        if cached is not None:
            return cached
        head = index
        while head > 0 and self.segments.lines[head].part == "element":
            head -= 1
        prefix = None
        for binding in self.facts(head).bindings if self.segments.lines[head].part == "head" else []:
            value = binding.value.node if binding.value is not None else None
            if isinstance(value, cst.Dict) or (isinstance(value, cst.Call)
                                               and getattr(value.func, "value", None) in ("dict", "OrderedDict")):
                prefix = binding.target
                break
        bindings = [replace(b, target=prefix + b.target[len(PART):]) for b in facts.bindings
                    if prefix is not None and b.target.startswith(PART)]
        result = replace(facts, bindings=bindings)
        self._elements[index] = result
        return result

    def span(self, index: int, node: cst.CSTNode | None = None) -> Span:
        """Absolute span (1-based) of ``node`` in logical line ``index``, or of the whole line."""
        ll = self.segments.lines[index]
        if node is not None:
            position = self.unit(index).position(node)
            if position is not None:
                line, column, end_line, end_column = position
                return Span(
                    ll.start + line + 1, column + (ll.indent_chars if line == 0 else 0) + 1,
                    ll.start + end_line + 1, end_column + (ll.indent_chars if end_line == 0 else 0) + 1,
                )
        last = ll.end - 1
        return Span(ll.start + 1, ll.indent_chars + 1, last + 1, len(self.lines[last].rstrip("\r\n")) + 1)

    def ancestors(self, index: int) -> list[int]:
        return self.segments.ancestors(index)

    def block(self, header: int) -> range:
        """Logical lines inside ``header``'s block (all depths)."""
        return range(header + 1, self.segments.block_end(header))

    def enclosing_def(self, index: int) -> int:
        """The innermost ``def`` around logical line ``index``, or -1."""
        for ancestor in self.ancestors(index):
            if self.segments.lines[ancestor].keyword == "def":
                return ancestor
        return -1

    def scope_names(self, index: int) -> tuple[str, ...]:
        """Names of the classes and functions around ``index``, outermost first."""
        names = []
        for ancestor in self.ancestors(index):
            if self.segments.lines[ancestor].keyword in ("def", "class"):
                name = self.facts(ancestor).def_name
                if name:
                    names.append(name)
        return tuple(reversed(names))

    # -- names -------------------------------------------------------------------------
    @cached_property
    def import_indices(self) -> tuple[int, ...]:
        out = []
        for index, ll in enumerate(self.segments.lines):
            if not ll.keyword and _IMPORT_LINE.match(self.lines[ll.start]):
                out.append(index)
        return tuple(out)

    @cached_property
    def aliases(self) -> dict[str, str]:
        """Local name -> qualified name, from every import in the file."""
        table: dict[str, str] = {}
        for index in self.import_indices:
            for local, qualified in self.facts(index).imports:
                table.setdefault(local, qualified)
        return table

    @cached_property
    def star_imports(self) -> tuple[str, ...]:
        out: list[str] = []
        for index in self.import_indices:
            out.extend(self.facts(index).star_imports)
        return tuple(out)

    def resolve(self, dotted: str) -> str:
        """``optim.Adam`` -> ``torch.optim.Adam`` through the file's imports."""
        root, _, rest = dotted.partition(".")
        qualified = self.aliases.get(root)
        if qualified is None:
            if self.star_imports and "." not in dotted:
                from mldiff.knowledge.apis import star_resolve
                return star_resolve(dotted, self.star_imports) or dotted
            return dotted
        return f"{qualified}.{rest}" if rest else qualified

    def qualname(self, call: CallFact) -> str:
        return self.resolve(call.callee)

    # -- finding code by name ------------------------------------------------------------
    def lines_matching(self, pattern: re.Pattern[str], needles: tuple[str, ...] = ()) -> list[int]:
        """Logical lines with a physical line that matches ``pattern`` (searched line by line;
        ``needles``, substrings one of which a matching line must hold, make it cheap)."""
        key = (pattern.pattern, needles)
        cached = self._matching.get(key)
        if cached is None:
            cached = self._inherited(key, pattern, needles)
            if cached is None:
                cached = self._scan(pattern, needles)
            self._matching[key] = cached
        return cached

    def _inherited(self, key: tuple[str, tuple[str, ...]], pattern: re.Pattern[str],
                   needles: tuple[str, ...]) -> list[int] | None:
        """The earlier view's scan for ``key``, when every edited line matches as it did."""
        if self._earlier is None:
            return None
        scans, edited = self._earlier
        earlier = scans.get(key)
        if earlier is None:
            return None

        def matches(line: str) -> bool:
            return (not needles or any(needle in line for needle in needles)) and pattern.search(line) is not None
        if all(matches(old) == matches(self.lines[number]) for number, old in edited.items()):
            return earlier
        return None

    _lines_matching = lines_matching

    def _scan(self, pattern: re.Pattern[str], needles: tuple[str, ...]) -> list[int]:
        owner = self.segments.line_owner
        search = pattern.search
        lines = self.lines
        numbers = self.lines_holding(needles) if needles else range(len(lines))
        seen: list[int] = []
        for number in numbers:
            if search(lines[number]) is not None:
                index = owner[number]
                if index >= 0 and (not seen or seen[-1] != index):
                    seen.append(index)
        return seen

    def lines_holding(self, needles: tuple[str, ...]) -> list[int]:
        """Physical lines containing any of ``needles``, found with str.find over the text."""
        text = self.text
        starts = self.line_starts
        found: set[int] = set()
        for needle in needles:
            position = text.find(needle)
            while position >= 0:
                line = bisect_right(starts, position) - 1
                found.add(line)
                position = text.find(needle, starts[line + 1] if line + 1 < len(starts) else len(text))
        return sorted(found)

    @cached_property
    def line_starts(self) -> list[int]:
        return [0, *accumulate(len(line) for line in self.lines)]

    def uses(self, name: str, within: range | None = None) -> list[int]:
        """Logical lines that read ``name`` (a dotted name such as ``args.lr`` works too),
        only those ``within`` a range of logical lines when given (a function's body: its
        locals are read nowhere else, and only the lines there get parsed)."""
        if within is not None:
            return [index for index in self._use_candidates(name)
                    if index in within and self._reads(index, name)]
        cached = self._uses.get(name)
        if cached is None:
            cached = self._uses[name] = [index for index in self._use_candidates(name) if self._reads(index, name)]
        return cached

    def _use_candidates(self, name: str) -> list[int]:
        """Logical lines whose text could read ``name`` (a text match, no parsing)."""
        if name.startswith("args.") or "." in name:
            attr = name.rsplit(".", 1)[-1]
            pattern = re.compile(r"\." + re.escape(attr) + r"\b|['\"]" + re.escape(attr) + r"['\"]")
        else:
            pattern = re.compile(r"(?<![\w.])" + re.escape(name) + r"\b")
        return self.lines_matching(pattern, (name.rsplit(".", 1)[-1],))

    def _reads(self, index: int, name: str) -> bool:
        facts = self.facts(index)
        return name in facts.reads or _reads_attribute(facts, name)

    def definitions(self, name: str) -> list[tuple[int, Binding]]:
        """Bindings of ``name`` (``lr``, ``self.lr``, ``args.lr``, ``config.lr``) anywhere in the file."""
        cached = self._definitions.get(name)
        if cached is None:
            cached = self._definitions[name] = self._find_definitions(name)
        return cached

    def _find_definitions(self, name: str) -> list[tuple[int, Binding]]:
        attr = name.rsplit(".", 1)[-1]
        spelled = re.escape(attr)
        needles: tuple[str, ...] = (attr,)
        if name.startswith("args."):  # parser.add_argument('--batch-size') binds args.batch_size
            spelled = spelled.replace("_", "[-_]")
            needles = tuple(dict.fromkeys((attr, attr.replace("_", "-"))))
        pattern = re.compile(r"\b" + spelled + r"\b")
        out = []
        for index in self.lines_matching(pattern, needles):
            for binding in self.facts(index).bindings:
                if binding.target == name or (name.startswith("args.") and binding.target == name):
                    out.append((index, binding))
        return out

    def constructor_of(self, name: str) -> str | None:
        """Qualified name of the call most recently assigned to ``name`` (``scaler`` ->
        ``torch.cuda.amp.GradScaler``), a cheap stand-in for type inference."""
        if name in self._constructors:
            return self._constructors[name]
        result = None
        for index, binding in self._assignments(name):
            value = binding.value
            node = value.node if value is not None else None
            if node is not None and node.__class__.__name__ == "Call":
                for call in self.facts(index).calls:
                    if call.node is node:
                        result = self.qualname(call)
        self._constructors[name] = result
        return result

    def _assignments(self, name: str) -> list[tuple[int, Binding]]:
        """``definitions(name)`` among the lines whose text can assign it a value (``name =``,
        ``name: T =``, ``name +=``, ``name :=``; for ``cfg.name`` also ``name=`` and ``"name":`` in
        the dict that builds ``cfg``): a call can be bound no other way, and the lines that merely
        mention ``name`` (hundreds, for ``model``) are not parsed for it."""
        cached = self._definitions.get(name)
        if cached is not None:
            return cached
        attr = name.rsplit(".", 1)[-1]
        forms = [r"(?<![\w.])" + re.escape(name) + r"\s*(?::[^=\n]*)?(?:[-+*/%@&|^]|//|\*\*|>>|<<)?=(?!=)",
                 r"(?<![\w.])" + re.escape(name) + r"\s*:="]
        if "." in name:
            forms += [r"\b" + re.escape(attr) + r"\s*=(?!=)", r"['\"]" + re.escape(attr) + r"['\"]\s*:"]
        pattern = re.compile("|".join(forms))
        out = []
        for index in self.lines_matching(pattern, (attr,)):
            for binding in self.facts(index).bindings:
                if binding.target == name:
                    out.append((index, binding))
        return out


def _reads_attribute(facts: Facts, name: str) -> bool:
    if "." not in name:
        return False
    attr = name.rsplit(".", 1)[-1]
    return any(read.endswith("." + attr) for read in facts.reads)
