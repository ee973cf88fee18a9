"""One side of a diff (base or head) of a Python file, analysed lazily.

Segmenting is cheap and done up front; libcst parses only the logical lines a rule
asks about (the ones a hunk touches, their enclosing headers, imports, and the
definitions and uses of names that flow into changed code). Each parse is cached
by the logical line's text in ``statements``.
"""
from __future__ import annotations

import re
from functools import cached_property
from typing import Iterable, Iterator

from mldiff.analysis.segments import LogicalLine, Segments, segment
from mldiff.analysis.statements import Binding, CallFact, Facts, Unit, parse_unit
from mldiff.findings import Span
from mldiff.hunks import split_lines

_IMPORT_LINE = re.compile(r"[ \t]*(?:import|from)[ \t]")


class ModuleView:
    """A Python text: its logical lines, what they say, and how names resolve."""

    def __init__(self, text: str, lines: list[str] | None = None) -> None:
        self.text = text
        self.lines = lines if lines is not None else split_lines(text)
        self.segments: Segments = segment(self.lines)

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
        ll = self.segments.lines[index]
        return parse_unit(self.source(index), ll.keyword, ll.is_header)

    def facts(self, index: int) -> Facts:
        return self.unit(index).facts

    def span(self, index: int, node=None) -> Span:
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
                from mldiff.analysis.apis import star_resolve
                return star_resolve(dotted, self.star_imports) or dotted
            return dotted
        return f"{qualified}.{rest}" if rest else qualified

    def qualname(self, call: CallFact) -> str:
        return self.resolve(call.callee)

    # -- finding code by name ------------------------------------------------------------
    def _lines_matching(self, pattern: re.Pattern[str]) -> list[int]:
        """Logical lines whose text matches ``pattern`` (searched over the whole text at C speed)."""
        seen: list[int] = []
        if not self.text:
            return seen
        line_starts = self._line_starts
        from bisect import bisect_right
        for match in pattern.finditer(self.text):
            line = bisect_right(line_starts, match.start()) - 1
            index = self.segments.at(line)
            if index >= 0 and (not seen or seen[-1] != index):
                seen.append(index)
        return sorted(set(seen))

    @cached_property
    def _line_starts(self) -> list[int]:
        starts = [0]
        total = 0
        for line in self.lines:
            total += len(line)
            starts.append(total)
        return starts

    def uses(self, name: str) -> list[int]:
        """Logical lines that read ``name`` (a dotted name such as ``args.lr`` works too)."""
        if name.startswith("args.") or "." in name:
            attr = name.rsplit(".", 1)[-1]
            pattern = re.compile(r"\." + re.escape(attr) + r"\b|['\"]" + re.escape(attr) + r"['\"]")
        else:
            pattern = re.compile(r"(?<![\w.])" + re.escape(name) + r"\b")
        out = []
        for index in self._lines_matching(pattern):
            facts = self.facts(index)
            if name in facts.reads or _reads_attribute(facts, name):
                out.append(index)
        return out

    def definitions(self, name: str) -> list[tuple[int, Binding]]:
        """Bindings of ``name`` (``lr``, ``self.lr``, ``args.lr``, ``config.lr``) anywhere in the file."""
        attr = name.rsplit(".", 1)[-1]
        spelled = re.escape(attr)
        if name.startswith("args."):  # parser.add_argument('--batch-size') binds args.batch_size
            spelled = spelled.replace("_", "[-_]")
        pattern = re.compile(r"\b" + spelled + r"\b")
        out = []
        for index in self._lines_matching(pattern):
            for binding in self.facts(index).bindings:
                if binding.target == name or (name.startswith("args.") and binding.target == name):
                    out.append((index, binding))
        return out

    def calls(self, indices: Iterable[int]) -> Iterator[tuple[int, CallFact]]:
        for index in indices:
            for call in self.facts(index).calls:
                yield index, call

    def constructor_of(self, name: str) -> str | None:
        """Qualified name of the call most recently assigned to ``name`` (``scaler`` ->
        ``torch.cuda.amp.GradScaler``), a cheap stand-in for type inference."""
        result = None
        for index, binding in self.definitions(name):
            value = binding.value
            node = value.node if value is not None else None
            if node is not None and node.__class__.__name__ == "Call":
                for call in self.facts(index).calls:
                    if call.node is node:
                        result = self.qualname(call)
        return result


def _reads_attribute(facts: Facts, name: str) -> bool:
    if "." not in name:
        return False
    attr = name.rsplit(".", 1)[-1]
    return any(read.endswith("." + attr) for read in facts.reads)
