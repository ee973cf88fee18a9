"""Hover on a line with findings: each finding with its before/after, why it matters
(the rule's documentation), and what the hunk was on the base side."""
from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.capabilities import get_capability

from mldiff.lsp.positions import span_to_range

if TYPE_CHECKING:
    from mldiff.findings import Finding
    from mldiff.hunks import Hunk
    from mldiff.lsp.results import DocumentResult

MAX_BASE_LINES = 30


def rule_documentation() -> dict[str, tuple[str, str]]:
    """Rule code -> (summary, documentation)."""
    from mldiff.rules.base import all_rules
    return {rule.code: (rule.summary, rule.documentation()) for rule in all_rules()}


def findings_on_line(result: DocumentResult, line: int) -> list[Finding]:
    """Findings whose span covers 0-based ``line``."""
    return [f for f in result.findings if f.span.line - 1 <= line <= max(f.span.line, f.span.end_line) - 1]


def render(result: DocumentResult, findings: list[Finding]) -> str:
    docs = rule_documentation()
    parts = []
    shown_hunks: set[Hunk] = set()
    for finding in findings:
        summary, documentation = docs.get(finding.code, ("", ""))
        lines = [f"**{finding.code}** {finding.family} ({finding.severity}): {finding.message}", ""]
        lines.append(f"before: {_code(finding.before)}  \nafter: {_code(finding.after)}")
        if summary:
            lines += ["", f"*{summary}*"]
        if documentation:
            lines += ["", documentation]
        base_block = _base_block(result, finding, shown_hunks)
        if base_block:
            lines += ["", base_block]
        parts.append("\n".join(lines))
    return "\n\n---\n\n".join(parts)


def _code(value: str | None) -> str:
    if value is None:
        return "*(none)*"
    return f"`{value}`" if "`" not in value else f"``{value}``"


def _base_block(result: DocumentResult, finding: Finding, shown: set[Hunk]) -> str:
    hunk = result.hunk_at(finding.span.line - 1)
    if hunk is not None and hunk in shown:
        return ""
    if finding.base_text is not None:
        text, where = finding.base_text, ""
    elif hunk is not None:
        shown.add(hunk)
        if hunk.base_start == hunk.base_end:
            return f"Base ({result.base_label}): these lines are new."
        text = "".join(result.base_lines[hunk.base_start:hunk.base_end])
        where = f", line {hunk.base_start + 1}" if hunk.base_end - hunk.base_start == 1 else \
            f", lines {hunk.base_start + 1}-{hunk.base_end}"
    else:
        return ""
    lines = text.rstrip("\n").split("\n")
    if len(lines) > MAX_BASE_LINES:
        lines = lines[:MAX_BASE_LINES] + [f"... ({len(lines) - MAX_BASE_LINES} more lines)"]
    fence = "````" if "```" in text else "```"
    language = "python" if (finding.path or "").endswith((".py", ".pyi")) else ""
    body = "\n".join(lines)
    return f"Base ({result.base_label}{where}):\n{fence}{language}\n{body}\n{fence}"


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls, params: types.HoverParams) -> types.Hover | None:
        result = await ls.current_result(params.text_document.uri)
        if result is None or not result.findings:
            return None
        findings = findings_on_line(result, params.position.line)
        if not findings:
            return None
        formats = get_capability(ls.client_capabilities, "text_document.hover.content_format", None)
        markdown = formats is None or types.MarkupKind.Markdown in formats
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown if markdown else types.MarkupKind.PlainText,
                                         value=render(result, findings)),
            range=span_to_range(findings[0].span, result.head_lines, ls.encoding),
        )
