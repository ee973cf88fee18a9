"""What a diagnostic carries in ``data`` (ruff's idea): the finding's facts and its quick fixes
as ready LSP edits, so code actions never re-run the analysis. One typed value, written by
the diagnostics and read back by the code actions; data a client mangled reads as no fix,
never as a wrong one."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from lsprotocol import types

from mldiff.lsp.positions import span_to_range

if TYPE_CHECKING:
    from mldiff.findings import Finding


@dataclass(frozen=True)
class FixData:
    title: str
    edits: tuple[types.TextEdit, ...]

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "edits": [{"range": _range_json(edit.range), "newText": edit.new_text}
                                               for edit in self.edits]}

    @classmethod
    def from_json(cls, data: Any) -> FixData | None:
        try:
            return cls(str(data["title"]), tuple(types.TextEdit(range=_range(e["range"]), new_text=str(e["newText"]))
                                                 for e in data["edits"]))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class DiagnosticData:
    code: str
    family: str
    before: str | None
    after: str | None
    base_line: int | None
    version: int | None          # the document version the fixes' edits are in
    fixes: tuple[FixData, ...] = ()

    @classmethod
    def of(cls, finding: Finding, lines: Sequence[str], encoding: str, version: int | None) -> DiagnosticData:
        fixes = tuple(FixData(fix.title, tuple(types.TextEdit(range=span_to_range(edit.span, lines, encoding),
                                                              new_text=edit.new_text) for edit in fix.edits))
                      for fix in finding.fixes)
        return cls(finding.code, finding.family, finding.before, finding.after, finding.base_line, version, fixes)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "family": self.family, "before": self.before, "after": self.after,
                "base_line": self.base_line, "version": self.version,
                "fixes": [fix.to_json() for fix in self.fixes]}

    @classmethod
    def from_json(cls, data: Any) -> DiagnosticData | None:
        """None when ``data`` is not ours at all; a fix that does not read back is left out."""
        if not isinstance(data, dict):
            return None
        fixes = data.get("fixes")
        if not isinstance(fixes, list):
            fixes = []
        return cls(str(data.get("code") or ""), str(data.get("family") or ""), _text(data.get("before")),
                   _text(data.get("after")), _int(data.get("base_line")), _int(data.get("version")),
                   tuple(fix for fix in map(FixData.from_json, fixes) if fix is not None))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _range_json(value: types.Range) -> dict[str, Any]:
    return {"start": {"line": value.start.line, "character": value.start.character},
            "end": {"line": value.end.line, "character": value.end.character}}


def _range(data: Any) -> types.Range:
    return types.Range(start=types.Position(line=int(data["start"]["line"]), character=int(data["start"]["character"])),
                       end=types.Position(line=int(data["end"]["line"]), character=int(data["end"]["character"])))
