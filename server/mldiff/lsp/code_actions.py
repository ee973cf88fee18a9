"""Code actions from what the diagnostics carry (``data``): suppress a rule on a line,
the finding's own fixes, and the source actions that validate the change.

Nothing here analyses again. A fix is offered only while the diagnostic still
describes the buffer's current version (its edits are in that version's
coordinates); suppressing works from the line the client points at now.
"""
from __future__ import annotations


from lsprotocol import types
from pygls.capabilities import get_capability

from mldiff.lsp.diagnostic_data import DiagnosticData
from mldiff.lsp.diagnostics import SOURCE
from mldiff.lsp.positions import line_content, to_units
from mldiff.lsp.validation_commands import ATTACH, VALIDATE
from mldiff.suppression import suppression

VALIDATE_KIND = "source.mldiff.validate"
ATTACH_KIND = "source.mldiff.attachToCommit"
# File kinds whose comments start with '#', where `# mldiff: ignore[...]` can go.
HASH_COMMENT_KINDS = ("python", "setup", "yaml", "toml", "pyproject", "dockerfile", "requirements", "conda",
                      "compose")


def suppress_edit(line_text: str, line: int, code: str, encoding: str) -> types.TextEdit | None:
    """The edit that adds ``code`` to the line's ``# mldiff: ignore[...]`` (or appends one);
    None when the line already ignores it."""
    content = line_content(line_text)
    existing = suppression(content)
    if existing is not None:
        if existing.selectors is None:
            return None  # a bare `# mldiff: ignore` already ignores everything
        if code in existing.selectors:
            return None
        insert = (", " if existing.selectors else "") + code
        position = types.Position(line=line, character=to_units(content[:existing.inside_end], encoding))
        return types.TextEdit(range=types.Range(start=position, end=position), new_text=insert)
    end = types.Position(line=line, character=to_units(content, encoding))
    spacing = "" if not content.strip() else ("  " if not content.endswith(" ") else " ")
    return types.TextEdit(range=types.Range(start=end, end=end), new_text=f"{spacing}# mldiff: ignore[{code}]")


def comment_line(lines: list[str], first: int, last: int) -> int:
    """A line of a finding's range that can end in a comment: not one continued by a
    backslash or ending inside a string."""
    from mldiff.analysis.segments import scan_line
    for line in range(first, min(last, len(lines) - 1) + 1):
        _, open_string, joined, _ = scan_line(lines[line], None)
        if open_string is None and not joined:
            return line
    return min(last, len(lines) - 1)


def _edit(ls, uri: str, version: int | None, edits: list[types.TextEdit]) -> types.WorkspaceEdit:
    if get_capability(ls.client_capabilities, "workspace.workspace_edit.document_changes", False):
        return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
            edits=edits)])
    return types.WorkspaceEdit(changes={uri: edits})


def _wanted(only: list[str] | None, kind: str) -> bool:
    return not only or any(kind == k or kind.startswith(k + ".") for k in only)


def actions_for(ls, params: types.CodeActionParams) -> list[types.CodeAction]:
    uri = params.text_document.uri
    document = ls.documents.get(uri)
    if document is None:
        return []
    from mldiff.analysis.filekinds import file_kind
    kind = "python" if document.notebook else file_kind(document.path or uri)   # a notebook cell is Python
    only = [str(getattr(k, "value", k)) for k in params.context.only] if params.context.only else None
    out: list[types.CodeAction] = []
    for diagnostic in params.context.diagnostics:
        data = DiagnosticData.from_json(diagnostic.data)
        if diagnostic.source != SOURCE or data is None or not diagnostic.code:
            continue
        code = str(diagnostic.code)
        if _wanted(only, types.CodeActionKind.QuickFix.value):
            if document.version is None or data.version == document.version:
                out.extend(_fix_actions(ls, uri, document.version, diagnostic, data))
            if kind in HASH_COMMENT_KINDS and document.lines:
                line = comment_line(document.lines, diagnostic.range.start.line, diagnostic.range.end.line)
                edit = suppress_edit(document.lines[line], line, code, ls.encoding)
                if edit is not None:
                    out.append(types.CodeAction(
                        title=f"Suppress {code} on this line", kind=types.CodeActionKind.QuickFix,
                        diagnostics=[diagnostic], edit=_edit(ls, uri, document.version, [edit])))
    result = ls.results.get(uri)
    if result is not None and result.repo_root is not None:
        if _wanted(only, VALIDATE_KIND):
            out.append(types.CodeAction(title="Validate this change", kind=VALIDATE_KIND,
                                        command=types.Command(title="Validate this change", command=VALIDATE,
                                                              arguments=[uri])))
        if _wanted(only, ATTACH_KIND):
            out.append(types.CodeAction(title="Attach validation results to the commit message", kind=ATTACH_KIND,
                                        command=types.Command(title="Attach validation results to the commit message",
                                                              command=ATTACH, arguments=[uri])))
    return out


def _fix_actions(ls, uri: str, version: int | None, diagnostic: types.Diagnostic,
                 data: DiagnosticData) -> list[types.CodeAction]:
    return [types.CodeAction(title=fix.title, kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                             is_preferred=index == 0, edit=_edit(ls, uri, version, list(fix.edits)))
            for index, fix in enumerate(data.fixes)]


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix, VALIDATE_KIND, ATTACH_KIND]))
    def code_action(ls, params: types.CodeActionParams) -> list[types.CodeAction]:
        return actions_for(ls, params)
