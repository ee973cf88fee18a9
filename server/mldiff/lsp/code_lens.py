"""A code lens above each changed hunk that has findings: ``ML: precision, normalization``,
running the quick validation of the change (``mldiff.validate``)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from mldiff.lsp.validation_commands import VALIDATE

if TYPE_CHECKING:
    from mldiff.lsp.results import DocumentResult


def lens_groups(result: DocumentResult) -> list[tuple[int, list]]:
    """(0-based line of the lens, findings) per hunk with findings, top to bottom."""
    groups: dict[int, list] = {}
    last = max(len(result.head_lines) - 1, 0)
    for finding in result.findings:
        hunk = result.hunk_at(finding.span.line - 1)
        line = hunk.head_start if hunk is not None else finding.span.line - 1
        groups.setdefault(min(line, last), []).append(finding)
    return sorted(groups.items())


def lens_summary(result: DocumentResult | None) -> tuple:
    """What the lenses of ``result`` say, hunk by hunk (not where: the client moves lenses
    with the user's edits itself)."""
    if result is None or not result.findings:
        return ()
    return tuple(tuple(sorted({(f.family, f.code) for f in findings})) for _, findings in lens_groups(result))


def lenses(result: DocumentResult) -> list[types.CodeLens]:
    from mldiff.families import FAMILIES
    order = {name: i for i, name in enumerate(FAMILIES)}
    out = []
    for line, findings in lens_groups(result):
        families = sorted({f.family for f in findings}, key=lambda name: order.get(name, 99))
        codes = sorted({f.code for f in findings})
        start = types.Position(line=line, character=0)
        out.append(types.CodeLens(
            range=types.Range(start=start, end=start),
            command=types.Command(title=f"ML: {', '.join(families)}", command=VALIDATE,
                                  arguments=[result.uri, {"line": line + 1, "families": families, "codes": codes}]),
        ))
    return out


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
    async def code_lens(ls, params: types.CodeLensParams) -> list[types.CodeLens]:
        uri = params.text_document.uri
        result = await ls.current_result(uri)
        ls.lens_answers[uri] = lens_summary(result)
        if result is None or not result.findings:
            return []
        return lenses(result)
